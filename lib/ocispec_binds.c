/* Parsing and validation of HostConfig.Binds ("src:dst[:mode]"),
   HostConfig.Mounts entries and tmpfs options, with Docker's messages. */
#include "ocispec_internal.h"
#include "cleanup.h"
#include "buf.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

char *
dk_ocispec_clean_path (const char *p)
{
  /* Go's path.Clean for absolute and relative paths. */
  bool abs = p[0] == '/';
  size_t n = strlen (p);
  char **parts = xmalloc ((n / 2 + 2) * sizeof *parts);
  size_t np = 0;
  cleanup_free char *copy = xstrdup (p);
  char *save = NULL;
  for (char *t = strtok_r (copy, "/", &save); t; t = strtok_r (NULL, "/", &save))
    {
      if (strcmp (t, ".") == 0)
        continue;
      if (strcmp (t, "..") == 0)
        {
          if (np > 0 && strcmp (parts[np - 1], "..") != 0)
            np--;
          else if (!abs)
            parts[np++] = t;
          continue;
        }
      parts[np++] = t;
    }
  struct dk_buf b = DK_BUF_INIT;
  if (abs)
    dk_buf_addc (&b, '/');
  for (size_t i = 0; i < np; i++)
    {
      if (i)
        dk_buf_addc (&b, '/');
      dk_buf_adds (&b, parts[i]);
    }
  free (parts);
  if (b.len == 0)
    dk_buf_addc (&b, '.');
  return dk_buf_steal (&b);
}

static const char *const propagations[]
    = { "private", "rprivate", "slave", "rslave", "shared", "rshared", NULL };

static bool
in_list (const char *const *l, const char *s)
{
  for (; *l; l++)
    if (strcmp (*l, s) == 0)
      return true;
  return false;
}

/* Docker's linuxValidMountMode: each comma-separated word is known and at
   most one of each kind. */
static bool
valid_mode (const char *mode)
{
  static const char *const rw[] = { "rw", "ro", NULL };
  static const char *const label[] = { "z", "Z", NULL };
  static const char *const copy[] = { "nocopy", NULL };
  static const char *const consistency[] = { "consistent", "cached", "delegated", NULL };
  if (*mode == '\0')
    return true;
  int counts[5] = { 0 };
  cleanup_free char *m = xstrdup (mode);
  char *save = NULL;
  char *p = m;
  for (;;)
    {
      char *comma = strchr (p, ',');
      if (comma)
        *comma = '\0';
      if (in_list (rw, p))
        counts[0]++;
      else if (in_list (label, p))
        counts[1]++;
      else if (in_list (propagations, p))
        counts[2]++;
      else if (in_list (copy, p))
        counts[3]++;
      else if (in_list (consistency, p))
        counts[4]++;
      else
        return false;
      if (!comma)
        break;
      p = comma + 1;
    }
  (void)save;
  for (int i = 0; i < 5; i++)
    if (counts[i] > 1)
      return false;
  return true;
}

static bool
mode_has (const char *mode, const char *word)
{
  size_t wl = strlen (word);
  for (const char *p = mode; p && *p;)
    {
      const char *comma = strchr (p, ',');
      size_t len = comma ? (size_t)(comma - p) : strlen (p);
      if (len == wl && strncmp (p, word, wl) == 0)
        return true;
      p = comma ? comma + 1 : NULL;
    }
  return false;
}

static const char *
mode_propagation (const char *mode)
{
  for (int i = 0; propagations[i]; i++)
    if (mode_has (mode, propagations[i]))
      return propagations[i];
  return NULL;
}

/* Target checks shared by Binds and Mounts; msg set on failure. */
static const char *
check_target (const char *target, char *buf, size_t len)
{
  if (target == NULL || *target == '\0')
    return "field Target must not be empty";
  cleanup_free char *clean = dk_ocispec_clean_path (target);
  if (strcmp (clean, "/") == 0)
    return "invalid specification: destination can't be '/'";
  if (target[0] != '/')
    {
      snprintf (buf, len, "invalid mount path: '%s' mount path must be absolute", target);
      return buf;
    }
  return NULL;
}

void
dk_ocispec_bind_free (struct dk_bind *b)
{
  free (b->source);
  free (b->target);
  free (b->propagation);
  memset (b, 0, sizeof *b);
}

int
dk_ocispec_parse_bind (const char *raw, struct dk_bind *b, dk_err_t *err)
{
  memset (b, 0, sizeof *b);
  char *arr[4] = { 0 };
  int n = 0;
  cleanup_free char *copy = xstrdup (raw);
  char *p = copy;
  while (n < 4)
    {
      arr[n++] = p;
      if (n == 4)
        break;
      char *colon = strchr (p, ':');
      if (!colon)
        break;
      *colon = '\0';
      p = colon + 1;
    }
  if (arr[0][0] == '\0' || n == 4)
    return dk_make_error_code (err, DK_ECODE_INVALID, 0, "invalid volume specification: '%s'", raw);
  const char *source = NULL, *target = NULL, *mode = "";
  if (n == 1)
    target = arr[0];
  else if (n == 2)
    {
      if (valid_mode (arr[1]))
        return dk_make_error_code (err, DK_ECODE_INVALID, 0, "invalid volume specification: '%s'",
                                   raw);
      source = arr[0];
      target = arr[1];
    }
  else
    {
      source = arr[0];
      target = arr[1];
      mode = arr[2];
    }
  if (!valid_mode (mode))
    return dk_make_error_code (err, DK_ECODE_INVALID, 0, "invalid mode: %s", mode);
  bool is_bind = source && source[0] == '/';
  const char *type = is_bind ? "bind" : "volume";
  const char *prop = mode_propagation (mode);
  bool nocopy = mode_has (mode, "nocopy");
  char buf[512];
  const char *why = NULL;
  if (!is_bind && prop)
    why = "field BindOptions must not be specified";
  else if (is_bind && nocopy)
    why = "field VolumeOptions must not be specified";
  else
    why = check_target (target, buf, sizeof buf);
  if (why)
    return dk_make_error_code (err, DK_ECODE_INVALID, 0,
                               "invalid volume specification: '%s': invalid mount config for "
                               "type \"%s\": %s",
                               raw, type, why);
  b->source = source ? (is_bind ? dk_ocispec_clean_path (source) : xstrdup (source)) : NULL;
  b->target = dk_ocispec_clean_path (target);
  b->is_volume = !is_bind;
  b->read_only = mode_has (mode, "ro");
  b->propagation = is_bind ? xstrdup (prop ? prop : "rprivate") : NULL;
  b->nocopy = nocopy;
  return 0;
}

static const char *const tmpfs_option_names[] = { "exec", "noexec", NULL };

int
dk_ocispec_tmpfs_data (jv opt, bool read_only, char **out, dk_err_t *err)
{
  struct dk_buf b = DK_BUF_INIT;
  if (read_only)
    dk_buf_adds (&b, "ro,");
  int64_t mode = 0, size = 0;
  if (dk_json_int (opt, "Mode", &mode) && mode != 0)
    dk_buf_printf (&b, "mode=%llo,", (unsigned long long)mode);
  if (dk_json_int (opt, "SizeBytes", &size) && size != 0)
    {
      const char *suffix = "";
      if (size % (1LL << 30) == 0)
        size /= 1LL << 30, suffix = "g";
      else if (size % (1LL << 20) == 0)
        size /= 1LL << 20, suffix = "m";
      else if (size % (1LL << 10) == 0)
        size /= 1LL << 10, suffix = "k";
      dk_buf_printf (&b, "size=%lld%s,", (long long)size, suffix);
    }
  cleanup_jv jv opts = dk_json_get_kind (opt, "Options", JV_KIND_ARRAY);
  for (int i = 0; i < dk_json_len (opts); i++)
    {
      cleanup_jv jv o = jv_array_get (jv_copy (opts), i);
      int len = dk_json_len (o);
      if (len < 1 || len > 2)
        {
          dk_buf_free (&b);
          return dk_make_error_code (err, DK_ECODE_INVALID, 0, "invalid option array length");
        }
      cleanup_jv jv k = jv_array_get (jv_copy (o), 0);
      const char *ks = jv_get_kind (k) == JV_KIND_STRING ? jv_string_value (k) : "";
      if (!in_list (tmpfs_option_names, ks))
        {
          dk_make_error_code (err, DK_ECODE_INVALID, 0, "invalid option: %s", ks);
          dk_buf_free (&b);
          return -1;
        }
      dk_buf_adds (&b, ks);
      if (len == 2)
        {
          cleanup_jv jv v = jv_array_get (jv_copy (o), 1);
          dk_buf_printf (&b, "=%s", jv_get_kind (v) == JV_KIND_STRING ? jv_string_value (v) : "");
        }
      dk_buf_addc (&b, ',');
    }
  if (b.len > 0)
    b.data[--b.len] = '\0';
  *out = dk_buf_steal (&b);
  return 0;
}

/* Mount flags by the bit they set or clear: an option and its inverse
   collide, the later one wins. */
static const struct
{
  const char *name;
  int group;
} mount_flags[] = {
  { "ro", 1 },          { "rw", 1 },           { "nosuid", 2 },       { "suid", 2 },
  { "nodev", 3 },       { "dev", 3 },          { "noexec", 4 },       { "exec", 4 },
  { "sync", 5 },        { "async", 5 },        { "dirsync", 6 },      { "remount", 7 },
  { "mand", 8 },        { "nomand", 8 },       { "atime", 9 },        { "noatime", 9 },
  { "diratime", 10 },   { "nodiratime", 10 },  { "bind", 11 },        { "rbind", 12 },
  { "unbindable", 13 }, { "runbindable", 14 }, { "private", 15 },     { "rprivate", 16 },
  { "shared", 17 },     { "rshared", 18 },     { "slave", 19 },       { "rslave", 20 },
  { "relatime", 21 },   { "norelatime", 21 },  { "strictatime", 22 }, { "nostrictatime", 22 },
};

static int
flag_group (const char *o)
{
  for (size_t i = 0; i < sizeof mount_flags / sizeof mount_flags[0]; i++)
    if (strcmp (mount_flags[i].name, o) == 0)
      return mount_flags[i].group;
  return 0;
}

int
dk_ocispec_merge_tmpfs (jv options, jv *out, dk_err_t *err)
{
  static const char *const data_keys[]
      = { "size", "mode", "uid", "gid", "nr_inodes", "nr_blocks", "mpol", NULL };
  int n = dk_json_len (options);
  jv res = jv_array ();
  uint64_t seen_flags = 0;
  jv seen_keys = jv_array ();
  for (int i = n - 1; i >= 0; i--)
    {
      jv o = jv_array_get (jv_copy (options), i);
      const char *s = jv_string_value (o);
      int g = flag_group (s);
      if (strcmp (s, "defaults") == 0)
        {
          jv_free (o);
          continue;
        }
      if (g)
        {
          if (seen_flags & (1ULL << g))
            jv_free (o);
          else
            {
              seen_flags |= 1ULL << g;
              res = jv_array_concat (jv_array_append (jv_array (), o), res);
            }
          continue;
        }
      const char *eq = strchr (s, '=');
      cleanup_free char *key = eq ? xstrndup (s, (size_t)(eq - s)) : NULL;
      if (!key || !in_list (data_keys, key))
        {
          dk_make_error_code (err, DK_ECODE_INVALID, 0, "invalid tmpfs option [%s]", s);
          jv_free (o);
          jv_free (res);
          jv_free (seen_keys);
          return -1;
        }
      if (dk_spec_has_str (seen_keys, key))
        jv_free (o);
      else
        {
          seen_keys = jv_array_append (seen_keys, jv_string (key));
          res = jv_array_concat (jv_array_append (jv_array (), o), res);
        }
    }
  jv_free (seen_keys);
  *out = res;
  return 0;
}

int
dk_ocispec_check_mount (jv m, dk_err_t *err)
{
  const char *type = dk_json_str (m, "Type");
  const char *target = dk_json_str (m, "Target");
  const char *source = dk_json_str (m, "Source");
  bool ro = false;
  dk_json_bool (m, "ReadOnly", &ro);
  char buf[512];
  const char *why = NULL;
  static const struct
  {
    const char *field, *type;
  } exclusive[] = { { "BindOptions", "bind" },
                    { "VolumeOptions", "volume" },
                    { "ImageOptions", "image" },
                    { "TmpfsOptions", "tmpfs" },
                    { "ClusterOptions", "cluster" } };
  if (!type)
    type = "";
  for (size_t i = 0; i < sizeof exclusive / sizeof exclusive[0] && !why; i++)
    {
      cleanup_jv jv f = dk_json_get_kind (m, exclusive[i].field, JV_KIND_OBJECT);
      if (jv_is_valid (f) && strcmp (type, exclusive[i].type) != 0)
        {
          snprintf (buf, sizeof buf, "field %s must not be specified", exclusive[i].field);
          why = buf;
        }
    }
  if (!why)
    why = check_target (target, buf, sizeof buf);
  if (!why && strcmp (type, "bind") == 0)
    {
      cleanup_jv jv bo = dk_json_get_kind (m, "BindOptions", JV_KIND_OBJECT);
      const char *prop = dk_json_str (bo, "Propagation");
      bool create = false;
      dk_json_bool (bo, "CreateMountpoint", &create);
      if (!source || !*source)
        why = "field Source must not be empty";
      else if (prop && *prop && !in_list (propagations, prop))
        {
          snprintf (buf, sizeof buf, "invalid propagation mode: %s", prop);
          why = buf;
        }
      else if (source[0] != '/')
        {
          snprintf (buf, sizeof buf, "invalid mount path: '%s' mount path must be absolute",
                    source);
          why = buf;
        }
      else if (!create && access (source, F_OK) < 0)
        {
          snprintf (buf, sizeof buf, "bind source path does not exist: %s", source);
          why = buf;
        }
    }
  else if (!why && strcmp (type, "volume") == 0)
    {
      cleanup_jv jv vo = dk_json_get_kind (m, "VolumeOptions", JV_KIND_OBJECT);
      const char *sub = dk_json_str (vo, "Subpath");
      if (sub && *sub)
        {
          cleanup_free char *c = dk_ocispec_clean_path (sub);
          if (!source || !*source)
            why = "must not set Subpath when using anonymous volumes";
          else if (sub[0] == '/' || strcmp (c, "..") == 0 || strncmp (c, "../", 3) == 0)
            why = "subpath must be a relative path within the volume";
        }
    }
  else if (!why && strcmp (type, "tmpfs") == 0)
    {
      cleanup_jv jv to = dk_json_get_kind (m, "TmpfsOptions", JV_KIND_OBJECT);
      cleanup_free char *data = NULL;
      if (source && *source)
        why = "field Source must not be specified";
      else if (dk_ocispec_tmpfs_data (to, ro, &data, err) < 0)
        return dk_error_wrap (err, "invalid mount config for type \"tmpfs\"");
    }
  else if (!why)
    why = "mount type unknown";
  if (why)
    return dk_make_error_code (err, DK_ECODE_INVALID, 0, "invalid mount config for type \"%s\": %s",
                               type, why);
  return 0;
}

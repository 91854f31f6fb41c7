/* process.user from Config.User and HostConfig.GroupAdd, resolved in the
   container's own /etc/passwd and /etc/group the way Docker does (first
   match wins; a numeric id without an entry is used as is; supplementary
   groups only when no group is given explicitly). */
#include "ocispec_internal.h"
#include "cleanup.h"
#include "resolve.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define MAX_ID 2147483647L

struct entry
{
  char *name;
  long id;
  long gid;       /* passwd only */
  char **members; /* group only, NULL-terminated */
};

/* Opens path inside rootfs without following links out of it. */
static FILE *
open_in_root (const char *rootfs, const char *path)
{
  cleanup_close int root = open (rootfs, O_PATH | O_DIRECTORY | O_CLOEXEC);
  if (root < 0)
    return NULL;
  int fd = dk_open_in_root (root, path, O_RDONLY, 0, NULL);
  if (fd < 0)
    return NULL;
  FILE *f = fdopen (fd, "re");
  if (f == NULL)
    close (fd);
  return f;
}

static bool
parse_id (const char *s, long *out)
{
  if (s == NULL || *s == '\0')
    return false;
  char *end = NULL;
  errno = 0;
  long v = strtol (s, &end, 10);
  if (errno || *end != '\0')
    return false;
  *out = v;
  return true;
}

static void
free_entry (struct entry *e)
{
  free (e->name);
  if (e->members)
    for (char **m = e->members; *m; m++)
      free (*m);
  free (e->members);
  memset (e, 0, sizeof *e);
}

static char **
split_members (const char *s)
{
  size_t n = 0, cap = 4;
  char **v = xmalloc (cap * sizeof *v);
  while (s && *s)
    {
      const char *comma = strchr (s, ',');
      size_t len = comma ? (size_t)(comma - s) : strlen (s);
      if (len > 0)
        {
          if (n + 2 > cap)
            v = xrealloc (v, (cap *= 2) * sizeof *v);
          v[n++] = xstrndup (s, len);
        }
      s = comma ? comma + 1 : NULL;
    }
  v[n] = NULL;
  return v;
}

/* Reads the next well-formed entry: passwd (7 fields) or group (4). */
static bool
next_entry (FILE *f, bool group, struct entry *e)
{
  char *line = NULL;
  size_t cap = 0;
  while (getline (&line, &cap, f) >= 0)
    {
      line[strcspn (line, "\r\n")] = '\0';
      char *fields[7] = { 0 };
      int nf = 0;
      char *p = line;
      while (nf < 7)
        {
          fields[nf++] = p;
          char *colon = strchr (p, ':');
          if (!colon)
            break;
          *colon = '\0';
          p = colon + 1;
        }
      long id, gid = 0;
      if (nf < 3 || !parse_id (fields[2], &id) || fields[0][0] == '\0')
        continue;
      if (!group && (nf < 4 || !parse_id (fields[3], &gid)))
        continue;
      e->name = xstrdup (fields[0]);
      e->id = id;
      e->gid = gid;
      e->members = group ? split_members (nf >= 4 ? fields[3] : NULL) : NULL;
      free (line);
      return true;
    }
  free (line);
  return false;
}

static bool
has_member (struct entry *g, const char *name)
{
  for (char **m = g->members; m && *m; m++)
    if (strcmp (*m, name) == 0)
      return true;
  return false;
}

static jv
append_gid (jv arr, long gid)
{
  return jv_array_append (arr, dk_json_int64 (gid));
}

static int
additional_groups (const char *rootfs, jv group_add, jv *gids, dk_err_t *err)
{
  int n = dk_json_len (group_add);
  for (int i = 0; i < n; i++)
    {
      cleanup_jv jv ag = jv_array_get (jv_copy (group_add), i);
      if (jv_get_kind (ag) != JV_KIND_STRING)
        return dk_make_error_code (err, DK_ECODE_INVALID, 0, "GroupAdd entries must be strings");
      const char *want = jv_string_value (ag);
      long gid = -1;
      cleanup_fclose FILE *f = open_in_root (rootfs, "/etc/group");
      struct entry e = { 0 };
      while (f && gid < 0 && next_entry (f, true, &e))
        {
          char num[32];
          snprintf (num, sizeof num, "%ld", e.id);
          if (strcmp (e.name, want) == 0 || strcmp (num, want) == 0)
            gid = e.id;
          free_entry (&e);
        }
      if (gid < 0)
        {
          if (!parse_id (want, &gid))
            return dk_make_error_code (err, DK_ECODE_INVALID, 0,
                                       "Unable to find group %s: no matching entries in group file",
                                       want);
          if (gid < 0 || gid > MAX_ID)
            return dk_make_error_code (err, DK_ECODE_INVALID, 0,
                                       "uids and gids must be in range 0-%ld", MAX_ID);
        }
      bool dup = false;
      jv_array_foreach (*gids, k, g)
      {
        if (jv_number_value (g) == (double)gid)
          dup = true;
        jv_free (g);
      }
      if (!dup)
        *gids = append_gid (*gids, gid);
    }
  return 0;
}

int
dk_ocispec_user (const char *rootfs, const char *userspec, jv group_add, jv *out, dk_err_t *err)
{
  cleanup_free char *spec = xstrdup (userspec ? userspec : "");
  char *group_arg = strchr (spec, ':');
  if (group_arg)
    *group_arg++ = '\0';
  const char *user_arg = spec;
  long uid_num = 0, gid_num = 0;
  bool uid_is_num = parse_id (user_arg, &uid_num);
  bool gid_is_num = group_arg && parse_id (group_arg, &gid_num);
  if (group_arg && *group_arg == '\0')
    group_arg = NULL;

  long uid = 0, gid = 0;
  cleanup_free char *matched = NULL;
  {
    cleanup_fclose FILE *f = open_in_root (rootfs, "/etc/passwd");
    struct entry e = { 0 };
    while (f && !matched && next_entry (f, false, &e))
      {
        bool hit = *user_arg == '\0' ? e.id == 0
                   : uid_is_num      ? e.id == uid_num
                                     : strcmp (e.name, user_arg) == 0;
        if (hit)
          {
            matched = xstrdup (e.name);
            uid = e.id;
            gid = e.gid;
          }
        free_entry (&e);
      }
  }
  if (!matched && *user_arg)
    {
      if (!uid_is_num)
        return dk_make_error_code (err, DK_ECODE_INVALID, 0,
                                   "unable to find user %s: no matching entries in passwd file",
                                   user_arg);
      if (uid_num < 0 || uid_num > MAX_ID)
        return dk_make_error_code (err, DK_ECODE_INVALID, 0, "uids and gids must be in range 0-%ld",
                                   MAX_ID);
      uid = uid_num;
    }

  jv sgids = jv_array ();
  if (group_arg || matched)
    {
      bool found = false;
      cleanup_fclose FILE *f = open_in_root (rootfs, "/etc/group");
      struct entry e = { 0 };
      while (f && next_entry (f, true, &e))
        {
          if (group_arg == NULL)
            {
              if (has_member (&e, matched))
                sgids = append_gid (sgids, e.id);
            }
          else if (!found && (gid_is_num ? e.id == gid_num : strcmp (e.name, group_arg) == 0))
            {
              found = true;
              gid = e.id;
            }
          free_entry (&e);
        }
      if (group_arg && !found)
        {
          if (!gid_is_num)
            {
              jv_free (sgids);
              return dk_make_error_code (
                  err, DK_ECODE_INVALID, 0,
                  "unable to find group %s: no matching entries in group file", group_arg);
            }
          if (gid_num < 0 || gid_num > MAX_ID)
            {
              jv_free (sgids);
              return dk_make_error_code (err, DK_ECODE_INVALID, 0,
                                         "uids and gids must be in range 0-%ld", MAX_ID);
            }
          gid = gid_num;
        }
    }

  jv gids = append_gid (jv_array (), gid);
  jv_array_foreach (sgids, i, g) gids = jv_array_append (gids, g);
  jv_free (sgids);
  jv added = jv_array ();
  if (additional_groups (rootfs, group_add, &added, err) < 0)
    {
      jv_free (added);
      jv_free (gids);
      return -1;
    }
  jv_array_foreach (added, i, g) gids = jv_array_append (gids, g);
  jv_free (added);

  jv u = jv_object ();
  u = jv_object_set (u, jv_string ("uid"), dk_json_int64 (uid));
  u = jv_object_set (u, jv_string ("gid"), dk_json_int64 (gid));
  u = jv_object_set (u, jv_string ("additionalGids"), gids);
  *out = u;
  return 0;
}

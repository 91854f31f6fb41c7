#include "caps.h"
#include "cleanup.h"

#include <ctype.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char *const cap_names[] = {
  "CAP_CHOWN",
  "CAP_DAC_OVERRIDE",
  "CAP_DAC_READ_SEARCH",
  "CAP_FOWNER",
  "CAP_FSETID",
  "CAP_KILL",
  "CAP_SETGID",
  "CAP_SETUID",
  "CAP_SETPCAP",
  "CAP_LINUX_IMMUTABLE",
  "CAP_NET_BIND_SERVICE",
  "CAP_NET_BROADCAST",
  "CAP_NET_ADMIN",
  "CAP_NET_RAW",
  "CAP_IPC_LOCK",
  "CAP_IPC_OWNER",
  "CAP_SYS_MODULE",
  "CAP_SYS_RAWIO",
  "CAP_SYS_CHROOT",
  "CAP_SYS_PTRACE",
  "CAP_SYS_PACCT",
  "CAP_SYS_ADMIN",
  "CAP_SYS_BOOT",
  "CAP_SYS_NICE",
  "CAP_SYS_RESOURCE",
  "CAP_SYS_TIME",
  "CAP_SYS_TTY_CONFIG",
  "CAP_MKNOD",
  "CAP_LEASE",
  "CAP_AUDIT_WRITE",
  "CAP_AUDIT_CONTROL",
  "CAP_SETFCAP",
  "CAP_MAC_OVERRIDE",
  "CAP_MAC_ADMIN",
  "CAP_SYSLOG",
  "CAP_WAKE_ALARM",
  "CAP_BLOCK_SUSPEND",
  "CAP_AUDIT_READ",
  "CAP_PERFMON",
  "CAP_BPF",
  "CAP_CHECKPOINT_RESTORE",
};
#define N_CAPS ((int)(sizeof cap_names / sizeof cap_names[0]))

static const char *const default_caps[] = {
  "CAP_CHOWN",   "CAP_DAC_OVERRIDE", "CAP_FSETID",           "CAP_FOWNER",
  "CAP_MKNOD",   "CAP_NET_RAW",      "CAP_SETGID",           "CAP_SETUID",
  "CAP_SETFCAP", "CAP_SETPCAP",      "CAP_NET_BIND_SERVICE", "CAP_SYS_CHROOT",
  "CAP_KILL",    "CAP_AUDIT_WRITE",
};

const char *
dk_caps_name (int cap)
{
  return cap >= 0 && cap < N_CAPS ? cap_names[cap] : NULL;
}

int
dk_caps_number (const char *name)
{
  for (int i = 0; i < N_CAPS; i++)
    if (strcmp (cap_names[i], name) == 0)
      return i;
  return -1;
}

jv
dk_caps_default (void)
{
  jv a = jv_array ();
  for (size_t i = 0; i < sizeof default_caps / sizeof default_caps[0]; i++)
    a = jv_array_append (a, jv_string (default_caps[i]));
  return a;
}

/* The effective set of this process from /proc/self/status; all known
   capabilities when it cannot be read (the runtime refuses what it lacks). */
static uint64_t
effective_mask (void)
{
  cleanup_fclose FILE *f = fopen ("/proc/self/status", "re");
  char line[256];
  while (f && fgets (line, sizeof line, f))
    {
      uint64_t m;
      if (sscanf (line, "CapEff: %" SCNx64, &m) == 1)
        return m;
    }
  return N_CAPS >= 64 ? ~0ULL : (1ULL << N_CAPS) - 1;
}

jv
dk_caps_available (void)
{
  uint64_t m = effective_mask ();
  jv a = jv_array ();
  for (int i = 0; i < N_CAPS; i++)
    if (m & (1ULL << i))
      a = jv_array_append (a, jv_string (cap_names[i]));
  return a;
}

static bool
contains (jv arr, const char *s)
{
  int n = dk_json_len (arr);
  for (int i = 0; i < n; i++)
    {
      jv e = jv_array_get (jv_copy (arr), i);
      bool eq = jv_get_kind (e) == JV_KIND_STRING && strcmp (jv_string_value (e), s) == 0;
      jv_free (e);
      if (eq)
        return true;
    }
  return false;
}

int
dk_caps_normalize (jv list, jv *out, dk_err_t *err)
{
  jv res = jv_array ();
  int n = dk_json_len (list);
  uint64_t avail = effective_mask ();
  for (int i = 0; i < n; i++)
    {
      jv e = jv_array_get (jv_copy (list), i);
      if (jv_get_kind (e) != JV_KIND_STRING)
        {
          jv_free (e);
          jv_free (res);
          return dk_make_error_code (err, DK_ECODE_INVALID, 0, "capabilities must be strings");
        }
      const char *s = jv_string_value (e);
      cleanup_free char *up = xmalloc (strlen (s) + 5);
      size_t off = 0;
      if (strncasecmp (s, "CAP_", 4) != 0 && strcasecmp (s, "ALL") != 0)
        {
          memcpy (up, "CAP_", 4);
          off = 4;
        }
      for (size_t k = 0; s[k]; k++)
        up[off++] = (char)toupper ((unsigned char)s[k]);
      up[off] = '\0';
      jv_free (e);
      if (strcmp (up, "ALL") != 0)
        {
          int num = dk_caps_number (up);
          if (num < 0)
            {
              jv_free (res);
              return dk_make_error_code (err, DK_ECODE_INVALID, 0, "unknown capability: \"%s\"",
                                         up);
            }
          if (!(avail & (1ULL << num)))
            {
              jv_free (res);
              return dk_make_error_code (err, DK_ECODE_INVALID, 0,
                                         "capability not supported by your kernel or not "
                                         "available in the current environment: \"%s\"",
                                         up);
            }
        }
      res = jv_array_append (res, jv_string (up));
    }
  *out = res;
  return 0;
}

int
dk_caps_tweak (jv adds, jv drops, bool privileged, jv *out, dk_err_t *err)
{
  if (privileged)
    {
      *out = dk_caps_available ();
      return 0;
    }
  if (dk_json_len (adds) <= 0 && dk_json_len (drops) <= 0)
    {
      *out = dk_caps_default ();
      return 0;
    }
  cleanup_jv jv cdrop = jv_invalid (), cadd = jv_invalid ();
  if (dk_caps_normalize (drops, &cdrop, err) < 0 || dk_caps_normalize (adds, &cadd, err) < 0)
    return -1;
  jv caps = jv_array ();
  if (contains (cadd, "ALL"))
    {
      jv all = dk_caps_available ();
      jv_array_foreach (all, i, c)
      {
        if (!contains (cdrop, jv_string_value (c)))
          caps = jv_array_append (caps, c);
        else
          jv_free (c);
      }
      jv_free (all);
    }
  else if (contains (cdrop, "ALL"))
    {
      jv_free (caps);
      caps = jv_copy (cadd);
    }
  else
    {
      jv base = dk_caps_default ();
      jv_array_foreach (base, i, c)
      {
        if (!contains (cdrop, jv_string_value (c)))
          caps = jv_array_append (caps, c);
        else
          jv_free (c);
      }
      jv_free (base);
      jv_array_foreach (cadd, i, c) caps = jv_array_append (caps, c);
    }
  *out = caps;
  return 0;
}

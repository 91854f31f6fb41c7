#include "seccomp_profile.h"
#include "cleanup.h"
#include "goarch.h"

#include <stdbool.h>
#include <stdio.h>
#include <string.h>

/* Architecture names as the profile uses them: the SCMP_ARCH_ name of the
   archMap and Go's GOARCH spelling in includes/excludes "arches". */
#if defined(__x86_64__)
#define NATIVE_SCMP "SCMP_ARCH_X86_64"
#define NATIVE_GO "amd64"
#elif defined(__aarch64__)
#define NATIVE_SCMP "SCMP_ARCH_AARCH64"
#define NATIVE_GO "arm64"
#elif defined(__i386__)
#define NATIVE_SCMP "SCMP_ARCH_X86"
#define NATIVE_GO "386"
#elif defined(__s390x__)
#define NATIVE_SCMP "SCMP_ARCH_S390X"
#define NATIVE_GO "s390x"
#elif defined(__powerpc64__) && __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
#define NATIVE_SCMP "SCMP_ARCH_PPC64LE"
#define NATIVE_GO "ppc64le"
#elif defined(__riscv) && __riscv_xlen == 64
#define NATIVE_SCMP "SCMP_ARCH_RISCV64"
#define NATIVE_GO "riscv64"
#elif defined(__arm__)
#define NATIVE_SCMP "SCMP_ARCH_ARM"
#define NATIVE_GO "arm"
#else
#error "unsupported architecture for the seccomp profile"
#endif

static bool
str_in (jv arr, const char *s)
{
  if (jv_get_kind (arr) != JV_KIND_ARRAY)
    return false;
  bool found = false;
  jv_array_foreach (arr, i, e)
  {
    if (!found && jv_get_kind (e) == JV_KIND_STRING && strcmp (jv_string_value (e), s) == 0)
      found = true;
    jv_free (e);
  }
  return found;
}

/* "4.8" <= running kernel? */
static bool
kernel_at_least (const char *want)
{
  int wmaj = 0, wmin = 0, kmaj = 0, kmin = 0;
  if (sscanf (want, "%d.%d", &wmaj, &wmin) < 1
      || sscanf (dk_uname ()->release, "%d.%d", &kmaj, &kmin) < 1)
    return true;
  return kmaj > wmaj || (kmaj == wmaj && kmin >= wmin);
}

/* Whether one rule applies to this container on this host. */
static bool
rule_applies (jv rule, jv bounding)
{
  cleanup_jv jv exc = dk_json_get_kind (rule, "excludes", JV_KIND_OBJECT);
  cleanup_jv jv inc = dk_json_get_kind (rule, "includes", JV_KIND_OBJECT);
  if (jv_is_valid (exc))
    {
      cleanup_jv jv arches = dk_json_get (exc, "arches");
      if (str_in (arches, NATIVE_GO))
        return false;
      cleanup_jv jv caps = dk_json_get (exc, "caps");
      for (int i = 0; i < dk_json_len (caps); i++)
        {
          cleanup_jv jv c = jv_array_get (jv_copy (caps), i);
          if (jv_get_kind (c) == JV_KIND_STRING && str_in (bounding, jv_string_value (c)))
            return false;
        }
      const char *mk = dk_json_str (exc, "minKernel");
      if (mk && kernel_at_least (mk))
        return false;
    }
  if (jv_is_valid (inc))
    {
      cleanup_jv jv arches = dk_json_get (inc, "arches");
      if (dk_json_len (arches) > 0 && !str_in (arches, NATIVE_GO))
        return false;
      cleanup_jv jv caps = dk_json_get (inc, "caps");
      for (int i = 0; i < dk_json_len (caps); i++)
        {
          cleanup_jv jv c = jv_array_get (jv_copy (caps), i);
          if (jv_get_kind (c) != JV_KIND_STRING || !str_in (bounding, jv_string_value (c)))
            return false;
        }
      const char *mk = dk_json_str (inc, "minKernel");
      if (mk && !kernel_at_least (mk))
        return false;
    }
  return true;
}

static jv
copy_member (jv dst, jv src, const char *key)
{
  jv v = dk_json_get (src, key);
  if (jv_is_valid (v) && jv_get_kind (v) != JV_KIND_NULL)
    return jv_object_set (dst, jv_string (key), v);
  jv_free (v);
  return dst;
}

static int
convert_rule (jv rule, jv *out, dk_err_t *err)
{
  cleanup_jv jv names = dk_json_get_kind (rule, "names", JV_KIND_ARRAY);
  const char *name = dk_json_str (rule, "name");
  if (name && jv_is_valid (names) && dk_json_len (names) > 0)
    return dk_make_error_code (err, DK_ECODE_INVALID, 0, "use either 'name' or 'names', not both");
  if (!jv_is_valid (names))
    names = jv_array ();
  if (name)
    names = jv_array_append (names, jv_string (name));
  if (!dk_json_str (rule, "action"))
    return dk_make_error_code (err, DK_ECODE_INVALID, 0, "seccomp rule without an action");
  jv r = jv_object ();
  r = jv_object_set (r, jv_string ("names"), jv_copy (names));
  r = copy_member (r, rule, "action");
  r = copy_member (r, rule, "errnoRet");
  r = copy_member (r, rule, "args");
  *out = r;
  return 0;
}

int
dk_seccomp_profile_to_oci (const char *profile, jv bounding, jv *out, dk_err_t *err)
{
  cleanup_jv jv p = jv_invalid ();
  if (dk_json_parse (profile, strlen (profile), &p, err) < 0)
    return dk_error_wrap (err, "decoding seccomp profile failed");
  if (jv_get_kind (p) != JV_KIND_OBJECT)
    return dk_make_error_code (err, DK_ECODE_INVALID, 0,
                               "decoding seccomp profile failed: not a JSON object");
  if (!dk_json_str (p, "defaultAction"))
    return dk_make_error_code (err, DK_ECODE_INVALID, 0,
                               "decoding seccomp profile failed: no defaultAction");
  cleanup_jv jv arches = dk_json_get_kind (p, "architectures", JV_KIND_ARRAY);
  cleanup_jv jv archmap = dk_json_get_kind (p, "archMap", JV_KIND_ARRAY);
  if (dk_json_len (arches) > 0 && dk_json_len (archmap) > 0)
    return dk_make_error_code (err, DK_ECODE_INVALID, 0,
                               "both 'architectures' and 'archMap' are specified in the seccomp "
                               "profile, use either 'architectures' or 'archMap'");
  jv out_arches = jv_is_valid (arches) ? jv_copy (arches) : jv_array ();
  for (int i = 0; i < dk_json_len (archmap); i++)
    {
      cleanup_jv jv m = jv_array_get (jv_copy (archmap), i);
      const char *a = dk_json_str (m, "architecture");
      if (!a || strcmp (a, NATIVE_SCMP) != 0)
        continue;
      out_arches = jv_array_append (out_arches, jv_string (a));
      cleanup_jv jv subs = dk_json_get_kind (m, "subArchitectures", JV_KIND_ARRAY);
      for (int k = 0; k < dk_json_len (subs); k++)
        out_arches = jv_array_append (out_arches, jv_array_get (jv_copy (subs), k));
    }

  jv s = jv_object ();
  s = copy_member (s, p, "defaultAction");
  s = copy_member (s, p, "defaultErrnoRet");
  if (dk_json_len (out_arches) > 0)
    s = jv_object_set (s, jv_string ("architectures"), out_arches);
  else
    jv_free (out_arches);
  s = copy_member (s, p, "listenerPath");
  s = copy_member (s, p, "listenerMetadata");
  s = copy_member (s, p, "flags");

  jv calls = jv_array ();
  cleanup_jv jv rules = dk_json_get_kind (p, "syscalls", JV_KIND_ARRAY);
  for (int i = 0; i < dk_json_len (rules); i++)
    {
      cleanup_jv jv rule = jv_array_get (jv_copy (rules), i);
      if (jv_get_kind (rule) != JV_KIND_OBJECT || !rule_applies (rule, bounding))
        continue;
      jv r = jv_invalid ();
      if (convert_rule (rule, &r, err) < 0)
        {
          jv_free (calls);
          jv_free (s);
          return dk_error_wrap (err, "decoding seccomp profile failed");
        }
      calls = jv_array_append (calls, r);
    }
  *out = jv_object_set (s, jv_string ("syscalls"), calls);
  return 0;
}

/* linux.seccomp compiled with libseccomp in the runtime, outside the
   container; the container only loads the resulting BPF. */
#include "run.h"

#include <ctype.h>
#include <errno.h>
#include <linux/seccomp.h>
#include <seccomp.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <unistd.h>

static int
parse_action (const char *name, jv obj, uint32_t *act, dk_err_t *err)
{
  int64_t eno = EPERM;
  dk_json_int (obj, "errnoRet", &eno);
  if (name == NULL)
    return dk_make_error_code (err, DK_ECODE_INVALID, 0, "seccomp: missing action");
  if (strcmp (name, "SCMP_ACT_KILL") == 0 || strcmp (name, "SCMP_ACT_KILL_THREAD") == 0)
    *act = SCMP_ACT_KILL_THREAD;
  else if (strcmp (name, "SCMP_ACT_KILL_PROCESS") == 0)
    *act = SCMP_ACT_KILL_PROCESS;
  else if (strcmp (name, "SCMP_ACT_TRAP") == 0)
    *act = SCMP_ACT_TRAP;
  else if (strcmp (name, "SCMP_ACT_ERRNO") == 0)
    *act = SCMP_ACT_ERRNO ((uint16_t)eno);
  else if (strcmp (name, "SCMP_ACT_TRACE") == 0)
    *act = SCMP_ACT_TRACE ((uint16_t)eno);
  else if (strcmp (name, "SCMP_ACT_ALLOW") == 0)
    *act = SCMP_ACT_ALLOW;
  else if (strcmp (name, "SCMP_ACT_LOG") == 0)
    *act = SCMP_ACT_LOG;
  else if (strcmp (name, "SCMP_ACT_NOTIFY") == 0)
    return dk_make_error_code (err, DK_ECODE_INVALID, 0,
                               "seccomp: action SCMP_ACT_NOTIFY is not supported");
  else
    return dk_make_error_code (err, DK_ECODE_INVALID, 0, "seccomp: unknown action \"%s\"", name);
  return 0;
}

static int
parse_op (const char *name, enum scmp_compare *op, dk_err_t *err)
{
  static const struct
  {
    const char *n;
    enum scmp_compare op;
  } ops[] = { { "SCMP_CMP_NE", SCMP_CMP_NE },
              { "SCMP_CMP_LT", SCMP_CMP_LT },
              { "SCMP_CMP_LE", SCMP_CMP_LE },
              { "SCMP_CMP_EQ", SCMP_CMP_EQ },
              { "SCMP_CMP_GE", SCMP_CMP_GE },
              { "SCMP_CMP_GT", SCMP_CMP_GT },
              { "SCMP_CMP_MASKED_EQ", SCMP_CMP_MASKED_EQ } };
  for (size_t i = 0; name && i < sizeof ops / sizeof ops[0]; i++)
    if (strcmp (name, ops[i].n) == 0)
      {
        *op = ops[i].op;
        return 0;
      }
  return dk_make_error_code (err, DK_ECODE_INVALID, 0, "seccomp: unknown operator \"%s\"",
                             name ? name : "");
}

static int
add_arch (scmp_filter_ctx ctx, const char *name, dk_err_t *err)
{
  if (name == NULL || strncmp (name, "SCMP_ARCH_", 10) != 0)
    return dk_make_error_code (err, DK_ECODE_INVALID, 0, "seccomp: unknown architecture \"%s\"",
                               name ? name : "");
  char low[64];
  size_t i = 0;
  for (const char *p = name + 10; *p && i < sizeof low - 1; p++)
    low[i++] = tolower ((unsigned char)*p);
  low[i] = '\0';
  uint32_t arch = seccomp_arch_resolve_name (low);
  if (arch == 0)
    return dk_make_error_code (err, DK_ECODE_INVALID, 0, "seccomp: unknown architecture \"%s\"",
                               name);
  int r = seccomp_arch_add (ctx, arch);
  if (r < 0 && r != -EEXIST)
    return dk_make_error (err, -r, "seccomp: add architecture %s", name);
  return 0;
}

static int
add_rule (scmp_filter_ctx ctx, uint32_t def, jv rule, dk_err_t *err)
{
  uint32_t act;
  if (parse_action (dk_json_str (rule, "action"), rule, &act, err) < 0)
    return -1;
  cleanup_jv jv names = dk_json_get_kind (rule, "names", JV_KIND_ARRAY);
  cleanup_jv jv args = dk_json_get_kind (rule, "args", JV_KIND_ARRAY);
  const char *single = dk_json_str (rule, "name");
  if (!jv_is_valid (names))
    names = single ? JV_ARRAY (jv_string (single)) : jv_array ();
  int nargs = jv_is_valid (args) ? dk_json_len (args) : 0;
  if (nargs > 6)
    return dk_make_error_code (err, DK_ECODE_INVALID, 0, "seccomp: too many arguments");
  struct scmp_arg_cmp cmp[6];
  bool same_index = false;
  for (int i = 0; i < nargs; i++)
    {
      cleanup_jv jv a = jv_array_get (jv_copy (args), i);
      int64_t index = 0, value = 0, value2 = 0;
      enum scmp_compare op = SCMP_CMP_EQ;
      dk_json_int (a, "index", &index);
      if (jv_get_kind (a) == JV_KIND_OBJECT)
        {
          cleanup_jv jv v = dk_json_get_kind (a, "value", JV_KIND_NUMBER);
          cleanup_jv jv v2 = dk_json_get_kind (a, "valueTwo", JV_KIND_NUMBER);
          value = jv_is_valid (v) ? (int64_t)(uint64_t)jv_number_value (v) : 0;
          value2 = jv_is_valid (v2) ? (int64_t)(uint64_t)jv_number_value (v2) : 0;
        }
      if (index < 0 || index > 5)
        return dk_make_error_code (err, DK_ECODE_INVALID, 0, "seccomp: bad argument index");
      if (parse_op (dk_json_str (a, "op"), &op, err) < 0)
        return -1;
      cmp[i]
          = (struct scmp_arg_cmp){ (unsigned)index, op, (scmp_datum_t)value, (scmp_datum_t)value2 };
      for (int k = 0; k < i; k++)
        if (cmp[k].arg == cmp[i].arg)
          same_index = true;
    }
  if (act == def)
    return 0; /* libseccomp refuses a rule that repeats the default */
  jv_array_foreach (names, i, n)
  {
    int nr = jv_get_kind (n) == JV_KIND_STRING ? seccomp_syscall_resolve_name (jv_string_value (n))
                                               : __NR_SCMP_ERROR;
    jv_free (n);
    /* a syscall this libseccomp or arch does not know is skipped, as runc does */
    if (nr == __NR_SCMP_ERROR)
      continue;
    int r;
    if (same_index)
      {
        /* libseccomp cannot AND two conditions on one argument: OR them */
        r = 0;
        for (int k = 0; k < nargs && r >= 0; k++)
          r = seccomp_rule_add_array (ctx, act, nr, 1, &cmp[k]);
      }
    else
      r = seccomp_rule_add_array (ctx, act, nr, nargs, cmp);
    if (r < 0)
      return dk_make_error (err, -r, "seccomp: add rule for syscall %d", nr);
  }
  return 0;
}

int
dk_seccomp_compile (jv seccomp, struct sock_fprog **out, unsigned *flags, dk_err_t *err)
{
  uint32_t def;
  *flags = 0;
  if (parse_action (dk_json_str (seccomp, "defaultAction"), jv_null (), &def, err) < 0)
    return dk_error_wrap (err, "seccomp defaultAction");
  int64_t eno;
  if (dk_json_int (seccomp, "defaultErrnoRet", &eno) && (def & 0xffff0000U) == SCMP_ACT_ERRNO (0))
    def = SCMP_ACT_ERRNO ((uint16_t)eno);
  scmp_filter_ctx ctx = seccomp_init (def);
  if (ctx == NULL)
    return dk_make_error (err, EINVAL, "seccomp_init");
  int ret = 0;
  cleanup_jv jv archs = dk_json_get_kind (seccomp, "architectures", JV_KIND_ARRAY);
  if (jv_is_valid (archs))
    jv_array_foreach (archs, i, a)
    {
      if (ret == 0)
        ret = add_arch (ctx, jv_get_kind (a) == JV_KIND_STRING ? jv_string_value (a) : NULL, err);
      jv_free (a);
    }
  cleanup_jv jv fl = dk_json_get_kind (seccomp, "flags", JV_KIND_ARRAY);
  if (jv_is_valid (fl))
    jv_array_foreach (fl, i, f)
    {
      const char *s = jv_get_kind (f) == JV_KIND_STRING ? jv_string_value (f) : "";
      if (strcmp (s, "SECCOMP_FILTER_FLAG_LOG") == 0)
        *flags |= SECCOMP_FILTER_FLAG_LOG;
      else if (strcmp (s, "SECCOMP_FILTER_FLAG_SPEC_ALLOW") == 0)
        *flags |= SECCOMP_FILTER_FLAG_SPEC_ALLOW;
      else if (strcmp (s, "SECCOMP_FILTER_FLAG_TSYNC") != 0 && ret == 0)
        ret = dk_make_error_code (err, DK_ECODE_INVALID, 0, "seccomp: unknown flag \"%s\"", s);
      jv_free (f);
    }
  cleanup_jv jv rules = dk_json_get_kind (seccomp, "syscalls", JV_KIND_ARRAY);
  if (jv_is_valid (rules))
    jv_array_foreach (rules, i, r)
    {
      if (ret == 0)
        ret = add_rule (ctx, def, r, err);
      jv_free (r);
    }
  if (ret == 0)
    {
      int fd = memfd_create ("seccomp", MFD_CLOEXEC);
      int r = fd < 0 ? -errno : seccomp_export_bpf (ctx, fd);
      off_t len = r < 0 ? -1 : lseek (fd, 0, SEEK_END);
      if (r < 0 || len <= 0 || len % sizeof (struct sock_filter))
        ret = dk_make_error (err, r < 0 ? -r : EINVAL, "seccomp: export filter");
      else
        {
          struct sock_fprog *prog = xzalloc (sizeof *prog);
          prog->filter = xmalloc (len);
          prog->len = len / sizeof (struct sock_filter);
          if (pread (fd, prog->filter, len, 0) != len)
            {
              free (prog->filter);
              free (prog);
              ret = dk_make_error (err, errno, "seccomp: read filter");
            }
          else
            *out = prog;
        }
      if (fd >= 0)
        close (fd);
    }
  seccomp_release (ctx);
  return ret;
}

int
dk_seccomp_load (struct sock_fprog *prog, unsigned flags, dk_err_t *err)
{
  if (syscall (SYS_seccomp, SECCOMP_SET_MODE_FILTER, flags, prog) < 0)
    {
      if (flags && (errno == EINVAL)
          && syscall (SYS_seccomp, SECCOMP_SET_MODE_FILTER, 0, prog) == 0)
        return 0;
      return dk_make_error (err, errno, "load seccomp filter");
    }
  return 0;
}

/* Create-time checks of the Config part and the generic HostConfig fields,
   in Docker's order and with its messages: working directory, stop
   signal, environment, healthcheck, AutoRemove with a restart policy,
   extra hosts, port bindings, isolation, annotations. */
#include "ocispec_internal.h"
#include "cleanup.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <stdlib.h>
#include <string.h>

static int
bad (dk_err_t *err, const char *fmt, const char *arg)
{
  return dk_make_error_code (err, DK_ECODE_INVALID, 0, fmt, arg);
}

/* Docker's signal.ParseSignal: a number > 0, or a name with or without
   SIG, any case, including RTMIN+n / RTMAX-n. */
static bool
valid_signal (const char *raw)
{
  static const char *const names[]
      = { "ABRT",   "ALRM",  "BUS",  "CHLD", "CLD",   "CONT",  "FPE",    "HUP",  "ILL",  "INT",
          "IO",     "IOT",   "KILL", "PIPE", "POLL",  "PROF",  "PWR",    "QUIT", "SEGV", "STKFLT",
          "STOP",   "SYS",   "TERM", "TRAP", "TSTP",  "TTIN",  "TTOU",   "URG",  "USR1", "USR2",
          "VTALRM", "WINCH", "XCPU", "XFSZ", "RTMIN", "RTMAX", "UNUSED", NULL };
  if (*raw == '\0')
    return false;
  char *end = NULL;
  long n = strtol (raw, &end, 10);
  if (*end == '\0')
    return n > 0;
  cleanup_free char *up = xstrdup (raw);
  for (char *p = up; *p; p++)
    *p = (char)toupper ((unsigned char)*p);
  const char *s = strncmp (up, "SIG", 3) == 0 ? up + 3 : up;
  for (int i = 0; names[i]; i++)
    if (strcmp (s, names[i]) == 0)
      return true;
  int k = 0;
  char tail = 0;
  if ((sscanf (s, "RTMIN+%d%c", &k, &tail) == 1 || sscanf (s, "RTMAX-%d%c", &k, &tail) == 1)
      && k >= 1 && k <= 14)
    return true;
  return false;
}

static int
healthcheck (jv create, dk_err_t *err)
{
  cleanup_jv jv hc = dk_json_get_kind (create, "Healthcheck", JV_KIND_OBJECT);
  if (!jv_is_valid (hc))
    return 0;
  static const char *const durations[] = { "Interval", "Timeout", "StartPeriod", "StartInterval" };
  for (size_t i = 0; i < sizeof durations / sizeof durations[0]; i++)
    {
      int64_t d = dk_spec_int (hc, durations[i]);
      if (d != 0 && d < 1000000)
        return bad (err, "%s in Healthcheck cannot be less than 1ms", durations[i]);
      if (strcmp (durations[i], "Timeout") == 0 && dk_spec_int (hc, "Retries") < 0)
        return bad (err, "%s", "Retries in Healthcheck cannot be negative");
    }
  return 0;
}

static bool
valid_ip (const char *s)
{
  unsigned char buf[16];
  return inet_pton (AF_INET, s, buf) == 1 || inet_pton (AF_INET6, s, buf) == 1;
}

static int
extra_host (const char *val, dk_err_t *err)
{
  const char *sep = strchr (val, '=');
  if (!sep)
    sep = strchr (val, ':');
  cleanup_free char *k = sep ? xstrndup (val, (size_t)(sep - val)) : NULL;
  if (!sep || !*k || strchr (k, ':'))
    return bad (err, "bad format for add-host: \"%s\"", val);
  cleanup_free char *v = xstrdup (sep + 1);
  if (strcmp (v, "host-gateway") == 0)
    return 0;
  size_t n = strlen (v);
  if (n > 2 && v[0] == '[' && v[n - 1] == ']')
    {
      memmove (v, v + 1, n - 2);
      v[n - 2] = '\0';
    }
  if (!valid_ip (v))
    return bad (err, "invalid IP address in add-host: \"%s\"", v);
  return 0;
}

/* "8080", "8000-8010" */
static bool
valid_port_range (const char *s)
{
  char *end = NULL;
  long a = strtol (s, &end, 10);
  if (end == s || a < 0 || a > 65535)
    return false;
  if (*end == '\0')
    return true;
  if (*end != '-')
    return false;
  const char *b_s = end + 1;
  long b = strtol (b_s, &end, 10);
  return end != b_s && *end == '\0' && b >= a && b <= 65535;
}

static int
port_bindings (jv hc, dk_err_t *err)
{
  cleanup_jv jv pb = dk_json_get_kind (hc, "PortBindings", JV_KIND_OBJECT);
  if (!jv_is_valid (pb))
    return 0;
  int r = 0;
  jv_object_foreach (pb, k, v)
  {
    const char *port = jv_string_value (k);
    const char *slash = strchr (port, '/');
    cleanup_free char *num = slash ? xstrndup (port, (size_t)(slash - port)) : xstrdup (port);
    const char *proto = slash ? slash + 1 : "tcp";
    char *end = NULL;
    long p = strtol (num, &end, 10);
    if (r == 0
        && (end == num || *end || p <= 0 || p > 65535
            || (strcmp (proto, "tcp") && strcmp (proto, "udp") && strcmp (proto, "sctp"))))
      r = bad (err, "invalid port specification: \"%s\"", port);
    for (int i = 0; r == 0 && i < dk_json_len (v); i++)
      {
        cleanup_jv jv b = jv_array_get (jv_copy (v), i);
        const char *hp = dk_json_str (b, "HostPort");
        if (hp && *hp && !valid_port_range (hp))
          r = bad (err, "invalid port specification: \"%s\"", hp);
      }
    jv_free (k);
    jv_free (v);
  }
  return r;
}

int
dk_ocispec_validate_config (jv create, jv hc, dk_err_t *err)
{
  const char *wd = dk_json_str (create, "WorkingDir");
  if (wd && *wd && wd[0] != '/')
    return bad (err, "the working directory '%s' is invalid, it needs to be an absolute path", wd);
  const char *sig = dk_json_str (create, "StopSignal");
  if (sig && *sig && !valid_signal (sig))
    return bad (err, "Invalid signal: %s", sig);
  cleanup_jv jv env = dk_json_get_kind (create, "Env", JV_KIND_ARRAY);
  for (int i = 0; i < dk_json_len (env); i++)
    {
      cleanup_jv jv e = jv_array_get (jv_copy (env), i);
      const char *s = jv_get_kind (e) == JV_KIND_STRING ? jv_string_value (e) : "";
      if (*s == '\0' || *s == '=')
        return bad (err, "invalid environment variable: %s", s);
    }
  if (healthcheck (create, err) < 0)
    return -1;
  if (!jv_is_valid (hc))
    return 0;

  bool autoremove = false;
  dk_json_bool (hc, "AutoRemove", &autoremove);
  cleanup_jv jv rp = dk_json_get_kind (hc, "RestartPolicy", JV_KIND_OBJECT);
  const char *rpn = dk_json_str (rp, "Name");
  if (autoremove && rpn && *rpn && strcmp (rpn, "no") != 0)
    return bad (err, "%s", "can't create 'AutoRemove' container with restart policy");
  cleanup_jv jv ml = dk_json_get_kind (hc, "Mounts", JV_KIND_ARRAY);
  for (int i = 0; i < dk_json_len (ml); i++)
    {
      cleanup_jv jv m = jv_array_get (jv_copy (ml), i);
      if (dk_ocispec_check_mount (m, err) < 0)
        return -1;
    }
  cleanup_jv jv eh = dk_json_get_kind (hc, "ExtraHosts", JV_KIND_ARRAY);
  for (int i = 0; i < dk_json_len (eh); i++)
    {
      cleanup_jv jv h = jv_array_get (jv_copy (eh), i);
      if (extra_host (jv_get_kind (h) == JV_KIND_STRING ? jv_string_value (h) : "", err) < 0)
        return -1;
    }
  if (port_bindings (hc, err) < 0)
    return -1;
  return 0;
}

int
dk_ocispec_validate_host_misc (jv hc, dk_err_t *err)
{
  const char *iso = dk_json_str (hc, "Isolation");
  if (iso && *iso && strcasecmp (iso, "default") != 0)
    return bad (err, "invalid isolation '%s' on linux", iso);
  cleanup_jv jv ann = dk_json_get_kind (hc, "Annotations", JV_KIND_OBJECT);
  if (jv_is_valid (ann) && jv_object_has (jv_copy (ann), jv_string ("")))
    return bad (err, "%s",
                "invalid Annotations: the empty string is not permitted as an annotation key");
  return 0;
}

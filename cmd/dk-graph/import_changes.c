/* import --change: the Dockerfile instructions moby lets `docker import`
   and `docker commit` apply to an image config (docs/store.md). */
#include "import.h"
#include "buf.h"
#include "cleanup.h"

#include <ctype.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

static const char *const allowed[]
    = { "CMD",     "ENTRYPOINT", "HEALTHCHECK", "ENV",    "EXPOSE", "LABEL",
        "ONBUILD", "STOPSIGNAL", "USER",        "VOLUME", "WORKDIR" };

static int
parse_error (dk_err_t *err, int line, const char *fmt, const char *arg)
{
  cleanup_free char *m = xasprintf (fmt, arg);
  return dk_make_error_code (err, DK_ECODE_INVALID, 0, "dockerfile parse error on line %d: %s",
                             line, m);
}

/* Go's %q of s (strconv.Quote), as Docker's messages quote a word. */
static char *
go_quote (const char *s)
{
  static const char esc[] = "\a\b\f\n\r\t\v";
  static const char name[] = "abfnrtv";
  struct dk_buf b = DK_BUF_INIT;
  dk_buf_addc (&b, '"');
  for (; *s; s++)
    {
      const char *e = strchr (esc, *s);
      if (*s == '"' || *s == '\\')
        dk_buf_printf (&b, "\\%c", *s);
      else if (e)
        dk_buf_printf (&b, "\\%c", name[e - esc]);
      else if ((unsigned char)*s < 0x20 || *s == 0x7f)
        dk_buf_printf (&b, "\\x%02x", (unsigned char)*s);
      else
        dk_buf_addc (&b, *s);
    }
  dk_buf_addc (&b, '"');
  return dk_buf_steal (&b);
}

/* One word as Docker's shell lexer reads EXPOSE's and VOLUME's (without
   variables): '...' literal, "..." with \ escaping only " $ and \, \
   escaping any character outside quotes; an unclosed quote is Docker's
   error. */
static int
process_word (const char *w, char **out, dk_err_t *err)
{
  struct dk_buf b = DK_BUF_INIT;
  for (const char *p = w; *p; p++)
    {
      if (*p == '\'' || *p == '"')
        {
          char q = *p;
          const char *end = ++p;
          while (*end && *end != q)
            end += q == '"' && *end == '\\' && end[1] ? 2 : 1;
          if (*end == 0)
            {
              dk_buf_free (&b);
              cleanup_free char *qw = go_quote (w);
              return dk_make_error_code (
                  err, DK_ECODE_INVALID, 0,
                  "failed to process %s: unexpected end of statement while looking for "
                  "matching %s",
                  qw, q == '"' ? "double-quote" : "single-quote");
            }
          for (; p < end; p++)
            {
              if (q == '"' && *p == '\\' && strchr ("\"$\\", p[1]))
                p++;
              dk_buf_addc (&b, *p);
            }
        }
      else if (*p == '\\')
        {
          if (p[1] == 0)
            break;
          dk_buf_addc (&b, *++p);
        }
      else
        dk_buf_addc (&b, *p);
    }
  *out = dk_buf_steal (&b);
  return 0;
}

/* Whitespace-separated tokens (quotes do not join them: Docker's parser
   splits EXPOSE and VOLUME first), each through process_word; a token
   that comes out empty is dropped with want_empty false. */
static int
process_tokens (const char *rest, bool want_empty, jv *out, dk_err_t *err)
{
  *out = jv_array ();
  while (*rest)
    {
      size_t n = strcspn (rest, " \t");
      cleanup_free char *tok = xstrndup (rest, n);
      rest += n;
      rest += strspn (rest, " \t");
      if (*tok == 0)
        continue;
      cleanup_free char *w = NULL;
      if (process_word (tok, &w, err) < 0)
        return -1;
      if (*w || want_empty)
        *out = jv_array_append (*out, jv_string (w));
    }
  return 0;
}

/* Words as moby's parser splits ENV's and LABEL's (parseWords): blanks
   outside quotes end a word; quotes and escapes stay in it (the lexer takes
   them out later), and an unclosed quote runs to the end. */
static jv
raw_words (const char *s)
{
  jv out = jv_array ();
  struct dk_buf b = DK_BUF_INIT;
  bool in_word = false, blank_ok = false;
  char quote = 0;
  for (;; s++)
    {
      bool space = *s && isspace ((unsigned char)*s);
      if (*s == 0 || (space && !quote))
        {
          if (in_word && (blank_ok || b.len))
            out = jv_array_append (out, jv_string_sized (b.data ? b.data : "", b.len));
          if (*s == 0)
            break;
          dk_buf_reset (&b);
          in_word = blank_ok = false;
          continue;
        }
      in_word = true;
      if (quote && *s == quote)
        quote = 0;
      else if (!quote && (*s == '\'' || *s == '"'))
        {
          quote = *s;
          blank_ok = true;
        }
      else if (*s == '\\' && quote != '\'')
        {
          if (s[1] == 0)
            continue;
          dk_buf_addc (&b, *s++);
        }
      dk_buf_addc (&b, *s);
    }
  dk_buf_free (&b);
  return out;
}

/* A JSON array of strings ("exec form"), or invalid. */
static jv
json_form (const char *rest)
{
  if (*rest != '[')
    return jv_invalid ();
  jv v = jv_parse (rest);
  if (jv_get_kind (v) != JV_KIND_ARRAY)
    {
      jv_free (v);
      return jv_invalid ();
    }
  jv_array_foreach (v, i, e)
  {
    jv_kind k = jv_get_kind (e);
    jv_free (e);
    if (k != JV_KIND_STRING)
      {
        jv_free (v);
        return jv_invalid ();
      }
  }
  return v;
}

/* CMD/ENTRYPOINT/HEALTHCHECK CMD: exec form or ["/bin/sh","-c",rest]. */
static jv
command_of (const char *rest)
{
  jv j = json_form (rest);
  if (jv_is_valid (j))
    return j;
  jv_free (j);
  return JV_ARRAY (jv_string ("/bin/sh"), jv_string ("-c"), jv_string (rest));
}

/* [k, v] with both through the lexer, as moby expands ENV's and LABEL's. */
static int
key_value (const char *k, size_t kl, const char *v, jv *out, dk_err_t *err)
{
  cleanup_free char *key = xstrndup (k, kl);
  cleanup_free char *pk = NULL;
  cleanup_free char *pv = NULL;
  if (process_word (key, &pk, err) < 0 || process_word (v, &pv, err) < 0)
    return -1;
  *out = jv_array_append (*out, JV_ARRAY (jv_string (pk), jv_string (pv)));
  return 0;
}

/* KEY=VALUE words (or the legacy `KEY VALUE...` form) -> [[k,v]...]: the
   words checked first (moby's parser), then each taken through the lexer
   (its dispatch). */
static int
key_values (const char *kw, const char *rest, int line, jv *out, dk_err_t *err)
{
  cleanup_jv jv words = raw_words (rest);
  int n = dk_json_len (words);
  if (n == 0)
    return parse_error (err, line, "%s requires at least one argument", kw);
  *out = jv_array ();
  cleanup_jv jv first = jv_array_get (jv_copy (words), 0);
  if (strchr (jv_string_value (first), '=') == NULL)
    {
      /* legacy: KEY VALUE (the rest of the line, as written); Docker
         takes it for LABEL as for ENV */
      size_t kl = strcspn (rest, " \t");
      const char *p = rest + kl + strspn (rest + kl, " \t");
      if (*p == 0)
        return parse_error (err, line, "%s must have two arguments", kw);
      return key_value (rest, kl, p, out, err);
    }
  jv_array_foreach (words, i, w)
  {
    const char *s = jv_string_value (w);
    const char *eq = strchr (s, '=');
    if (eq == NULL || eq == s)
      {
        int r = parse_error (err, line,
                             eq ? "%s names can not be blank"
                                : "Syntax error - can't find = in \"%s\". Must be of the form: "
                                  "name=value",
                             eq ? kw : s);
        jv_free (w);
        return r;
      }
    jv_free (w);
  }
  jv_array_foreach (words, i, w)
  {
    const char *s = jv_string_value (w);
    const char *eq = strchr (s, '=');
    int r = key_value (s, eq - s, eq + 1, out, err);
    jv_free (w);
    if (r < 0)
      return -1;
  }
  return 0;
}

static jv
set_env (jv env, const char *k, const char *v)
{
  size_t kl = strlen (k);
  jv out = jv_array ();
  bool done = false;
  jv_array_foreach (env, i, e)
  {
    const char *s = jv_string_value (e);
    if (strncmp (s, k, kl) == 0 && s[kl] == '=')
      {
        if (!done)
          out = jv_array_append (out, jv_string_fmt ("%s=%s", k, v));
        done = true;
        jv_free (e);
      }
    else
      out = jv_array_append (out, e);
  }
  jv_free (env);
  if (!done)
    out = jv_array_append (out, jv_string_fmt ("%s=%s", k, v));
  return out;
}

static jv
obj_or_new (jv cfg, const char *key)
{
  jv o = dk_json_get_kind (cfg, key, JV_KIND_OBJECT);
  return jv_is_valid (o) ? o : (jv_free (o), jv_object ());
}

static int
expose (jv *cfg, const char *rest, int line, dk_err_t *err)
{
  cleanup_jv jv words = jv_invalid ();
  if (process_tokens (rest, false, &words, err) < 0)
    return -1;
  if (dk_json_len (words) == 0)
    return parse_error (err, line, "%s requires at least one argument", "EXPOSE");
  jv ports = obj_or_new (*cfg, "ExposedPorts");
  jv_array_foreach (words, i, w)
  {
    const char *s = jv_string_value (w);
    const char *slash = strchr (s, '/');
    cleanup_free char *proto = xstrdup (slash ? slash + 1 : "tcp");
    char *end;
    long lo = strtol (s, &end, 10), hi = lo;
    if (*end == '-')
      hi = strtol (end + 1, &end, 10);
    bool ok = end != s && (*end == 0 || *end == '/') && lo > 0 && hi >= lo && hi <= 65535
              && (!strcmp (proto, "tcp") || !strcmp (proto, "udp") || !strcmp (proto, "sctp"));
    if (!ok)
      {
        int r = dk_make_error_code (err, DK_ECODE_INVALID, 0, "invalid containerPort: %s", s);
        jv_free (w);
        jv_free (ports);
        return r;
      }
    for (long p = lo; p <= hi; p++)
      ports = jv_object_set (ports, jv_string_fmt ("%ld/%s", p, proto), jv_object ());
    jv_free (w);
  }
  *cfg = jv_object_set (*cfg, jv_string ("ExposedPorts"), ports);
  return 0;
}

static int
volume (jv *cfg, const char *rest, int line, dk_err_t *err)
{
  cleanup_jv jv l = json_form (rest);
  if (jv_is_valid (l))
    {
      /* the exec form's strings go through the lexer too */
      jv words = jv_array ();
      jv_array_foreach (l, i, v)
      {
        cleanup_free char *w = NULL;
        int r = process_word (jv_string_value (v), &w, err);
        jv_free (v);
        if (r < 0)
          {
            jv_free (words);
            return -1;
          }
        words = jv_array_append (words, jv_string (w));
      }
      jv_free (l);
      l = words;
    }
  else
    {
      jv_free (l);
      if (process_tokens (rest, true, &l, err) < 0)
        return -1;
    }
  if (dk_json_len (l) == 0)
    return parse_error (err, line, "%s requires at least one argument", "VOLUME");
  jv vols = obj_or_new (*cfg, "Volumes");
  jv_array_foreach (l, i, v)
  {
    if (*jv_string_value (v) == 0)
      {
        jv_free (v);
        jv_free (vols);
        return dk_make_error_code (err, DK_ECODE_INVALID, 0,
                                   "VOLUME specified can not be an empty string");
      }
    vols = jv_object_set (vols, v, jv_object ());
  }
  *cfg = jv_object_set (*cfg, jv_string ("Volumes"), vols);
  return 0;
}

static int
workdir (jv *cfg, const char *rest, int line, dk_err_t *err)
{
  if (*rest == 0)
    return parse_error (err, line, "%s requires exactly one argument", "WORKDIR");
  const char *cur = dk_json_str (*cfg, "WorkingDir");
  char *wd = *rest == '/' ? xstrdup (rest) : xasprintf ("%s/%s", cur && *cur ? cur : "", rest);
  size_t n = strlen (wd);
  while (n > 1 && wd[n - 1] == '/')
    wd[--n] = 0;
  *cfg = jv_object_set (*cfg, jv_string ("WorkingDir"), jv_string (wd));
  free (wd);
  return 0;
}

static int
healthcheck (jv *cfg, const char *rest, int line, dk_err_t *err)
{
  size_t kl = strcspn (rest, " \t");
  const char *arg = rest + kl;
  while (isspace ((unsigned char)*arg))
    arg++;
  jv test;
  if (kl == 4 && strncasecmp (rest, "NONE", 4) == 0 && *arg == 0)
    test = JV_ARRAY (jv_string ("NONE"));
  else if (kl == 3 && strncasecmp (rest, "CMD", 3) == 0 && *arg)
    {
      jv j = json_form (arg);
      if (jv_is_valid (j))
        test = jv_array_concat (JV_ARRAY (jv_string ("CMD")), j);
      else
        {
          jv_free (j);
          test = JV_ARRAY (jv_string ("CMD-SHELL"), jv_string (arg));
        }
    }
  else
    return parse_error (
        err, line, "HEALTHCHECK: only `NONE` and `CMD ...` (without options) are supported%s", "");
  *cfg = jv_object_set (*cfg, jv_string ("Healthcheck"),
                        jv_object_set (jv_object (), jv_string ("Test"), test));
  return 0;
}

static int
apply_one (jv *cfg, const char *kw, const char *rest, int line, bool *cmd_set, dk_err_t *err)
{
  if (*rest == 0)
    return parse_error (err, line, "%s requires at least one argument", kw);
  if (!strcasecmp (kw, "CMD"))
    {
      *cfg = jv_object_set (*cfg, jv_string ("Cmd"), command_of (rest));
      *cmd_set = true;
    }
  else if (!strcasecmp (kw, "ENTRYPOINT"))
    {
      *cfg = jv_object_set (*cfg, jv_string ("Entrypoint"), command_of (rest));
      /* as in a build: an ENTRYPOINT drops an inherited CMD */
      if (!*cmd_set)
        *cfg = jv_object_set (*cfg, jv_string ("Cmd"), jv_null ());
    }
  else if (!strcasecmp (kw, "ENV") || !strcasecmp (kw, "LABEL"))
    {
      bool env = !strcasecmp (kw, "ENV");
      cleanup_jv jv kvs = jv_invalid ();
      if (key_values (env ? "ENV" : "LABEL", rest, line, &kvs, err) < 0)
        return -1;
      jv target = env ? dk_json_get_kind (*cfg, "Env", JV_KIND_ARRAY) : obj_or_new (*cfg, "Labels");
      if (!jv_is_valid (target))
        {
          jv_free (target);
          target = jv_array ();
        }
      jv_array_foreach (kvs, i, kv)
      {
        cleanup_jv jv k = jv_array_get (jv_copy (kv), 0);
        cleanup_jv jv v = jv_array_get (kv, 1);
        if (env)
          target = set_env (target, jv_string_value (k), jv_string_value (v));
        else
          target = jv_object_set (target, jv_copy (k), jv_copy (v));
      }
      *cfg = jv_object_set (*cfg, jv_string (env ? "Env" : "Labels"), target);
    }
  else if (!strcasecmp (kw, "EXPOSE"))
    return expose (cfg, rest, line, err);
  else if (!strcasecmp (kw, "VOLUME"))
    return volume (cfg, rest, line, err);
  else if (!strcasecmp (kw, "WORKDIR"))
    return workdir (cfg, rest, line, err);
  else if (!strcasecmp (kw, "USER") || !strcasecmp (kw, "STOPSIGNAL"))
    *cfg = jv_object_set (*cfg, jv_string (!strcasecmp (kw, "USER") ? "User" : "StopSignal"),
                          jv_string (rest));
  else if (!strcasecmp (kw, "HEALTHCHECK"))
    return healthcheck (cfg, rest, line, err);
  else if (!strcasecmp (kw, "ONBUILD"))
    {
      size_t tl = strcspn (rest, " \t");
      if ((tl == 7 && !strncasecmp (rest, "ONBUILD", 7)))
        return parse_error (err, line, "Chaining ONBUILD via `ONBUILD ONBUILD` isn't allowed%s",
                            "");
      if ((tl == 4 && !strncasecmp (rest, "FROM", 4))
          || (tl == 10 && !strncasecmp (rest, "MAINTAINER", 10)))
        {
          cleanup_free char *t = xstrndup (rest, tl);
          for (char *p = t; *p; p++)
            *p = toupper ((unsigned char)*p);
          return parse_error (err, line, "%s isn't allowed as an ONBUILD trigger", t);
        }
      jv ob = dk_json_get_kind (*cfg, "OnBuild", JV_KIND_ARRAY);
      if (!jv_is_valid (ob))
        {
          jv_free (ob);
          ob = jv_array ();
        }
      *cfg = jv_object_set (*cfg, jv_string ("OnBuild"), jv_array_append (ob, jv_string (rest)));
    }
  return 0;
}

int
import_apply_changes (jv *cfg, char **changes, size_t n, dk_err_t *err)
{
  bool cmd_set = false;
  int line = 0;
  for (size_t i = 0; i < n; i++)
    {
      /* moby joins the changes with newlines and parses them as a Dockerfile */
      cleanup_free char *copy = xstrdup (changes[i]);
      char *save = NULL;
      for (char *l = strtok_r (copy, "\n", &save); l; l = strtok_r (NULL, "\n", &save))
        {
          line++;
          while (isspace ((unsigned char)*l))
            l++;
          size_t len = strlen (l);
          while (len && isspace ((unsigned char)l[len - 1]))
            l[--len] = 0;
          if (*l == 0 || *l == '#')
            continue;
          size_t kl = strcspn (l, " \t");
          cleanup_free char *kw = xstrndup (l, kl);
          const char *rest = l + kl;
          while (isspace ((unsigned char)*rest))
            rest++;
          bool ok = false;
          for (size_t k = 0; k < sizeof allowed / sizeof allowed[0]; k++)
            ok = ok || strcasecmp (kw, allowed[k]) == 0;
          if (!ok)
            return dk_make_error_code (err, DK_ECODE_INVALID, 0, "%s is not a valid change command",
                                       kw);
          if (apply_one (cfg, kw, rest, line, &cmd_set, err) < 0)
            return -1;
        }
    }
  return 0;
}

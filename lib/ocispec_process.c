/* The container's process: command line and environment merged with the
   image's as Docker does at create time, plus small jv helpers. */
#include "ocispec_internal.h"
#include "cleanup.h"

#include <string.h>

#define DEFAULT_PATH "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"

jv
dk_spec_strv (const char *const *v)
{
  jv a = jv_array ();
  for (; v && *v; v++)
    a = jv_array_append (a, jv_string (*v));
  return a;
}

bool
dk_spec_has_str (jv arr, const char *s)
{
  int n = dk_json_len (arr);
  for (int i = 0; i < n; i++)
    {
      cleanup_jv jv e = jv_array_get (jv_copy (arr), i);
      if (jv_get_kind (e) == JV_KIND_STRING && strcmp (jv_string_value (e), s) == 0)
        return true;
    }
  return false;
}

int64_t
dk_spec_int (jv obj, const char *key)
{
  int64_t v = 0;
  if (!dk_json_int (obj, key, &v))
    return 0;
  return v;
}

/* A strslice: the API accepts a string or an array of strings.  Returns an
   array of strings, or jv_null() when absent/null (Go's nil slice). */
static jv
strslice (jv obj, const char *key)
{
  jv v = dk_json_get (obj, key);
  switch (jv_get_kind (v))
    {
    case JV_KIND_STRING:
      return jv_array_append (jv_array (), v);
    case JV_KIND_ARRAY:
      {
        jv out = jv_array ();
        jv_array_foreach (v, i, e)
        {
          if (jv_get_kind (e) == JV_KIND_STRING)
            out = jv_array_append (out, e);
          else
            jv_free (e);
        }
        jv_free (v);
        return out;
      }
    default:
      jv_free (v);
      return jv_null ();
    }
}

jv
dk_ocispec_process_args (jv create, jv image_config)
{
  jv ep = strslice (create, "Entrypoint");
  jv cmd = strslice (create, "Cmd");
  if (dk_json_len (ep) <= 0)
    {
      if (dk_json_len (cmd) <= 0)
        {
          jv_free (cmd);
          cmd = strslice (image_config, "Cmd");
        }
      if (jv_get_kind (ep) == JV_KIND_NULL)
        {
          jv_free (ep);
          ep = strslice (image_config, "Entrypoint");
        }
    }
  if (dk_json_len (ep) == 1)
    {
      jv first = jv_array_get (jv_copy (ep), 0);
      if (jv_string_length_bytes (first) == 0)
        {
          jv_free (ep);
          ep = jv_null ();
        }
    }
  jv args = jv_array ();
  if (jv_get_kind (ep) == JV_KIND_ARRAY)
    args = jv_array_concat (args, ep);
  else
    jv_free (ep);
  if (jv_get_kind (cmd) == JV_KIND_ARRAY)
    args = jv_array_concat (args, cmd);
  else
    jv_free (cmd);
  return args;
}

static size_t
key_len (const char *kv)
{
  const char *eq = strchr (kv, '=');
  return eq ? (size_t)(eq - kv) : strlen (kv);
}

static bool
same_key (const char *a, const char *b)
{
  size_t la = key_len (a), lb = key_len (b);
  return la == lb && strncmp (a, b, la) == 0;
}

/* Config.Env merged with the image's: the image's variables whose names the
   container does not set are appended. */
static jv
merged_env (jv create, jv image_config)
{
  jv user = strslice (create, "Env");
  jv image = strslice (image_config, "Env");
  if (dk_json_len (user) <= 0)
    {
      jv_free (user);
      return jv_get_kind (image) == JV_KIND_ARRAY ? image : (jv_free (image), jv_array ());
    }
  if (jv_get_kind (image) != JV_KIND_ARRAY)
    {
      jv_free (image);
      return user;
    }
  jv out = jv_copy (user);
  jv_array_foreach (image, i, ie)
  {
    bool found = false;
    jv_array_foreach (user, k, ue)
    {
      if (!found && same_key (jv_string_value (ie), jv_string_value (ue)))
        found = true;
      jv_free (ue);
    }
    if (!found)
      out = jv_array_append (out, ie);
    else
      jv_free (ie);
  }
  jv_free (image);
  jv_free (user);
  return out;
}

jv
dk_ocispec_env (jv create, jv image_config, const char *hostname, bool tty)
{
  /* Docker's daemon environment first (PATH, HOSTNAME, TERM), then the
     container's: a variable replaces a default of the same name, "NAME"
     without '=' removes it, the rest is appended. */
  jv defaults = jv_array ();
  defaults = jv_array_append (defaults, jv_string (DEFAULT_PATH));
  defaults = jv_array_append (defaults, jv_string_fmt ("HOSTNAME=%s", hostname ? hostname : ""));
  if (tty)
    defaults = jv_array_append (defaults, jv_string ("TERM=xterm"));
  int ndef = dk_json_len (defaults);
  bool removed[3] = { false, false, false };
  jv appended = jv_array ();
  jv env = merged_env (create, image_config);
  jv_array_foreach (env, i, e)
  {
    const char *s = jv_string_value (e);
    int hit = -1;
    for (int d = 0; d < ndef && hit < 0; d++)
      {
        jv de = jv_array_get (jv_copy (defaults), d);
        if (same_key (jv_string_value (de), s))
          hit = d;
        jv_free (de);
      }
    if (strchr (s, '=') == NULL)
      {
        if (hit >= 0)
          removed[hit] = true;
        jv_free (e);
      }
    else if (hit >= 0)
      {
        removed[hit] = false;
        defaults = jv_array_set (defaults, hit, e);
      }
    else
      appended = jv_array_append (appended, e);
  }
  jv_free (env);
  jv out = jv_array ();
  for (int d = 0; d < ndef; d++)
    if (!removed[d])
      out = jv_array_append (out, jv_array_get (jv_copy (defaults), d));
  jv_free (defaults);
  return jv_array_concat (out, appended);
}

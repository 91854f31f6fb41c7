/* Small helpers of the API layer: URL decoding, Docker's filter syntax,
   timestamps, random IDs. */
#include <errno.h>
#include "dockerd.h"
#include "cleanup.h"

#include <dirent.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>
#include <unistd.h>

static int
hexval (char c)
{
  if (c >= '0' && c <= '9')
    return c - '0';
  if (c >= 'a' && c <= 'f')
    return c - 'a' + 10;
  if (c >= 'A' && c <= 'F')
    return c - 'A' + 10;
  return -1;
}

char *
url_decode (const char *s, size_t n)
{
  char *out = xmalloc (n + 1), *o = out;
  for (size_t i = 0; i < n; i++)
    {
      if (s[i] == '%' && i + 2 < n && hexval (s[i + 1]) >= 0 && hexval (s[i + 2]) >= 0)
        {
          *o++ = (char)(hexval (s[i + 1]) * 16 + hexval (s[i + 2]));
          i += 2;
        }
      else if (s[i] == '+')
        *o++ = ' ';
      else
        *o++ = s[i];
    }
  *o = 0;
  return out;
}

int
parse_filters (const char *s, jv *out, dk_err_t *err)
{
  *out = jv_object ();
  if (s == NULL || *s == 0)
    return 0;
  jv v;
  if (dk_json_parse (s, strlen (s), &v, err) < 0)
    return dk_make_error_code (err, DK_ECODE_INVALID, 0, "invalid filter: %s", s);
  if (jv_get_kind (v) != JV_KIND_OBJECT)
    {
      jv_free (v);
      return dk_make_error_code (err, DK_ECODE_INVALID, 0, "invalid filter: %s", s);
    }
  bool bad = false;
  jv_object_foreach (v, k, val)
  {
    jv list = jv_array ();
    if (jv_get_kind (val) == JV_KIND_OBJECT)
      {
        jv_object_foreach (val, vk, vv)
        {
          if (jv_get_kind (vv) == JV_KIND_TRUE)
            list = jv_array_append (list, jv_copy (vk));
          jv_free (vk);
          jv_free (vv);
        }
      }
    else if (jv_get_kind (val) == JV_KIND_ARRAY)
      {
        jv_array_foreach (val, i, e)
        {
          if (jv_get_kind (e) == JV_KIND_STRING)
            list = jv_array_append (list, e);
          else
            {
              bad = true;
              jv_free (e);
            }
        }
      }
    else
      bad = true;
    *out = jv_object_set (*out, k, list);
    jv_free (val);
  }
  jv_free (v);
  if (bad)
    {
      jv_free (*out);
      *out = jv_object ();
      return dk_make_error_code (err, DK_ECODE_INVALID, 0, "invalid filter: %s", s);
    }
  return 0;
}

/* A filter key outside `known` is a 400 "invalid filter 'key'" (moby's
   text); a key in `later` (valid for Docker, not served here) is refused
   clearly rather than ignored. */
int
filters_check_keys (jv filters, const char *const *known, const char *const *later, dk_err_t *err)
{
  int rc = 0;
  jv_object_foreach (filters, k, v)
  {
    const char *key = jv_string_value (k);
    bool ok = false;
    for (int i = 0; known[i] && !ok; i++)
      ok = !strcmp (key, known[i]);
    if (!ok && rc == 0)
      {
        bool lat = false;
        for (int i = 0; later && later[i] && !lat; i++)
          lat = !strcmp (key, later[i]);
        rc = lat ? dk_make_error_code (err, DK_ECODE_INVALID, 0,
                                       "filter '%s' is not supported by this daemon yet", key)
                 : dk_make_error_code (err, DK_ECODE_INVALID, 0, "invalid filter '%s'", key);
      }
    jv_free (k);
    jv_free (v);
  }
  return rc;
}

bool
http_query_int (struct http_req *req, const char *key, long long *v)
{
  cleanup_free char *s = http_query (req, key);
  if (s == NULL || *s == 0)
    return true;
  char *end;
  errno = 0;
  long long n = strtoll (s, &end, 10);
  if (*end || errno)
    {
      http_error (req, 400, "strconv.Atoi: parsing \"%s\": invalid syntax", s);
      return false;
    }
  *v = n;
  return true;
}

char *
now_rfc3339 (void)
{
  struct timespec ts;
  clock_gettime (CLOCK_REALTIME, &ts);
  struct tm tm;
  gmtime_r (&ts.tv_sec, &tm);
  char b[64];
  strftime (b, sizeof b, "%Y-%m-%dT%H:%M:%S", &tm);
  return xasprintf ("%s.%09ldZ", b, ts.tv_nsec);
}

char *
rand_hex (int nbytes)
{
  unsigned char raw[64];
  if (nbytes > 64)
    nbytes = 64;
  if (getrandom (raw, nbytes, 0) != nbytes)
    abort ();
  char *out = xmalloc (nbytes * 2 + 1);
  for (int i = 0; i < nbytes; i++)
    sprintf (out + 2 * i, "%02x", raw[i]);
  return out;
}

int64_t
dir_count (const char *path)
{
  cleanup_closedir DIR *d = opendir (path);
  if (d == NULL)
    return 0;
  int64_t n = 0;
  struct dirent *e;
  while ((e = readdir (d)))
    if (e->d_name[0] != '.')
      n++;
  return n;
}

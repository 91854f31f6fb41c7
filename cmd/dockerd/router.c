/* The route table: method + path pattern -> handler, with and without the
   /vX.Y prefix.  "{}" matches one path segment, "{*}" one or more (image
   names hold slashes); the fixed segments after a "{*}" are matched from
   the end. */
#include "dockerd.h"
#include "cleanup.h"
#include "log.h"

#include <stdlib.h>
#include <string.h>

struct route
{
  enum http_method method;
  const char *pattern;
  http_handler fn;
};

static void h_not_implemented (struct http_req *req);

static const struct route routes[] = {
  { HTTP_GET, "/_ping", h_ping },
  { HTTP_HEAD, "/_ping", h_ping },
  { HTTP_GET, "/version", h_version },
  { HTTP_GET, "/info", h_info },
  { HTTP_GET, "/events", h_events },
  { HTTP_GET, "/system/df", h_system_df },
  { HTTP_POST, "/auth", h_auth },
  { HTTP_POST, "/images/create", h_images_create },
  { HTTP_GET, "/images/json", h_images_list },
  { HTTP_POST, "/images/prune", h_images_prune },
  { HTTP_GET, "/images/search", h_images_search },
  { HTTP_GET, "/images/get", h_images_get },
  { HTTP_POST, "/images/load", h_images_load },
  { HTTP_GET, "/images/{*}/json", h_image_inspect },
  { HTTP_GET, "/images/{*}/history", h_image_history },
  { HTTP_POST, "/images/{*}/tag", h_image_tag },
  { HTTP_POST, "/images/{*}/push", h_image_push },
  { HTTP_GET, "/images/{*}/get", h_image_get },
  { HTTP_DELETE, "/images/{*}", h_image_delete },
  { HTTP_GET, "/containers/json", h_containers_list },
  { HTTP_POST, "/containers/create", h_container_create },
  { HTTP_GET, "/containers/{}/json", h_container_inspect },
  { HTTP_POST, "/containers/{}/start", h_container_start },
  { HTTP_POST, "/containers/{}/wait", h_container_wait },
  { HTTP_POST, "/containers/{}/attach", h_container_attach },
  { HTTP_POST, "/containers/{}/kill", h_container_kill },
  { HTTP_POST, "/containers/{}/stop", h_container_stop },
  { HTTP_POST, "/containers/{}/resize", h_container_resize },
  { HTTP_GET, "/containers/{}/logs", h_container_logs },
  { HTTP_DELETE, "/containers/{}", h_container_delete },
  { HTTP_GET, "/containers/{}/top", h_not_implemented },
  { HTTP_GET, "/containers/{}/stats", h_not_implemented },
  { HTTP_POST, "/containers/{}/exec", h_not_implemented },
  { HTTP_POST, "/containers/prune", h_not_implemented },
  { HTTP_GET, "/networks", h_not_implemented },
  { HTTP_GET, "/volumes", h_not_implemented },
};
#define NROUTES (sizeof routes / sizeof routes[0])

static void
h_not_implemented (struct http_req *req)
{
  http_error (req, 501, "%s %s is not implemented by this daemon yet",
              http_method_str (req->method), req->path);
}

static int
split (const char *path, char **segs, int max)
{
  int n = 0;
  const char *p = path;
  while (*p)
    {
      while (*p == '/')
        p++;
      if (!*p)
        break;
      const char *e = strchr (p, '/');
      size_t len = e ? (size_t)(e - p) : strlen (p);
      if (n == max)
        return -1;
      segs[n++] = xstrndup (p, len);
      p += len;
    }
  return n;
}

static void
free_segs (char **s, int n)
{
  for (int i = 0; i < n; i++)
    free (s[i]);
}

/* Matches; on success fills req->params. */
static bool
match (const char *pattern, char **ps, int np, struct http_req *req)
{
  char *pat[16];
  int npat = split (pattern, pat, 16);
  bool ok = false;
  int star = -1;
  for (int i = 0; i < npat; i++)
    if (!strcmp (pat[i], "{*}"))
      star = i;
  if (star < 0 ? np != npat : np < npat)
    goto out;
  int tail = star < 0 ? 0 : npat - star - 1;
  for (int i = 0; i < npat; i++)
    {
      if (i == star)
        continue;
      int pi = star >= 0 && i > star ? np - tail + (i - star - 1) : i;
      if (strcmp (pat[i], "{}") != 0 && strcmp (pat[i], ps[pi]) != 0)
        goto out;
    }
  ok = true;
  for (int i = 0; i < npat && req->nparams < 4; i++)
    {
      if (i == star)
        {
          struct dk_buf b = DK_BUF_INIT;
          for (int k = i; k < np - tail; k++)
            dk_buf_printf (&b, "%s%s", k > i ? "/" : "", ps[k]);
          req->params[req->nparams++] = dk_buf_steal (&b);
        }
      else if (!strcmp (pat[i], "{}"))
        req->params[req->nparams++]
            = xstrdup (ps[star >= 0 && i > star ? np - tail + (i - star - 1) : i]);
    }
out:
  free_segs (pat, npat);
  return ok;
}

void
router_dispatch (struct http_req *req)
{
  const char *path = req->path;
  dk_debug ("%s %s", http_method_str (req->method), req->url);
  /* /vX.Y prefix */
  if (path[0] == '/' && path[1] == 'v' && path[2] >= '0' && path[2] <= '9')
    {
      const char *p = path + 2;
      char *end;
      long major = strtol (p, &end, 10), minor = 0;
      if (*end == '.')
        minor = strtol (end + 1, &end, 10);
      if (*end == '/' || *end == 0)
        {
          cleanup_free char *ver = xstrndup (p, end - p);
          if (major < 1 || (major == 1 && minor < API_MIN_MINOR))
            {
              http_error (req, 400,
                          "client version %s is too old. Minimum supported API version is %s, "
                          "please upgrade your client to a newer version",
                          ver, API_VERSION_MIN);
              return;
            }
          if (major > 1 || minor > API_MAX_MINOR)
            {
              http_error (req, 400,
                          "client version %s is too new. Maximum supported API version is %s", ver,
                          API_VERSION_MAX);
              return;
            }
          req->api_minor = (int)minor;
          path = *end ? end : "/";
        }
    }
  char *ps[32];
  int np = split (path, ps, 32);
  if (np < 0)
    {
      http_error (req, 404, "page not found");
      return;
    }
  bool path_known = false;
  for (size_t i = 0; i < NROUTES; i++)
    {
      if (!match (routes[i].pattern, ps, np, req))
        continue;
      path_known = true;
      if (routes[i].method != req->method)
        {
          for (int k = 0; k < req->nparams; k++)
            free (req->params[k]);
          req->nparams = 0;
          continue;
        }
      free_segs (ps, np);
      routes[i].fn (req);
      return;
    }
  free_segs (ps, np);
  if (path_known && req->method == HTTP_OPTIONS)
    {
      http_respond_empty (req, 200);
      return;
    }
  http_error (req, path_known ? 405 : 404, "page not found");
}

/* Request bodies handed over as they arrive (an image archive can be
   gigabytes): POST /images/load. */
bool
router_streams_body (struct http_req *req)
{
  const char *p = req->path;
  if (req->method != HTTP_POST || p == NULL)
    return false;
  if (p[0] == '/' && p[1] == 'v' && p[2] >= '0' && p[2] <= '9')
    {
      const char *slash = strchr (p + 1, '/');
      if (slash == NULL)
        return false;
      p = slash;
    }
  if (strcmp (p, "/images/create") == 0 && req->query)
    {
      /* import (fromSrc=-): the body is the image's tar */
      const char *f = strstr (req->query, "fromSrc=-");
      return f && (f == req->query || f[-1] == '&') && (f[9] == 0 || f[9] == '&');
    }
  return strcmp (p, "/images/load") == 0;
}

#include "registry.h"
#include "auth.h"
#include "cleanup.h"
#include "log.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

void
reg_resp_free (struct reg_resp *r)
{
  dk_buf_free (&r->body);
  free (r->content_type);
  free (r->docker_digest);
  free (r->location);
  free (r->www_auth);
  free (r->reason);
  free (r->range);
  memset (r, 0, sizeof *r);
}

long
reg_backoff_ms (int attempt)
{
  /* 0.25s, 0.5s, 1s, 2s, 4s, 4s...: a registry restarting comes back within
     the span of the default retries. */
  return 250L << (attempt > 5 ? 4 : attempt - 1);
}

static void
sleep_ms (long ms)
{
  struct timespec ts = { ms / 1000, (ms % 1000) * 1000000L };
  while (nanosleep (&ts, &ts) < 0 && errno == EINTR)
    ;
}

void
reg_backoff (int attempt)
{
  sleep_ms (reg_backoff_ms (attempt));
}

const char *
reg_status_text (long s)
{
  static const struct
  {
    long code;
    const char *text;
  } t[] = { { 400, "Bad Request" },
            { 401, "Unauthorized" },
            { 403, "Forbidden" },
            { 404, "Not Found" },
            { 405, "Method Not Allowed" },
            { 408, "Request Timeout" },
            { 409, "Conflict" },
            { 413, "Request Entity Too Large" },
            { 416, "Requested Range Not Satisfiable" },
            { 429, "Too Many Requests" },
            { 500, "Internal Server Error" },
            { 501, "Not Implemented" },
            { 502, "Bad Gateway" },
            { 503, "Service Unavailable" },
            { 504, "Gateway Timeout" } };
  for (size_t i = 0; i < sizeof t / sizeof t[0]; i++)
    if (t[i].code == s)
      return t[i].text;
  return "";
}

/* Retry-After: delta-seconds or an HTTP date; -1 when unreadable. */
static int64_t
parse_retry_after (const char *v)
{
  char *end = NULL;
  long long n = strtoll (v, &end, 10);
  if (end != v && *end == '\0')
    return n < 0 ? 0 : n;
  struct tm tm = { 0 };
  const char *e = strptime (v, "%a, %d %b %Y %H:%M:%S GMT", &tm);
  if (e == NULL || *e != '\0')
    return -1;
  int64_t d = (int64_t)timegm (&tm) - (int64_t)time (NULL);
  return d < 0 ? 0 : d;
}

struct xfer
{
  struct reg_client *client;
  CURL *curl;
  const struct reg_req *req;
  struct reg_resp *resp;
  int64_t streamed;
  int64_t start_ns;
  bool too_large;
  bool sink_failed;
};

static char *
header_value (const char *line, size_t len, const char *name)
{
  size_t n = strlen (name);
  if (len <= n + 1 || strncasecmp (line, name, n) != 0 || line[n] != ':')
    return NULL;
  const char *v = line + n + 1;
  const char *end = line + len;
  while (v < end && (*v == ' ' || *v == '\t'))
    v++;
  while (end > v && (end[-1] == '\r' || end[-1] == '\n' || end[-1] == ' '))
    end--;
  return xstrndup (v, end - v);
}

static void
set_str (char **dst, char *v)
{
  if (v == NULL)
    return;
  free (*dst);
  *dst = v;
}

static size_t
on_header (char *data, size_t size, size_t nmemb, void *ud)
{
  struct xfer *x = ud;
  size_t len = size * nmemb;
  struct reg_resp *r = x->resp;
  if (len >= 5 && strncmp (data, "HTTP/", 5) == 0)
    {
      /* a new response (after a redirect or 100): forget the last headers */
      free (r->content_type), r->content_type = NULL;
      free (r->docker_digest), r->docker_digest = NULL;
      free (r->location), r->location = NULL;
      free (r->www_auth), r->www_auth = NULL;
      free (r->reason), r->reason = NULL;
      free (r->range), r->range = NULL;
      r->content_length = -1;
      r->retry_after = -1;
      /* "HTTP/1.1 503 Service Unavailable": keep the reason phrase */
      const char *sp = memchr (data, ' ', len);
      const char *end = data + len;
      if (sp && (sp = memchr (sp + 1, ' ', end - sp - 1)) != NULL)
        {
          sp++;
          while (end > sp && (end[-1] == '\r' || end[-1] == '\n' || end[-1] == ' '))
            end--;
          if (end > sp)
            r->reason = xstrndup (sp, end - sp);
        }
      return len;
    }
  set_str (&r->content_type, header_value (data, len, "Content-Type"));
  set_str (&r->docker_digest, header_value (data, len, "Docker-Content-Digest"));
  set_str (&r->location, header_value (data, len, "Location"));
  set_str (&r->www_auth, header_value (data, len, "WWW-Authenticate"));
  set_str (&r->range, header_value (data, len, "Range"));
  cleanup_free char *cl = header_value (data, len, "Content-Length");
  if (cl)
    r->content_length = strtoll (cl, NULL, 10);
  cleanup_free char *ra = header_value (data, len, "Retry-After");
  if (ra)
    r->retry_after = parse_retry_after (ra);
  return len;
}

static int64_t
now_ns (void)
{
  struct timespec ts;
  clock_gettime (CLOCK_MONOTONIC, &ts);
  return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

/* --limit-rate (tests): curl's own limit reads many buffers at once on
   loopback, so the sink sleeps until the average rate is back under it. */
static void
throttle (struct xfer *x)
{
  long rate = x->client->limit_rate;
  if (rate <= 0)
    return;
  int64_t due = x->start_ns + (int64_t)((double)x->streamed / rate * 1e9);
  int64_t wait = due - now_ns ();
  if (wait > 0)
    {
      struct timespec ts = { wait / 1000000000, wait % 1000000000 };
      nanosleep (&ts, NULL);
    }
}

static size_t
on_body (char *data, size_t size, size_t nmemb, void *ud)
{
  struct xfer *x = ud;
  size_t len = size * nmemb;
  long status = 0;
  curl_easy_getinfo (x->curl, CURLINFO_RESPONSE_CODE, &status);
  if (x->req->sink && status >= 200 && status < 300)
    {
      size_t n = x->req->sink (data, len, status, x->req->sink_ud);
      if (n != len)
        x->sink_failed = true;
      x->streamed += n;
      throttle (x);
      return n;
    }
  size_t max = x->req->max_body ? x->req->max_body : REG_MAX_MANIFEST;
  if (x->resp->body.len + len > max)
    {
      x->too_large = true;
      return 0;
    }
  dk_buf_add (&x->resp->body, data, len);
  return len;
}

/* With --limit-rate the kernel must not buffer the whole blob for us, or a
   registry stopped mid-transfer would not interrupt anything. */
static int
small_rcvbuf (void *ud, curl_socket_t fd, curlsocktype purpose)
{
  int sz = 64 * 1024;
  setsockopt (fd, SOL_SOCKET, SO_RCVBUF, &sz, sizeof sz);
  return CURL_SOCKOPT_OK;
}

void
reg_curl_setup (struct reg_client *c, CURL *h)
{
  curl_easy_setopt (h, CURLOPT_USERAGENT, "docker/28.0 dk-pull/" DK_VERSION);
  curl_easy_setopt (h, CURLOPT_FOLLOWLOCATION, 1L);
  curl_easy_setopt (h, CURLOPT_MAXREDIRS, 10L);
  curl_easy_setopt (h, CURLOPT_NOSIGNAL, 1L);
  curl_easy_setopt (h, CURLOPT_CONNECTTIMEOUT, 15L);
  /* a stalled transfer fails (and resumes) instead of hanging */
  curl_easy_setopt (h, CURLOPT_LOW_SPEED_LIMIT, 1L);
  curl_easy_setopt (h, CURLOPT_LOW_SPEED_TIME, 30L);
  curl_easy_setopt (h, CURLOPT_ACCEPT_ENCODING, NULL);
  curl_easy_setopt (h, CURLOPT_BUFFERSIZE, 512L * 1024);
  /* proxies from the environment as Go's net/http takes them (Docker):
     never for loopback */
  curl_easy_setopt (h, CURLOPT_NOPROXY, c->no_proxy);
  if (c->insecure)
    {
      curl_easy_setopt (h, CURLOPT_SSL_VERIFYPEER, 0L);
      curl_easy_setopt (h, CURLOPT_SSL_VERIFYHOST, 0L);
    }
  if (c->ca_file)
    curl_easy_setopt (h, CURLOPT_CAINFO, c->ca_file);
  if (c->client_cert && c->client_key)
    {
      curl_easy_setopt (h, CURLOPT_SSLCERT, c->client_cert);
      curl_easy_setopt (h, CURLOPT_SSLKEY, c->client_key);
    }
  if (c->limit_rate > 0)
    {
      curl_easy_setopt (h, CURLOPT_BUFFERSIZE, 16L * 1024);
      curl_easy_setopt (h, CURLOPT_SOCKOPTFUNCTION, small_rcvbuf);
    }
}

int
reg_transport_error (struct reg_client *c, const char *method, const char *url, CURLcode rc,
                     const char *detail, dk_err_t *err)
{
  const char *why = detail && *detail ? detail : curl_easy_strerror (rc);
  if (rc == CURLE_PEER_FAILED_VERIFICATION || rc == CURLE_SSL_CACERT_BADFILE
      || rc == CURLE_SSL_CERTPROBLEM)
    return dk_make_error_code (err, DK_ECODE_INTERNAL, 0,
                               "%s \"%s\": tls: failed to verify certificate: %s (put the "
                               "registry's CA in %s/%s/ca.crt, or add --insecure-registry %s)",
                               method, url, why, c->certs_dir, c->host, c->host);
  return dk_make_error_code (err, DK_ECODE_INTERNAL, 0, "%s \"%s\": %s", method, url, why);
}

static int
on_xfer (void *ud, curl_off_t dltotal, curl_off_t dlnow, curl_off_t ultotal, curl_off_t ulnow)
{
  const struct reg_req *req = ud;
  if (ultotal > 0)
    req->on_upload (ulnow, ultotal, req->upload_ud);
  return 0;
}

static int
perform_once (struct reg_client *c, const struct reg_req *req, const char *url, const char *auth,
              struct reg_resp *resp, struct xfer *x, CURLcode *rcp, char *errbuf)
{
  CURL *h = curl_easy_init ();
  if (h == NULL)
    abort ();
  reg_curl_setup (c, h);
  x->curl = h;
  x->client = c;
  x->start_ns = now_ns ();
  x->req = req;
  x->resp = resp;
  x->streamed = 0;
  x->too_large = false;
  x->sink_failed = false;
  errbuf[0] = '\0';
  curl_easy_setopt (h, CURLOPT_ERRORBUFFER, errbuf);
  curl_easy_setopt (h, CURLOPT_URL, url);
  curl_easy_setopt (h, CURLOPT_HEADERFUNCTION, on_header);
  curl_easy_setopt (h, CURLOPT_HEADERDATA, x);
  curl_easy_setopt (h, CURLOPT_WRITEFUNCTION, on_body);
  curl_easy_setopt (h, CURLOPT_WRITEDATA, x);
  const char *method = req->method ? req->method : "GET";
  if (strcmp (method, "HEAD") == 0)
    curl_easy_setopt (h, CURLOPT_NOBODY, 1L);
  else if (strcmp (method, "GET") != 0)
    curl_easy_setopt (h, CURLOPT_CUSTOMREQUEST, method);
  if (req->has_body || strcmp (method, "POST") == 0 || strcmp (method, "PUT") == 0
      || strcmp (method, "PATCH") == 0)
    {
      curl_easy_setopt (h, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)req->body_len);
      curl_easy_setopt (h, CURLOPT_POSTFIELDS, req->body_len ? req->body : "");
    }
  struct curl_slist *hl = NULL;
  for (const char *const *p = req->headers; p && *p; p++)
    hl = curl_slist_append (hl, *p);
  if (auth)
    hl = curl_slist_append (hl, auth);
  /* no "Expect: 100-continue" round trip on uploads */
  hl = curl_slist_append (hl, "Expect:");
  cleanup_free char *range = NULL;
  if (req->range_from > 0)
    {
      range = xasprintf ("Range: bytes=%lld-", (long long)req->range_from);
      hl = curl_slist_append (hl, range);
    }
  curl_easy_setopt (h, CURLOPT_HTTPHEADER, hl);
  if (req->on_upload)
    {
      curl_easy_setopt (h, CURLOPT_NOPROGRESS, 0L);
      curl_easy_setopt (h, CURLOPT_XFERINFOFUNCTION, on_xfer);
      curl_easy_setopt (h, CURLOPT_XFERINFODATA, (void *)req);
    }
  dk_buf_reset (&resp->body);
  resp->content_length = -1;
  resp->retry_after = -1;
  *rcp = curl_easy_perform (h);
  curl_easy_getinfo (h, CURLINFO_RESPONSE_CODE, &resp->status);
  curl_slist_free_all (hl);
  curl_easy_cleanup (h);
  return 0;
}

int
reg_do (struct reg_client *c, const struct reg_req *req, struct reg_resp *resp, dk_err_t *err)
{
  cleanup_free char *url = strncmp (req->path, "http", 4) == 0
                               ? xstrdup (req->path)
                               : xasprintf ("%s%s", c->base, req->path);
  const char *method = req->method ? req->method : "GET";
  int max_attempts = req->no_retry ? 1 : (c->retries > 0 ? c->retries : 1);
  bool auth_retried = false;
  for (int attempt = 1;; attempt++)
    {
      cleanup_free char *auth = NULL;
      if (reg_auth_header (c, req->scope, &auth, err) < 0)
        return -1;
      struct xfer x = { 0 };
      char errbuf[CURL_ERROR_SIZE];
      CURLcode rc;
      memset (resp, 0, sizeof *resp);
      perform_once (c, req, url, auth, resp, &x, &rc, errbuf);
      if (x.too_large)
        {
          reg_resp_free (resp);
          dk_make_error_code (err, DK_ECODE_INVALID, 0, "%s \"%s\": response larger than %zu bytes",
                              method, url,
                              req->max_body ? req->max_body : (size_t)REG_MAX_MANIFEST);
          (*err)->status = EFBIG;
          return -1;
        }
      if (x.sink_failed)
        {
          reg_resp_free (resp);
          return dk_make_error (err, EPIPE, "%s \"%s\": writing the body", method, url);
        }
      if (rc != CURLE_OK)
        {
          reg_resp_free (resp);
          bool tls = rc == CURLE_PEER_FAILED_VERIFICATION || rc == CURLE_SSL_CACERT_BADFILE;
          if (x.streamed > 0 || tls || attempt >= max_attempts)
            {
              reg_transport_error (c, method, url, rc, errbuf, err);
              (*err)->status = x.streamed > 0 ? EAGAIN : 0;
              return -1;
            }
          dk_debug ("%s %s: %s; retrying", method, url,
                    errbuf[0] ? errbuf : curl_easy_strerror (rc));
          reg_backoff (attempt);
          continue;
        }
      if (resp->status == 401 && !auth_retried && resp->www_auth && !c->pinging)
        {
          auth_retried = true;
          int r = reg_auth_challenge (c, resp->www_auth, req->scope, err);
          reg_resp_free (resp);
          if (r < 0)
            return -1;
          attempt--;
          continue;
        }
      if ((resp->status == 429 || resp->status >= 500) && attempt < max_attempts)
        {
          /* the registry's Retry-After is honoured when it is longer than
             our backoff, up to REG_RETRY_AFTER_MAX; beyond that we give up
             now rather than hang */
          if (resp->retry_after > REG_RETRY_AFTER_MAX)
            {
              dk_debug ("%s %s: HTTP %ld, Retry-After %lld s: not waiting", method, url,
                        resp->status, (long long)resp->retry_after);
              return 0;
            }
          long ms = reg_backoff_ms (attempt);
          if (resp->retry_after * 1000 > ms)
            ms = (long)resp->retry_after * 1000;
          dk_debug ("%s %s: HTTP %ld; retrying in %ld ms", method, url, resp->status, ms);
          reg_resp_free (resp);
          sleep_ms (ms);
          continue;
        }
      return 0;
    }
}

static int
ping (struct reg_client *c, const char *base, bool tolerate_tls, dk_err_t *err)
{
  free (c->base);
  c->base = xstrdup (base);
  struct reg_req req = { .path = "/v2/", .no_retry = tolerate_tls, .max_body = 1 << 20 };
  struct reg_resp resp = { 0 };
  /* the ping must not authenticate: it learns the challenge */
  c->auth_scheme = 0;
  c->pinging = true;
  int ret = reg_do (c, &req, &resp, err);
  c->pinging = false;
  if (ret < 0)
    return -1;
  if (resp.status == 401 && resp.www_auth)
    reg_auth_learn (c, resp.www_auth);
  reg_resp_free (&resp);
  return 0;
}

static const char *
env2 (const char *a, const char *b)
{
  const char *v = getenv (a);
  return v && *v ? v : getenv (b);
}

/* curl takes http_proxy (lower case only) and HTTPS_PROXY from the
   environment; Docker users set HTTP_PROXY, so it is copied over. */
static void
setup_proxy (struct reg_client *c)
{
  const char *np = env2 ("NO_PROXY", "no_proxy");
  c->no_proxy
      = xasprintf ("%s%slocalhost,127.0.0.0/8,::1", np && *np ? np : "", np && *np ? "," : "");
  const char *hp = env2 ("HTTP_PROXY", "http_proxy");
  if (hp && *hp && getenv ("http_proxy") == NULL)
    setenv ("http_proxy", hp, 0);
}

static char *
certs_file (const char *dir, const char *host, const char *name)
{
  cleanup_free char *p = xasprintf ("%s/%s/%s", dir, host, name);
  if (access (p, R_OK) == 0)
    return steal_ptr (&p);
  return NULL;
}

int
reg_client_open (const char *host, const char *mirror_url, const struct reg_opts *o,
                 struct reg_client **out, dk_err_t *err)
{
  struct reg_client *c = xzalloc (sizeof *c);
  pthread_mutex_init (&c->lock, NULL);
  c->limit_rate = o->limit_rate;
  setup_proxy (c);
  c->retries = o->retries > 0 ? o->retries : 5;
  cleanup_free char *base = NULL;
  /* test knob (docs/registry.md): a local registry stands for Docker Hub */
  const char *hub_url = getenv ("DK_PULL_TEST_HUB_URL");
  if (mirror_url == NULL && host && strcmp (host, "registry-1.docker.io") == 0 && hub_url
      && *hub_url)
    mirror_url = hub_url;
  if (mirror_url)
    {
      const char *h = strstr (mirror_url, "://");
      h = h ? h + 3 : mirror_url;
      size_t n = strcspn (h, "/");
      c->host = xstrndup (h, n);
      c->is_mirror = true;
      base = xstrndup (mirror_url, (h - mirror_url) + n);
      if (strstr (mirror_url, "://") == NULL)
        {
          free (base);
          base = xasprintf ("https://%s", c->host);
        }
    }
  else
    c->host = xstrdup (host);
  c->insecure = reg_host_insecure (c->host, o->insecure);
  const char *dir = o->certs_dir ? o->certs_dir : "/etc/docker/certs.d";
  c->certs_dir = xstrdup (dir);
  c->ca_file = certs_file (dir, c->host, "ca.crt");
  c->client_cert = certs_file (dir, c->host, "client.cert");
  c->client_key = certs_file (dir, c->host, "client.key");
  if (o->auth_text)
    {
      jv auth = jv_null ();
      int r = reg_auth_decode (o->auth_text, c->host, &auth, err);
      if (r == 0)
        r = reg_auth_configure (c, auth, err);
      jv_free (auth);
      if (r < 0)
        {
          reg_client_free (c);
          return -1;
        }
    }
  int ret;
  if (base)
    ret = ping (c, base, false, err);
  else
    {
      cleanup_free char *https = xasprintf ("https://%s", c->host);
      ret = ping (c, https, c->insecure, err);
      if (ret < 0 && c->insecure)
        {
          /* insecure registries fall back to plain HTTP, as Docker does */
          cleanup_free char *http = xasprintf ("http://%s", c->host);
          dk_error_release (err);
          ret = ping (c, http, false, err);
        }
    }
  if (ret < 0)
    {
      reg_client_free (c);
      return -1;
    }
  *out = c;
  return 0;
}

void
reg_client_free (struct reg_client *c)
{
  if (c == NULL)
    return;
  free (c->host);
  free (c->base);
  free (c->certs_dir);
  free (c->no_proxy);
  free (c->ca_file);
  free (c->client_cert);
  free (c->client_key);
  free (c->username);
  free (c->password);
  free (c->identity_token);
  free (c->registry_token);
  free (c->realm);
  free (c->service);
  for (size_t i = 0; i < c->n_tokens; i++)
    {
      free (c->tokens[i].scope);
      free (c->tokens[i].token);
    }
  free (c->tokens);
  pthread_mutex_destroy (&c->lock);
  free (c);
}

/* The registry's own error ({"errors":[{"code":..,"message":..}]}): first
   code and "code: message" text; NULL when the body has none. */
static char *
registry_error (const struct reg_resp *resp, char **code_out)
{
  if (resp->body.len == 0)
    return NULL;
  jv v = jv_parse_sized (resp->body.data, resp->body.len);
  if (!jv_is_valid (v))
    {
      jv_free (v);
      return NULL;
    }
  cleanup_jv jv errs = dk_json_get_kind (v, "errors", JV_KIND_ARRAY);
  jv e = dk_json_at (errs, 0);
  char *txt = NULL;
  const char *code = dk_json_str (e, "code");
  const char *msg = dk_json_str (e, "message");
  if (code)
    {
      cleanup_free char *lower = xstrdup (code);
      for (char *p = lower; *p; p++)
        *p = *p == '_' ? ' ' : (char)(*p >= 'A' && *p <= 'Z' ? *p + 32 : *p);
      /* Docker prints "manifest unknown: manifest unknown" */
      txt = xasprintf ("%s: %s", lower, msg ? msg : lower);
      if (code_out)
        *code_out = xstrdup (code);
    }
  jv_free (e);
  jv_free (v);
  return txt;
}

int
reg_status_error (const struct reg_resp *resp, const char *what, const char *name, const char *ref,
                  dk_err_t *err)
{
  cleanup_free char *code = NULL;
  cleanup_free char *detail = registry_error (resp, &code);
  long s = resp->status;
  bool push = strcmp (what, "push") == 0;
  if (s == 401 || s == 403
      || (code
          && (strcmp (code, "NAME_UNKNOWN") == 0 || strcmp (code, "DENIED") == 0
              || strcmp (code, "UNAUTHORIZED") == 0)))
    {
      if (push)
        return dk_make_error_code (err, s == 403 ? DK_ECODE_FORBIDDEN : DK_ECODE_UNAUTHORIZED, 0,
                                   "denied: requested access to the resource is denied%s%s",
                                   detail ? ": " : "", detail ? detail : "");
      return dk_make_error_code (
          err, s == 404 ? DK_ECODE_NOT_FOUND : DK_ECODE_UNAUTHORIZED, 0,
          "pull access denied for %s, repository does not exist or may require 'docker login': %s",
          name, detail ? detail : "denied: requested access to the resource is denied");
    }
  if (s == 404 && !push)
    return dk_make_error_code (err, DK_ECODE_NOT_FOUND, 0, "manifest for %s not found: %s", ref,
                               detail ? detail : "manifest unknown: manifest unknown");
  if (s == 429)
    {
      cleanup_free char *wait = resp->retry_after >= 0
                                    ? xasprintf (" (the registry asks to retry after %lld s)",
                                                 (long long)resp->retry_after)
                                    : xstrdup ("");
      return dk_make_error_code (err, DK_ECODE_UNAVAILABLE, 0, "%s%s",
                                 detail ? detail : "toomanyrequests: too many requests", wait);
    }
  /* as Docker: 5xx is the status line alone; another 4xx the registry's
     error when it sent one */
  if (s < 500 && detail)
    return dk_make_error_code (err, DK_ECODE_INTERNAL, 0, "%s", detail);
  const char *reason = resp->reason ? resp->reason : reg_status_text (s);
  return dk_make_error_code (err, s >= 500 ? DK_ECODE_UNAVAILABLE : DK_ECODE_INTERNAL, 0,
                             "received unexpected HTTP status: %ld%s%s", s, *reason ? " " : "",
                             reason);
}

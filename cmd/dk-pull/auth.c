#include "auth.h"
#include "cleanup.h"
#include "log.h"

#include <arpa/inet.h>
#include <netdb.h>
#include <openssl/evp.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

char *
reg_base64 (const void *data, size_t len)
{
  char *out = xmalloc (4 * ((len + 2) / 3) + 1);
  EVP_EncodeBlock ((unsigned char *)out, data, (int)len);
  return out;
}

char *
reg_unbase64 (const char *s, size_t *lenp)
{
  size_t n = strlen (s);
  while (n > 0 && (s[n - 1] == '\n' || s[n - 1] == '\r' || s[n - 1] == ' '))
    n--;
  cleanup_free char *t = xmalloc (n + 4);
  size_t j = 0;
  for (size_t i = 0; i < n; i++)
    t[j++] = s[i] == '-' ? '+' : s[i] == '_' ? '/' : s[i];
  while (j % 4)
    t[j++] = '=';
  t[j] = '\0';
  char *out = xmalloc (j / 4 * 3 + 1);
  int len = EVP_DecodeBlock ((unsigned char *)out, (unsigned char *)t, (int)j);
  if (len < 0)
    {
      free (out);
      return NULL;
    }
  for (size_t k = j; k > 0 && t[k - 1] == '='; k--)
    len--;
  out[len] = '\0';
  if (lenp)
    *lenp = len;
  return out;
}

static void
set_dup (char **dst, const char *v)
{
  if (v && *v)
    {
      free (*dst);
      *dst = xstrdup (v);
    }
}

int
reg_auth_configure (struct reg_client *c, jv auth, dk_err_t *err)
{
  if (jv_get_kind (auth) != JV_KIND_OBJECT)
    return 0;
  set_dup (&c->username, dk_json_str (auth, "username"));
  set_dup (&c->password, dk_json_str (auth, "password"));
  set_dup (&c->identity_token, dk_json_str (auth, "identitytoken"));
  set_dup (&c->registry_token, dk_json_str (auth, "registrytoken"));
  const char *a = dk_json_str (auth, "auth");
  if (a && *a && c->username == NULL)
    {
      cleanup_free char *dec = reg_unbase64 (a, NULL);
      char *colon = dec ? strchr (dec, ':') : NULL;
      if (colon == NULL)
        return dk_make_error_code (err, DK_ECODE_INVALID, 0, "invalid auth configuration");
      *colon = '\0';
      set_dup (&c->username, dec);
      set_dup (&c->password, colon + 1);
    }
  return 0;
}

static const char *
auth_config_entry_key (jv auths, const char *host)
{
  static const char *const fmts[]
      = { "%s", "https://%s", "http://%s", "https://%s/v1/", "https://%s/v2/" };
  bool hub = strcmp (host, "registry-1.docker.io") == 0 || strcmp (host, "docker.io") == 0
             || strcmp (host, "index.docker.io") == 0;
  static __thread char key[512];
  for (size_t i = 0; i < sizeof fmts / sizeof *fmts; i++)
    {
      snprintf (key, sizeof key, fmts[i], hub ? "index.docker.io" : host);
      jv e = dk_json_get_kind (auths, key, JV_KIND_OBJECT);
      bool found = jv_is_valid (e);
      jv_free (e);
      if (found)
        return key;
    }
  return NULL;
}

int
reg_auth_decode (const char *text, const char *host, jv *out, dk_err_t *err)
{
  while (*text == ' ' || *text == '\n' || *text == '\t')
    text++;
  jv v;
  if (*text == '{')
    v = jv_parse (text);
  else
    {
      cleanup_free char *dec = reg_unbase64 (text, NULL);
      if (dec == NULL)
        return dk_make_error_code (err, DK_ECODE_INVALID, 0,
                                   "invalid auth configuration: not JSON or base64");
      v = jv_parse (dec);
    }
  if (!jv_is_valid (v) || jv_get_kind (v) != JV_KIND_OBJECT)
    {
      jv_free (v);
      return dk_make_error_code (err, DK_ECODE_INVALID, 0,
                                 "invalid auth configuration: not a JSON object");
    }
  jv auths = dk_json_get_kind (v, "auths", JV_KIND_OBJECT);
  if (jv_is_valid (auths))
    {
      const char *key = auth_config_entry_key (auths, host);
      jv entry = key ? dk_json_get_kind (auths, key, JV_KIND_OBJECT) : jv_null ();
      jv_free (auths);
      jv_free (v);
      *out = entry;
      return 0;
    }
  jv_free (auths);
  *out = v;
  return 0;
}

static bool
in_cidr (const char *ip, const char *cidr)
{
  const char *slash = strchr (cidr, '/');
  if (slash == NULL)
    return false;
  cleanup_free char *net = xstrndup (cidr, slash - cidr);
  int bits = atoi (slash + 1);
  unsigned char a[16], b[16];
  int af = strchr (ip, ':') ? AF_INET6 : AF_INET;
  if (inet_pton (af, ip, a) != 1 || inet_pton (af, net, b) != 1)
    return false;
  int max = af == AF_INET ? 32 : 128;
  if (bits < 0 || bits > max)
    return false;
  for (int i = 0; i < bits; i++)
    if (((a[i / 8] ^ b[i / 8]) >> (7 - i % 8)) & 1)
      return false;
  return true;
}

static bool
ip_insecure (const char *ip, char *const *insecure)
{
  /* DK_PULL_LOOPBACK_SECURE: tests of TLS verification run their registry on
     127.0.0.1, which Docker (and we) otherwise treat as insecure. */
  bool loopback_secure = getenv ("DK_PULL_LOOPBACK_SECURE") != NULL;
  if (!loopback_secure && (in_cidr (ip, "127.0.0.0/8") || strcmp (ip, "::1") == 0))
    return true;
  for (char *const *p = insecure; p && *p; p++)
    if (in_cidr (ip, *p))
      return true;
  return false;
}

bool
reg_host_insecure (const char *hostport, char *const *insecure)
{
  for (char *const *p = insecure; p && *p; p++)
    {
      const char *e = *p;
      if (strncmp (e, "http://", 7) == 0)
        e += 7;
      else if (strncmp (e, "https://", 8) == 0)
        e += 8;
      size_t n = strcspn (e, "/");
      if (strncmp (e, hostport, n) == 0 && hostport[n] == '\0')
        return true;
    }
  /* host part: "[::1]:5000", "h:5000", "h" */
  cleanup_free char *host = NULL;
  if (hostport[0] == '[')
    host = xstrndup (hostport + 1, strcspn (hostport + 1, "]"));
  else
    host = xstrndup (hostport, strcspn (hostport, ":"));
  for (char *const *p = insecure; p && *p; p++)
    if (strcmp (*p, host) == 0)
      return true;
  unsigned char buf[16];
  if (inet_pton (AF_INET, host, buf) == 1 || inet_pton (AF_INET6, host, buf) == 1)
    return ip_insecure (host, insecure);
  /* a name counts as insecure when it resolves into an insecure range */
  struct addrinfo hints = { .ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM }, *res = NULL;
  if (getaddrinfo (host, NULL, &hints, &res) != 0)
    return false;
  bool found = false;
  for (struct addrinfo *ai = res; ai && !found; ai = ai->ai_next)
    {
      char ip[INET6_ADDRSTRLEN];
      const void *addr = ai->ai_family == AF_INET
                             ? (const void *)&((struct sockaddr_in *)ai->ai_addr)->sin_addr
                             : (const void *)&((struct sockaddr_in6 *)ai->ai_addr)->sin6_addr;
      if (inet_ntop (ai->ai_family, addr, ip, sizeof ip))
        found = ip_insecure (ip, insecure);
    }
  freeaddrinfo (res);
  return found;
}

/* Value of param in a challenge: realm="x",service="y" */
static char *
challenge_param (const char *s, const char *name)
{
  size_t n = strlen (name);
  for (const char *p = s; (p = strcasestr (p, name)) != NULL; p += n)
    {
      if (p != s && p[-1] != ' ' && p[-1] != ',')
        continue;
      const char *q = p + n;
      if (*q != '=')
        continue;
      q++;
      if (*q == '"')
        {
          q++;
          return xstrndup (q, strcspn (q, "\""));
        }
      return xstrndup (q, strcspn (q, ", "));
    }
  return NULL;
}

void
reg_auth_learn (struct reg_client *c, const char *www_auth)
{
  pthread_mutex_lock (&c->lock);
  if (strncasecmp (www_auth, "Bearer", 6) == 0)
    {
      c->auth_scheme = 2;
      char *realm = challenge_param (www_auth, "realm");
      char *service = challenge_param (www_auth, "service");
      if (realm)
        free (c->realm), c->realm = realm;
      if (service)
        free (c->service), c->service = service;
    }
  else if (strncasecmp (www_auth, "Basic", 5) == 0)
    c->auth_scheme = 1;
  pthread_mutex_unlock (&c->lock);
}

static size_t
collect (char *data, size_t size, size_t nmemb, void *ud)
{
  struct dk_buf *b = ud;
  if (b->len + size * nmemb > (1 << 20))
    return 0;
  dk_buf_add (b, data, size * nmemb);
  return size * nmemb;
}

static char *
urlenc (CURL *h, const char *s)
{
  char *e = curl_easy_escape (h, s, 0);
  char *r = xstrdup (e);
  curl_free (e);
  return r;
}

/* GET realm?service=..&scope=.. (Basic credentials when we have them), or
   the OAuth2 refresh-token POST with an identity token. */
static int
fetch_token (struct reg_client *c, const char *scope, char **out, dk_err_t *err)
{
  cleanup_free char *realm = NULL, *service = NULL;
  pthread_mutex_lock (&c->lock);
  realm = c->realm ? xstrdup (c->realm) : NULL;
  service = c->service ? xstrdup (c->service) : NULL;
  pthread_mutex_unlock (&c->lock);
  if (realm == NULL)
    return dk_make_error_code (err, DK_ECODE_UNAUTHORIZED, 0,
                               "registry %s asked for a Bearer token without a realm", c->host);
  CURL *h = curl_easy_init ();
  reg_curl_setup (c, h);
  cleanup_buf struct dk_buf url = DK_BUF_INIT;
  cleanup_buf struct dk_buf form = DK_BUF_INIT;
  dk_buf_adds (&url, realm);
  char sep = strchr (realm, '?') ? '&' : '?';
  cleanup_free char *es = service ? urlenc (h, service) : NULL;
  cleanup_free char *esc = scope ? urlenc (h, scope) : NULL;
  if (c->identity_token)
    {
      cleanup_free char *rt = urlenc (h, c->identity_token);
      dk_buf_printf (&form, "grant_type=refresh_token&client_id=docker&refresh_token=%s", rt);
      if (es)
        dk_buf_printf (&form, "&service=%s", es);
      if (esc)
        dk_buf_printf (&form, "&scope=%s", esc);
      curl_easy_setopt (h, CURLOPT_POSTFIELDS, form.data);
    }
  else
    {
      if (es)
        dk_buf_printf (&url, "%cservice=%s", sep, es), sep = '&';
      /* one scope parameter per scope (a mount asks for two repositories) */
      cleanup_free char *scopes = scope ? xstrdup (scope) : NULL;
      char *save = NULL;
      for (char *sc = scopes ? strtok_r (scopes, " ", &save) : NULL; sc;
           sc = strtok_r (NULL, " ", &save))
        {
          cleanup_free char *e1 = urlenc (h, sc);
          dk_buf_printf (&url, "%cscope=%s", sep, e1);
          sep = '&';
        }
      if (c->username)
        {
          curl_easy_setopt (h, CURLOPT_USERNAME, c->username);
          curl_easy_setopt (h, CURLOPT_PASSWORD, c->password ? c->password : "");
        }
    }
  cleanup_buf struct dk_buf body = DK_BUF_INIT;
  char errbuf[CURL_ERROR_SIZE] = "";
  curl_easy_setopt (h, CURLOPT_URL, url.data);
  curl_easy_setopt (h, CURLOPT_WRITEFUNCTION, collect);
  curl_easy_setopt (h, CURLOPT_WRITEDATA, &body);
  curl_easy_setopt (h, CURLOPT_ERRORBUFFER, errbuf);
  CURLcode rc = CURLE_OK;
  long status = 0;
  for (int attempt = 1; attempt <= c->retries; attempt++)
    {
      dk_buf_reset (&body);
      rc = curl_easy_perform (h);
      curl_easy_getinfo (h, CURLINFO_RESPONSE_CODE, &status);
      if (rc == CURLE_OK && status < 500)
        break;
      if (attempt < c->retries)
        reg_backoff (attempt);
    }
  curl_easy_cleanup (h);
  if (rc != CURLE_OK)
    return reg_transport_error (c, "Get", url.data, rc, errbuf, err);
  if (status == 401 || status == 403)
    return dk_make_error_code (err, DK_ECODE_UNAUTHORIZED, 0,
                               "Get \"%s\": unauthorized: incorrect username or password", realm);
  if (status != 200)
    return dk_make_error_code (err, DK_ECODE_UNAUTHORIZED, 0,
                               "Get \"%s\": token server answered HTTP %ld", realm, status);
  cleanup_jv jv v = jv_parse_sized (body.data ? body.data : "", body.len);
  const char *tok = jv_is_valid (v) ? dk_json_str (v, "token") : NULL;
  if (tok == NULL || *tok == '\0')
    tok = jv_is_valid (v) ? dk_json_str (v, "access_token") : NULL;
  if (tok == NULL || *tok == '\0')
    return dk_make_error_code (err, DK_ECODE_UNAUTHORIZED, 0,
                               "Get \"%s\": the token server's answer holds no token", realm);
  *out = xstrdup (tok);
  return 0;
}

static void
cache_token (struct reg_client *c, const char *scope, const char *token)
{
  const char *key = scope ? scope : "";
  pthread_mutex_lock (&c->lock);
  size_t i;
  for (i = 0; i < c->n_tokens; i++)
    if (strcmp (c->tokens[i].scope, key) == 0)
      break;
  if (i == c->n_tokens)
    {
      c->tokens = xrealloc (c->tokens, (c->n_tokens + 1) * sizeof *c->tokens);
      c->tokens[i].scope = xstrdup (key);
      c->tokens[i].token = NULL;
      c->n_tokens++;
    }
  free (c->tokens[i].token);
  c->tokens[i].token = xstrdup (token);
  pthread_mutex_unlock (&c->lock);
}

static char *
cached_token (struct reg_client *c, const char *scope)
{
  const char *key = scope ? scope : "";
  char *r = NULL;
  pthread_mutex_lock (&c->lock);
  for (size_t i = 0; i < c->n_tokens; i++)
    if (strcmp (c->tokens[i].scope, key) == 0)
      r = xstrdup (c->tokens[i].token);
  pthread_mutex_unlock (&c->lock);
  return r;
}

int
reg_auth_challenge (struct reg_client *c, const char *www_auth, const char *scope, dk_err_t *err)
{
  reg_auth_learn (c, www_auth);
  if (c->auth_scheme != 2)
    return 0;
  cleanup_free char *wanted = challenge_param (www_auth, "scope");
  cleanup_free char *tok = NULL;
  if (fetch_token (c, wanted ? wanted : scope, &tok, err) < 0)
    return -1;
  cache_token (c, scope, tok);
  return 0;
}

int
reg_auth_header (struct reg_client *c, const char *scope, char **out, dk_err_t *err)
{
  *out = NULL;
  if (c->pinging)
    return 0;
  if (c->registry_token)
    {
      *out = xasprintf ("Authorization: Bearer %s", c->registry_token);
      return 0;
    }
  if (c->auth_scheme == 1)
    {
      if (c->username == NULL)
        return 0;
      cleanup_free char *up = xasprintf ("%s:%s", c->username, c->password ? c->password : "");
      cleanup_free char *b64 = reg_base64 (up, strlen (up));
      *out = xasprintf ("Authorization: Basic %s", b64);
      return 0;
    }
  if (c->auth_scheme != 2)
    return 0;
  cleanup_free char *tok = cached_token (c, scope);
  if (tok == NULL)
    {
      if (fetch_token (c, scope, &tok, err) < 0)
        return -1;
      cache_token (c, scope, tok);
    }
  *out = xasprintf ("Authorization: Bearer %s", tok);
  return 0;
}

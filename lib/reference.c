/* Docker's reference grammar (distribution/reference), written out by hand:

     reference  := name [ ":" tag ] [ "@" digest ]
     name       := [ domain "/" ] component ( "/" component )*
     domain     := host [ ":" port ]      host: dns labels joined by "." or "[ipv6]"
     component  := alnum+ ( sep alnum+ )*  alnum: [a-z0-9]; sep: "." "_" "__" "-"+
     tag        := [\w][\w.-]{0,127}
     digest     := algorithm ":" hex

   Normalisation follows ParseNormalizedNamed: the first path element is a
   domain only when it holds "." or ":", is "localhost" or has upper case. */
#include "reference.h"
#include "cleanup.h"

#include <ctype.h>
#include <stdlib.h>
#include <string.h>

#define DEFAULT_DOMAIN "docker.io"
#define LEGACY_DOMAIN "index.docker.io"
#define OFFICIAL_PREFIX "library/"
#define NAME_MAX_LEN 255

static int
bad (dk_err_t *err, const char *detail)
{
  if (detail)
    return dk_make_error_code (err, DK_ECODE_INVALID, 0, "invalid reference format: %s", detail);
  return dk_make_error_code (err, DK_ECODE_INVALID, 0, "invalid reference format");
}

static bool
is_lower_alnum (char c)
{
  return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9');
}

static bool
is_word (char c)
{
  return isascii ((unsigned char)c) && (isalnum ((unsigned char)c) || c == '_');
}

static bool
is_hex_lower (char c)
{
  return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f');
}

/* One path component [a-z0-9]+((\.|_|__|-+)[a-z0-9]+)*, of length n. */
static bool
valid_component (const char *s, size_t n)
{
  size_t i = 0;
  if (n == 0 || !is_lower_alnum (s[0]))
    return false;
  while (i < n)
    {
      while (i < n && is_lower_alnum (s[i]))
        i++;
      if (i == n)
        return true;
      /* a separator, then at least one alnum */
      if (s[i] == '.')
        i++;
      else if (s[i] == '_')
        i += (i + 1 < n && s[i + 1] == '_') ? 2 : 1;
      else if (s[i] == '-')
        while (i < n && s[i] == '-')
          i++;
      else
        return false;
      if (i == n || !is_lower_alnum (s[i]))
        return false;
    }
  return true;
}

static bool
valid_path (const char *s, size_t n)
{
  size_t start = 0;
  for (size_t i = 0; i <= n; i++)
    if (i == n || s[i] == '/')
      {
        if (!valid_component (s + start, i - start))
          return false;
        start = i + 1;
      }
  return true;
}

/* A dns label: [a-zA-Z0-9]|[a-zA-Z0-9][a-zA-Z0-9-]*[a-zA-Z0-9] */
static bool
valid_label (const char *s, size_t n)
{
  if (n == 0 || !isalnum ((unsigned char)s[0]) || !isalnum ((unsigned char)s[n - 1]))
    return false;
  for (size_t i = 0; i < n; i++)
    if (!isascii ((unsigned char)s[i]) || !(isalnum ((unsigned char)s[i]) || s[i] == '-'))
      return false;
  return true;
}

static bool
valid_domain (const char *s, size_t n)
{
  size_t hostlen = n;
  if (n > 0 && s[0] == '[')
    {
      const char *close = memchr (s, ']', n);
      if (close == NULL || close == s + 1)
        return false;
      for (const char *p = s + 1; p < close; p++)
        if (!(isxdigit ((unsigned char)*p) || *p == ':'))
          return false;
      hostlen = (size_t)(close - s) + 1;
    }
  else
    {
      const char *colon = memchr (s, ':', n);
      if (colon)
        hostlen = (size_t)(colon - s);
      size_t start = 0;
      for (size_t i = 0; i <= hostlen; i++)
        if (i == hostlen || s[i] == '.')
          {
            if (!valid_label (s + start, i - start))
              return false;
            start = i + 1;
          }
    }
  if (hostlen == n)
    return true;
  if (s[hostlen] != ':' || hostlen + 1 == n)
    return false;
  for (size_t i = hostlen + 1; i < n; i++)
    if (!isdigit ((unsigned char)s[i]))
      return false;
  return true;
}

bool
dk_ref_valid_tag (const char *s)
{
  size_t n = s ? strlen (s) : 0;
  if (n == 0 || n > 128 || !is_word (s[0]))
    return false;
  for (size_t i = 1; i < n; i++)
    if (!is_word (s[i]) && s[i] != '.' && s[i] != '-')
      return false;
  return true;
}

/* algorithm ":" hex, with the lengths of the algorithms we can verify. */
static bool
valid_digest (const char *s)
{
  const char *colon = strchr (s, ':');
  if (colon == NULL)
    return false;
  size_t alg = (size_t)(colon - s), hex = strlen (colon + 1);
  size_t want = 0;
  if (alg == 6 && strncmp (s, "sha256", 6) == 0)
    want = 64;
  else if (alg == 6 && strncmp (s, "sha384", 6) == 0)
    want = 96;
  else if (alg == 6 && strncmp (s, "sha512", 6) == 0)
    want = 128;
  if (want == 0 || hex != want)
    return false;
  for (size_t i = 0; i < hex; i++)
    if (!is_hex_lower (colon[1 + i]))
      return false;
  return true;
}

static bool
is_hex64 (const char *s)
{
  if (strlen (s) != 64)
    return false;
  for (const char *p = s; *p; p++)
    if (!is_hex_lower (*p))
      return false;
  return true;
}

static bool
has_upper (const char *s, size_t n)
{
  for (size_t i = 0; i < n; i++)
    if (s[i] >= 'A' && s[i] <= 'Z')
      return true;
  return false;
}

int
dk_ref_parse (const char *s, struct dk_ref *out, dk_err_t *err)
{
  memset (out, 0, sizeof *out);
  if (s == NULL || *s == '\0')
    return bad (err, NULL);
  if (is_hex64 (s))
    return dk_make_error_code (
        err, DK_ECODE_INVALID, 0,
        "invalid repository name (%s), cannot specify 64-byte hexadecimal strings", s);

  /* The domain: the first element when it cannot be a Docker Hub path. */
  const char *slash = strchr (s, '/');
  cleanup_free char *domain = NULL;
  const char *rest = s;
  if (slash)
    {
      size_t n = (size_t)(slash - s);
      bool looks_like_host = memchr (s, '.', n) || memchr (s, ':', n)
                             || (n == 9 && strncmp (s, "localhost", 9) == 0) || has_upper (s, n);
      if (looks_like_host)
        {
          domain = xstrndup (s, n);
          rest = slash + 1;
        }
    }
  if (domain == NULL || strcmp (domain, LEGACY_DOMAIN) == 0)
    {
      free (domain);
      domain = xstrdup (DEFAULT_DOMAIN);
    }
  cleanup_free char *remainder = NULL;
  if (strcmp (domain, DEFAULT_DOMAIN) == 0 && strchr (rest, '/') == NULL)
    remainder = xasprintf ("%s%s", OFFICIAL_PREFIX, rest);
  else
    remainder = xstrdup (rest);

  /* Docker checks case on what precedes the first ':' of the remainder. */
  size_t remote_len = strcspn (remainder, ":");
  if (has_upper (remainder, remote_len))
    {
      cleanup_free char *remote = xstrndup (remainder, remote_len);
      cleanup_free char *detail = xasprintf ("repository name (%s) must be lowercase", remote);
      return bad (err, detail);
    }

  /* Split remainder into path [":" tag] ["@" digest]. */
  char *at = strchr (remainder, '@');
  const char *digest = NULL;
  if (at)
    {
      *at = '\0';
      digest = at + 1;
      if (!valid_digest (digest))
        return bad (err, NULL);
    }
  char *colon = strrchr (remainder, ':');
  const char *tag = NULL;
  if (colon && strchr (colon, '/') == NULL)
    {
      *colon = '\0';
      tag = colon + 1;
      if (!dk_ref_valid_tag (tag))
        return bad (err, NULL);
    }
  if (!valid_domain (domain, strlen (domain)) || !valid_path (remainder, strlen (remainder)))
    return bad (err, NULL);
  if (strlen (domain) + 1 + strlen (remainder) > NAME_MAX_LEN)
    return bad (err, "repository name must not be more than 255 characters");

  out->domain = steal_ptr (&domain);
  out->path = xstrdup (remainder);
  out->digest = digest ? xstrdup (digest) : NULL;
  if (tag)
    out->tag = xstrdup (tag);
  else if (digest == NULL)
    out->tag = xstrdup ("latest");
  return 0;
}

void
dk_ref_free (struct dk_ref *r)
{
  if (r == NULL)
    return;
  free (r->domain);
  free (r->path);
  free (r->tag);
  free (r->digest);
  memset (r, 0, sizeof *r);
}

char *
dk_ref_name (const struct dk_ref *r)
{
  return xasprintf ("%s/%s", r->domain, r->path);
}

static char *
with_suffix (char *name, const struct dk_ref *r)
{
  char *s = xasprintf ("%s%s%s%s%s", name, r->tag ? ":" : "", r->tag ? r->tag : "",
                       r->digest ? "@" : "", r->digest ? r->digest : "");
  free (name);
  return s;
}

char *
dk_ref_string (const struct dk_ref *r)
{
  return with_suffix (dk_ref_name (r), r);
}

char *
dk_ref_familiar_name (const struct dk_ref *r)
{
  if (strcmp (r->domain, DEFAULT_DOMAIN) == 0)
    {
      const char *p = r->path;
      size_t n = strlen (OFFICIAL_PREFIX);
      if (strncmp (p, OFFICIAL_PREFIX, n) == 0 && strchr (p + n, '/') == NULL)
        p += n;
      return xstrdup (p);
    }
  return dk_ref_name (r);
}

char *
dk_ref_familiar (const struct dk_ref *r)
{
  return with_suffix (dk_ref_familiar_name (r), r);
}

const char *
dk_ref_registry_host (const struct dk_ref *r)
{
  if (strcmp (r->domain, DEFAULT_DOMAIN) == 0)
    return "registry-1.docker.io";
  return r->domain;
}

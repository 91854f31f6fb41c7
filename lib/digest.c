#include "digest.h"
#include "cleanup.h"

#include <errno.h>
#include <fcntl.h>
#include <openssl/evp.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

struct dk_sha256
{
  EVP_MD_CTX *ctx;
  uint64_t count;
};

struct dk_sha256 *
dk_sha256_new (void)
{
  struct dk_sha256 *h = xzalloc (sizeof *h);
  h->ctx = EVP_MD_CTX_new ();
  if (h->ctx == NULL || EVP_DigestInit_ex (h->ctx, EVP_sha256 (), NULL) != 1)
    abort ();
  return h;
}

void
dk_sha256_update (struct dk_sha256 *h, const void *data, size_t len)
{
  if (len == 0)
    return;
  EVP_DigestUpdate (h->ctx, data, len);
  h->count += len;
}

static void
to_digest (const unsigned char *md, char out[DK_DIGEST_STR_LEN])
{
  static const char hex[] = "0123456789abcdef";
  memcpy (out, "sha256:", 7);
  for (int i = 0; i < 32; i++)
    {
      out[7 + 2 * i] = hex[md[i] >> 4];
      out[7 + 2 * i + 1] = hex[md[i] & 15];
    }
  out[DK_DIGEST_STR_LEN - 1] = '\0';
}

void
dk_sha256_peek (struct dk_sha256 *h, char out[DK_DIGEST_STR_LEN])
{
  EVP_MD_CTX *c = EVP_MD_CTX_new ();
  unsigned char md[EVP_MAX_MD_SIZE];
  unsigned int n = 0;
  if (c == NULL || EVP_MD_CTX_copy_ex (c, h->ctx) != 1 || EVP_DigestFinal_ex (c, md, &n) != 1)
    abort ();
  EVP_MD_CTX_free (c);
  to_digest (md, out);
}

void
dk_sha256_final (struct dk_sha256 *h, char out[DK_DIGEST_STR_LEN])
{
  dk_sha256_peek (h, out);
}

uint64_t
dk_sha256_count (struct dk_sha256 *h)
{
  return h->count;
}

void
dk_sha256_free (struct dk_sha256 *h)
{
  if (h == NULL)
    return;
  EVP_MD_CTX_free (h->ctx);
  free (h);
}

void
dk_sha256_buf (const void *data, size_t len, char out[DK_DIGEST_STR_LEN])
{
  unsigned char md[EVP_MAX_MD_SIZE];
  unsigned int n = 0;
  if (EVP_Digest (data, len, md, &n, EVP_sha256 (), NULL) != 1)
    abort ();
  to_digest (md, out);
}

int
dk_sha256_file (const char *path, char out[DK_DIGEST_STR_LEN], dk_err_t *err)
{
  cleanup_close int fd = open (path, O_RDONLY | O_CLOEXEC);
  if (fd < 0)
    return dk_make_error (err, errno, "open `%s`", path);
  struct dk_sha256 *h = dk_sha256_new ();
  char buf[1 << 16];
  for (;;)
    {
      ssize_t n = read (fd, buf, sizeof buf);
      if (n < 0 && errno == EINTR)
        continue;
      if (n < 0)
        {
          dk_sha256_free (h);
          return dk_make_error (err, errno, "read `%s`", path);
        }
      if (n == 0)
        break;
      dk_sha256_update (h, buf, (size_t)n);
    }
  dk_sha256_final (h, out);
  dk_sha256_free (h);
  return 0;
}

static bool
lower_hex (const char *s, size_t n)
{
  for (size_t i = 0; i < n; i++)
    if (!((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'f')))
      return false;
  return s[n] == '\0';
}

bool
dk_is_sha256_hex (const char *s)
{
  return s && strlen (s) == DK_SHA256_HEX_LEN && lower_hex (s, DK_SHA256_HEX_LEN);
}

int
dk_digest_validate (const char *digest, dk_err_t *err)
{
  if (digest == NULL || *digest == '\0')
    return dk_make_error_code (err, DK_ECODE_INVALID, 0, "invalid digest: empty");
  const char *colon = strchr (digest, ':');
  if (colon == NULL)
    return dk_make_error_code (err, DK_ECODE_INVALID, 0, "invalid digest `%s`: no algorithm",
                               digest);
  size_t alen = (size_t)(colon - digest);
  size_t want;
  if (alen == 6 && strncmp (digest, "sha256", 6) == 0)
    want = 64;
  else if (alen == 6 && strncmp (digest, "sha384", 6) == 0)
    want = 96;
  else if (alen == 6 && strncmp (digest, "sha512", 6) == 0)
    want = 128;
  else
    return dk_make_error_code (err, DK_ECODE_INVALID, 0,
                               "invalid digest `%s`: unsupported algorithm", digest);
  const char *hex = colon + 1;
  if (strlen (hex) != want || !lower_hex (hex, want))
    return dk_make_error_code (err, DK_ECODE_INVALID, 0,
                               "invalid digest `%s`: want %zu lower-case hex digits", digest, want);
  return 0;
}

bool
dk_digest_is_valid (const char *digest)
{
  return dk_digest_validate (digest, NULL) == 0;
}

const char *
dk_digest_hex (const char *digest)
{
  const char *c = strchr (digest, ':');
  return c ? c + 1 : digest;
}

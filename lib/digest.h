/* Streaming sha256 (OpenSSL EVP) and "sha256:<hex>" digests. */
#ifndef DK_DIGEST_H
#define DK_DIGEST_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "error.h"

#define DK_SHA256_HEX_LEN 64
/* "sha256:" + 64 hex + NUL */
#define DK_DIGEST_STR_LEN (7 + DK_SHA256_HEX_LEN + 1)

struct dk_sha256;
struct dk_sha256 *dk_sha256_new (void);
void dk_sha256_update (struct dk_sha256 *h, const void *data, size_t len);
/* Writes "sha256:<hex>" into out (DK_DIGEST_STR_LEN bytes); h can go on
   being updated afterwards (the state is copied). */
void dk_sha256_peek (struct dk_sha256 *h, char out[DK_DIGEST_STR_LEN]);
void dk_sha256_final (struct dk_sha256 *h, char out[DK_DIGEST_STR_LEN]);
uint64_t dk_sha256_count (struct dk_sha256 *h);
void dk_sha256_free (struct dk_sha256 *h);

/* One-shot: "sha256:<hex>" of a buffer, of a file. */
void dk_sha256_buf (const void *data, size_t len, char out[DK_DIGEST_STR_LEN]);
int dk_sha256_file (const char *path, char out[DK_DIGEST_STR_LEN], dk_err_t *err);

/* Validates "algorithm:hex": sha256 with exactly 64 lower-case hex digits
   (sha384/sha512 accepted with their lengths).  On failure *err says why. */
int dk_digest_validate (const char *digest, dk_err_t *err);
bool dk_digest_is_valid (const char *digest);
/* Pointer to the hex part of a valid digest (after the colon). */
const char *dk_digest_hex (const char *digest);
/* true when s is 64 lower-case hex digits. */
bool dk_is_sha256_hex (const char *s);

#endif

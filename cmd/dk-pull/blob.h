/* Downloading one blob: streamed, verified against its digest and size,
   resumed with a Range request when the connection breaks. */
#ifndef DK_PULL_BLOB_H
#define DK_PULL_BLOB_H

#include "manifest.h"
#include "registry.h"

/* Receives the blob's bytes in order; returns 0, or -1 with errno set.  The
   last chunk is held back until the digest has been verified, so a
   consumer never sees all of a blob that does not match. */
typedef int (*blob_write_fn) (const char *data, size_t len, void *ud);
typedef void (*blob_progress_fn) (int64_t received, void *ud);

int blob_download (struct reg_client *c, const char *repo, const struct blob_desc *d,
                   blob_write_fn write, blob_progress_fn progress, void *ud, dk_err_t *err);

/* Same, going on after `have` bytes already received (from an earlier
   pull) whose hash is in h (taken over and freed).  Verification failures
   have (*err)->status == EBADMSG. */
struct dk_sha256;
int blob_download_resume (struct reg_client *c, const char *repo, const struct blob_desc *d,
                          int64_t have, struct dk_sha256 *h, blob_write_fn write,
                          blob_progress_fn progress, void *ud, dk_err_t *err);

/* The whole blob in memory (configs), verified; at most max bytes. */
int blob_get (struct reg_client *c, const char *repo, const struct blob_desc *d, size_t max,
              char **out, size_t *len, dk_err_t *err);

#endif

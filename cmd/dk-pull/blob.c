#include "blob.h"
#include "cleanup.h"
#include "digest.h"
#include "log.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

struct dl
{
  const struct blob_desc *d;
  struct dk_sha256 *h;
  blob_write_fn write;
  blob_progress_fn progress;
  void *ud;
  int64_t received;
  int64_t skip;   /* bytes to drop: the server ignored our Range */
  bool first;     /* first callback of this request */
  int64_t resume; /* Range start of this request */
  struct dk_buf held;
  bool too_big;
  int write_errno;
};

static size_t
sink (const char *data, size_t len, long status, void *ud)
{
  struct dl *x = ud;
  size_t orig = len;
  if (x->first)
    {
      x->first = false;
      x->skip = status == 200 ? x->resume : 0;
    }
  if (x->skip > 0)
    {
      size_t drop = (int64_t)len < x->skip ? len : (size_t)x->skip;
      x->skip -= drop;
      data += drop;
      len -= drop;
      if (len == 0)
        return orig;
    }
  if (x->d->size >= 0 && x->received + (int64_t)len > x->d->size)
    {
      x->too_big = true;
      return 0;
    }
  dk_sha256_update (x->h, data, len);
  x->received += len;
  if (x->held.len > 0 && x->write (x->held.data, x->held.len, x->ud) < 0)
    {
      x->write_errno = errno ? errno : EIO;
      return 0;
    }
  dk_buf_reset (&x->held);
  dk_buf_add (&x->held, data, len);
  if (x->progress)
    x->progress (x->received, x->ud);
  return orig;
}

int
blob_download (struct reg_client *c, const char *repo, const struct blob_desc *d,
               blob_write_fn write, blob_progress_fn progress, void *ud, dk_err_t *err)
{
  return blob_download_resume (c, repo, d, 0, dk_sha256_new (), write, progress, ud, err);
}

int
blob_download_resume (struct reg_client *c, const char *repo, const struct blob_desc *d,
                      int64_t have, struct dk_sha256 *h, blob_write_fn write,
                      blob_progress_fn progress, void *ud, dk_err_t *err)
{
  cleanup_free char *path = xasprintf ("/v2/%s/blobs/%s", repo, d->digest);
  cleanup_free char *scope = xasprintf ("repository:%s:pull", repo);
  struct dl x = { .d = d, .write = write, .progress = progress, .ud = ud };
  x.h = h;
  x.received = have;
  int ret = 0;
  int resumes = 0;
  /* nothing to fetch when an earlier pull got every byte */
  for (bool go = have < d->size; go;)
    {
      struct reg_req req = { .path = path,
                             .scope = scope,
                             .sink = sink,
                             .sink_ud = &x,
                             .range_from = x.received,
                             .max_body = 1 << 20 };
      struct reg_resp resp = { 0 };
      x.first = true;
      x.resume = x.received;
      int64_t before = x.received;
      ret = reg_do (c, &req, &resp, err);
      if (x.too_big)
        {
          reg_resp_free (&resp);
          ret = dk_make_error_code (err, DK_ECODE_INTERNAL, 0,
                                    "filesystem layer verification failed for digest %s: more "
                                    "than the %lld bytes of its descriptor",
                                    d->digest, (long long)d->size);
          (*err)->status = EBADMSG;
          break;
        }
      if (x.write_errno)
        {
          reg_resp_free (&resp);
          ret = dk_make_error (err, x.write_errno, "write blob %s", d->digest);
          break;
        }
      if (ret < 0)
        {
          /* a broken transfer resumes where it stopped; progress resets the count */
          bool resumable = (*err)->status == EAGAIN || x.received > before;
          if (x.received > before)
            resumes = 0;
          if (!resumable || ++resumes > c->retries)
            break;
          dk_debug ("blob %s: %s; resuming at %lld", d->digest, (*err)->msg, (long long)x.received);
          dk_error_release (err);
          reg_backoff (resumes);
          continue;
        }
      if (resp.status != 200 && resp.status != 206)
        {
          if (resp.status == 416 && x.received == d->size)
            {
              reg_resp_free (&resp);
              break;
            }
          ret = reg_status_error (&resp, "pull", repo, d->digest, err);
          if (resp.status == 404)
            ret = dk_make_error_code (err, DK_ECODE_NOT_FOUND, 0,
                                      "blob %s of %s not found: blob unknown to registry",
                                      d->digest, repo);
          reg_resp_free (&resp);
          break;
        }
      reg_resp_free (&resp);
      if (x.received < d->size && ++resumes <= c->retries)
        {
          /* the server closed early without an error: ask for the rest */
          reg_backoff (resumes);
          continue;
        }
      break;
    }
  if (ret == 0)
    {
      char got[DK_DIGEST_STR_LEN];
      dk_sha256_final (x.h, got);
      if (strcmp (got, d->digest) != 0 || x.received != d->size)
        {
          ret = dk_make_error_code (err, DK_ECODE_INTERNAL, 0,
                                    "filesystem layer verification failed for digest %s",
                                    d->digest);
          (*err)->status = EBADMSG;
        }
      else if (x.held.len > 0 && write (x.held.data, x.held.len, ud) < 0)
        ret = dk_make_error (err, errno ? errno : EIO, "write blob %s", d->digest);
    }
  dk_sha256_free (x.h);
  dk_buf_free (&x.held);
  return ret;
}

struct mem
{
  struct dk_buf b;
  size_t max;
};

static int
mem_write (const char *data, size_t len, void *ud)
{
  struct mem *m = ud;
  if (m->b.len + len > m->max)
    {
      errno = EFBIG;
      return -1;
    }
  dk_buf_add (&m->b, data, len);
  return 0;
}

int
blob_get (struct reg_client *c, const char *repo, const struct blob_desc *d, size_t max, char **out,
          size_t *len, dk_err_t *err)
{
  if (d->size > (int64_t)max)
    return dk_make_error_code (err, DK_ECODE_INVALID, 0, "blob %s is larger than %zu bytes",
                               d->digest, max);
  struct mem m = { DK_BUF_INIT, max };
  if (blob_download (c, repo, d, mem_write, NULL, &m, err) < 0)
    {
      dk_buf_free (&m.b);
      return -1;
    }
  *len = m.b.len;
  *out = dk_buf_steal (&m.b);
  return 0;
}

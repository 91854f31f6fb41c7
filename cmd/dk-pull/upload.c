#include "upload.h"
#include "cleanup.h"
#include "digest.h"
#include "log.h"
#include "progress.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>
#include <zlib.h>

bool
upload_exists (struct reg_client *c, const char *repo, const char *scope, const char *digest,
               int64_t *size)
{
  cleanup_free char *path = xasprintf ("/v2/%s/blobs/%s", repo, digest);
  struct reg_req req = { .method = "HEAD", .path = path, .scope = scope };
  struct reg_resp resp = { 0 };
  dk_err_t e = NULL;
  if (reg_do (c, &req, &resp, &e) < 0)
    {
      dk_error_release (&e);
      return false;
    }
  bool ok = resp.status == 200;
  if (ok && size)
    *size = resp.content_length;
  reg_resp_free (&resp);
  return ok;
}

bool
upload_mount (struct reg_client *c, const char *repo, const char *from, const char *digest)
{
  cleanup_free char *path
      = xasprintf ("/v2/%s/blobs/uploads/?mount=%s&from=%s", repo, digest, from);
  cleanup_free char *scope = xasprintf ("repository:%s:pull,push repository:%s:pull", repo, from);
  struct reg_req req = { .method = "POST", .path = path, .scope = scope, .has_body = true };
  struct reg_resp resp = { 0 };
  dk_err_t e = NULL;
  if (reg_do (c, &req, &resp, &e) < 0)
    {
      dk_error_release (&e);
      return false;
    }
  bool ok = resp.status == 201;
  if (!ok && resp.status == 202 && resp.location)
    {
      /* the registry started an upload instead: cancel it */
      cleanup_free char *loc = resp.location[0] == '/' ? xasprintf ("%s%s", c->base, resp.location)
                                                       : xstrdup (resp.location);
      cleanup_free char *s2 = xasprintf ("repository:%s:pull,push", repo);
      struct reg_req del = { .method = "DELETE", .path = loc, .scope = s2, .no_retry = true };
      struct reg_resp r2 = { 0 };
      if (reg_do (c, &del, &r2, &e) == 0)
        reg_resp_free (&r2);
      dk_error_release (&e);
    }
  reg_resp_free (&resp);
  return ok;
}

int
upload_compress_layer (const struct graph *g, const char *chain, const char *tmp, const char *id,
                       int *fdp, char digest[DK_DIGEST_STR_LEN], int64_t *size, dk_err_t *err)
{
  cleanup_free char *tmpl = xasprintf ("%s/push-XXXXXX", tmp);
  cleanup_close int fd = mkostemp (tmpl, O_CLOEXEC);
  if (fd < 0)
    return dk_make_error (err, errno, "create a spool file in `%s`", tmp);
  unlink (tmpl);
  const char *args[] = { "layer-diff", chain, "-o", "-", NULL };
  char *argv[12];
  size_t n = 0;
  argv[n++] = (char *)"dk-graph";
  argv[n++] = (char *)"--root";
  argv[n++] = (char *)g->root;
  if (g->driver)
    {
      argv[n++] = (char *)"--driver";
      argv[n++] = (char *)g->driver;
    }
  for (size_t k = 0; args[k]; k++)
    argv[n++] = (char *)args[k];
  argv[n] = NULL;
  struct dk_child child;
  if (dk_spawn (argv, DK_SPAWN_STDOUT | DK_SPAWN_NULL_IN, NULL, &child, err) < 0)
    return -1;
  z_stream z = { 0 };
  /* level 1: pushing is bound by compression; windowBits 31 = gzip wrapper */
  if (deflateInit2 (&z, 1, Z_DEFLATED, 31, 8, Z_DEFAULT_STRATEGY) != Z_OK)
    abort ();
  static const size_t bufsz = 1 << 20;
  cleanup_free unsigned char *in = xmalloc (bufsz);
  cleanup_free unsigned char *out = xmalloc (bufsz);
  struct dk_sha256 *h = dk_sha256_new ();
  int64_t total = 0, last = 0;
  int ret = 0;
  bool eof = false;
  while (ret == 0)
    {
      ssize_t r = 0;
      if (!eof)
        {
          r = read (child.stdout_fd, in, bufsz);
          if (r < 0 && errno == EINTR)
            continue;
          if (r < 0)
            {
              ret = dk_make_error (err, errno, "read layer-diff");
              break;
            }
          eof = r == 0;
        }
      z.next_in = in;
      z.avail_in = (uInt)r;
      int zr;
      do
        {
          z.next_out = out;
          z.avail_out = (uInt)bufsz;
          zr = deflate (&z, eof ? Z_FINISH : Z_NO_FLUSH);
          size_t have = bufsz - z.avail_out;
          if (have && write_all (fd, out, have) < 0)
            {
              ret = dk_make_error (err, errno, "write spool file");
              break;
            }
          dk_sha256_update (h, out, have);
          total += have;
        }
      while (z.avail_out == 0);
      int64_t now = progress_now_ms ();
      if (now - last > 200)
        {
          last = now;
          progress ("Pushing", id, total, 0);
        }
      if (eof && zr == Z_STREAM_END)
        break;
    }
  deflateEnd (&z);
  dk_sha256_final (h, digest);
  dk_sha256_free (h);
  dk_child_close (&child);
  int st = dk_child_wait (&child, ret == 0 ? err : NULL);
  if (ret == 0 && st != 0)
    ret = dk_make_error_code (err, DK_ECODE_INTERNAL, 0,
                              "dk-graph layer-diff %s exited with status %d", chain, st);
  if (ret < 0)
    return -1;
  if (lseek (fd, 0, SEEK_SET) < 0)
    return dk_make_error (err, errno, "rewind spool file");
  *size = total;
  *fdp = steal_fd (&fd);
  return 0;
}

/* An upload Location as an absolute URL. */
static char *
absolute (struct reg_client *c, const char *loc)
{
  return loc[0] == '/' ? xasprintf ("%s%s", c->base, loc) : xstrdup (loc);
}

/* POST /blobs/uploads/: the upload's URL. */
static int
start_upload (struct reg_client *c, const char *repo, const char *scope, char **url, dk_err_t *err)
{
  cleanup_free char *path = xasprintf ("/v2/%s/blobs/uploads/", repo);
  struct reg_req req = { .method = "POST", .path = path, .scope = scope, .has_body = true };
  struct reg_resp resp = { 0 };
  if (reg_do (c, &req, &resp, err) < 0)
    return -1;
  if (resp.status != 202 || resp.location == NULL)
    {
      int ret = reg_status_error (&resp, "push", repo, repo, err);
      reg_resp_free (&resp);
      return ret;
    }
  *url = absolute (c, resp.location);
  reg_resp_free (&resp);
  return 0;
}

static char *
with_digest (const char *url, const char *digest)
{
  return xasprintf ("%s%cdigest=%s", url, strchr (url, '?') ? '&' : '?', digest);
}

struct up_progress
{
  const char *id;
  int64_t last_ms;
  int64_t base;  /* bytes sent by earlier chunks */
  int64_t total; /* the whole blob, or 0: curl's total */
};

static void
on_upload (int64_t sent, int64_t total, void *ud)
{
  struct up_progress *p = ud;
  int64_t now = progress_now_ms ();
  if (p->total > 0)
    total = p->total;
  sent += p->base;
  if (now - p->last_ms < 100 && sent < total)
    return;
  p->last_ms = now;
  progress ("Pushing", p->id, sent, total);
}

/* The final PUT ?digest= of an upload (with the whole blob, or empty after
   chunks): 201 expected. */
static int
finish_upload (struct reg_client *c, const char *repo, const char *scope, const char *url,
               const char *digest, const void *data, size_t len, struct up_progress *up,
               bool *again, dk_err_t *err)
{
  cleanup_free char *put = with_digest (url, digest);
  *again = false;
  const char *hdrs[] = { "Content-Type: application/octet-stream", NULL };
  struct reg_req req = { .method = "PUT",
                         .on_upload = up->id && len ? on_upload : NULL,
                         .upload_ud = up,
                         .path = put,
                         .scope = scope,
                         .headers = hdrs,
                         .body = data,
                         .body_len = len,
                         .has_body = true,
                         .no_retry = true };
  struct reg_resp resp = { 0 };
  if (reg_do (c, &req, &resp, err) < 0)
    {
      *again = true;
      return dk_error_wrap (err, "upload %s", digest);
    }
  int ret = 0;
  if (resp.status != 201)
    {
      *again = resp.status == 429 || resp.status >= 500;
      reg_status_error (&resp, "push", repo, repo, err);
      ret = dk_error_wrap (err, "upload %s", digest);
    }
  reg_resp_free (&resp);
  return ret;
}

/* GET on the upload: how many bytes the registry has ("Range: 0-N"), and
   the URL to go on with. */
static int
upload_status (struct reg_client *c, const char *repo, const char *scope, char **url, int64_t *have,
               dk_err_t *err)
{
  struct reg_req req = { .path = *url, .scope = scope };
  struct reg_resp resp = { 0 };
  if (reg_do (c, &req, &resp, err) < 0)
    return -1;
  if (resp.status != 204 && resp.status != 200)
    {
      reg_status_error (&resp, "push", repo, repo, err);
      reg_resp_free (&resp);
      return dk_error_wrap (err, "upload status");
    }
  long long a = 0, b = -1;
  *have = resp.range && sscanf (resp.range, "%lld-%lld", &a, &b) == 2 ? b + 1 : 0;
  if (resp.location)
    {
      free (*url);
      *url = absolute (c, resp.location);
    }
  reg_resp_free (&resp);
  return 0;
}

static int
upload_chunked (struct reg_client *c, const char *repo, const char *scope, const char *digest,
                const char *data, size_t len, int64_t chunk, struct up_progress *up, dk_err_t *err)
{
  char *url = NULL;
  if (start_upload (c, repo, scope, &url, err) < 0)
    return -1;
  int64_t off = 0;
  int failures = 0;
  int ret = 0;
  up->total = (int64_t)len;
  while (off < (int64_t)len)
    {
      int64_t n = (int64_t)len - off < chunk ? (int64_t)len - off : chunk;
      cleanup_free char *cr
          = xasprintf ("Content-Range: %lld-%lld", (long long)off, (long long)(off + n - 1));
      const char *hdrs[] = { "Content-Type: application/octet-stream", cr, NULL };
      up->base = off;
      struct reg_req req = { .method = "PATCH",
                             .on_upload = up->id ? on_upload : NULL,
                             .upload_ud = up,
                             .path = url,
                             .scope = scope,
                             .headers = hdrs,
                             .body = data + off,
                             .body_len = (size_t)n,
                             .has_body = true,
                             .no_retry = true };
      struct reg_resp resp = { 0 };
      dk_err_t e = NULL;
      int r = reg_do (c, &req, &resp, &e);
      if (r == 0 && resp.status == 202 && resp.location)
        {
          free (url);
          url = absolute (c, resp.location);
          off += n;
          failures = 0;
          reg_resp_free (&resp);
          continue;
        }
      /* a client error other than a range the registry disagrees with is final */
      if (r == 0 && resp.status >= 400 && resp.status < 500 && resp.status != 416
          && resp.status != 429)
        {
          reg_status_error (&resp, "push", repo, repo, err);
          reg_resp_free (&resp);
          ret = -1;
          break;
        }
      if (r == 0)
        reg_status_error (&resp, "push", repo, repo, &e);
      reg_resp_free (&resp);
      if (++failures >= (c->retries > 0 ? c->retries : 1))
        {
          *err = e;
          ret = dk_error_wrap (err, "chunk at %lld", (long long)off);
          break;
        }
      dk_debug ("upload %s: chunk at %lld: %s; asking the registry where to go on", digest,
                (long long)off, e->msg);
      dk_error_release (&e);
      reg_backoff (failures);
      int64_t have = 0;
      if (upload_status (c, repo, scope, &url, &have, err) < 0)
        {
          /* the registry lost track of the upload (docker-registry: a
             broken PATCH leaves bytes its upload state does not know, and
             the upload is then "invalid"): a new upload from byte 0 */
          dk_debug ("upload %s: %s; starting a new upload", digest, (*err)->msg);
          dk_error_release (err);
          free (url);
          url = NULL;
          if (start_upload (c, repo, scope, &url, err) < 0)
            {
              ret = -1;
              break;
            }
        }
      if (have > (int64_t)len)
        have = 0;
      dk_debug ("upload %s: the registry has %lld bytes; resuming there", digest, (long long)have);
      off = have;
    }
  if (ret == 0)
    {
      up->base = 0;
      /* the closing PUT moves no data: repeated as it is when it fails */
      bool again = true;
      for (int attempt = 1; again; attempt++)
        {
          ret = finish_upload (c, repo, scope, url, digest, "", 0, up, &again, err);
          if (ret == 0 || attempt >= c->retries)
            break;
          dk_error_release (err);
          reg_backoff (attempt);
        }
    }
  else
    dk_error_wrap (err, "upload %s", digest);
  free (url);
  return ret;
}

static int
upload_blob (struct reg_client *c, const char *repo, const char *scope, const char *digest,
             const void *data, size_t len, int64_t chunk, const char *id, dk_err_t *err)
{
  struct up_progress up = { id, 0, 0, 0 };
  if (chunk > 0 && (int64_t)len > chunk)
    return upload_chunked (c, repo, scope, digest, data, len, chunk, &up, err);
  /* a monolithic upload that fails on the way (connection, 429, 5xx) starts
     again with a new upload, --retries times in all */
  for (int attempt = 1;; attempt++)
    {
      cleanup_free char *url = NULL;
      if (start_upload (c, repo, scope, &url, err) < 0)
        return -1;
      bool again = false;
      if (finish_upload (c, repo, scope, url, digest, data, len, &up, &again, err) == 0)
        return 0;
      if (!again || attempt >= c->retries)
        return -1;
      dk_debug ("upload %s: %s; starting again", digest, (*err)->msg);
      dk_error_release (err);
      reg_backoff (attempt);
    }
}

int
upload_blob_mem (struct reg_client *c, const char *repo, const char *scope, const char *digest,
                 const void *data, size_t len, dk_err_t *err)
{
  return upload_blob (c, repo, scope, digest, data, len, 0, NULL, err);
}

int
upload_blob_fd (struct reg_client *c, const char *repo, const char *scope, const char *digest,
                int fd, int64_t size, int64_t chunk, const char *id, dk_err_t *err)
{
  void *map = NULL;
  if (size > 0)
    {
      map = mmap (NULL, size, PROT_READ, MAP_PRIVATE, fd, 0);
      if (map == MAP_FAILED)
        return dk_make_error (err, errno, "mmap spool file");
    }
  int ret = upload_blob (c, repo, scope, digest, map ? map : "", size, chunk, id, err);
  if (map)
    munmap (map, size);
  return ret;
}

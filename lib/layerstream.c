#include "layerstream.h"
#include "cleanup.h"

#include <errno.h>
#include <isa-l/igzip_lib.h>
#include <poll.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <zlib.h>
#include <zstd.h>

#define IN_SIZE (256 * 1024)
#define OUT_SIZE (512 * 1024)

enum fmt
{
  FMT_UNKNOWN,
  FMT_NONE,
  FMT_GZIP_ISAL,
  FMT_GZIP_ZLIB,
  FMT_ZSTD
};

struct dk_layerstream
{
  int fd;
  int cancel_fd;
  enum fmt fmt;
  bool in_eof;
  bool done;
  unsigned char *in;
  size_t in_pos, in_len;
  unsigned char *out;
  struct dk_sha256 *c_hash;
  struct dk_sha256 *u_hash;
  uint64_t c_size, u_size;
  struct inflate_state *isal;
  z_stream *zs;
  ZSTD_DCtx *zstd;
  bool member_done; /* gzip: the last member ended exactly at in_pos */
  bool defer_in_hash, defer_out_hash;
};

struct dk_layerstream *
dk_layerstream_new (int fd)
{
  struct dk_layerstream *s = xzalloc (sizeof *s);
  s->fd = fd;
  s->cancel_fd = -1;
  s->in = xmalloc (IN_SIZE);
  s->out = xmalloc (OUT_SIZE);
  s->c_hash = dk_sha256_new ();
  s->u_hash = dk_sha256_new ();
  return s;
}

void
dk_layerstream_free (struct dk_layerstream *s)
{
  if (s == NULL)
    return;
  free (s->in);
  free (s->out);
  dk_sha256_free (s->c_hash);
  dk_sha256_free (s->u_hash);
  free (s->isal);
  if (s->zs)
    {
      inflateEnd (s->zs);
      free (s->zs);
    }
  if (s->zstd)
    ZSTD_freeDCtx (s->zstd);
  free (s);
}

void
dk_layerstream_set_cancel_fd (struct dk_layerstream *s, int fd)
{
  s->cancel_fd = fd;
}

static ssize_t
read_in (struct dk_layerstream *s, void *buf, size_t len)
{
  if (s->cancel_fd >= 0)
    {
      struct pollfd p[2] = { { s->fd, POLLIN, 0 }, { s->cancel_fd, POLLIN, 0 } };
      int r;
      do
        r = poll (p, 2, -1);
      while (r < 0 && errno == EINTR);
      if (r < 0)
        return -1;
      if (p[1].revents)
        {
          errno = ECANCELED;
          return -1;
        }
    }
  ssize_t n;
  do
    n = read (s->fd, buf, len);
  while (n < 0 && errno == EINTR);
  return n;
}

int
dk_layerstream_fd (struct dk_layerstream *s)
{
  return s->fd;
}

void
dk_layerstream_defer_hashes (struct dk_layerstream *s, bool in, bool out)
{
  s->defer_in_hash = in;
  s->defer_out_hash = out;
}

void
dk_layerstream_hash_in (struct dk_layerstream *s, const void *buf, size_t n)
{
  dk_sha256_update (s->c_hash, buf, n);
}

void
dk_layerstream_hash_out (struct dk_layerstream *s, const void *buf, size_t n)
{
  dk_sha256_update (s->u_hash, buf, n);
}

void
dk_layerstream_freep (struct dk_layerstream **s)
{
  dk_layerstream_free (*s);
  *s = NULL;
}

/* Refills the input buffer when it is empty; returns the bytes available. */
static ssize_t
fill (struct dk_layerstream *s, dk_err_t *err)
{
  if (s->in_pos < s->in_len)
    return s->in_len - s->in_pos;
  if (s->in_eof)
    return 0;
  ssize_t n = read_in (s, s->in, IN_SIZE);
  if (n < 0)
    return dk_make_error (err, errno, "read layer");
  if (n == 0)
    s->in_eof = true;
  s->in_pos = 0;
  s->in_len = n;
  if (!s->defer_in_hash)
    dk_sha256_update (s->c_hash, s->in, n);
  s->c_size += n;
  return n;
}

static int
detect (struct dk_layerstream *s, dk_err_t *err)
{
  /* a short first read is fine: magic numbers are at most 4 bytes, and a
     blob shorter than that is no valid tar anyway */
  while (s->in_len - s->in_pos < 4 && !s->in_eof)
    {
      size_t have = s->in_len - s->in_pos;
      memmove (s->in, s->in + s->in_pos, have);
      s->in_pos = 0;
      s->in_len = have;
      ssize_t n = read_in (s, s->in + have, IN_SIZE - have);
      if (n < 0)
        return dk_make_error (err, errno, "read layer");
      if (n == 0)
        s->in_eof = true;
      if (!s->defer_in_hash)
        dk_sha256_update (s->c_hash, s->in + have, n);
      s->c_size += n;
      s->in_len += n;
    }
  const unsigned char *p = s->in + s->in_pos;
  size_t have = s->in_len - s->in_pos;
  if (have >= 3 && p[0] == 0x1f && p[1] == 0x8b && p[2] == 8)
    {
      const char *want = getenv ("DK_INFLATE");
      if (want && strcmp (want, "zlib") == 0)
        {
          s->fmt = FMT_GZIP_ZLIB;
          s->zs = xzalloc (sizeof *s->zs);
          if (inflateInit2 (s->zs, 16 + MAX_WBITS) != Z_OK)
            return dk_make_error (err, 0, "zlib: inflateInit2 failed");
        }
      else
        {
          s->fmt = FMT_GZIP_ISAL;
          s->isal = xzalloc (sizeof *s->isal);
          isal_inflate_init (s->isal);
          s->isal->crc_flag = ISAL_GZIP;
        }
    }
  else if (have >= 4 && p[0] == 0x28 && p[1] == 0xb5 && p[2] == 0x2f && p[3] == 0xfd)
    {
      s->fmt = FMT_ZSTD;
      s->zstd = ZSTD_createDCtx ();
      if (s->zstd == NULL)
        return dk_make_error (err, ENOMEM, "zstd");
    }
  else
    s->fmt = FMT_NONE;
  return 0;
}

static ssize_t
next_isal (struct dk_layerstream *s, dk_err_t *err)
{
  struct inflate_state *st = s->isal;
  for (;;)
    {
      if (s->member_done)
        {
          /* concatenated gzip members form one stream (gzip(1) accepts them) */
          ssize_t n = fill (s, err);
          if (n <= 0)
            return n;
          isal_inflate_reset (st);
          st->crc_flag = ISAL_GZIP;
          s->member_done = false;
        }
      ssize_t n = fill (s, err);
      if (n < 0)
        return -1;
      st->next_in = s->in + s->in_pos;
      st->avail_in = n;
      st->next_out = s->out;
      st->avail_out = OUT_SIZE;
      int r = isal_inflate (st);
      s->in_pos = s->in_len - st->avail_in;
      if (r < 0)
        return dk_make_error_code (err, DK_ECODE_INVALID, 0, "gzip: corrupt data (isal %d)", r);
      size_t out = OUT_SIZE - st->avail_out;
      if (st->block_state == ISAL_BLOCK_FINISH)
        s->member_done = true;
      if (out > 0)
        return out;
      if (s->member_done)
        continue;
      if (n == 0)
        return dk_make_error_code (err, DK_ECODE_INVALID, 0, "gzip: unexpected end of data");
    }
}

static ssize_t
next_zlib (struct dk_layerstream *s, dk_err_t *err)
{
  z_stream *z = s->zs;
  for (;;)
    {
      if (s->member_done)
        {
          ssize_t n = fill (s, err);
          if (n <= 0)
            return n;
          inflateReset (z);
          s->member_done = false;
        }
      ssize_t n = fill (s, err);
      if (n < 0)
        return -1;
      z->next_in = s->in + s->in_pos;
      z->avail_in = n;
      z->next_out = s->out;
      z->avail_out = OUT_SIZE;
      int r = inflate (z, Z_NO_FLUSH);
      s->in_pos = s->in_len - z->avail_in;
      if (r == Z_STREAM_END)
        s->member_done = true;
      else if (r != Z_OK && r != Z_BUF_ERROR)
        return dk_make_error_code (err, DK_ECODE_INVALID, 0, "gzip: %s",
                                   z->msg ? z->msg : "corrupt data");
      size_t out = OUT_SIZE - z->avail_out;
      if (out > 0)
        return out;
      if (s->member_done)
        continue;
      if (n == 0)
        return dk_make_error_code (err, DK_ECODE_INVALID, 0, "gzip: unexpected end of data");
    }
}

static ssize_t
next_zstd (struct dk_layerstream *s, dk_err_t *err)
{
  for (;;)
    {
      ssize_t n = fill (s, err);
      if (n < 0)
        return -1;
      if (n == 0 && s->member_done)
        return 0;
      ZSTD_inBuffer in = { s->in, s->in_len, s->in_pos };
      ZSTD_outBuffer out = { s->out, OUT_SIZE, 0 };
      size_t r = ZSTD_decompressStream (s->zstd, &out, &in);
      s->in_pos = in.pos;
      if (ZSTD_isError (r))
        return dk_make_error_code (err, DK_ECODE_INVALID, 0, "zstd: %s", ZSTD_getErrorName (r));
      s->member_done = (r == 0);
      if (out.pos > 0)
        return out.pos;
      if (n == 0)
        return dk_make_error_code (err, DK_ECODE_INVALID, 0, "zstd: unexpected end of data");
    }
}

ssize_t
dk_layerstream_next (struct dk_layerstream *s, const void **buf, dk_err_t *err)
{
  if (s->done)
    return 0;
  if (s->fmt == FMT_UNKNOWN && detect (s, err) < 0)
    return -1;
  ssize_t n;
  switch (s->fmt)
    {
    case FMT_NONE:
      n = fill (s, err);
      if (n > 0)
        {
          *buf = s->in + s->in_pos;
          s->in_pos = s->in_len;
          if (!s->defer_out_hash)
            dk_sha256_update (s->u_hash, *buf, n);
          s->u_size += n;
        }
      if (n == 0)
        s->done = true;
      return n;
    case FMT_GZIP_ISAL:
      n = next_isal (s, err);
      break;
    case FMT_GZIP_ZLIB:
      n = next_zlib (s, err);
      break;
    default:
      n = next_zstd (s, err);
      break;
    }
  if (n > 0)
    {
      *buf = s->out;
      if (!s->defer_out_hash)
        dk_sha256_update (s->u_hash, s->out, n);
      s->u_size += n;
    }
  if (n == 0)
    s->done = true;
  return n;
}

int
dk_layerstream_drain (struct dk_layerstream *s, dk_err_t *err)
{
  const void *b;
  ssize_t n;
  while ((n = dk_layerstream_next (s, &b, err)) > 0)
    ;
  return n < 0 ? -1 : 0;
}

const char *
dk_layerstream_format (struct dk_layerstream *s)
{
  switch (s->fmt)
    {
    case FMT_GZIP_ISAL:
    case FMT_GZIP_ZLIB:
      return "gzip";
    case FMT_ZSTD:
      return "zstd";
    default:
      return "none";
    }
}

void
dk_layerstream_result (struct dk_layerstream *s, char digest[DK_DIGEST_STR_LEN],
                       char diff_id[DK_DIGEST_STR_LEN], uint64_t *compressed_size, uint64_t *size)
{
  dk_sha256_peek (s->c_hash, digest);
  dk_sha256_peek (s->u_hash, diff_id);
  if (compressed_size)
    *compressed_size = s->c_size;
  if (size)
    *size = s->u_size;
}

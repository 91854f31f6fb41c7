#include "layerstream.h"
#include "cleanup.h"
#include "mapguard.h"

#include <errno.h>
#include <isa-l/igzip_lib.h>
#include <poll.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zlib.h>
#include <zstd.h>

#define IN_SIZE (256 * 1024)
#define OUT_SIZE (512 * 1024)
#define MAP_WINDOW (1024 * 1024)

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
  unsigned char *in; /* in_buf, or into the mapped window */
  size_t in_pos, in_len;
  unsigned char *in_buf;
  /* a regular file is mapped a window at a time instead of read: the
     inflater takes its bytes straight from the page cache (read(2)'s copy
     was ~10% of that thread) */
  bool mapped;
  bool shrank; /* a load from the window faulted: the file was cut */
  struct dk_mapguard guard;
  void *map;
  size_t map_len;
  off_t file_off, file_size;
  unsigned char *out; /* where the next block goes: out_buf or the caller's */
  size_t out_cap;
  unsigned char *out_buf;
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
  s->in = s->in_buf = xmalloc (IN_SIZE);
  s->out = s->out_buf = xmalloc (OUT_SIZE);
  s->out_cap = OUT_SIZE;
  struct stat st;
  if (fstat (fd, &st) == 0 && S_ISREG (st.st_mode) && getenv ("DK_UNPACK_NO_MMAP") == NULL
      && (s->file_off = lseek (fd, 0, SEEK_CUR)) >= 0)
    {
      s->mapped = true;
      s->file_size = st.st_size;
    }
  s->c_hash = dk_sha256_new ();
  s->u_hash = dk_sha256_new ();
  return s;
}

void
dk_layerstream_free (struct dk_layerstream *s)
{
  if (s == NULL)
    return;
  if (s->map)
    munmap (s->map, s->map_len);
  free (s->in_buf);
  free (s->out_buf);
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

/* The next window of a mapped file as the input buffer: its length, 0 at
   the end (the fd's offset is then left after what was read, as read(2)
   would), -1 with errno. */
static ssize_t
map_next (struct dk_layerstream *s)
{
  if (s->map)
    munmap (s->map, s->map_len);
  s->map = NULL;
  s->guard.len = 0;
  if (s->file_off >= s->file_size)
    return lseek (s->fd, s->file_off, SEEK_SET) < 0 ? -1 : 0;
  off_t page = sysconf (_SC_PAGESIZE);
  off_t base = s->file_off & ~(page - 1);
  size_t len = s->file_size - base < MAP_WINDOW ? (size_t)(s->file_size - base) : MAP_WINDOW;
  void *m = mmap (NULL, len, PROT_READ, MAP_PRIVATE | MAP_POPULATE, s->fd, base);
  if (m == MAP_FAILED)
    {
      /* a file system without mmap: read it */
      s->mapped = false;
      if (lseek (s->fd, s->file_off, SEEK_SET) < 0)
        return -1;
      s->in = s->in_buf;
      return read_in (s, s->in, IN_SIZE);
    }
  s->map = m;
  s->map_len = len;
  s->guard.lo = m;
  s->guard.len = len;
  s->in = (unsigned char *)m + (s->file_off - base);
  size_t n = len - (s->file_off - base);
  s->file_off += n;
  return n;
}

/* Refills the input buffer when it is empty; returns the bytes available. */
static ssize_t
fill (struct dk_layerstream *s, dk_err_t *err)
{
  if (s->in_pos < s->in_len)
    return s->in_len - s->in_pos;
  if (s->in_eof)
    return 0;
  ssize_t n = s->mapped ? map_next (s) : read_in (s, s->in, IN_SIZE);
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
     blob shorter than that is no valid tar anyway; a mapped window is the
     whole file or more than 4 bytes */
  if (s->mapped && fill (s, err) < 0)
    return -1;
  while (!s->mapped && s->in_len - s->in_pos < 4 && !s->in_eof)
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
      st->avail_out = s->out_cap;
      int r = isal_inflate (st);
      s->in_pos = s->in_len - st->avail_in;
      if (r < 0)
        return dk_make_error_code (err, DK_ECODE_INVALID, 0, "gzip: corrupt data (isal %d)", r);
      size_t out = s->out_cap - st->avail_out;
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
      z->avail_out = s->out_cap;
      int r = inflate (z, Z_NO_FLUSH);
      s->in_pos = s->in_len - z->avail_in;
      if (r == Z_STREAM_END)
        s->member_done = true;
      else if (r != Z_OK && r != Z_BUF_ERROR)
        return dk_make_error_code (err, DK_ECODE_INVALID, 0, "gzip: %s",
                                   z->msg ? z->msg : "corrupt data");
      size_t out = s->out_cap - z->avail_out;
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
      ZSTD_outBuffer out = { s->out, s->out_cap, 0 };
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

/* Decompresses the next block into out (at most cap bytes). */
static ssize_t
inflate_into (struct dk_layerstream *s, unsigned char *out, size_t cap, dk_err_t *err)
{
  s->out = out;
  s->out_cap = cap;
  switch (s->fmt)
    {
    case FMT_GZIP_ISAL:
      return next_isal (s, err);
    case FMT_GZIP_ZLIB:
      return next_zlib (s, err);
    default:
      return next_zstd (s, err);
    }
}

/* Hashes and counts n bytes of tar at b (n > 0); 0 marks the end. */
static ssize_t
account (struct dk_layerstream *s, const void *b, ssize_t n)
{
  if (n > 0)
    {
      if (!s->defer_out_hash)
        dk_sha256_update (s->u_hash, b, n);
      s->u_size += n;
    }
  if (n == 0)
    s->done = true;
  return n;
}

/* The next block of tar: decompressed into out (at most cap bytes) or, with
   out NULL, into the stream's own buffer; an uncompressed stream's input is
   handed out where it lies (a mapped window is copied: the caller's loads
   would be outside the guard), or copied to out. */
static ssize_t
block (struct dk_layerstream *s, unsigned char *out, size_t cap, const void **buf, dk_err_t *err)
{
  if (s->fmt == FMT_UNKNOWN && detect (s, err) < 0)
    return -1;
  ssize_t n;
  if (s->fmt == FMT_NONE)
    {
      if (out == NULL && s->mapped)
        {
          out = s->out_buf;
          cap = OUT_SIZE;
        }
      n = fill (s, err);
      if (out && n > (ssize_t)cap)
        n = cap;
      *buf = s->in + s->in_pos;
      if (n > 0 && out)
        *buf = memcpy (out, *buf, n);
      if (n > 0)
        s->in_pos += n;
    }
  else
    {
      *buf = out ? out : s->out_buf;
      n = inflate_into (s, (unsigned char *)*buf, out ? cap : OUT_SIZE, err);
    }
  return account (s, *buf, n);
}

/* block, with the loads from a mapped window guarded: a file cut short by
   another process is an error, not SIGBUS. */
static ssize_t
next_block (struct dk_layerstream *s, unsigned char *out, size_t cap, const void **buf,
            dk_err_t *err)
{
  if (s->done)
    return 0;
  if (s->shrank)
    return dk_mapguard_error (err);
  if (!s->mapped)
    return block (s, out, cap, buf, err);
  dk_mapguard_arm (&s->guard, s->map, s->map ? s->map_len : 0);
  if (sigsetjmp (s->guard.jb, 0))
    {
      s->shrank = true;
      return dk_mapguard_error (err);
    }
  ssize_t n = block (s, out, cap, buf, err);
  dk_mapguard_disarm (&s->guard);
  return n;
}

ssize_t
dk_layerstream_next (struct dk_layerstream *s, const void **buf, dk_err_t *err)
{
  return next_block (s, NULL, 0, buf, err);
}

ssize_t
dk_layerstream_read (struct dk_layerstream *s, void *buf, size_t cap, dk_err_t *err)
{
  const void *b;
  return next_block (s, buf, cap, &b, err);
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

#include "tarsplit.h"
#include "buf.h"
#include "cleanup.h"
#include "atomicfile.h"

#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <zstd.h>

#include "tarapply.h"

enum state
{
  ST_HEADER,
  ST_FILE, /* file content: not kept */
  ST_RAW,  /* other entry data, padding: kept */
  ST_PAX,  /* pax records: kept, and read for "size" and sparse keys */
};

struct dk_tarsplit
{
  FILE *z;
  FILE *paths;
  ZSTD_CCtx *cctx;
  struct dk_buf raw;
  enum state st;
  unsigned char hdr[512];
  size_t hdr_len;
  uint64_t left, pad;
  struct dk_buf pax;
  int64_t pax_size;
  bool pax_sparse;
  uint64_t files_tar, files_apply;
  bool failed;
  int err_no;
};

static void
zwrite (struct dk_tarsplit *t, const void *data, size_t len, ZSTD_EndDirective end)
{
  if (t->failed)
    return;
  ZSTD_inBuffer in = { data, len, 0 };
  char out[65536];
  for (;;)
    {
      ZSTD_outBuffer o = { out, sizeof out, 0 };
      size_t r = ZSTD_compressStream2 (t->cctx, &o, &in, end);
      if (ZSTD_isError (r))
        {
          t->failed = true;
          t->err_no = EIO;
          return;
        }
      if (o.pos && fwrite (out, 1, o.pos, t->z) != o.pos)
        {
          t->failed = true;
          t->err_no = errno;
          return;
        }
      if (end == ZSTD_e_continue ? in.pos == in.size : r == 0)
        return;
    }
}

static void
flush_raw (struct dk_tarsplit *t)
{
  if (t->raw.len == 0)
    return;
  unsigned char h[5] = { 'R' };
  uint32_t l = t->raw.len;
  memcpy (h + 1, &l, 4);
  zwrite (t, h, 5, ZSTD_e_continue);
  zwrite (t, t->raw.data, t->raw.len, ZSTD_e_continue);
  dk_buf_reset (&t->raw);
}

static void
file_record (struct dk_tarsplit *t, uint64_t size)
{
  flush_raw (t);
  unsigned char h[9] = { 'F' };
  memcpy (h + 1, &size, 8);
  zwrite (t, h, 9, ZSTD_e_continue);
  t->files_tar++;
}

struct dk_tarsplit *
dk_tarsplit_new (const char *dir, dk_err_t *err)
{
  cleanup_free char *zp = xasprintf ("%s/tar-split.zst", dir);
  cleanup_free char *pp = xasprintf ("%s/tar-split.paths", dir);
  struct dk_tarsplit *t = xzalloc (sizeof *t);
  t->z = fopen (zp, "we");
  t->paths = fopen (pp, "we");
  t->cctx = ZSTD_createCCtx ();
  t->pax_size = -1;
  if (t->z == NULL || t->paths == NULL || t->cctx == NULL)
    {
      dk_make_error (err, errno, "create `%s`", zp);
      dk_tarsplit_free (t);
      return NULL;
    }
  ZSTD_CCtx_setParameter (t->cctx, ZSTD_c_compressionLevel, 3);
  return t;
}

static uint64_t
parse_size (const unsigned char *f)
{
  if (f[0] & 0x80)
    {
      /* base-256 */
      uint64_t v = f[0] & 0x7f;
      for (int i = 1; i < 12; i++)
        v = (v << 8) | f[i];
      return v;
    }
  uint64_t v = 0;
  for (int i = 0; i < 12 && f[i]; i++)
    if (f[i] >= '0' && f[i] <= '7')
      v = v * 8 + (f[i] - '0');
  return v;
}

/* "LEN key=value\n" records of a pax header */
static void
parse_pax (struct dk_tarsplit *t)
{
  const char *p = t->pax.data, *end = p + t->pax.len;
  while (p && p < end)
    {
      char *sp;
      long n = strtol (p, &sp, 10);
      if (n <= 0 || p + n > end || *sp != ' ')
        break;
      const char *kv = sp + 1;
      size_t kvlen = p + n - kv;
      if (kvlen > 5 && strncmp (kv, "size=", 5) == 0)
        t->pax_size = strtoll (kv + 5, NULL, 10);
      if (kvlen > 11 && strncmp (kv, "GNU.sparse.", 11) == 0)
        t->pax_sparse = true;
      p += n;
    }
}

static void
header_done (struct dk_tarsplit *t)
{
  dk_buf_add (&t->raw, t->hdr, 512);
  t->hdr_len = 0;
  bool zero = true;
  for (int i = 0; i < 512 && zero; i++)
    zero = t->hdr[i] == 0;
  if (zero)
    return;
  char type = t->hdr[156];
  uint64_t size = parse_size (t->hdr + 124);
  if (type == 'x')
    {
      t->st = ST_PAX;
      dk_buf_reset (&t->pax);
    }
  else
    {
      if (type != 'g' && type != 'L' && type != 'K' && t->pax_size >= 0)
        size = t->pax_size;
      if ((type == '0' || type == '\0' || type == '7') && size > 0 && !t->pax_sparse)
        {
          t->st = ST_FILE;
          file_record (t, size);
        }
      else
        t->st = ST_RAW;
      if (type != 'g' && type != 'L' && type != 'K')
        {
          t->pax_size = -1;
          t->pax_sparse = false;
        }
    }
  t->left = size;
  t->pad = (512 - size % 512) % 512;
  if (t->st != ST_FILE && t->st != ST_PAX)
    {
      t->left += t->pad;
      t->pad = 0;
    }
  if (t->left == 0 && t->pad == 0)
    t->st = ST_HEADER;
}

void
dk_tarsplit_feed (struct dk_tarsplit *t, const void *buf, size_t len)
{
  const unsigned char *p = buf;
  while (len > 0 && !t->failed)
    {
      size_t n = 0;
      switch (t->st)
        {
        case ST_HEADER:
          n = 512 - t->hdr_len < len ? 512 - t->hdr_len : len;
          memcpy (t->hdr + t->hdr_len, p, n);
          t->hdr_len += n;
          if (t->hdr_len == 512)
            header_done (t);
          break;
        case ST_FILE:
        case ST_RAW:
        case ST_PAX:
          if (t->left == 0)
            {
              /* the padding after file or pax data */
              n = t->pad < len ? t->pad : len;
              dk_buf_add (&t->raw, p, n);
              t->pad -= n;
              if (t->pad == 0)
                t->st = ST_HEADER;
              break;
            }
          n = t->left < len ? t->left : len;
          if (t->st != ST_FILE)
            dk_buf_add (&t->raw, p, n);
          if (t->st == ST_PAX && t->pax.len < (1 << 20))
            dk_buf_add (&t->pax, p, n);
          t->left -= n;
          if (t->left == 0)
            {
              if (t->st == ST_PAX)
                parse_pax (t);
              if (t->pad == 0)
                t->st = ST_HEADER;
            }
          break;
        }
      p += n;
      len -= n;
      if (t->raw.len >= 65536)
        flush_raw (t);
    }
}

void
dk_tarsplit_file (struct dk_tarsplit *t, const char *rel)
{
  t->files_apply++;
  if (fwrite (rel, 1, strlen (rel) + 1, t->paths) != strlen (rel) + 1)
    {
      t->failed = true;
      t->err_no = errno;
    }
}

int
dk_tarsplit_finish (struct dk_tarsplit *t, dk_err_t *err)
{
  flush_raw (t);
  zwrite (t, NULL, 0, ZSTD_e_end);
  if (fflush (t->z) != 0 || fflush (t->paths) != 0)
    {
      t->failed = true;
      t->err_no = errno;
    }
  if (t->failed)
    return dk_make_error (err, t->err_no, "write tar-split");
  if (t->files_tar != t->files_apply)
    return dk_make_error_code (
        err, DK_ECODE_INTERNAL, 0, "tar-split: %llu file records, %llu files applied",
        (unsigned long long)t->files_tar, (unsigned long long)t->files_apply);
  return 0;
}

void
dk_tarsplit_free (struct dk_tarsplit *t)
{
  if (t == NULL)
    return;
  if (t->z)
    fclose (t->z);
  if (t->paths)
    fclose (t->paths);
  ZSTD_freeCCtx (t->cctx);
  dk_buf_free (&t->raw);
  dk_buf_free (&t->pax);
  free (t);
}

/* ---- reassembly ---- */

struct zreader
{
  FILE *f;
  ZSTD_DCtx *d;
  unsigned char in[65536];
  ZSTD_inBuffer ib;
};

/* Exactly n bytes; 0 at a clean end before any byte, -1 on error. */
static int
zread (struct zreader *z, void *out, size_t n)
{
  ZSTD_outBuffer ob = { out, n, 0 };
  while (ob.pos < n)
    {
      if (z->ib.pos == z->ib.size)
        {
          size_t got = fread (z->in, 1, sizeof z->in, z->f);
          if (got == 0)
            return ob.pos == 0 ? 0 : -1;
          z->ib = (ZSTD_inBuffer){ z->in, got, 0 };
        }
      size_t r = ZSTD_decompressStream (z->d, &ob, &z->ib);
      if (ZSTD_isError (r))
        return -1;
    }
  return 1;
}

static int
emit (int fd, struct dk_sha256 *h, const void *data, size_t len, uint64_t *size, dk_err_t *err)
{
  dk_sha256_update (h, data, len);
  *size += len;
  const char *p = data;
  while (len > 0)
    {
      ssize_t w = write (fd, p, len);
      if (w < 0 && errno == EINTR)
        continue;
      if (w < 0)
        return dk_make_error (err, errno, "write layer tar");
      p += w;
      len -= w;
    }
  return 0;
}

int
dk_tarsplit_assemble (const char *dir, const char *root, int out_fd, char digest[DK_DIGEST_STR_LEN],
                      uint64_t *size, dk_err_t *err)
{
  cleanup_free char *zp = xasprintf ("%s/tar-split.zst", dir);
  cleanup_free char *pp = xasprintf ("%s/tar-split.paths", dir);
  cleanup_free char *paths = NULL;
  size_t plen = 0;
  if (dk_read_file (pp, &paths, &plen, err) < 0)
    return -1;
  cleanup_fclose FILE *f = fopen (zp, "re");
  if (f == NULL)
    return dk_make_error (err, errno, "open `%s`", zp);
  cleanup_close int rootfd = open (root, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (rootfd < 0)
    return dk_make_error (err, errno, "open `%s`", root);
  struct zreader z = { .f = f, .d = ZSTD_createDCtx () };
  struct dk_sha256 *h = dk_sha256_new ();
  cleanup_free char *buf = xmalloc (65536);
  const char *next_path = paths;
  int ret = 0;
  *size = 0;
  for (;;)
    {
      unsigned char tag;
      int r = zread (&z, &tag, 1);
      if (r == 0)
        break;
      if (r < 0 || (tag != 'R' && tag != 'F'))
        {
          ret = dk_make_error_code (err, DK_ECODE_INTERNAL, 0, "corrupt `%s`", zp);
          break;
        }
      if (tag == 'R')
        {
          uint32_t l;
          if (zread (&z, &l, 4) != 1)
            {
              ret = dk_make_error_code (err, DK_ECODE_INTERNAL, 0, "corrupt `%s`", zp);
              break;
            }
          while (l > 0 && ret == 0)
            {
              size_t n = l < 65536 ? l : 65536;
              if (zread (&z, buf, n) != 1)
                ret = dk_make_error_code (err, DK_ECODE_INTERNAL, 0, "corrupt `%s`", zp);
              else
                ret = emit (out_fd, h, buf, n, size, err);
              l -= n;
            }
          if (ret < 0)
            break;
          continue;
        }
      uint64_t fsize;
      if (zread (&z, &fsize, 8) != 1 || next_path >= paths + plen)
        {
          ret = dk_make_error_code (err, DK_ECODE_INTERNAL, 0, "corrupt `%s`", zp);
          break;
        }
      const char *rel = next_path;
      next_path += strlen (rel) + 1;
      cleanup_close int fd = dk_openat_in_root (rootfd, rel, O_RDONLY | O_NOFOLLOW, 0);
      if (fd < 0)
        {
          ret = dk_make_error (err, errno, "open `%s` of the layer", rel);
          break;
        }
      uint64_t left = fsize;
      while (left > 0 && ret == 0)
        {
          ssize_t n = read (fd, buf, left < 65536 ? left : 65536);
          if (n <= 0)
            ret = dk_make_error (err, n < 0 ? errno : EIO, "read `%s` of the layer", rel);
          else
            {
              ret = emit (out_fd, h, buf, n, size, err);
              left -= n;
            }
        }
      if (ret < 0)
        break;
    }
  dk_sha256_final (h, digest);
  dk_sha256_free (h);
  ZSTD_freeDCtx (z.d);
  return ret;
}

/* lib/ layer code: tar name cleaning, id maps, the layer stream's format
   detection and digests, and tar-split's exact rebuild. */
#include "tap.h"
#include "cleanup.h"
#include "digest.h"
#include "layerstream.h"
#include "tarapply.h"
#include "tarsplit.h"
#include "unpack.h"
#include "atomicfile.h"

#include <fcntl.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <unistd.h>

static void
test_clean_path (void)
{
  const char *cases[][2] = {
    { "./a//b/", "a/b" },   { "/etc/passwd", "etc/passwd" },
    { "a/../b", "b" },      { "./", "" },
    { "a/./b/..", "a" },    { "/../x", NULL },
    { "..", NULL },         { "a/../../x", NULL },
    { "a/b/../../c", "c" },
  };
  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++)
    {
      cleanup_free char *got = dk_tar_clean_path (cases[i][0]);
      is_str (got, cases[i][1], "clean path: `%s`", cases[i][0]);
    }
}

static void
test_idmap (void)
{
  cleanup_free struct dk_idmap *m = NULL;
  size_t n = 0;
  dk_err_t err = NULL;
  ok (dk_idmap_parse ("0:100000:65536", &m, &n, &err) == 0 && n == 1 && m[0].host == 100000,
      "idmap: C:H:N parses");
  ok (dk_idmap_parse ("1:2", &m, &n, &err) < 0 && n == 1, "idmap: two fields are refused");
  ok (dk_idmap_parse ("0:1:0", &m, &n, &err) < 0, "idmap: an empty range is refused");
  ok (dk_idmap_parse ("0:1:2x", &m, &n, &err) < 0, "idmap: trailing garbage is refused");
  dk_error_release (&err);
}

/* Runs a shell pipeline into a file under dir; returns its path. */
static char *
make_file (const char *dir, const char *name, const char *cmd)
{
  char *p = xasprintf ("%s/%s", dir, name);
  cleanup_free char *full = xasprintf ("%s > '%s'", cmd, p);
  if (system (full) != 0)
    abort ();
  return p;
}

static void
test_stream_and_split (const char *dir)
{
  cleanup_free char *src = xasprintf ("%s/src", dir);
  cleanup_free char *mk = xasprintf ("mkdir -p '%s/d' && echo hello > '%s/d/f' && ln -s f '%s/d/l'"
                                     " && head -c 70000 /dev/urandom > '%s/big'",
                                     src, src, src, src);
  ok (system (mk) == 0, "fixture tree made");
  cleanup_free char *tarcmd = xasprintf ("tar --format=pax -C '%s' -cf - .", src);
  cleanup_free char *plain = make_file (dir, "l.tar", tarcmd);
  cleanup_free char *gzc = xasprintf ("gzip -c '%s'", plain);
  cleanup_free char *gz = make_file (dir, "l.tgz", gzc);
  cleanup_free char *zc = xasprintf ("zstd -q -c '%s'", plain);
  cleanup_free char *zs = make_file (dir, "l.tar.zst", zc);
  char want[DK_DIGEST_STR_LEN];
  dk_err_t err = NULL;
  ok (dk_sha256_file (plain, want, &err) == 0, "sha256 of the plain tar");
  const char *files[] = { plain, gz, zs };
  const char *fmts[] = { "none", "gzip", "zstd" };
  for (int i = 0; i < 3; i++)
    {
      cleanup_close int fd = open (files[i], O_RDONLY | O_CLOEXEC);
      struct dk_layerstream *s = dk_layerstream_new (fd);
      ok (dk_layerstream_drain (s, &err) == 0, "stream %s: drained", fmts[i]);
      char digest[DK_DIGEST_STR_LEN], diff_id[DK_DIGEST_STR_LEN], fdig[DK_DIGEST_STR_LEN];
      uint64_t csize, usize;
      dk_layerstream_result (s, digest, diff_id, &csize, &usize);
      is_str (dk_layerstream_format (s), fmts[i], "stream: detected %s", fmts[i]);
      is_str (diff_id, want, "stream %s: diff ID is the plain tar's sha256", fmts[i]);
      dk_sha256_file (files[i], fdig, &err);
      is_str (digest, fdig, "stream %s: digest is the blob's sha256", fmts[i]);
      dk_layerstream_free (s);
    }
  /* unpack with tar-split, then rebuild the exact tar */
  cleanup_free char *layer = xasprintf ("%s/layer", dir);
  cleanup_free char *diff = xasprintf ("%s/layer/diff", dir);
  dk_mkdir_p (layer, 0700, &err);
  struct dk_unpack_opts o = { .tarsplit_dir = layer, .expect_diff_id = want };
  struct dk_unpack_result r;
  cleanup_close int fd = open (gz, O_RDONLY | O_CLOEXEC);
  ok (dk_layer_unpack (fd, diff, &o, &r, &err) == 0, "unpack gzip layer with tar-split");
  ok (r.size == 6 + 70000, "unpack: size counts regular files (%llu)", (unsigned long long)r.size);
  cleanup_free char *out = xasprintf ("%s/rebuilt.tar", dir);
  cleanup_close int ofd = open (out, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
  char got[DK_DIGEST_STR_LEN];
  uint64_t size = 0;
  ok (dk_tarsplit_assemble (layer, diff, ofd, got, &size, &err) == 0, "tar-split: assembled");
  is_str (got, want, "tar-split: rebuilt tar has the diff ID");
  ok (size == r.tar_size, "tar-split: same length");
  /* a changed file is detected by the digest */
  cleanup_free char *f = xasprintf ("%s/big", diff);
  cleanup_close int wfd = open (f, O_RDWR | O_CLOEXEC);
  /* a byte other than the one there (a fixed 'X' was already there 1 time in 256) */
  unsigned char byte = 0;
  ok (wfd >= 0 && pread (wfd, &byte, 1, 10) == 1, "read a byte of a file of the layer");
  byte ^= 0xff;
  ok (pwrite (wfd, &byte, 1, 10) == 1, "tamper with a file of the layer");
  lseek (ofd, 0, SEEK_SET);
  ok (dk_tarsplit_assemble (layer, diff, ofd, got, &size, &err) == 0 && strcmp (got, want) != 0,
      "tar-split: a changed file changes the digest");
  /* wrong expected digest: error, target removed */
  cleanup_free char *t2 = xasprintf ("%s/t2", dir);
  struct dk_unpack_opts o2 = { .expect_digest = want };
  cleanup_close int fd2 = open (gz, O_RDONLY | O_CLOEXEC);
  ok (dk_layer_unpack (fd2, t2, &o2, &r, &err) < 0 && access (t2, F_OK) < 0,
      "unpack: digest mismatch fails and removes the target");
  dk_error_release (&err);
}

/* A stream gives the same digests whatever it reads from: a regular file
   (mapped a window at a time, here several windows, also from an offset
   other than 0) or a pipe, taken whole (next) or in small pieces (read). */
static void
test_stream_sources (const char *dir)
{
  cleanup_free char *plain
      = make_file (dir, "s.bin", "{ head -c 2500000 /dev/urandom; head -c 1500000 /dev/zero; }");
  cleanup_free char *gzc = xasprintf ("gzip -1 -c '%s'", plain);
  cleanup_free char *gz = make_file (dir, "s.gz", gzc);
  cleanup_free char *prec = xasprintf ("{ head -c 100 /dev/zero; cat '%s'; }", gz);
  cleanup_free char *pre = make_file (dir, "s.pre", prec);
  char want[DK_DIGEST_STR_LEN], gzdig[DK_DIGEST_STR_LEN];
  dk_err_t err = NULL;
  dk_sha256_file (plain, want, &err);
  dk_sha256_file (gz, gzdig, &err);
  const char *names[] = { "plain file", "gzip file", "gzip file at offset 100", "gzip pipe" };
  for (int i = 0; i < 4; i++)
    {
      cleanup_free char *cat = xasprintf ("cat '%s'", gz);
      FILE *pipe = i == 3 ? popen (cat, "r") : NULL;
      int fd = pipe ? dup (fileno (pipe)) : open (i == 0 ? plain : i == 1 ? gz : pre, O_RDONLY);
      if (i == 2)
        lseek (fd, 100, SEEK_SET);
      struct dk_layerstream *s = dk_layerstream_new (fd);
      static char buf[1000];
      ssize_t n;
      /* odd rounds in small pieces */
      while ((n = (i & 1) ? dk_layerstream_read (s, buf, sizeof buf, &err)
                          : dk_layerstream_next (s, &(const void *){ NULL }, &err))
             > 0)
        ;
      ok (n == 0, "stream from %s: read to the end", names[i]);
      char digest[DK_DIGEST_STR_LEN], diff_id[DK_DIGEST_STR_LEN];
      uint64_t csize, usize;
      dk_layerstream_result (s, digest, diff_id, &csize, &usize);
      is_str (diff_id, want, "stream from %s: diff ID", names[i]);
      is_str (digest, i == 0 ? want : gzdig, "stream from %s: digest", names[i]);
      ok (usize == 4000000, "stream from %s: 4000000 bytes out (%llu)", names[i],
          (unsigned long long)usize);
      if (i == 2)
        ok (lseek (fd, 0, SEEK_CUR) == (off_t)(100 + csize),
            "stream from a file: its offset is left after the blob");
      dk_layerstream_free (s);
      close (fd);
      if (pipe)
        pclose (pipe);
    }
  dk_error_release (&err);
}

int
main (void)
{
  test_clean_path ();
  test_idmap ();
  char tmpl[] = "/tmp/test_layerstore.XXXXXX";
  char *dir = mkdtemp (tmpl);
  if (dir == NULL)
    return 1;
  test_stream_and_split (dir);
  test_stream_sources (dir);
  dk_err_t err = NULL;
  dk_remove_tree (dir, &err);
  dk_error_release (&err);
  return tap_done ();
}

#include "unpack.h"
#include "atomicfile.h"
#include "cleanup.h"
#include "layerpipe.h"
#include "layerstream.h"
#include "tarsplit.h"
#include "treecopy.h"

#include <archive.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

struct reader
{
  struct dk_layerpipe *p;
  struct dk_tarsplit *split;
  dk_err_t err;
};

static void
on_file (void *data, const char *rel)
{
  dk_tarsplit_file (data, rel);
}

static la_ssize_t
read_cb (struct archive *a, void *data, const void **buf)
{
  struct reader *r = data;
  ssize_t n = dk_layerpipe_next (r->p, buf, &r->err);
  if (n < 0)
    {
      archive_set_error (a, EIO, "%s", r->err->msg);
      return -1;
    }
  if (r->split && n > 0)
    dk_tarsplit_feed (r->split, *buf, n);
  return n;
}

static bool
is_empty_dir (const char *path)
{
  cleanup_closedir DIR *d = opendir (path);
  if (d == NULL)
    return false;
  struct dirent *de;
  while ((de = readdir (d)))
    if (strcmp (de->d_name, ".") && strcmp (de->d_name, ".."))
      return false;
  return true;
}

static int
unpack (int in_fd, const char *target, const struct dk_unpack_opts *o, struct dk_unpack_result *res,
        dk_err_t *err)
{
  if (o->parent_dir && dk_tree_copy (o->parent_dir, target, err) < 0)
    return -1;
  cleanup_close int rootfd = open (target, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (rootfd < 0)
    return dk_make_error (err, errno, "open `%s`", target);

  cleanup_layerstream struct dk_layerstream *s = dk_layerstream_new (in_fd);
  struct dk_tarsplit *split = NULL;
  if (o->tarsplit_dir && (split = dk_tarsplit_new (o->tarsplit_dir, err)) == NULL)
    return -1;
  struct reader rd = { dk_layerpipe_start (s, err), split, NULL };
  if (rd.p == NULL)
    {
      dk_tarsplit_free (split);
      return -1;
    }
  struct archive *a = archive_read_new ();
  archive_read_support_format_tar (a);
  archive_read_set_format_option (a, "tar", "hdrcharset", "BINARY");
  int ret = 0;
  if (archive_read_open (a, &rd, NULL, read_cb, NULL) != ARCHIVE_OK)
    ret = dk_make_error_code (err, DK_ECODE_INVALID, 0, "read layer: %s", archive_error_string (a));
  struct dk_tarapply_opts to
      = { o->whiteouts,           o->uidmap, o->n_uidmap, o->gidmap, o->n_gidmap,
          split ? on_file : NULL, split };
  if (ret == 0)
    ret = dk_tar_apply (a, rootfd, &to, &res->size, err);
  archive_read_free (a);
  if (rd.err)
    {
      /* the stream's own error says more than libarchive's wrapper of it */
      if (ret < 0)
        {
          dk_error_release (err);
          *err = steal_ptr (&rd.err);
        }
      dk_error_release (&rd.err);
    }
  /* the rest of the blob (the zero blocks after the end marker) is part of
     the diff ID */
  const void *b;
  ssize_t n;
  while (ret == 0 && (n = dk_layerpipe_next (rd.p, &b, err)) != 0)
    if (n < 0)
      ret = -1;
    else if (split)
      dk_tarsplit_feed (split, b, n);
  dk_layerpipe_stop (rd.p);
  if (ret == 0 && split)
    ret = dk_tarsplit_finish (split, err);
  dk_tarsplit_free (split);
  if (ret < 0)
    return -1;
  dk_layerstream_result (s, res->digest, res->diff_id, &res->compressed_size, &res->tar_size);
  res->format = dk_layerstream_format (s);
  if (o->expect_digest && strcmp (o->expect_digest, res->digest) != 0)
    return dk_make_error_code (err, DK_ECODE_INVALID, 0,
                               "layer digest mismatch: expected %s, got %s", o->expect_digest,
                               res->digest);
  if (o->expect_diff_id && strcmp (o->expect_diff_id, res->diff_id) != 0)
    return dk_make_error_code (err, DK_ECODE_INVALID, 0,
                               "layer diff ID mismatch: expected %s, got %s", o->expect_diff_id,
                               res->diff_id);
  return 0;
}

int
dk_layer_unpack (int in_fd, const char *target, const struct dk_unpack_opts *o,
                 struct dk_unpack_result *res, dk_err_t *err)
{
  memset (res, 0, sizeof *res);
  struct stat st;
  bool ours = stat (target, &st) < 0 || is_empty_dir (target);
  if (dk_mkdir_p (target, 0755, err) < 0)
    return -1;
  if (unpack (in_fd, target, o, res, err) == 0)
    return 0;
  if (ours)
    {
      dk_err_t e2 = NULL;
      dk_remove_tree (target, &e2);
      dk_error_release (&e2);
    }
  return -1;
}

/* container-size ID...: what `docker ps -s` and /system/df show of a
   container: the bytes it wrote (size_rw) and that plus its image's layers
   (size_root_fs).  Counted as Docker counts them: regular files, symlinks
   and devices by their size, directories not, a hard-linked inode once;
   overlay2 counts the upper directory, vfs the files changed from the
   image. */
#include "store.h"
#include "cleanup.h"
#include "diff.h"

#include <errno.h>
#include <ftw.h>
#include <search.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

struct inode_set
{
  void *root;
};

static int
cmp_ino (const void *a, const void *b)
{
  const struct stat *x = a, *y = b;
  if (x->st_dev != y->st_dev)
    return x->st_dev < y->st_dev ? -1 : 1;
  return x->st_ino < y->st_ino ? -1 : x->st_ino > y->st_ino;
}

/* the size an entry adds, 0 for directories and inodes already seen */
static int64_t
entry_size (struct inode_set *seen, const struct stat *st)
{
  if (S_ISDIR (st->st_mode) || st->st_size == 0)
    return 0;
  if (st->st_nlink > 1)
    {
      struct stat *key = xmalloc (sizeof *key);
      *key = *st;
      struct stat **found = tsearch (key, &seen->root, cmp_ino);
      if (*found != key)
        {
          free (key);
          return 0;
        }
    }
  return st->st_size;
}

static struct inode_set walk_seen;
static int64_t walk_total;

static int
walk_one (const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
  (void)path;
  (void)ftw;
  if (flag != FTW_NS)
    walk_total += entry_size (&walk_seen, st);
  return 0;
}

static int
upper_size (const char *dir, int64_t *out, dk_err_t *err)
{
  walk_total = 0;
  walk_seen.root = NULL;
  int r = nftw (dir, walk_one, 32, FTW_PHYS);
  tdestroy (walk_seen.root, free);
  if (r < 0 && errno != ENOENT)
    return dk_make_error (err, errno, "walk `%s`", dir);
  *out = walk_total;
  return 0;
}

/* vfs: the files changed from the image, as Docker's naive diff counts them */
static int
changed_size (struct store *s, const char *dir, const char *top, int64_t *out, dk_err_t *err)
{
  cleanup_jv jv changes = jv_invalid ();
  if (container_changes_vfs (s, dir, top, &changes, err) < 0)
    return -1;
  struct inode_set seen = { NULL };
  int64_t total = 0;
  jv_array_foreach (changes, i, c)
  {
    int64_t kind = CHANGE_DELETED;
    dk_json_int (c, "Kind", &kind);
    const char *p = dk_json_str (c, "Path");
    struct stat st;
    if (kind != CHANGE_DELETED && p)
      {
        cleanup_free char *full = xasprintf ("%s/rootfs%s", dir, p);
        if (lstat (full, &st) == 0)
          total += entry_size (&seen, &st);
      }
    jv_free (c);
  }
  tdestroy (seen.root, free);
  *out = total;
  return 0;
}

static int
add_size (const char *chain, jv meta, void *data)
{
  int64_t sz = 0;
  if (dk_json_int (meta, "size", &sz))
    *(int64_t *)data += sz;
  return 0;
}

static int64_t
chain_size (struct store *s, const char *top)
{
  int64_t total = 0;
  layer_walk (s, top, add_size, &total, NULL);
  return total;
}

static int
one_size (struct store *s, const char *id, jv *out, dk_err_t *err)
{
  cleanup_jv jv meta = jv_invalid ();
  cleanup_free char *dir = NULL;
  if (container_meta (s, id, &meta, &dir, err) < 0)
    return -1;
  const char *top = dk_json_str (meta, "layer");
  int64_t rw = 0;
  if (s->overlay)
    {
      cleanup_free char *upper = xasprintf ("%s/diff", dir);
      if (upper_size (upper, &rw, err) < 0)
        return -1;
    }
  else if (changed_size (s, dir, top, &rw, err) < 0)
    return -1;
  jv v = jv_object_set (jv_object (), jv_string ("size_rw"), dk_json_int64 (rw));
  *out = jv_object_set (v, jv_string ("size_root_fs"), dk_json_int64 (rw + chain_size (s, top)));
  return 0;
}

int
cmd_container_size (struct store *s, int argc, char **argv, dk_err_t *err)
{
  /* --ignore-missing: for a caller listing containers that may be going away */
  bool ignore_missing = argc > 1 && !strcmp (argv[1], "--ignore-missing");
  int first = ignore_missing ? 2 : 1;
  if (argc <= first)
    return dk_make_error_code (err, DK_ECODE_INVALID, 0,
                               "usage: container-size [--ignore-missing] ID...");
  jv sizes = jv_object ();
  for (int i = first; i < argc; i++)
    {
      jv one;
      if (one_size (s, argv[i], &one, err) < 0)
        {
          if (ignore_missing && !strcmp ((*err)->code, DK_ECODE_NOT_FOUND))
            {
              dk_error_release (err);
              continue;
            }
          jv_free (sizes);
          return -1;
        }
      sizes = jv_object_set (sizes, jv_string (argv[i]), one);
    }
  dk_jsonl_write (stdout, jv_object_set (result_obj (), jv_string ("sizes"), sizes));
  return 0;
}

#include "filepool.h"
#include "cleanup.h"
#include "tarapply_internal.h"

#include <archive.h>
#include <archive_entry.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/xattr.h>
#include <unistd.h>

/* bounds on what waits: jobs in all shards (each holds a directory fd, so
   this stays well under the usual 1024 open files) and their bytes */
#define MAX_QUEUED 256
#define MAX_BYTES (16u << 20)

struct node
{
  struct dk_filejob *job;
  struct node *next;
};

struct shard
{
  struct node *head, *tail;
  size_t queued;
  bool busy; /* the worker runs a job of this shard */
  pthread_t thread;
  struct dk_filepool *pool;
};

struct dk_filepool
{
  pthread_mutex_t mu;
  pthread_cond_t work, done;
  size_t bytes, queued;
  bool stop, failed;
  dk_err_t err;
  int n;
  struct shard *shards;
};

void
dk_filejob_free (struct dk_filejob *j)
{
  if (j == NULL)
    return;
  if (j->dirfd >= 0)
    close (j->dirfd);
  free (j->base);
  free (j->rel);
  free (j->data);
  for (size_t i = 0; i < j->n_xattrs; i++)
    {
      free (j->xattrs[i].name);
      free (j->xattrs[i].value);
    }
  free (j->xattrs);
  free (j);
}

/* What lib/tarapply.c does for a regular file, on the job's copy. */
static int
run_job (struct dk_filejob *j, dk_err_t *err)
{
  cleanup_close int fd = -1;
  for (int attempt = 0;; attempt++)
    {
      fd = openat (j->dirfd, j->base, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
      if (fd >= 0)
        break;
      if (errno != EEXIST || attempt > 0)
        return dk_make_error (err, errno, "layer entry `%s`: create", j->rel);
      /* something is in the way: removed, never followed */
      if (dk_remove_at (j->dirfd, j->base, err) < 0)
        return dk_error_wrap (err, "layer entry `%s`", j->rel);
    }
  const char *p = j->data;
  size_t left = j->size;
  off_t off = 0;
  while (left > 0)
    {
      ssize_t w = pwrite (fd, p, left, off);
      if (w < 0 && errno == EINTR)
        continue;
      if (w < 0)
        return dk_make_error (err, errno, "write `%s`", j->rel);
      p += w;
      left -= w;
      off += w;
    }
  /* owner first: chown clears setuid bits and security.capability */
  if (fchown (fd, j->uid, j->gid) < 0)
    return dk_make_error (err, errno, "layer entry `%s`: chown", j->rel);
  if (fchmod (fd, j->perm) < 0)
    return dk_make_error (err, errno, "layer entry `%s`: chmod", j->rel);
  for (size_t i = 0; i < j->n_xattrs; i++)
    if (fsetxattr (fd, j->xattrs[i].name, j->xattrs[i].value, j->xattrs[i].size, 0) < 0
        && errno != ENOTSUP)
      return dk_make_error (err, errno, "set xattr %s on `%s`", j->xattrs[i].name, j->rel);
  if (futimens (fd, j->ts) < 0)
    return dk_make_error (err, errno, "layer entry `%s`: set times", j->rel);
  return 0;
}

static void *
worker (void *arg)
{
  struct shard *sh = arg;
  struct dk_filepool *p = sh->pool;
  pthread_mutex_lock (&p->mu);
  for (;;)
    {
      while (sh->head == NULL && !p->stop)
        pthread_cond_wait (&p->work, &p->mu);
      if (sh->head == NULL)
        break;
      struct node *nd = sh->head;
      sh->head = nd->next;
      if (sh->head == NULL)
        sh->tail = NULL;
      sh->busy = true;
      bool skip = p->failed;
      pthread_mutex_unlock (&p->mu);

      dk_err_t e = NULL;
      int r = skip ? 0 : run_job (nd->job, &e);
      size_t sz = nd->job->size;
      dk_filejob_free (nd->job);
      free (nd);

      pthread_mutex_lock (&p->mu);
      if (r < 0 && !p->failed)
        {
          p->failed = true;
          p->err = e;
          e = NULL;
        }
      dk_error_release (&e);
      sh->queued--;
      p->queued--;
      p->bytes -= sz;
      sh->busy = false;
      pthread_cond_broadcast (&p->done);
    }
  pthread_mutex_unlock (&p->mu);
  return NULL;
}

struct dk_filepool *
dk_filepool_new (int workers)
{
  struct dk_filepool *p = xzalloc (sizeof *p);
  pthread_mutex_init (&p->mu, NULL);
  pthread_cond_init (&p->work, NULL);
  pthread_cond_init (&p->done, NULL);
  p->shards = xzalloc (workers * sizeof *p->shards);
  for (int i = 0; i < workers; i++)
    {
      p->shards[i].pool = p;
      if (pthread_create (&p->shards[i].thread, NULL, worker, &p->shards[i]) != 0)
        break;
      p->n++;
    }
  if (p->n == 0)
    {
      dk_filepool_free (p);
      return NULL;
    }
  return p;
}

int
dk_filepool_shard (struct dk_filepool *p, const char *dir, size_t len)
{
  uint64_t h = 1469598103934665603ULL;
  for (size_t i = 0; i < len; i++)
    h = (h ^ (unsigned char)dir[i]) * 1099511628211ULL;
  return (int)(h % (uint64_t)p->n);
}

void
dk_filepool_submit (struct dk_filepool *p, int shard, struct dk_filejob *job)
{
  struct node *nd = xzalloc (sizeof *nd);
  nd->job = job;
  struct shard *sh = &p->shards[shard];
  pthread_mutex_lock (&p->mu);
  while (p->queued >= MAX_QUEUED || (p->bytes > 0 && p->bytes + job->size > MAX_BYTES))
    pthread_cond_wait (&p->done, &p->mu);
  if (sh->tail)
    sh->tail->next = nd;
  else
    sh->head = nd;
  sh->tail = nd;
  sh->queued++;
  p->queued++;
  p->bytes += job->size;
  pthread_cond_broadcast (&p->work);
  pthread_mutex_unlock (&p->mu);
}

int
dk_filepool_wait (struct dk_filepool *p, int shard, dk_err_t *err)
{
  pthread_mutex_lock (&p->mu);
  for (int i = shard < 0 ? 0 : shard; i < (shard < 0 ? p->n : shard + 1); i++)
    while (p->shards[i].queued > 0 && !p->failed)
      pthread_cond_wait (&p->done, &p->mu);
  int r = 0;
  if (p->failed)
    {
      r = -1;
      if (err)
        {
          dk_error_release (err);
          dk_make_error_code (err, p->err->code, 0, "%s", p->err->msg);
        }
    }
  pthread_mutex_unlock (&p->mu);
  return r;
}

void
dk_filepool_free (struct dk_filepool *p)
{
  if (p == NULL)
    return;
  pthread_mutex_lock (&p->mu);
  p->stop = true;
  pthread_cond_broadcast (&p->work);
  pthread_mutex_unlock (&p->mu);
  for (int i = 0; i < p->n; i++)
    pthread_join (p->shards[i].thread, NULL);
  for (int i = 0; i < p->n; i++)
    for (struct node *nd = p->shards[i].head, *next; nd; nd = next)
      {
        next = nd->next;
        dk_filejob_free (nd->job);
        free (nd);
      }
  dk_error_release (&p->err);
  pthread_cond_destroy (&p->work);
  pthread_cond_destroy (&p->done);
  pthread_mutex_destroy (&p->mu);
  free (p->shards);
  free (p);
}

static void
free_job (struct dk_filejob **j)
{
  dk_filejob_free (*j);
}

int
dk_filepool_submit_entry (struct dk_filepool *p, int shard, struct archive *a,
                          struct archive_entry *e, int dfd, const char *rel, const char *base,
                          uint32_t uid, uint32_t gid, mode_t perm, dk_err_t *err)
{
  int64_t size = archive_entry_size (e);
  struct dk_filejob *j __attribute__ ((cleanup (free_job))) = xzalloc (sizeof *j);
  j->dirfd = fcntl (dfd, F_DUPFD_CLOEXEC, 3);
  j->base = xstrdup (base);
  j->rel = xstrdup (rel);
  j->data = xmalloc (size > 0 ? size : 1);
  j->size = size;
  j->uid = uid;
  j->gid = gid;
  j->perm = perm;
  if (j->dirfd < 0)
    return dk_make_error (err, errno, "dup");
  const void *buf;
  size_t len;
  la_int64_t off;
  int r;
  while ((r = archive_read_data_block (a, &buf, &len, &off)) == ARCHIVE_OK)
    {
      if (off < 0 || (uint64_t)off + len > (uint64_t)size)
        return dk_make_error_code (err, DK_ECODE_INVALID, 0,
                                   "read `%s` from layer: data past its size", rel);
      memcpy ((char *)j->data + off, buf, len);
    }
  if (r != ARCHIVE_EOF)
    return dk_make_error_code (err, DK_ECODE_INVALID, 0, "read `%s` from layer: %s", rel,
                               archive_error_string (a));
  if (archive_entry_xattr_reset (e) > 0)
    {
      const char *name;
      const void *val;
      size_t sz;
      while (archive_entry_xattr_next (e, &name, &val, &sz) == ARCHIVE_OK)
        {
          /* overlay's own attributes come only from our whiteout handling */
          if (strncmp (name, "trusted.overlay.", 16) == 0)
            continue;
          j->xattrs = xrealloc (j->xattrs, (j->n_xattrs + 1) * sizeof *j->xattrs);
          void *v = xmalloc (sz ? sz : 1);
          memcpy (v, val, sz);
          j->xattrs[j->n_xattrs++] = (struct dk_fileattr){ xstrdup (name), v, sz };
        }
    }
  dk_tar_entry_times (e, j->ts);
  dk_filepool_submit (p, shard, steal_ptr (&j));
  return 0;
}

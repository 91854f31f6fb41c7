#include "atomicfile.h"
#include "blob.h"
#include "cleanup.h"
#include "digest.h"
#include "log.h"
#include "progress.h"
#include "pull.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

enum lstate
{
  L_TODO,
  L_EXISTS,
  L_DONE,
  L_FAILED
};

struct shared
{
  const struct layers_job *job;
  pthread_mutex_t mu;
  pthread_cond_t cv;
  enum lstate *state;
  int next;
  bool failed;
  dk_err_t err; /* the first failure */
};

struct one
{
  struct shared *s;
  int idx;
  char id[13];
  int fd;      /* the spool file (or, for --output-dir, the blob's file) */
  int pipe_fd; /* the register child's stdin while streaming, or -1 */
  int64_t last_ms;
  int64_t total;
};

char **
chain_ids_compute (char **diff_ids, int n)
{
  char **out = xzalloc ((n + 1) * sizeof *out);
  for (int i = 0; i < n; i++)
    {
      if (i == 0)
        out[i] = xstrdup (diff_ids[0]);
      else
        {
          cleanup_free char *s = xasprintf ("%s %s", out[i - 1], diff_ids[i]);
          out[i] = xmalloc (DK_DIGEST_STR_LEN);
          dk_sha256_buf (s, strlen (s), out[i]);
        }
    }
  return out;
}

void
strv_free (char **v)
{
  for (char **p = v; p && *p; p++)
    free (*p);
  free (v);
}

static int
to_fd (const char *data, size_t len, void *ud)
{
  struct one *o = ud;
  if (o->pipe_fd >= 0 && write_all (o->pipe_fd, data, len) < 0)
    return -1;
  return write_all (o->fd, data, len);
}

static void
on_progress (int64_t received, void *ud)
{
  struct one *o = ud;
  int64_t now = progress_now_ms ();
  if (now - o->last_ms < 100 && received < o->total)
    return;
  o->last_ms = now;
  progress ("Downloading", o->id, received, o->total);
}

/* Waits until layer idx's parent is in the store; false when a layer failed. */
static bool
parent_ready (struct shared *s, int idx, bool wait)
{
  pthread_mutex_lock (&s->mu);
  for (;;)
    {
      bool ready = idx == 0 || s->state[idx - 1] == L_DONE || s->state[idx - 1] == L_EXISTS;
      if (ready || s->failed || !wait)
        {
          pthread_mutex_unlock (&s->mu);
          return ready && !s->failed;
        }
      pthread_cond_wait (&s->cv, &s->mu);
    }
}

static int
pull_one_to_dir (struct one *o, const struct blob_desc *d, dk_err_t *err)
{
  const struct layers_job *job = o->s->job;
  cleanup_free char *dir = xasprintf ("%s/blobs/sha256", job->output_dir);
  cleanup_free char *tmp = xasprintf ("%s/.tmp-%s", dir, dk_digest_hex (d->digest));
  cleanup_free char *final = xasprintf ("%s/%s", dir, dk_digest_hex (d->digest));
  cleanup_close int fd = open (tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd < 0)
    return dk_make_error (err, errno, "open `%s`", tmp);
  o->fd = fd;
  if (blob_download (job->c, job->repo, d, to_fd, on_progress, o, err) < 0)
    {
      unlink (tmp);
      return -1;
    }
  progress ("Verifying Checksum", o->id, -1, 0);
  progress ("Download complete", o->id, -1, 0);
  if (rename (tmp, final) < 0)
    return dk_make_error (err, errno, "rename `%s`", tmp);
  progress ("Pull complete", o->id, -1, 0);
  return 0;
}

/* The blob's partial file, kept across runs under ROOT/tmp/dk-pull-partial/
   (no ".lock" sibling, so the store's clean-up leaves it) and held by a
   flock while we write it.  What an earlier pull left there is hashed again
   and the download goes on from its end.  A blob someone else is fetching
   right now gets a private, unlinked spool file instead. */
static int
open_partial (struct one *o, const struct blob_desc *d, char **path, int64_t *have,
              struct dk_sha256 **hp, dk_err_t *err)
{
  const struct layers_job *job = o->s->job;
  *have = 0;
  *hp = dk_sha256_new ();
  cleanup_free char *dir = xasprintf ("%s/tmp/dk-pull-partial", job->g->root);
  if (dk_mkdir_p (dir, 0700, err) < 0)
    return -1;
  cleanup_free char *p = xasprintf ("%s/%s", dir, dk_digest_hex (d->digest));
  cleanup_close int fd = open (p, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
  if (fd >= 0 && flock (fd, LOCK_EX | LOCK_NB) == 0)
    {
      struct stat st;
      if (fstat (fd, &st) < 0)
        return dk_make_error (err, errno, "stat `%s`", p);
      if (st.st_size > d->size && ftruncate (fd, 0) < 0)
        return dk_make_error (err, errno, "truncate `%s`", p);
      static const size_t bufsz = 1 << 20;
      cleanup_free char *buf = xmalloc (bufsz);
      ssize_t n;
      while ((n = read (fd, buf, bufsz)) > 0)
        {
          dk_sha256_update (*hp, buf, n);
          *have += n;
        }
      if (n < 0)
        return dk_make_error (err, errno, "read `%s`", p);
      if (*have > 0)
        dk_debug ("blob %s: resuming from %lld bytes of an earlier pull", d->digest,
                  (long long)*have);
      *path = steal_ptr (&p);
      o->fd = steal_fd (&fd);
      return 0;
    }
  cleanup_free char *tmpl = xasprintf ("%s/layer-XXXXXX", job->tmp_dir);
  int sfd = mkostemp (tmpl, O_CLOEXEC);
  if (sfd < 0)
    return dk_make_error (err, errno, "create a spool file in `%s`", job->tmp_dir);
  unlink (tmpl);
  o->fd = sfd;
  return 0;
}

/* Copies [0, len) of the spool file into the register child. */
static int
feed_prefix (struct one *o, int64_t len, dk_err_t *err)
{
  static const size_t bufsz = 1 << 20;
  cleanup_free char *buf = xmalloc (bufsz);
  for (int64_t off = 0; off < len;)
    {
      size_t want = len - off < (int64_t)bufsz ? (size_t)(len - off) : bufsz;
      ssize_t n = pread (o->fd, buf, want, off);
      if (n < 0 && errno == EINTR)
        continue;
      if (n <= 0)
        return dk_make_error (err, n < 0 ? errno : EIO, "read spool file");
      if (write_all (o->pipe_fd, buf, n) < 0)
        return dk_make_error (err, errno, "write layer to dk-graph");
      off += n;
    }
  return 0;
}

static void
on_extract (int64_t done, void *ud)
{
  struct one *o = ud;
  progress ("Extracting", o->id, done, o->total);
}

static int
register_from_spool (struct one *o, const struct blob_desc *d, const char *parent, dk_err_t *err)
{
  const struct layers_job *job = o->s->job;
  if (lseek (o->fd, 0, SEEK_SET) < 0)
    return dk_make_error (err, errno, "rewind spool file");
  progress ("Extracting", o->id, 0, o->total);
  if (graph_register_file (job->g, parent, job->diff_ids[o->idx], d->digest, o->fd,
                           job->chain_ids[o->idx], on_extract, o, err)
      < 0)
    return -1;
  progress ("Extracting", o->id, o->total, o->total);
  return 0;
}

static int
pull_one_to_store (struct one *o, const struct blob_desc *d, dk_err_t *err)
{
  const struct layers_job *job = o->s->job;
  int i = o->idx;
  const char *parent = i > 0 ? job->chain_ids[i - 1] : NULL;
  cleanup_free char *partial = NULL;
  int64_t have = 0;
  struct dk_sha256 *h = NULL;
  int ret = open_partial (o, d, &partial, &have, &h, err);
  cleanup_close int spool = o->fd;
  struct dk_child child = { .pid = -1, .stdin_fd = -1, .stdout_fd = -1, .stderr_fd = -1 };
  /* the parent is there: stream into the store while downloading (and keep
     the bytes in the partial file); else only spool, register after it */
  bool stream = ret == 0 && have < d->size && parent_ready (o->s, i, false);
  if (stream)
    ret = graph_register_start (job->g, parent, job->diff_ids[i], d->digest, &child, err);
  if (stream && ret == 0)
    {
      o->pipe_fd = child.stdin_fd;
      ret = feed_prefix (o, have, err);
    }
  if (ret == 0)
    {
      if (lseek (spool, have, SEEK_SET) < 0)
        ret = dk_make_error (err, errno, "seek spool file");
      else
        ret = blob_download_resume (job->c, job->repo, d, have, steal_ptr (&h), to_fd, on_progress,
                                    o, err);
    }
  if (h)
    dk_sha256_free (h);
  if (ret < 0)
    {
      if (child.pid > 0)
        graph_register_abort (&child);
      /* a blob that does not verify is not worth resuming */
      if (partial && *err && (*err)->status == EBADMSG)
        unlink (partial);
      return -1;
    }
  progress ("Verifying Checksum", o->id, -1, 0);
  progress ("Download complete", o->id, -1, 0);
  if (stream)
    {
      progress ("Extracting", o->id, o->total, o->total);
      o->pipe_fd = -1;
      ret = graph_register_finish (&child, job->chain_ids[i], err);
    }
  else
    {
      o->pipe_fd = -1;
      if (!parent_ready (o->s, i, true))
        return 0; /* another layer failed; its error is the one reported */
      ret = register_from_spool (o, d, parent, err);
    }
  if (ret < 0)
    return -1;
  if (partial)
    unlink (partial);
  progress ("Pull complete", o->id, -1, 0);
  return 0;
}

static void *
worker (void *arg)
{
  struct shared *s = arg;
  const struct layers_job *job = s->job;
  for (;;)
    {
      pthread_mutex_lock (&s->mu);
      while (s->next < job->m->n_layers && s->state[s->next] != L_TODO)
        s->next++;
      int idx = s->failed ? job->m->n_layers : s->next++;
      pthread_mutex_unlock (&s->mu);
      if (idx >= job->m->n_layers)
        return NULL;
      const struct blob_desc *d = &job->m->layers[idx];
      struct one o = { .s = s, .idx = idx, .fd = -1, .pipe_fd = -1, .total = d->size };
      progress_short_id (d->digest, o.id);
      dk_err_t err = NULL;
      int ret = job->g ? pull_one_to_store (&o, d, &err) : pull_one_to_dir (&o, d, &err);
      pthread_mutex_lock (&s->mu);
      s->state[idx] = ret < 0 ? L_FAILED : L_DONE;
      if (ret < 0)
        {
          if (!s->failed)
            s->err = steal_ptr (&err);
          s->failed = true;
        }
      pthread_cond_broadcast (&s->cv);
      pthread_mutex_unlock (&s->mu);
      dk_error_release (&err);
    }
}

int
layers_pull (const struct layers_job *job, dk_err_t *err)
{
  int n = job->m->n_layers;
  struct shared s = { .job = job };
  pthread_mutex_init (&s.mu, NULL);
  pthread_cond_init (&s.cv, NULL);
  s.state = xzalloc ((n + 1) * sizeof *s.state);
  int todo = 0;
  for (int i = 0; i < n; i++)
    {
      char id[13];
      progress_short_id (job->m->layers[i].digest, id);
      bool exists = false;
      if (job->g && graph_layer_exists (job->g, job->chain_ids[i], &exists, err) < 0)
        {
          free (s.state);
          return -1;
        }
      s.state[i] = exists ? L_EXISTS : L_TODO;
      if (exists)
        progress ("Already exists", id, -1, 0);
      else
        {
          progress ("Pulling fs layer", id, -1, 0);
          todo++;
        }
    }
  int conc = job->max_concurrent > 0 ? job->max_concurrent : 3;
  int k = 0;
  for (int i = 0; i < n; i++)
    if (s.state[i] == L_TODO && k++ >= conc)
      {
        char id[13];
        progress_short_id (job->m->layers[i].digest, id);
        progress ("Waiting", id, -1, 0);
      }
  int nthreads = todo < conc ? todo : conc;
  pthread_t *th = xzalloc ((nthreads + 1) * sizeof *th);
  int started = 0;
  for (int t = 0; t < nthreads; t++)
    {
      if (pthread_create (&th[t], NULL, worker, &s) != 0)
        break;
      started++;
    }
  if (started == 0 && nthreads > 0)
    worker (&s);
  for (int t = 0; t < started; t++)
    pthread_join (th[t], NULL);
  free (th);
  free (s.state);
  pthread_cond_destroy (&s.cv);
  pthread_mutex_destroy (&s.mu);
  if (s.failed)
    {
      dk_error_release (err);
      *err = s.err;
      return -1;
    }
  return 0;
}

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
  int next;   /* the next layer allowed to start downloading */
  int active; /* downloads running */
  int conc;
  bool failed;
  int cancel;   /* set with failed, read without the lock by waiting registers */
  dk_err_t err; /* the first failure */
};

struct one
{
  struct shared *s;
  int idx;
  char id[13];
  int fd;                /* the spool file (or, for --output-dir, the blob's file) */
  struct feeder *feeder; /* streaming into a register child, or NULL */
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

static void feeder_update (struct feeder *f, int64_t add, bool complete, bool abort);

static int
to_fd (const char *data, size_t len, void *ud)
{
  struct one *o = ud;
  if (write_all (o->fd, data, len) < 0)
    return -1;
  if (o->feeder)
    feeder_update (o->feeder, len, false, false);
  return 0;
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

/* Download slots: at most conc at once, started in layer order (Docker's
   --max-concurrent-downloads; unpacking and commits are not counted). */
static bool
slot_acquire (struct shared *s, int idx)
{
  pthread_mutex_lock (&s->mu);
  while (!s->failed && !(s->next == idx && s->active < s->conc))
    pthread_cond_wait (&s->cv, &s->mu);
  bool ok = !s->failed;
  if (ok)
    {
      s->active++;
      s->next = idx + 1;
      while (s->next < s->job->m->n_layers && s->state[s->next] != L_TODO)
        s->next++;
    }
  pthread_cond_broadcast (&s->cv);
  pthread_mutex_unlock (&s->mu);
  return ok;
}

static void
slot_release (struct shared *s)
{
  pthread_mutex_lock (&s->mu);
  s->active--;
  pthread_cond_broadcast (&s->cv);
  pthread_mutex_unlock (&s->mu);
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
  if (!slot_acquire (o->s, o->idx))
    return dk_make_error_code (err, DK_ECODE_INTERNAL, 0, "cancelled");
  cleanup_close int fd = open (tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd < 0)
    {
      slot_release (o->s);
      return dk_make_error (err, errno, "open `%s`", tmp);
    }
  o->fd = fd;
  int ret = blob_download (job->c, job->repo, d, to_fd, on_progress, o, err);
  slot_release (o->s);
  if (ret < 0)
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

/* The register child reads the spool file as it grows: the download goes
   at the network's pace whatever the unpacking's, and every byte stays in
   the partial file for a later resume.  The feeder never gets ahead of
   what was written, and the download writes the last chunk only once the
   digest matched. */
struct feeder
{
  struct one *o;
  pthread_mutex_t mu;
  pthread_cond_t cv;
  int64_t written; /* bytes in the spool file */
  bool complete;   /* the whole verified blob is written */
  bool abort;
  bool downloaded; /* "Download complete" sent: report Extracting */
  int in_fd;
  int pipe_fd;
  int err_no;
};

static void
feeder_update (struct feeder *f, int64_t add, bool complete, bool abort)
{
  pthread_mutex_lock (&f->mu);
  f->written += add;
  f->complete |= complete;
  f->abort |= abort;
  pthread_cond_broadcast (&f->cv);
  pthread_mutex_unlock (&f->mu);
}

static void *
feeder_run (void *arg)
{
  struct feeder *f = arg;
  static const size_t bufsz = 1 << 20;
  char *buf = xmalloc (bufsz);
  int64_t fed = 0, last = 0;
  for (;;)
    {
      pthread_mutex_lock (&f->mu);
      while (!f->abort && fed == f->written && !f->complete)
        pthread_cond_wait (&f->cv, &f->mu);
      bool stop = f->abort || (fed == f->written && f->complete);
      int64_t avail = f->written - fed;
      bool report = f->downloaded;
      pthread_mutex_unlock (&f->mu);
      if (stop)
        break;
      size_t want = avail < (int64_t)bufsz ? (size_t)avail : bufsz;
      ssize_t n = pread (f->in_fd, buf, want, fed);
      if (n < 0 && errno == EINTR)
        continue;
      if (n <= 0 || write_all (f->pipe_fd, buf, n) < 0)
        {
          f->err_no = n < 0 ? errno : n == 0 ? EIO : errno;
          break;
        }
      fed += n;
      int64_t now = progress_now_ms ();
      if (report && now - last >= 100)
        {
          last = now;
          progress ("Extracting", f->o->id, fed, f->o->total);
        }
    }
  free (buf);
  /* EOF for the child only after a complete blob; else it is killed */
  close (f->pipe_fd);
  f->pipe_fd = -1;
  return NULL;
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
  if (!slot_acquire (o->s, i))
    return dk_make_error_code (err, DK_ECODE_INTERNAL, 0, "cancelled");
  int ret = open_partial (o, d, &partial, &have, &h, err);
  cleanup_close int spool = o->fd;
  struct dk_child child = { .pid = -1, .stdin_fd = -1, .stdout_fd = -1, .stderr_fd = -1 };
  /* the parent is there: stream into the store while downloading (and keep
     the bytes in the partial file); else only spool, register after it.
     With --parallel-unpack, overlay2 layers unpack without their parent:
     every layer streams, and dk-graph waits for the parent only to commit */
  bool late = job->parallel_unpack
              && (job->g->driver == NULL || strcmp (job->g->driver, "overlay2") == 0);
  bool stream = ret == 0 && have < d->size && (late || parent_ready (o->s, i, false));
  if (stream)
    ret = graph_register_start (job->g, parent, late, job->diff_ids[i], d->digest, &child, err);
  struct feeder f = { .o = o, .written = have, .in_fd = spool, .pipe_fd = child.stdin_fd };
  pthread_t fth;
  bool feeding = false;
  if (stream && ret == 0)
    {
      pthread_mutex_init (&f.mu, NULL);
      pthread_cond_init (&f.cv, NULL);
      child.stdin_fd = -1; /* the feeder closes it */
      feeding = pthread_create (&fth, NULL, feeder_run, &f) == 0;
      if (!feeding)
        ret = dk_make_error (err, EAGAIN, "start a feeder thread");
      else
        o->feeder = &f;
    }
  if (ret == 0)
    {
      if (lseek (spool, have, SEEK_SET) < 0)
        ret = dk_make_error (err, errno, "seek spool file");
      else
        ret = blob_download_resume (job->c, job->repo, d, have, steal_ptr (&h), to_fd, on_progress,
                                    o, err);
    }
  slot_release (o->s);
  o->feeder = NULL;
  if (h)
    dk_sha256_free (h);
  if (ret == 0)
    {
      progress ("Verifying Checksum", o->id, -1, 0);
      progress ("Download complete", o->id, -1, 0);
    }
  if (feeding)
    {
      pthread_mutex_lock (&f.mu);
      f.downloaded = true;
      pthread_mutex_unlock (&f.mu);
      feeder_update (&f, 0, ret == 0, ret < 0);
      pthread_join (fth, NULL);
      pthread_cond_destroy (&f.cv);
      pthread_mutex_destroy (&f.mu);
      if (ret == 0 && f.err_no)
        ret = dk_make_error (err, f.err_no, "feed layer to dk-graph");
    }
  else if (child.stdin_fd >= 0)
    close (child.stdin_fd), child.stdin_fd = -1;
  if (ret < 0)
    {
      if (child.pid > 0)
        graph_register_abort (&child);
      /* a blob that does not verify is not worth resuming */
      if (partial && *err && (*err)->status == EBADMSG)
        unlink (partial);
      return -1;
    }
  if (stream)
    {
      progress ("Extracting", o->id, o->total, o->total);
      ret = graph_register_finish (&child, job->chain_ids[i], &o->s->cancel, err);
    }
  else
    {
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

struct worker_arg
{
  struct shared *s;
  int idx;
};

static void *
worker (void *arg)
{
  struct worker_arg *w = arg;
  struct shared *s = w->s;
  int idx = w->idx;
  const struct layers_job *job = s->job;
  const struct blob_desc *d = &job->m->layers[idx];
  struct one o = { .s = s, .idx = idx, .fd = -1, .total = d->size };
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
      __atomic_store_n (&s->cancel, 1, __ATOMIC_RELEASE);
    }
  pthread_cond_broadcast (&s->cv);
  pthread_mutex_unlock (&s->mu);
  dk_error_release (&err);
  return NULL;
}

int
layers_pull (const struct layers_job *job, dk_err_t *err)
{
  int n = job->m->n_layers;
  struct shared s = { .job = job };
  pthread_mutex_init (&s.mu, NULL);
  pthread_cond_init (&s.cv, NULL);
  s.state = xzalloc ((n + 1) * sizeof *s.state);
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
  s.conc = conc;
  s.next = 0;
  while (s.next < n && s.state[s.next] != L_TODO)
    s.next++;
  /* a thread per layer: each downloads in its slot, then waits for its
     register to commit (which may wait for the parent) */
  pthread_t *th = xzalloc ((n + 1) * sizeof *th);
  struct worker_arg *args = xzalloc ((n + 1) * sizeof *args);
  bool *started = xzalloc ((n + 1) * sizeof *started);
  for (int i = 0; i < n; i++)
    {
      if (s.state[i] != L_TODO)
        continue;
      args[i] = (struct worker_arg){ &s, i };
      started[i] = pthread_create (&th[i], NULL, worker, &args[i]) == 0;
      if (!started[i])
        worker (&args[i]);
    }
  for (int i = 0; i < n; i++)
    if (started[i])
      pthread_join (th[i], NULL);
  free (started);
  free (args);
  free (th);
  for (int i = 0; i < n && job->registered; i++)
    job->registered[i] = s.state[i] == L_DONE;
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

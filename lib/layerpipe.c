#include "layerpipe.h"
#include "cleanup.h"
#include "mapguard.h"

#include <errno.h>
#include <fcntl.h>
#include <unistd.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>

#define SLOTS 4
#define SLOT_SIZE (512 * 1024)
#define HASH_CHUNK (4 * 1024 * 1024)

struct dk_layerpipe
{
  struct dk_layerstream *s;
  pthread_t thread;
  pthread_mutex_t m;
  pthread_cond_t c;
  char *buf[SLOTS];
  size_t len[SLOTS];
  int head, count;
  bool in_use; /* the consumer still holds buf[head] */
  bool done;   /* producer finished: EOF or error */
  bool stop;
  int cancel[2];
  dk_err_t err;
  /* a regular file's compressed digest is computed by a third thread that
     reads the file on its own (pread: the page cache serves both) */
  bool hasher_running;
  pthread_t hasher;
  off_t hash_start;
  uint64_t hashed;
  int hash_errno;
  bool hash_shrank; /* the file was cut under the hasher's window */
};

static void *
hash_file (void *data)
{
  struct dk_layerpipe *p = data;
  int fd = dk_layerstream_fd (p->s);
  struct stat st;
  if (fstat (fd, &st) < 0)
    {
      p->hash_errno = errno;
      return NULL;
    }
  /* mapped a window at a time, not read: no copy out of the page cache,
     and the RSS stays at one window */
  off_t page = sysconf (_SC_PAGESIZE);
  off_t off = p->hash_start;
  char *buf = NULL;
  while (off < st.st_size && !__atomic_load_n (&p->stop, __ATOMIC_RELAXED))
    {
      off_t base = off & ~(page - 1);
      size_t len = st.st_size - base < HASH_CHUNK ? (size_t)(st.st_size - base) : HASH_CHUNK;
      char *m = mmap (NULL, len, PROT_READ, MAP_PRIVATE | MAP_POPULATE, fd, base);
      if (m == MAP_FAILED)
        {
          /* a file system without mmap: read it */
          if (buf == NULL)
            buf = xmalloc (HASH_CHUNK);
          ssize_t n = pread (fd, buf, HASH_CHUNK, off);
          if (n < 0 && errno == EINTR)
            continue;
          if (n <= 0)
            {
              p->hash_errno = n < 0 ? errno : 0;
              break;
            }
          dk_layerstream_hash_in (p->s, buf, n);
          off += n;
          continue;
        }
      struct dk_mapguard g;
      dk_mapguard_arm (&g, m, len);
      if (sigsetjmp (g.jb, 0))
        {
          munmap (m, len);
          p->hash_shrank = true;
          break;
        }
      dk_layerstream_hash_in (p->s, m + (off - base), len - (off - base));
      dk_mapguard_disarm (&g);
      munmap (m, len);
      off = base + len;
    }
  free (buf);
  p->hashed = off > p->hash_start ? off - p->hash_start : 0;
  return NULL;
}

/* Waits for the hasher; an error if it failed or saw another length than
   the stream did. */
static int
join_hasher (struct dk_layerpipe *p, dk_err_t *err)
{
  if (!p->hasher_running)
    return 0;
  pthread_join (p->hasher, NULL);
  p->hasher_running = false;
  if (err == NULL)
    return 0;
  if (p->hash_shrank)
    return dk_mapguard_error (err);
  if (p->hash_errno)
    return dk_make_error (err, p->hash_errno, "read layer");
  uint64_t csize;
  char d[DK_DIGEST_STR_LEN], u[DK_DIGEST_STR_LEN];
  dk_layerstream_result (p->s, d, u, &csize, NULL);
  if (csize != p->hashed)
    return dk_make_error_code (err, DK_ECODE_INVALID, 0,
                               "layer file changed while it was read (%llu bytes, then %llu)",
                               (unsigned long long)csize, (unsigned long long)p->hashed);
  return 0;
}

static void *
produce (void *data)
{
  struct dk_layerpipe *p = data;
  for (;;)
    {
      pthread_mutex_lock (&p->m);
      while (p->count == SLOTS && !p->stop)
        pthread_cond_wait (&p->c, &p->m);
      if (p->stop)
        {
          p->done = true;
          pthread_mutex_unlock (&p->m);
          return NULL;
        }
      int slot = (p->head + p->count) % SLOTS;
      pthread_mutex_unlock (&p->m);
      /* the slot is ours (the consumer never touches slots beyond count):
         the stream decompresses straight into it */
      dk_err_t e = NULL;
      ssize_t n = dk_layerstream_read (p->s, p->buf[slot], SLOT_SIZE, &e);
      pthread_mutex_lock (&p->m);
      if (n <= 0)
        {
          p->err = e;
          p->done = true;
        }
      else
        {
          p->len[slot] = n;
          p->count++;
        }
      pthread_cond_broadcast (&p->c);
      pthread_mutex_unlock (&p->m);
      if (n <= 0)
        return NULL;
    }
}

struct dk_layerpipe *
dk_layerpipe_start (struct dk_layerstream *s, dk_err_t *err)
{
  struct dk_layerpipe *p = xzalloc (sizeof *p);
  p->s = s;
  p->cancel[0] = p->cancel[1] = -1;
  for (int i = 0; i < SLOTS; i++)
    p->buf[i] = xmalloc (SLOT_SIZE);
  pthread_mutex_init (&p->m, NULL);
  pthread_cond_init (&p->c, NULL);
  /* the consumer hashes the tar bytes: the producer's core is the busy one */
  struct stat st;
  int fd = dk_layerstream_fd (s);
  bool file = fstat (fd, &st) == 0 && S_ISREG (st.st_mode)
              && (p->hash_start = lseek (fd, 0, SEEK_CUR)) >= 0;
  dk_layerstream_defer_hashes (s, file, true);
  int r = pipe2 (p->cancel, O_CLOEXEC) < 0 ? errno : 0;
  if (r == 0 && file)
    {
      r = pthread_create (&p->hasher, NULL, hash_file, p);
      p->hasher_running = r == 0;
    }
  if (r == 0)
    {
      dk_layerstream_set_cancel_fd (s, p->cancel[0]);
      r = pthread_create (&p->thread, NULL, produce, p);
    }
  if (r != 0)
    {
      __atomic_store_n (&p->stop, true, __ATOMIC_RELAXED);
      join_hasher (p, NULL);
      if (p->cancel[0] >= 0 || p->cancel[1] >= 0)
        {
          close (p->cancel[0]);
          close (p->cancel[1]);
        }
      for (int i = 0; i < SLOTS; i++)
        free (p->buf[i]);
      free (p);
      dk_make_error (err, r, "start layer reader thread");
      return NULL;
    }
  return p;
}

ssize_t
dk_layerpipe_next (struct dk_layerpipe *p, const void **buf, dk_err_t *err)
{
  pthread_mutex_lock (&p->m);
  if (p->in_use)
    {
      p->head = (p->head + 1) % SLOTS;
      p->count--;
      p->in_use = false;
      pthread_cond_broadcast (&p->c);
    }
  while (p->count == 0 && !p->done)
    pthread_cond_wait (&p->c, &p->m);
  ssize_t n;
  if (p->count > 0)
    {
      *buf = p->buf[p->head];
      n = p->len[p->head];
      p->in_use = true;
      pthread_mutex_unlock (&p->m);
      dk_layerstream_hash_out (p->s, *buf, n);
      return n;
    }
  else if (p->err)
    {
      *err = p->err;
      p->err = NULL;
      n = -1;
    }
  else
    n = 0;
  pthread_mutex_unlock (&p->m);
  if (n == 0 && join_hasher (p, err) < 0)
    n = -1;
  return n;
}

void
dk_layerpipe_stop (struct dk_layerpipe *p)
{
  if (p == NULL)
    return;
  /* a producer still running waits for a slot or blocks in read(2): the
     flag ends the first, a byte on the cancel pipe the second */
  pthread_mutex_lock (&p->m);
  __atomic_store_n (&p->stop, true, __ATOMIC_RELAXED);
  pthread_cond_broadcast (&p->c);
  pthread_mutex_unlock (&p->m);
  if (write (p->cancel[1], "x", 1) < 0)
    abort ();
  pthread_join (p->thread, NULL);
  join_hasher (p, NULL);
  dk_layerstream_set_cancel_fd (p->s, -1);
  close (p->cancel[0]);
  close (p->cancel[1]);
  pthread_mutex_destroy (&p->m);
  pthread_cond_destroy (&p->c);
  dk_error_release (&p->err);
  for (int i = 0; i < SLOTS; i++)
    free (p->buf[i]);
  free (p);
}

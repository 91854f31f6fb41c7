#include "layerpipe.h"
#include "cleanup.h"

#include <errno.h>
#include <fcntl.h>
#include <unistd.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#define SLOTS 4
#define SLOT_SIZE (512 * 1024)

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
};

static void *
produce (void *data)
{
  struct dk_layerpipe *p = data;
  for (;;)
    {
      const void *b;
      dk_err_t e = NULL;
      ssize_t n = dk_layerstream_next (p->s, &b, &e);
      pthread_mutex_lock (&p->m);
      if (n <= 0)
        {
          p->err = e;
          p->done = true;
          pthread_cond_broadcast (&p->c);
          pthread_mutex_unlock (&p->m);
          return NULL;
        }
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
      /* the slot is ours: the consumer never touches slots beyond count */
      memcpy (p->buf[slot], b, n);
      p->len[slot] = n;
      pthread_mutex_lock (&p->m);
      p->count++;
      pthread_cond_broadcast (&p->c);
      pthread_mutex_unlock (&p->m);
    }
}

struct dk_layerpipe *
dk_layerpipe_start (struct dk_layerstream *s, dk_err_t *err)
{
  struct dk_layerpipe *p = xzalloc (sizeof *p);
  p->s = s;
  for (int i = 0; i < SLOTS; i++)
    p->buf[i] = xmalloc (SLOT_SIZE);
  pthread_mutex_init (&p->m, NULL);
  pthread_cond_init (&p->c, NULL);
  int r = pipe2 (p->cancel, O_CLOEXEC) < 0 ? errno : 0;
  if (r == 0)
    {
      dk_layerstream_set_cancel_fd (s, p->cancel[0]);
      r = pthread_create (&p->thread, NULL, produce, p);
      if (r != 0)
        {
          close (p->cancel[0]);
          close (p->cancel[1]);
        }
    }
  if (r != 0)
    {
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
  p->stop = true;
  pthread_cond_broadcast (&p->c);
  pthread_mutex_unlock (&p->m);
  if (write (p->cancel[1], "x", 1) < 0)
    abort ();
  pthread_join (p->thread, NULL);
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

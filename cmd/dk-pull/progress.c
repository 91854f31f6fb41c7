#include "progress.h"
#include "digest.h"
#include "json.h"

#include <pthread.h>
#include <stdlib.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

static pthread_mutex_t out_lock = PTHREAD_MUTEX_INITIALIZER;

void
progress (const char *status, const char *id, int64_t current, int64_t total)
{
  jv o = jv_object_set (jv_object (), jv_string ("type"), jv_string ("progress"));
  o = jv_object_set (o, jv_string ("status"), jv_string (status));
  if (id)
    o = jv_object_set (o, jv_string ("id"), jv_string (id));
  if (current >= 0)
    {
      jv d = jv_object_set (jv_object (), jv_string ("current"), dk_json_int64 (current));
      if (total > 0)
        d = jv_object_set (d, jv_string ("total"), dk_json_int64 (total));
      o = jv_object_set (o, jv_string ("progressDetail"), d);
    }
  pthread_mutex_lock (&out_lock);
  dk_jsonl_write (stdout, o);
  pthread_mutex_unlock (&out_lock);
}

void
progress_short_id (const char *digest, char out[13])
{
  const char *colon = strchr (digest, ':');
  snprintf (out, 13, "%s", colon ? colon + 1 : digest);
}

int64_t
progress_now_ms (void)
{
  struct timespec ts;
  clock_gettime (CLOCK_MONOTONIC, &ts);
  return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

void
progress_pulling_from (const char *id, const char *repo)
{
  char *s = NULL;
  if (asprintf (&s, "Pulling from %s", repo) < 0)
    abort ();
  progress (s, id, -1, 0);
  free (s);
}

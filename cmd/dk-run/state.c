#include "run.h"
#include "cgroup.h"

#include <errno.h>
#include <fcntl.h>
#include <pwd.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

struct dk_run_global dk_run_global = { "/run/dk-run", false };

ssize_t
dk_sync_recv (int sock, char *buf, size_t size)
{
  for (;;)
    {
      ssize_t n = recv (sock, buf, size - 1, 0);
      /* ECONNRESET: the child exited before reading what we sent last; the
         kernel reports that ahead of the message the child queued, which
         the next recv reads */
      if (n < 0 && (errno == EINTR || errno == ECONNRESET))
        continue;
      if (n >= 0)
        buf[n] = '\0';
      return n;
    }
}

int
dk_write_all (int fd, const void *buf, size_t len)
{
  const char *p = buf;
  while (len > 0)
    {
      ssize_t w = write (fd, p, len);
      if (w < 0 && errno == EINTR)
        continue;
      if (w <= 0)
        return -1;
      p += w;
      len -= w;
    }
  return 0;
}

int
dk_state_check_id (const char *id, dk_err_t *err)
{
  if (id == NULL || *id == '\0')
    return dk_make_error_code (err, DK_ECODE_INVALID, 0, "container id cannot be empty");
  for (const char *p = id; *p; p++)
    if (!((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') || (*p >= '0' && *p <= '9')
          || *p == '_' || *p == '-' || *p == '.' || *p == '+'))
      return dk_make_error_code (err, DK_ECODE_INVALID, 0, "invalid id format: %s", id);
  if (strcmp (id, ".") == 0 || strcmp (id, "..") == 0 || strlen (id) > 1024)
    return dk_make_error_code (err, DK_ECODE_INVALID, 0, "invalid id format: %s", id);
  return 0;
}

char *
dk_state_dir (const char *id)
{
  return xasprintf ("%s/%s", dk_run_global.root, id);
}

char *
dk_now_rfc3339 (void)
{
  struct timespec ts;
  struct tm tm;
  char buf[64];
  clock_gettime (CLOCK_REALTIME, &ts);
  gmtime_r (&ts.tv_sec, &tm);
  /* by hand: strftime would load the time zone files */
  snprintf (buf, sizeof buf, "%04d-%02d-%02dT%02d:%02d:%02d", tm.tm_year + 1900, tm.tm_mon + 1,
            tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec);
  return xasprintf ("%s.%09ldZ", buf, ts.tv_nsec);
}

unsigned long long
dk_proc_start_time (pid_t pid)
{
  char path[64], buf[1024];
  snprintf (path, sizeof path, "/proc/%d/stat", (int)pid);
  cleanup_close int fd = open (path, O_RDONLY | O_CLOEXEC);
  if (fd < 0)
    return 0;
  ssize_t n = read (fd, buf, sizeof buf - 1);
  if (n <= 0)
    return 0;
  buf[n] = '\0';
  /* the command name may hold spaces and parentheses: count from the last ')' */
  char *p = strrchr (buf, ')');
  if (p == NULL || p[1] == '\0')
    return 0;
  p += 2;
  if (*p == 'Z' || *p == 'X')
    return 0; /* a zombie has finished */
  for (int field = 3; field < 22 && p; field++)
    {
      p = strchr (p, ' ');
      if (p)
        p++;
    }
  return p ? strtoull (p, NULL, 10) : 0;
}

static char *
dup_str (jv o, const char *key)
{
  const char *s = dk_json_str (o, key);
  return s ? xstrdup (s) : NULL;
}

int
dk_state_load (const char *id, struct dk_state *st, dk_err_t *err)
{
  memset (st, 0, sizeof *st);
  st->config = jv_null ();
  if (dk_state_check_id (id, err) < 0)
    return -1;
  cleanup_free char *dir = dk_state_dir (id);
  cleanup_free char *path = xasprintf ("%s/state.json", dir);
  cleanup_jv jv o = jv_invalid ();
  if (access (dir, F_OK) < 0 || dk_json_read_file (path, &o, NULL) < 0)
    return dk_make_error_code (err, DK_ECODE_NOT_FOUND, 0, "container does not exist");
  int64_t pid = 0, start = 0;
  dk_json_int (o, "pid", &pid);
  dk_json_int (o, "init_start_time", &start);
  st->id = xstrdup (id);
  st->dir = steal_ptr (&dir);
  st->pid = (pid_t)pid;
  st->start_time = (unsigned long long)start;
  st->bundle = dup_str (o, "bundle");
  st->rootfs = dup_str (o, "rootfs");
  st->created = dup_str (o, "created");
  st->cgroup = dup_str (o, "cgroup");
  st->owner = dup_str (o, "owner");
  jv_free (st->config);
  st->config = dk_json_get (o, "config");
  return 0;
}

int
dk_state_save (const struct dk_state *st, dk_err_t *err)
{
  jv o = jv_object ();
  o = jv_object_set (o, jv_string ("id"), jv_string (st->id));
  o = jv_object_set (o, jv_string ("pid"), dk_json_int64 (st->pid));
  o = jv_object_set (o, jv_string ("init_start_time"), dk_json_int64 ((int64_t)st->start_time));
  o = jv_object_set (o, jv_string ("bundle"), jv_string (st->bundle));
  o = jv_object_set (o, jv_string ("rootfs"), jv_string (st->rootfs));
  o = jv_object_set (o, jv_string ("created"), jv_string (st->created));
  o = jv_object_set (o, jv_string ("cgroup"), jv_string (st->cgroup));
  o = jv_object_set (o, jv_string ("owner"), jv_string (st->owner ? st->owner : ""));
  o = jv_object_set (o, jv_string ("config"), jv_copy (st->config));
  cleanup_free char *data = dk_json_dump (o);
  /* the state dir lives on a tmpfs (/run) in production: rename is enough
     for readers never to see half a file, and fsync would only cost time */
  cleanup_free char *tmp = xasprintf ("%s/.state.json.tmp", st->dir);
  cleanup_free char *path = xasprintf ("%s/state.json", st->dir);
  cleanup_close int fd = open (tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
  if (fd < 0)
    return dk_make_error (err, errno, "open `%s`", tmp);
  if (dk_write_all (fd, data, strlen (data)) < 0)
    return dk_make_error (err, errno, "write `%s`", tmp);
  if (rename (tmp, path) < 0)
    return dk_make_error (err, errno, "rename `%s`", tmp);
  return 0;
}

void
dk_state_free (struct dk_state *st)
{
  free (st->id);
  free (st->dir);
  free (st->bundle);
  free (st->rootfs);
  free (st->created);
  free (st->cgroup);
  free (st->owner);
  jv_free (st->config);
  memset (st, 0, sizeof *st);
  st->config = jv_null ();
}

const char *
dk_state_status (const struct dk_state *st)
{
  if (st->pid <= 0 || dk_proc_start_time (st->pid) != st->start_time)
    return "stopped";
  cleanup_free char *fifo = xasprintf ("%s/exec.fifo", st->dir);
  if (access (fifo, F_OK) == 0)
    return "created";
  if (st->cgroup && dk_cgroup_frozen (st->cgroup))
    return "paused";
  return "running";
}

jv
dk_state_json (const struct dk_state *st, const char *status)
{
  jv o = jv_object ();
  o = jv_object_set (o, jv_string ("ociVersion"), jv_string ("1.0.2-dev"));
  o = jv_object_set (o, jv_string ("id"), jv_string (st->id));
  o = jv_object_set (o, jv_string ("pid"),
                     dk_json_int64 (strcmp (status, "stopped") == 0 ? 0 : st->pid));
  o = jv_object_set (o, jv_string ("status"), jv_string (status));
  o = jv_object_set (o, jv_string ("bundle"), jv_string (st->bundle ? st->bundle : ""));
  o = jv_object_set (o, jv_string ("rootfs"), jv_string (st->rootfs ? st->rootfs : ""));
  o = jv_object_set (o, jv_string ("created"), jv_string (st->created ? st->created : ""));
  o = jv_object_set (o, jv_string ("owner"), jv_string (st->owner ? st->owner : ""));
  jv ann = dk_json_get_kind (st->config, "annotations", JV_KIND_OBJECT);
  if (jv_is_valid (ann))
    o = jv_object_set (o, jv_string ("annotations"), ann);
  else
    jv_free (ann);
  return o;
}

/* Reading json-file logs for `docker logs`: the rotated files oldest first,
   then the live file; tail counted backwards across files; follow by
   noticing growth, rotation (new inode) and truncation (max-file=1). */
#include "jsonlog.h"
#include "cleanup.h"
#include "json.h"

#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/inotify.h>
#include <sys/stat.h>
#include <unistd.h>

struct dk_jsonlog_reader
{
  char *path;
  struct dk_jsonlog_read_opts o;
  int *fds; /* oldest first; the last one is the live file (or -1: missing) */
  size_t nfds;
  size_t cur;
  struct dk_buf pending;
  size_t scan; /* bytes of pending already known to hold no newline */
  char *log;
  int ino_fd;
  bool done;
};

static int
open_ro (const char *path)
{
  return open (path, O_RDONLY | O_CLOEXEC);
}

/* Finds where the last `need` lines of the files start. */
static void
tail_start (struct dk_jsonlog_reader *r, int64_t need, size_t *file, off_t *off)
{
  char buf[16384];
  *file = 0;
  *off = 0;
  if (need == 0)
    {
      *file = r->nfds - 1;
      *off = r->fds[*file] >= 0 ? lseek (r->fds[*file], 0, SEEK_END) : 0;
      return;
    }
  for (size_t i = r->nfds; i-- > 0;)
    {
      if (r->fds[i] < 0)
        continue;
      off_t size = lseek (r->fds[i], 0, SEEK_END);
      if (size <= 0)
        continue;
      off_t pos = size;
      bool last_byte = true;
      int64_t found = 0;
      while (pos > 0)
        {
          size_t chunk = pos > (off_t)sizeof buf ? sizeof buf : (size_t)pos;
          pos -= (off_t)chunk;
          if (pread (r->fds[i], buf, chunk, pos) != (ssize_t)chunk)
            break;
          for (size_t j = chunk; j-- > 0;)
            {
              if (last_byte)
                {
                  /* the newline ending the last line starts nothing */
                  last_byte = false;
                  if (buf[j] == '\n')
                    continue;
                }
              if (buf[j] == '\n' && ++found == need)
                {
                  *file = i;
                  *off = pos + (off_t)j + 1;
                  return;
                }
            }
        }
      /* the whole file's lines: found newlines + its first line */
      if (found + 1 >= need)
        {
          *file = i;
          *off = 0;
          return;
        }
      need -= found + 1;
    }
}

int
dk_jsonlog_reader_open (const char *path, const struct dk_jsonlog_read_opts *opts,
                        struct dk_jsonlog_reader **out, dk_err_t *err)
{
  struct dk_jsonlog_reader *r = xzalloc (sizeof *r);
  r->path = xstrdup (path);
  r->o = *opts;
  r->ino_fd = -1;
  size_t nrot = 0;
  size_t plen = strlen (path) + 16;
  char name[plen];
  for (;; nrot++)
    {
      snprintf (name, plen, "%s.%zu", path, nrot + 1);
      if (access (name, F_OK) < 0)
        break;
    }
  r->nfds = nrot + 1;
  r->fds = xmalloc (r->nfds * sizeof (int));
  for (size_t i = 0; i < nrot; i++)
    {
      snprintf (name, plen, "%s.%zu", path, nrot - i);
      r->fds[i] = open_ro (name);
    }
  r->fds[nrot] = open_ro (path);
  if (r->fds[nrot] < 0 && errno != ENOENT)
    {
      int e = errno;
      dk_jsonlog_reader_free (r);
      return dk_make_error (err, e, "open log `%s`", path);
    }
  if (opts->follow)
    {
      cleanup_free char *dir = xstrdup (path);
      r->ino_fd = inotify_init1 (IN_NONBLOCK | IN_CLOEXEC);
      if (r->ino_fd < 0
          || inotify_add_watch (r->ino_fd, dirname (dir),
                                IN_MODIFY | IN_CREATE | IN_MOVED_TO | IN_CLOSE_WRITE)
                 < 0)
        {
          int e = errno;
          dk_jsonlog_reader_free (r);
          return dk_make_error (err, e, "watch log `%s`", path);
        }
    }
  size_t file = 0;
  off_t off = 0;
  if (opts->tail >= 0)
    tail_start (r, opts->tail, &file, &off);
  for (size_t i = 0; i < file; i++)
    {
      if (r->fds[i] >= 0)
        close (r->fds[i]);
      r->fds[i] = -1;
    }
  for (size_t i = file; i < r->nfds; i++)
    if (r->fds[i] >= 0)
      lseek (r->fds[i], i == file ? off : 0, SEEK_SET);
  r->cur = file;
  *out = r;
  return 0;
}

void
dk_jsonlog_reader_free (struct dk_jsonlog_reader *r)
{
  if (r == NULL)
    return;
  for (size_t i = 0; i < r->nfds; i++)
    if (r->fds[i] >= 0)
      close (r->fds[i]);
  if (r->ino_fd >= 0)
    close (r->ino_fd);
  free (r->fds);
  free (r->log);
  dk_buf_free (&r->pending);
  free (r->path);
  free (r);
}

int
dk_jsonlog_reader_fd (struct dk_jsonlog_reader *r)
{
  return r->ino_fd;
}

/* 1: entry; 0: line skipped (malformed or filtered); DK_JSONLOG_END via
   r->done when until is passed. */
static int
parse_line (struct dk_jsonlog_reader *r, const char *line, size_t len, struct dk_jsonlog_entry *e)
{
  jv v;
  dk_err_t perr = NULL;
  if (dk_json_parse (line, len, &v, &perr) < 0)
    {
      dk_error_release (&perr);
      return 0;
    }
  const char *stream = dk_json_str (v, "stream");
  const char *ts = dk_json_str (v, "time");
  jv log = dk_json_get_kind (v, "log", JV_KIND_STRING);
  int64_t t = 0;
  if (!jv_is_valid (log) || ts == NULL || dk_time_parse (ts, &t) < 0)
    {
      jv_free (log);
      jv_free (v);
      return 0;
    }
  int ret = 1;
  if (r->o.until_ns && t > r->o.until_ns)
    {
      r->done = true;
      ret = 0;
    }
  else if (r->o.since_ns && t < r->o.since_ns)
    ret = 0;
  else
    {
      size_t n = (size_t)jv_string_length_bytes (jv_copy (log));
      free (r->log);
      r->log = xmalloc (n + 1);
      memcpy (r->log, jv_string_value (log), n);
      r->log[n] = '\0';
      e->log = r->log;
      e->len = n;
      e->time_ns = t;
      e->stream = stream && strcmp (stream, "stderr") == 0 ? 2 : 1;
    }
  jv_free (log);
  jv_free (v);
  return ret;
}

/* At EOF of the live file while following: has it been rotated or
   truncated?  Returns true when there is something new to read. */
static bool
follow_switch (struct dk_jsonlog_reader *r)
{
  int fd = r->fds[r->cur];
  struct stat now, mine;
  if (stat (r->path, &now) < 0)
    return false;
  if (fd < 0)
    {
      r->fds[r->cur] = open_ro (r->path);
      return r->fds[r->cur] >= 0;
    }
  if (fstat (fd, &mine) < 0)
    return false;
  off_t pos = lseek (fd, 0, SEEK_CUR);
  if (mine.st_ino != now.st_ino || mine.st_dev != now.st_dev)
    {
      /* finish the rotated file first: the writer may have added to it
         between our last read and the rename */
      if (mine.st_size > pos)
        return true;
      int nfd = open_ro (r->path);
      if (nfd < 0)
        return false;
      close (fd);
      r->fds[r->cur] = nfd;
      dk_buf_reset (&r->pending);
      r->scan = 0;
      return true;
    }
  if (mine.st_size < pos)
    {
      lseek (fd, 0, SEEK_SET);
      dk_buf_reset (&r->pending);
      r->scan = 0;
      return true;
    }
  return mine.st_size > pos;
}

int
dk_jsonlog_next (struct dk_jsonlog_reader *r, struct dk_jsonlog_entry *e, dk_err_t *err)
{
  char buf[16384];
  for (;;)
    {
      if (r->done)
        return DK_JSONLOG_END;
      char *nl = r->pending.len > r->scan
                     ? memchr (r->pending.data + r->scan, '\n', r->pending.len - r->scan)
                     : NULL;
      if (nl)
        {
          size_t len = (size_t)(nl - r->pending.data);
          int got = parse_line (r, r->pending.data, len, e);
          dk_buf_consume (&r->pending, len + 1);
          r->scan = 0;
          if (got)
            return DK_JSONLOG_ENTRY;
          continue;
        }
      r->scan = r->pending.len;
      int fd = r->fds[r->cur];
      ssize_t n = fd >= 0 ? read (fd, buf, sizeof buf) : 0;
      if (n < 0 && errno == EINTR)
        continue;
      if (n < 0)
        return dk_make_error (err, errno, "read log `%s`", r->path);
      if (n > 0)
        {
          dk_buf_add (&r->pending, buf, (size_t)n);
          continue;
        }
      if (r->cur + 1 < r->nfds)
        {
          if (fd >= 0)
            close (fd);
          r->fds[r->cur++] = -1;
          dk_buf_reset (&r->pending);
          r->scan = 0;
          continue;
        }
      if (!r->o.follow)
        {
          /* a last line without its newline (a writer mid-write) */
          if (r->pending.len > 0)
            {
              int got = parse_line (r, r->pending.data, r->pending.len, e);
              dk_buf_reset (&r->pending);
              r->scan = 0;
              if (got)
                return DK_JSONLOG_ENTRY;
            }
          return DK_JSONLOG_END;
        }
      /* drain the notifications before looking, so none is lost */
      char ev[4096];
      while (read (r->ino_fd, ev, sizeof ev) > 0)
        ;
      if (follow_switch (r))
        continue;
      return DK_JSONLOG_AGAIN;
    }
}

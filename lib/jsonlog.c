#include "jsonlog.h"
#include "json.h"
#include "cleanup.h"

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

struct dk_jsonlog_writer
{
  char *path;
  int fd;
  int64_t size;
  int64_t max_size;
  int max_file;
  struct dk_buf partial[2]; /* unfinished line of stdout, stderr */
  struct dk_buf scratch;
};

int64_t
dk_time_now_ns (void)
{
  struct timespec ts;
  clock_gettime (CLOCK_REALTIME, &ts);
  return (int64_t)ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

void
dk_time_format_rfc3339nano (int64_t ns, char *buf, size_t size)
{
  time_t sec = (time_t)(ns / 1000000000LL);
  long frac = (long)(ns % 1000000000LL);
  if (frac < 0)
    {
      frac += 1000000000L;
      sec--;
    }
  struct tm tm;
  gmtime_r (&sec, &tm);
  snprintf (buf, size, "%04d-%02d-%02dT%02d:%02d:%02d.%09ldZ", tm.tm_year + 1900, tm.tm_mon + 1,
            tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, frac);
}

static int
digits (const char **p, int n, int *out)
{
  int v = 0;
  for (int i = 0; i < n; i++)
    {
      if (!isdigit ((unsigned char)(*p)[i]))
        return -1;
      v = v * 10 + ((*p)[i] - '0');
    }
  *p += n;
  *out = v;
  return 0;
}

static int64_t
fraction (const char **p)
{
  int64_t v = 0;
  int n = 0;
  if (**p != '.')
    return 0;
  (*p)++;
  while (isdigit ((unsigned char)**p))
    {
      if (n < 9)
        {
          v = v * 10 + (**p - '0');
          n++;
        }
      (*p)++;
    }
  for (; n < 9; n++)
    v *= 10;
  return v;
}

int
dk_time_parse (const char *s, int64_t *ns)
{
  const char *p = s;
  if (s == NULL || *s == '\0')
    return -1;
  if (strchr (s, '-') == NULL || s[0] == '-')
    {
      /* Unix seconds with an optional fraction */
      char *end;
      errno = 0;
      long long sec = strtoll (s, &end, 10);
      if (errno || end == s)
        return -1;
      p = end;
      int64_t f = fraction (&p);
      if (*p)
        return -1;
      *ns = (int64_t)sec * 1000000000LL + (sec < 0 ? -f : f);
      return 0;
    }
  struct tm tm = { 0 };
  int y, mo, d, h, mi, se;
  if (digits (&p, 4, &y) < 0 || *p++ != '-' || digits (&p, 2, &mo) < 0 || *p++ != '-'
      || digits (&p, 2, &d) < 0 || (*p != 'T' && *p != 't' && *p != ' '))
    return -1;
  p++;
  if (digits (&p, 2, &h) < 0 || *p++ != ':' || digits (&p, 2, &mi) < 0 || *p++ != ':'
      || digits (&p, 2, &se) < 0)
    return -1;
  int64_t f = fraction (&p);
  long off = 0;
  if (*p == 'Z' || *p == 'z')
    p++;
  else if (*p == '+' || *p == '-')
    {
      int sign = *p == '-' ? -1 : 1, oh, om;
      p++;
      if (digits (&p, 2, &oh) < 0 || *p++ != ':' || digits (&p, 2, &om) < 0)
        return -1;
      off = sign * (oh * 3600L + om * 60L);
    }
  else
    return -1;
  if (*p)
    return -1;
  tm.tm_year = y - 1900;
  tm.tm_mon = mo - 1;
  tm.tm_mday = d;
  tm.tm_hour = h;
  tm.tm_min = mi;
  tm.tm_sec = se;
  time_t t = timegm (&tm);
  *ns = ((int64_t)t - off) * 1000000000LL + f;
  return 0;
}

int
dk_jsonlog_parse_size (const char *s, int64_t *out)
{
  char *end;
  errno = 0;
  double v = strtod (s, &end);
  if (errno || end == s || v < 0)
    return -1;
  while (*end == ' ')
    end++;
  double mult = 1;
  switch (tolower ((unsigned char)*end))
    {
    case '\0':
      break;
    case 'b':
      break;
    case 'k':
      mult = 1024.0;
      break;
    case 'm':
      mult = 1024.0 * 1024;
      break;
    case 'g':
      mult = 1024.0 * 1024 * 1024;
      break;
    case 't':
      mult = 1024.0 * 1024 * 1024 * 1024;
      break;
    default:
      return -1;
    }
  if (*end)
    {
      end++;
      if (tolower ((unsigned char)*end) == 'i')
        end++;
      if (tolower ((unsigned char)*end) == 'b')
        end++;
      if (*end)
        return -1;
    }
  *out = (int64_t)(v * mult);
  return 0;
}

/* Length of the valid UTF-8 sequence at p (1-4), 0 when invalid. */
static size_t
utf8_seq (const unsigned char *p, size_t len, unsigned *cp)
{
  unsigned c = p[0];
  size_t n;
  unsigned min;
  if (c < 0x80)
    {
      *cp = c;
      return 1;
    }
  if ((c & 0xe0) == 0xc0)
    n = 2, c &= 0x1f, min = 0x80;
  else if ((c & 0xf0) == 0xe0)
    n = 3, c &= 0x0f, min = 0x800;
  else if ((c & 0xf8) == 0xf0)
    n = 4, c &= 0x07, min = 0x10000;
  else
    return 0;
  if (n > len)
    return 0;
  for (size_t i = 1; i < n; i++)
    {
      if ((p[i] & 0xc0) != 0x80)
        return 0;
      c = (c << 6) | (p[i] & 0x3f);
    }
  if (c < min || c > 0x10ffff || (c >= 0xd800 && c <= 0xdfff))
    return 0;
  *cp = c;
  return n;
}

void
dk_json_escape_bytes (struct dk_buf *b, const char *data, size_t len)
{
  const unsigned char *p = (const unsigned char *)data;
  size_t i = 0, run = 0;
  dk_buf_addc (b, '"');
  while (i < len)
    {
      unsigned cp = 0;
      size_t n = utf8_seq (p + i, len - i, &cp);
      int plain = n > 0 && cp >= 0x20 && cp != '"' && cp != '\\' && cp != '<' && cp != '>'
                  && cp != '&' && cp != 0x2028 && cp != 0x2029;
      if (plain)
        {
          i += n;
          run += n;
          continue;
        }
      dk_buf_add (b, p + i - run, run);
      run = 0;
      if (n == 0)
        {
          dk_buf_adds (b, "\\ufffd");
          i++;
          continue;
        }
      i += n;
      dk_json_escape_cp (b, cp);
    }
  dk_buf_add (b, p + i - run, run);
  dk_buf_addc (b, '"');
}

int
dk_jsonlog_writer_open (const char *path, int64_t max_size, int max_file,
                        struct dk_jsonlog_writer **out, dk_err_t *err)
{
  cleanup_close int fd = open (path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0640);
  if (fd < 0)
    return dk_make_error (err, errno, "open log `%s`", path);
  struct stat st;
  if (fstat (fd, &st) < 0)
    return dk_make_error (err, errno, "stat log `%s`", path);
  struct dk_jsonlog_writer *w = xzalloc (sizeof *w);
  w->path = xstrdup (path);
  w->fd = steal_fd (&fd);
  w->size = st.st_size;
  w->max_size = max_size;
  w->max_file = max_file < 1 ? 1 : max_file;
  *out = w;
  return 0;
}

void
dk_jsonlog_writer_free (struct dk_jsonlog_writer *w)
{
  if (w == NULL)
    return;
  if (w->fd >= 0)
    close (w->fd);
  dk_buf_free (&w->partial[0]);
  dk_buf_free (&w->partial[1]);
  dk_buf_free (&w->scratch);
  free (w->path);
  free (w);
}

static int
rotate (struct dk_jsonlog_writer *w, dk_err_t *err)
{
  if (w->max_file <= 1)
    {
      if (ftruncate (w->fd, 0) < 0)
        return dk_make_error (err, errno, "truncate log `%s`", w->path);
      w->size = 0;
      return 0;
    }
  size_t plen = strlen (w->path) + 16;
  char from[plen], to[plen];
  for (int i = w->max_file - 1; i > 1; i--)
    {
      snprintf (from, plen, "%s.%d", w->path, i - 1);
      snprintf (to, plen, "%s.%d", w->path, i);
      if (rename (from, to) < 0 && errno != ENOENT)
        return dk_make_error (err, errno, "rotate log `%s`", from);
    }
  snprintf (to, plen, "%s.1", w->path);
  if (rename (w->path, to) < 0)
    return dk_make_error (err, errno, "rotate log `%s`", w->path);
  int fd = open (w->path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC | O_TRUNC, 0640);
  if (fd < 0)
    return dk_make_error (err, errno, "open log `%s`", w->path);
  close (w->fd);
  w->fd = fd;
  w->size = 0;
  return 0;
}

int
dk_jsonlog_write_entry (struct dk_jsonlog_writer *w, int stream, const char *data, size_t len,
                        int64_t now_ns, dk_err_t *err)
{
  if (w->max_size > 0 && w->size >= w->max_size && rotate (w, err) < 0)
    return -1;
  char ts[48];
  dk_time_format_rfc3339nano (now_ns, ts, sizeof ts);
  struct dk_buf *b = &w->scratch;
  dk_buf_reset (b);
  dk_buf_adds (b, "{\"log\":");
  dk_json_escape_bytes (b, data, len);
  dk_buf_printf (b, ",\"stream\":\"%s\",\"time\":\"%s\"}\n", stream == 2 ? "stderr" : "stdout", ts);
  const char *p = b->data;
  size_t left = b->len;
  while (left > 0)
    {
      ssize_t n = write (w->fd, p, left);
      if (n < 0 && errno == EINTR)
        continue;
      if (n < 0)
        return dk_make_error (err, errno, "write log `%s`", w->path);
      p += n;
      left -= (size_t)n;
      w->size += n;
    }
  /* keep a long line's scratch from pinning memory in an idle shim */
  if (b->cap > 64 * 1024)
    dk_buf_free (b);
  return 0;
}

int
dk_jsonlog_feed (struct dk_jsonlog_writer *w, int stream, const char *data, size_t len,
                 int64_t now_ns, dk_err_t *err)
{
  struct dk_buf *part = &w->partial[stream == 2 ? 1 : 0];
  while (len > 0)
    {
      const char *nl = memchr (data, '\n', len);
      size_t take = nl ? (size_t)(nl - data) + 1 : len;
      if (part->len + take > DK_JSONLOG_MAX_LINE)
        {
          /* a partial entry of exactly the maximum size */
          size_t room = DK_JSONLOG_MAX_LINE - part->len;
          dk_buf_add (part, data, room);
          data += room;
          len -= room;
          if (dk_jsonlog_write_entry (w, stream, part->data, part->len, now_ns, err) < 0)
            return -1;
          dk_buf_reset (part);
          continue;
        }
      if (nl == NULL)
        {
          dk_buf_add (part, data, len);
          return 0;
        }
      int r;
      if (part->len == 0)
        r = dk_jsonlog_write_entry (w, stream, data, take, now_ns, err);
      else
        {
          dk_buf_add (part, data, take);
          r = dk_jsonlog_write_entry (w, stream, part->data, part->len, now_ns, err);
          dk_buf_free (part);
        }
      if (r < 0)
        return -1;
      data += take;
      len -= take;
    }
  return 0;
}

int
dk_jsonlog_flush (struct dk_jsonlog_writer *w, int stream, int64_t now_ns, dk_err_t *err)
{
  struct dk_buf *part = &w->partial[stream == 2 ? 1 : 0];
  if (part->len == 0)
    return 0;
  int r = dk_jsonlog_write_entry (w, stream, part->data, part->len, now_ns, err);
  dk_buf_free (part);
  return r;
}

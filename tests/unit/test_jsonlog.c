#include "tap.h"
#include "atomicfile.h"
#include "cleanup.h"
#include "jsonlog.h"
#include "stdcopy.h"

#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static struct dk_buf got_out = DK_BUF_INIT, got_err = DK_BUF_INIT, got_sys = DK_BUF_INIT;
static int frames_done;

static void
collect (int stream, const char *data, size_t len, int end, void *arg)
{
  struct dk_buf *b = stream == 1 ? &got_out : stream == 2 ? &got_err : &got_sys;
  dk_buf_add (b, data, len);
  frames_done += end;
}

static void
test_stdcopy (void)
{
  struct dk_buf b = DK_BUF_INIT;
  dk_stdcopy_frame (&b, DK_STDCOPY_STDOUT, "hello ", 6);
  dk_stdcopy_frame (&b, DK_STDCOPY_STDERR, "oops", 4);
  dk_stdcopy_frame (&b, DK_STDCOPY_STDOUT, "world", 5);
  dk_stdcopy_frame (&b, DK_STDCOPY_SYSTEM, "{\"exit_code\":3}", 15);
  ok (b.len == 4 * 8 + 30, "stdcopy: four frames of 8-byte headers");
  ok ((unsigned char)b.data[0] == 1 && b.data[7] == 6, "stdcopy: header is stream, 0,0,0, size BE");
  /* feed one byte at a time: headers and payloads split anywhere */
  struct dk_stdcopy_decoder d = DK_STDCOPY_DECODER_INIT;
  dk_err_t err = NULL;
  int r = 0;
  for (size_t i = 0; i < b.len && r == 0; i++)
    r = dk_stdcopy_decode (&d, b.data + i, 1, collect, NULL, &err);
  ok (r == 0, "stdcopy: decodes byte by byte");
  ok (got_out.len == 11 && memcmp (got_out.data, "hello world", 11) == 0, "stdcopy: stdout joined");
  ok (got_err.len == 4 && memcmp (got_err.data, "oops", 4) == 0, "stdcopy: stderr apart");
  ok (got_sys.len == 15, "stdcopy: control frame");
  ok (frames_done == 4, "stdcopy: four frame ends seen");
  struct dk_stdcopy_decoder d2 = DK_STDCOPY_DECODER_INIT;
  ok (dk_stdcopy_decode (&d2, "HTTP/1.1 200 OK", 15, collect, NULL, &err) < 0 && err,
      "stdcopy: a non-frame is an error");
  dk_error_release (&err);
  dk_buf_free (&b);
  dk_buf_free (&got_out);
  dk_buf_free (&got_err);
  dk_buf_free (&got_sys);
}

static void
test_escape_time (void)
{
  struct dk_buf b = DK_BUF_INIT;
  dk_json_escape_bytes (&b, "a\"b\\c\n\t<&>\x01\xff\xc3\xa9", 14);
  is_str (b.data, "\"a\\\"b\\\\c\\n\\t\\u003c\\u0026\\u003e\\u0001\\ufffd\xc3\xa9\"",
          "jsonlog: Go-style escaping, invalid UTF-8 replaced, valid kept");
  dk_buf_free (&b);
  char t[48];
  dk_time_format_rfc3339nano (1700000000123456789LL, t, sizeof t);
  is_str (t, "2023-11-14T22:13:20.123456789Z", "time: RFC3339Nano in UTC");
  int64_t ns = 0;
  ok (dk_time_parse (t, &ns) == 0 && ns == 1700000000123456789LL, "time: round trip");
  ok (dk_time_parse ("2023-11-14T23:13:20.5+01:00", &ns) == 0 && ns == 1700000000500000000LL,
      "time: offset and short fraction");
  ok (dk_time_parse ("1700000000.25", &ns) == 0 && ns == 1700000000250000000LL,
      "time: unix seconds with fraction (the API's since/until)");
  ok (dk_time_parse ("yesterday", &ns) < 0, "time: garbage refused");
  int64_t sz = 0;
  ok (dk_jsonlog_parse_size ("10k", &sz) == 0 && sz == 10240, "size: 10k");
  ok (dk_jsonlog_parse_size ("2m", &sz) == 0 && sz == 2097152, "size: 2m");
  ok (dk_jsonlog_parse_size ("1.5g", &sz) == 0 && sz == 1610612736, "size: 1.5g");
  ok (dk_jsonlog_parse_size ("12q", &sz) < 0, "size: unknown unit refused");
}

static int
count_entries (const char *path, struct dk_jsonlog_read_opts *o, char *first, size_t fsize,
               char *last, size_t lsize)
{
  struct dk_jsonlog_reader *r = NULL;
  dk_err_t err = NULL;
  if (dk_jsonlog_reader_open (path, o, &r, &err) < 0)
    {
      dk_error_release (&err);
      return -1;
    }
  struct dk_jsonlog_entry e;
  int n = 0, st;
  while ((st = dk_jsonlog_next (r, &e, &err)) == DK_JSONLOG_ENTRY)
    {
      if (n == 0 && first)
        snprintf (first, fsize, "%.*s", (int)e.len, e.log);
      if (last)
        snprintf (last, lsize, "%.*s", (int)e.len, e.log);
      n++;
    }
  dk_jsonlog_reader_free (r);
  dk_error_release (&err);
  return n;
}

static void
test_writer_reader (const char *dir)
{
  cleanup_free char *path = xasprintf ("%s/c-json.log", dir);
  struct dk_jsonlog_writer *w = NULL;
  dk_err_t err = NULL;
  ok (dk_jsonlog_writer_open (path, 1024, 3, &w, &err) == 0, "writer: open");
  int64_t t0 = 1700000000000000000LL;
  /* 100 lines, fed in odd chunks; line i at t0 + i seconds */
  for (int i = 0; i < 100; i++)
    {
      char line[64];
      int n = snprintf (line, sizeof line, "line %03d\n", i);
      dk_jsonlog_feed (w, i % 7 == 0 ? 2 : 1, line, 4, t0 + i * 1000000000LL, &err);
      dk_jsonlog_feed (w, i % 7 == 0 ? 2 : 1, line + 4, (size_t)n - 4, t0 + i * 1000000000LL, &err);
    }
  dk_jsonlog_feed (w, 1, "no newline", 10, t0 + 100 * 1000000000LL, &err);
  dk_jsonlog_flush (w, 1, t0 + 100 * 1000000000LL, &err);
  ok (err == NULL, "writer: no error");
  cleanup_free char *p1 = xasprintf ("%s.1", path);
  cleanup_free char *p2 = xasprintf ("%s.2", path);
  cleanup_free char *p3 = xasprintf ("%s.3", path);
  ok (access (p1, F_OK) == 0 && access (p2, F_OK) == 0 && access (p3, F_OK) < 0,
      "writer: rotated into .1 and .2, never .3 with max-file=3");
  cleanup_free char *data = NULL;
  size_t len = 0;
  dk_read_file (path, &data, &len, &err);
  ok (data && strstr (data, "{\"log\":\"no newline\",\"stream\":\"stdout\",\"time\":\"") != NULL,
      "writer: a partial last line is written without newline");
  /* a long line becomes 16 KiB partial entries */
  char *big = xmalloc (40000);
  memset (big, 'x', 40000);
  big[39999] = '\n';
  struct dk_jsonlog_writer *w2 = NULL;
  cleanup_free char *path2 = xasprintf ("%s/big-json.log", dir);
  dk_jsonlog_writer_open (path2, 0, 1, &w2, &err);
  dk_jsonlog_feed (w2, 1, big, 40000, t0, &err);
  free (big);
  struct dk_jsonlog_read_opts all = { .tail = -1 };
  char first[32], last[32];
  ok (count_entries (path2, &all, NULL, 0, NULL, 0) == 3, "writer: 40000-byte line is 3 entries");
  dk_jsonlog_writer_free (w2);

  /* reader over the rotated set */
  int n_all = count_entries (path, &all, first, sizeof first, last, sizeof last);
  ok (n_all > 10 && n_all <= 101, "reader: reads the rotated files then the live one (%d)", n_all);
  is_str (last, "no newline", "reader: ends with the newest entry");
  struct dk_jsonlog_read_opts tail = { .tail = 5 };
  ok (count_entries (path, &tail, first, sizeof first, NULL, 0) == 5, "reader: tail 5");
  is_str (first, "line 096\n", "reader: tail starts 5 from the end");
  struct dk_jsonlog_read_opts tail0 = { .tail = 0 };
  ok (count_entries (path, &tail0, NULL, 0, NULL, 0) == 0, "reader: tail 0 is nothing");
  struct dk_jsonlog_read_opts big_tail = { .tail = 100000 };
  ok (count_entries (path, &big_tail, NULL, 0, NULL, 0) == n_all, "reader: tail > all is all");
  struct dk_jsonlog_read_opts since
      = { .tail = -1, .since_ns = t0 + 95 * 1000000000LL, .until_ns = t0 + 97 * 1000000000LL };
  ok (count_entries (path, &since, first, sizeof first, last, sizeof last) == 3,
      "reader: since..until inclusive");
  is_str (first, "line 095\n", "reader: since bound");
  is_str (last, "line 097\n", "reader: until bound");

  /* follow: new entries and a rotation while reading */
  struct dk_jsonlog_read_opts fol = { .tail = 0, .follow = true };
  struct dk_jsonlog_reader *r = NULL;
  ok (dk_jsonlog_reader_open (path, &fol, &r, &err) == 0 && dk_jsonlog_reader_fd (r) >= 0,
      "follow: open with an inotify fd");
  struct dk_jsonlog_entry e;
  ok (dk_jsonlog_next (r, &e, &err) == DK_JSONLOG_AGAIN, "follow: nothing new yet");
  int seen = 0;
  for (int i = 0; i < 60; i++)
    {
      char line[64];
      int n = snprintf (line, sizeof line, "more %02d\n", i);
      dk_jsonlog_feed (w, 1, line, (size_t)n, t0 + (200 + i) * 1000000000LL, &err);
      while (dk_jsonlog_next (r, &e, &err) == DK_JSONLOG_ENTRY)
        seen++;
    }
  ok (seen == 60, "follow: every entry seen across rotations (%d)", seen);
  dk_jsonlog_reader_free (r);
  dk_jsonlog_writer_free (w);
  dk_error_release (&err);
}

int
main (void)
{
  char tmpl[] = "/tmp/test_jsonlog.XXXXXX";
  char *dir = mkdtemp (tmpl);
  test_stdcopy ();
  test_escape_time ();
  test_writer_reader (dir);
  dk_err_t err = NULL;
  dk_remove_tree (dir, &err);
  dk_error_release (&err);
  return tap_done ();
}

/* Docker's json-file log format: one JSON object per line,
   {"log":"hello\n","stream":"stdout","time":"2024-01-02T03:04:05.123456789Z"},
   with max-size/max-file rotation (FILE, FILE.1 newest rotated, FILE.2 ...).
   The writer is used by dk-shim (no libjq in its steady state); the reader
   by dockerd for `docker logs` (tail, since, until, follow). */
#ifndef DK_JSONLOG_H
#define DK_JSONLOG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "buf.h"
#include "error.h"

/* A log line longer than this is written as several partial entries (the
   last piece of the line carries the "\n"), as Docker does. */
#define DK_JSONLOG_MAX_LINE (16 * 1024)

/* "2024-01-02T03:04:05.123456789Z" (UTC, 9 fraction digits); buf >= 40. */
void dk_time_format_rfc3339nano (int64_t ns, char *buf, size_t size);
/* RFC 3339 with optional fraction and Z or +hh:mm; or a Unix timestamp
   "1700000000[.123456789]" (the API's since/until).  -1 on a bad string. */
int dk_time_parse (const char *s, int64_t *ns);
int64_t dk_time_now_ns (void);
/* Docker's size strings for max-size: "100", "10k", "20m", "1g" (x1024). */
int dk_jsonlog_parse_size (const char *s, int64_t *out);

/* Appends the JSON string literal of data (Go's encoding: <>& as \u003c...,
   invalid UTF-8 as \ufffd) to b, quotes included. */
void dk_json_escape_bytes (struct dk_buf *b, const char *data, size_t len);

struct dk_jsonlog_writer;
/* max_size <= 0: no rotation; max_file < 1 counts as 1 (truncate in place). */
int dk_jsonlog_writer_open (const char *path, int64_t max_size, int max_file,
                            struct dk_jsonlog_writer **out, dk_err_t *err);
/* Feeds raw output of one stream ("stdout" = 1, "stderr" = 2): complete
   lines are written as entries, the rest is kept until more comes. */
int dk_jsonlog_feed (struct dk_jsonlog_writer *w, int stream, const char *data, size_t len,
                     int64_t now_ns, dk_err_t *err);
/* Writes what is left of a stream's last line (at EOF). */
int dk_jsonlog_flush (struct dk_jsonlog_writer *w, int stream, int64_t now_ns, dk_err_t *err);
/* One entry as is (data should end with "\n" unless it is partial). */
int dk_jsonlog_write_entry (struct dk_jsonlog_writer *w, int stream, const char *data, size_t len,
                            int64_t now_ns, dk_err_t *err);
void dk_jsonlog_writer_free (struct dk_jsonlog_writer *w);

struct dk_jsonlog_read_opts
{
  int64_t tail;     /* last N entries; < 0: all */
  int64_t since_ns; /* entries with time >= since; 0: no bound */
  int64_t until_ns; /* entries with time <= until; 0: no bound */
  bool follow;      /* keep reading as the file grows and rotates */
};

struct dk_jsonlog_entry
{
  int stream; /* 1 stdout, 2 stderr */
  int64_t time_ns;
  char *log; /* owned by the reader, valid until the next call */
  size_t len;
};

enum
{
  DK_JSONLOG_END = 0,   /* nothing more (or until reached) */
  DK_JSONLOG_ENTRY = 1, /* *e filled */
  DK_JSONLOG_AGAIN = 2, /* following: no new entry yet; wait for
                           dk_jsonlog_reader_fd to be readable (or a timer) */
};

struct dk_jsonlog_reader;
/* A missing log file reads as empty. */
int dk_jsonlog_reader_open (const char *path, const struct dk_jsonlog_read_opts *opts,
                            struct dk_jsonlog_reader **out, dk_err_t *err);
/* DK_JSONLOG_END / ENTRY / AGAIN, or -1 with *err.  Malformed lines are
   skipped. */
int dk_jsonlog_next (struct dk_jsonlog_reader *r, struct dk_jsonlog_entry *e, dk_err_t *err);
/* With follow: an inotify fd that becomes readable when the log changes
   (the reader drains it in dk_jsonlog_next); -1 otherwise. */
int dk_jsonlog_reader_fd (struct dk_jsonlog_reader *r);
void dk_jsonlog_reader_free (struct dk_jsonlog_reader *r);

#endif

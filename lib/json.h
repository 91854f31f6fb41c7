/* JSON helpers over libjq's jv (see CONVENTIONS.md for jv ownership).
   Getters take a *borrowed* object and never assert: untrusted input of the
   wrong kind reads as absent. */
#ifndef DK_JSON_H
#define DK_JSON_H

#include <jv.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stddef.h>

#include "buf.h"
#include "error.h"

/* String member, or NULL when obj is not an object or the member is absent or
   not a string.  The pointer lives as long as obj does. */
const char *dk_json_str (jv obj, const char *key);
/* Integral number member within int64 range; false otherwise. */
bool dk_json_int (jv obj, const char *key, int64_t *out);
bool dk_json_bool (jv obj, const char *key, bool *out);
/* Member as a new reference; jv_invalid() when absent or obj is no object. */
jv dk_json_get (jv obj, const char *key);
/* Same, but jv_invalid() unless the member has the given kind. */
jv dk_json_get_kind (jv obj, const char *key, jv_kind kind);
/* Array element as a new reference; jv_invalid() when out of range. */
jv dk_json_at (jv arr, int i);
/* Number of elements of an array (borrowed), -1 when not an array. */
int dk_json_len (jv arr);

/* Parses exactly one JSON value. */
int dk_json_parse (const char *buf, size_t len, jv *out, dk_err_t *err);
int dk_json_read_file (const char *path, jv *out, dk_err_t *err);

/* Integers go out without exponent: a jv number holding an int64 value. */
jv dk_json_int64 (int64_t v);
/* Writes v compactly into b (v borrowed).  Integral numbers print as
   integers, never "1e+17". */
void dk_json_dump_buf (struct dk_buf *b, jv v);
/* One code point as a JSON escape: \" \\ \n \r \t, else \uXXXX (BMP). */
void dk_json_escape_cp (struct dk_buf *b, unsigned cp);
/* Consumes v; returns a malloc'd compact serialisation. */
char *dk_json_dump (jv v);

/* Consumes v; writes one line and flushes. */
void dk_jsonl_write (FILE *out, jv v);
/* Consumes v; writes one line to fd (handles short writes). */
int dk_jsonl_write_fd (int fd, jv v, dk_err_t *err);

/* Incremental JSON Lines reader: feed bytes as they come, take values out. */
struct dk_jsonl_reader;
struct dk_jsonl_reader *dk_jsonl_reader_new (void);
void dk_jsonl_reader_free (struct dk_jsonl_reader *r);
void dk_jsonl_feed (struct dk_jsonl_reader *r, const char *data, size_t len);
/* 1: *out set to the next value; 0: need more input; -1: a malformed line
   (consumed, *err says why).  Blank lines are skipped.  With at_eof a last
   line without newline is parsed too. */
int dk_jsonl_next (struct dk_jsonl_reader *r, bool at_eof, jv *out, dk_err_t *err);

static inline void
dk_cleanup_jvp (jv *v)
{
  jv_free (*v);
  *v = jv_invalid ();
}
#define cleanup_jv __attribute__ ((cleanup (dk_cleanup_jvp)))

#endif

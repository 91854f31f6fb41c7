#include "json.h"
#include "cleanup.h"

#include <errno.h>
#include <limits.h>
#include <fcntl.h>
#include <inttypes.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

jv
dk_json_get (jv obj, const char *key)
{
  if (jv_get_kind (obj) != JV_KIND_OBJECT)
    return jv_invalid ();
  jv v = jv_object_get (jv_copy (obj), jv_string (key));
  return v;
}

jv
dk_json_get_kind (jv obj, const char *key, jv_kind kind)
{
  jv v = dk_json_get (obj, key);
  if (jv_get_kind (v) != kind)
    {
      jv_free (v);
      return jv_invalid ();
    }
  return v;
}

jv
dk_json_at (jv arr, int i)
{
  if (jv_get_kind (arr) != JV_KIND_ARRAY || i < 0 || i >= jv_array_length (jv_copy (arr)))
    return jv_invalid ();
  return jv_array_get (jv_copy (arr), i);
}

int
dk_json_len (jv arr)
{
  if (jv_get_kind (arr) != JV_KIND_ARRAY)
    return -1;
  return jv_array_length (jv_copy (arr));
}

const char *
dk_json_str (jv obj, const char *key)
{
  jv v = dk_json_get_kind (obj, key, JV_KIND_STRING);
  if (!jv_is_valid (v))
    return NULL;
  /* obj still holds a reference to the string, so the pointer stays valid. */
  const char *s = jv_string_value (v);
  jv_free (v);
  return s;
}

bool
dk_json_int (jv obj, const char *key, int64_t *out)
{
  jv v = dk_json_get_kind (obj, key, JV_KIND_NUMBER);
  if (!jv_is_valid (v))
    return false;
  double d = jv_number_value (v);
  jv_free (v);
  if (!isfinite (d) || d != trunc (d) || d < -9223372036854775808.0 || d >= 9223372036854775808.0)
    return false;
  *out = (int64_t)d;
  return true;
}

bool
dk_json_bool (jv obj, const char *key, bool *out)
{
  jv v = dk_json_get (obj, key);
  jv_kind k = jv_get_kind (v);
  jv_free (v);
  if (k == JV_KIND_TRUE)
    *out = true;
  else if (k == JV_KIND_FALSE)
    *out = false;
  else
    return false;
  return true;
}

int
dk_json_parse (const char *buf, size_t len, jv *out, dk_err_t *err)
{
  /* libjq 1.6 reads a raw NUL byte as the number 0 ("\0" parses as 0);
     JSON text never holds one, and int-sized lengths are all jq takes */
  const char *nul = memchr (buf, '\0', len);
  if (nul)
    return dk_make_error_code (err, DK_ECODE_INVALID, 0, "invalid JSON: NUL byte at offset %zu",
                               (size_t)(nul - buf));
  if (len > INT_MAX)
    return dk_make_error_code (err, DK_ECODE_INVALID, 0, "invalid JSON: document too large");
  jv v = jv_parse_sized (buf, (int)len);
  if (!jv_is_valid (v))
    {
      jv msg = jv_invalid_get_msg (v);
      int r = dk_make_error_code (err, DK_ECODE_INVALID, 0, "invalid JSON: %s",
                                  jv_get_kind (msg) == JV_KIND_STRING ? jv_string_value (msg)
                                                                      : "unknown error");
      jv_free (msg);
      return r;
    }
  *out = v;
  return 0;
}

int
dk_json_read_file (const char *path, jv *out, dk_err_t *err)
{
  cleanup_close int fd = open (path, O_RDONLY | O_CLOEXEC);
  if (fd < 0)
    return dk_make_error (err, errno, "open `%s`", path);
  cleanup_buf struct dk_buf b = DK_BUF_INIT;
  char chunk[65536];
  for (;;)
    {
      ssize_t n = read (fd, chunk, sizeof chunk);
      if (n < 0 && errno == EINTR)
        continue;
      if (n < 0)
        return dk_make_error (err, errno, "read `%s`", path);
      if (n == 0)
        break;
      dk_buf_add (&b, chunk, (size_t)n);
    }
  if (dk_json_parse (b.data ? b.data : "", b.len, out, err) < 0)
    return dk_error_wrap (err, "`%s`", path);
  return 0;
}

jv
dk_json_int64 (int64_t v)
{
  return jv_number ((double)v);
}

void
dk_json_escape_cp (struct dk_buf *b, unsigned cp)
{
  static const char hex[] = "0123456789abcdef";
  switch (cp)
    {
    case '"':
      dk_buf_adds (b, "\\\"");
      break;
    case '\\':
      dk_buf_adds (b, "\\\\");
      break;
    case '\n':
      dk_buf_adds (b, "\\n");
      break;
    case '\r':
      dk_buf_adds (b, "\\r");
      break;
    case '\t':
      dk_buf_adds (b, "\\t");
      break;
    default:
      {
        char u[7]
            = { '\\',         'u', hex[(cp >> 12) & 15], hex[(cp >> 8) & 15], hex[(cp >> 4) & 15],
                hex[cp & 15], 0 };
        dk_buf_adds (b, u);
      }
    }
}

static void
dump_string (struct dk_buf *b, const char *s, int len)
{
  dk_buf_addc (b, '"');
  for (int i = 0; i < len; i++)
    {
      unsigned char c = (unsigned char)s[i];
      if (c < 0x20 || c == 0x7f || c == '"' || c == '\\')
        dk_json_escape_cp (b, c);
      else
        dk_buf_addc (b, (char)c);
    }
  dk_buf_addc (b, '"');
}

static void
dump_number (struct dk_buf *b, double d)
{
  if (!isfinite (d))
    dk_buf_adds (b, "null");
  else if (d == trunc (d) && fabs (d) < 9.2e18)
    dk_buf_printf (b, "%" PRId64, (int64_t)d);
  else
    dk_buf_printf (b, "%.17g", d);
}

void
dk_json_dump_buf (struct dk_buf *b, jv v)
{
  switch (jv_get_kind (v))
    {
    case JV_KIND_INVALID:
    case JV_KIND_NULL:
      dk_buf_adds (b, "null");
      break;
    case JV_KIND_TRUE:
      dk_buf_adds (b, "true");
      break;
    case JV_KIND_FALSE:
      dk_buf_adds (b, "false");
      break;
    case JV_KIND_NUMBER:
      dump_number (b, jv_number_value (v));
      break;
    case JV_KIND_STRING:
      dump_string (b, jv_string_value (v), jv_string_length_bytes (jv_copy (v)));
      break;
    case JV_KIND_ARRAY:
      {
        dk_buf_addc (b, '[');
        int n = jv_array_length (jv_copy (v));
        for (int i = 0; i < n; i++)
          {
            if (i)
              dk_buf_addc (b, ',');
            jv e = jv_array_get (jv_copy (v), i);
            dk_json_dump_buf (b, e);
            jv_free (e);
          }
        dk_buf_addc (b, ']');
        break;
      }
    case JV_KIND_OBJECT:
      {
        dk_buf_addc (b, '{');
        bool first = true;
        jv_object_foreach (v, key, val)
        {
          if (!first)
            dk_buf_addc (b, ',');
          first = false;
          dump_string (b, jv_string_value (key), jv_string_length_bytes (jv_copy (key)));
          dk_buf_addc (b, ':');
          dk_json_dump_buf (b, val);
          jv_free (key);
          jv_free (val);
        }
        dk_buf_addc (b, '}');
        break;
      }
    }
}

char *
dk_json_dump (jv v)
{
  struct dk_buf b = DK_BUF_INIT;
  dk_json_dump_buf (&b, v);
  jv_free (v);
  return dk_buf_steal (&b);
}

void
dk_jsonl_write (FILE *out, jv v)
{
  cleanup_free char *s = dk_json_dump (v);
  fputs (s, out);
  fputc ('\n', out);
  fflush (out);
}

int
dk_jsonl_write_fd (int fd, jv v, dk_err_t *err)
{
  struct dk_buf b = DK_BUF_INIT;
  dk_json_dump_buf (&b, v);
  jv_free (v);
  dk_buf_addc (&b, '\n');
  size_t off = 0;
  while (off < b.len)
    {
      ssize_t n = write (fd, b.data + off, b.len - off);
      if (n < 0 && errno == EINTR)
        continue;
      if (n < 0)
        {
          dk_buf_free (&b);
          return dk_make_error (err, errno, "write JSON line");
        }
      off += (size_t)n;
    }
  dk_buf_free (&b);
  return 0;
}

struct dk_jsonl_reader
{
  struct dk_buf pending;
};

struct dk_jsonl_reader *
dk_jsonl_reader_new (void)
{
  return xzalloc (sizeof (struct dk_jsonl_reader));
}

void
dk_jsonl_reader_free (struct dk_jsonl_reader *r)
{
  if (r == NULL)
    return;
  dk_buf_free (&r->pending);
  free (r);
}

void
dk_jsonl_feed (struct dk_jsonl_reader *r, const char *data, size_t len)
{
  dk_buf_add (&r->pending, data, len);
}

static bool
blank (const char *s, size_t n)
{
  for (size_t i = 0; i < n; i++)
    if (s[i] != ' ' && s[i] != '\t' && s[i] != '\r')
      return false;
  return true;
}

int
dk_jsonl_next (struct dk_jsonl_reader *r, bool at_eof, jv *out, dk_err_t *err)
{
  for (;;)
    {
      if (r->pending.len == 0)
        return 0;
      char *nl = memchr (r->pending.data, '\n', r->pending.len);
      size_t linelen;
      size_t consume;
      if (nl)
        {
          linelen = (size_t)(nl - r->pending.data);
          consume = linelen + 1;
        }
      else if (at_eof)
        {
          linelen = r->pending.len;
          consume = linelen;
        }
      else
        return 0;
      if (blank (r->pending.data, linelen))
        {
          dk_buf_consume (&r->pending, consume);
          continue;
        }
      int ret = dk_json_parse (r->pending.data, linelen, out, err);
      dk_buf_consume (&r->pending, consume);
      return ret < 0 ? -1 : 1;
    }
}

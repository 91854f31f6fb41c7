#include "buf.h"
#include "cleanup.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void
reserve (struct dk_buf *b, size_t extra)
{
  if (b->len + extra + 1 <= b->cap)
    return;
  size_t cap = b->cap ? b->cap : 64;
  while (cap < b->len + extra + 1)
    cap *= 2;
  b->data = xrealloc (b->data, cap);
  b->cap = cap;
}

void
dk_buf_add (struct dk_buf *b, const void *data, size_t len)
{
  reserve (b, len);
  if (len)
    memcpy (b->data + b->len, data, len);
  b->len += len;
  b->data[b->len] = '\0';
}

void
dk_buf_adds (struct dk_buf *b, const char *s)
{
  dk_buf_add (b, s, strlen (s));
}

void
dk_buf_addc (struct dk_buf *b, char c)
{
  dk_buf_add (b, &c, 1);
}

void
dk_buf_printf (struct dk_buf *b, const char *fmt, ...)
{
  va_list ap;
  va_start (ap, fmt);
  int n = vsnprintf (NULL, 0, fmt, ap);
  va_end (ap);
  if (n < 0)
    return;
  reserve (b, (size_t)n);
  va_start (ap, fmt);
  vsnprintf (b->data + b->len, (size_t)n + 1, fmt, ap);
  va_end (ap);
  b->len += (size_t)n;
}

void
dk_buf_consume (struct dk_buf *b, size_t n)
{
  if (n >= b->len)
    {
      b->len = 0;
      if (b->data)
        b->data[0] = '\0';
      return;
    }
  memmove (b->data, b->data + n, b->len - n);
  b->len -= n;
  b->data[b->len] = '\0';
}

void
dk_buf_reset (struct dk_buf *b)
{
  dk_buf_consume (b, b->len);
}

void
dk_buf_free (struct dk_buf *b)
{
  free (b->data);
  b->data = NULL;
  b->len = b->cap = 0;
}

char *
dk_buf_steal (struct dk_buf *b)
{
  reserve (b, 0);
  b->data[b->len] = '\0'; /* a fresh allocation has no terminator yet */
  char *r = b->data;
  b->data = NULL;
  b->len = b->cap = 0;
  return r;
}

void
dk_cleanup_bufp (struct dk_buf *b)
{
  dk_buf_free (b);
}

/* A growable byte buffer, always NUL-terminated. */
#ifndef DK_BUF_H
#define DK_BUF_H

#include <stddef.h>

struct dk_buf
{
  char *data;
  size_t len;
  size_t cap;
};

#define DK_BUF_INIT                                                                                \
  {                                                                                                \
    NULL, 0, 0                                                                                     \
  }

void dk_buf_add (struct dk_buf *b, const void *data, size_t len);
void dk_buf_adds (struct dk_buf *b, const char *s);
void dk_buf_addc (struct dk_buf *b, char c);
void dk_buf_printf (struct dk_buf *b, const char *fmt, ...) __attribute__ ((format (printf, 2, 3)));
/* Drops the first n bytes. */
void dk_buf_consume (struct dk_buf *b, size_t n);
void dk_buf_reset (struct dk_buf *b);
void dk_buf_free (struct dk_buf *b);
/* Hands the data over (never NULL); the buffer is empty afterwards. */
char *dk_buf_steal (struct dk_buf *b);

void dk_cleanup_bufp (struct dk_buf *b);
#define cleanup_buf __attribute__ ((cleanup (dk_cleanup_bufp)))

#endif

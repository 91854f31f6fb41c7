#include "error.h"
#include "cleanup.h"
#include "json.h"

#include <errno.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

static int
make (dk_err_t *err, const char *code, int errno_, const char *fmt, va_list ap)
{
  char *msg = NULL;
  if (vasprintf (&msg, fmt, ap) < 0)
    abort ();
  if (errno_)
    {
      char *full = xasprintf ("%s: %s", msg, strerror (errno_));
      free (msg);
      msg = full;
    }
  if (err == NULL)
    {
      free (msg);
      return -1;
    }
  dk_error_release (err);
  *err = xzalloc (sizeof **err);
  (*err)->status = errno_;
  (*err)->code = xstrdup (code);
  (*err)->msg = msg;
  return -1;
}

int
dk_make_error (dk_err_t *err, int errno_, const char *fmt, ...)
{
  va_list ap;
  va_start (ap, fmt);
  const char *code = DK_ECODE_INTERNAL;
  if (errno_ == ENOENT)
    code = DK_ECODE_NOT_FOUND;
  else if (errno_ == EINVAL)
    code = DK_ECODE_INVALID;
  else if (errno_ == EEXIST || errno_ == EBUSY)
    code = DK_ECODE_CONFLICT;
  make (err, code, errno_, fmt, ap);
  va_end (ap);
  return -1;
}

int
dk_make_error_code (dk_err_t *err, const char *code, int errno_, const char *fmt, ...)
{
  va_list ap;
  va_start (ap, fmt);
  make (err, code, errno_, fmt, ap);
  va_end (ap);
  return -1;
}

int
dk_error_wrap (dk_err_t *err, const char *fmt, ...)
{
  if (err == NULL || *err == NULL)
    return -1;
  va_list ap;
  char *prefix = NULL;
  va_start (ap, fmt);
  if (vasprintf (&prefix, fmt, ap) < 0)
    abort ();
  va_end (ap);
  char *msg = xasprintf ("%s: %s", prefix, (*err)->msg);
  free (prefix);
  free ((*err)->msg);
  (*err)->msg = msg;
  return -1;
}

void
dk_error_set_code (dk_err_t *err, const char *code)
{
  if (err == NULL || *err == NULL)
    return;
  free ((*err)->code);
  (*err)->code = xstrdup (code);
}

void
dk_error_release (dk_err_t *err)
{
  if (err == NULL || *err == NULL)
    return;
  free ((*err)->msg);
  free ((*err)->code);
  free (*err);
  *err = NULL;
}

void
dk_error_print (const char *prog, dk_err_t err)
{
  fprintf (stderr, "%s: error: %s\n", prog, err ? err->msg : "unknown error");
}

void
dk_error_emit (FILE *out, dk_err_t err)
{
  jv o = jv_object ();
  o = jv_object_set (o, jv_string ("type"), jv_string ("error"));
  o = jv_object_set (o, jv_string ("code"), jv_string (err ? err->code : DK_ECODE_INTERNAL));
  o = jv_object_set (o, jv_string ("message"), jv_string (err ? err->msg : "unknown error"));
  dk_jsonl_write (out, o);
}

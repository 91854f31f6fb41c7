/* The error type (crun's contract): functions return >= 0 on success and
   < 0 on failure with *err set.  Only main (or an HTTP handler) prints. */
#ifndef DK_ERROR_H
#define DK_ERROR_H

#include <stdio.h>

/* Machine-readable classes, used as the "code" of the tool contract's error
   object and mapped by dockerd onto HTTP statuses. */
#define DK_ECODE_INTERNAL "internal"
#define DK_ECODE_INVALID "invalid"           /* 400 */
#define DK_ECODE_NOT_FOUND "not_found"       /* 404 */
#define DK_ECODE_CONFLICT "conflict"         /* 409 */
#define DK_ECODE_UNAUTHORIZED "unauthorized" /* 401 */
#define DK_ECODE_FORBIDDEN "forbidden"       /* 403 */
#define DK_ECODE_UNAVAILABLE "unavailable"   /* 503 */

typedef struct dk_error_s
{
  int status; /* errno value, or 0 */
  char *code; /* one of DK_ECODE_*, never NULL once made */
  char *msg;
} * dk_err_t;

/* Sets *err (freeing any previous one) and returns -1.  With errno_ != 0
   the message ends with ": strerror(errno_)". */
int dk_make_error (dk_err_t *err, int errno_, const char *fmt, ...)
    __attribute__ ((format (printf, 3, 4)));
/* Same with an explicit code. */
int dk_make_error_code (dk_err_t *err, const char *code, int errno_, const char *fmt, ...)
    __attribute__ ((format (printf, 4, 5)));
/* Prefixes the message: "fmt: old message"; returns -1. */
int dk_error_wrap (dk_err_t *err, const char *fmt, ...) __attribute__ ((format (printf, 2, 3)));
void dk_error_set_code (dk_err_t *err, const char *code);
void dk_error_release (dk_err_t *err);
/* "prog: error: msg" on stderr. */
void dk_error_print (const char *prog, dk_err_t err);
/* The tool contract's failure object on stdout:
   {"type":"error","code":"...","message":"..."}. */
void dk_error_emit (FILE *out, dk_err_t err);

#define cleanup_error __attribute__ ((cleanup (dk_error_release)))

#endif

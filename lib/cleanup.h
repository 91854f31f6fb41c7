/* Ownership helpers: cleanup attributes with explicit hand-over. */
#ifndef DK_CLEANUP_H
#define DK_CLEANUP_H

#include <stddef.h>
#include <stdio.h>
#include <dirent.h>

void *xmalloc (size_t n);
void *xzalloc (size_t n);
void *xrealloc (void *p, size_t n);
char *xstrdup (const char *s);
char *xstrndup (const char *s, size_t n);
char *xasprintf (const char *fmt, ...) __attribute__ ((format (printf, 1, 2)));

void dk_cleanup_freep (void *p);
void dk_cleanup_closep (int *fd);
void dk_cleanup_fclosep (FILE **f);
void dk_cleanup_closedirp (DIR **d);
void dk_cleanup_strvp (char ***v);

#define cleanup_free __attribute__ ((cleanup (dk_cleanup_freep)))
#define cleanup_close __attribute__ ((cleanup (dk_cleanup_closep)))
#define cleanup_fclose __attribute__ ((cleanup (dk_cleanup_fclosep)))
#define cleanup_closedir __attribute__ ((cleanup (dk_cleanup_closedirp)))
#define cleanup_strv __attribute__ ((cleanup (dk_cleanup_strvp)))

static inline int
steal_fd (int *fdp)
{
  int fd = *fdp;
  *fdp = -1;
  return fd;
}

static inline void *
steal_ptr (void *pp)
{
  void **p = (void **)pp;
  void *r = *p;
  *p = NULL;
  return r;
}

#endif

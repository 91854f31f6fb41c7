/* Docker's detach keys of attach (`detachKeys=ctrl-p,ctrl-q`): parsing and
   a matcher over the stdin stream that holds back a partial sequence. */
#ifndef DK_DETACHKEYS_H
#define DK_DETACHKEYS_H

#include "buf.h"

#include <stdbool.h>
#include <stddef.h>

#define DK_DETACH_MAX 16

struct dk_detach
{
  unsigned char keys[DK_DETACH_MAX];
  size_t len;     /* 0: detaching is off */
  size_t matched; /* bytes of keys seen at the end of the stream so far */
};

/* "ctrl-p,ctrl-q", "a", "ctrl-@" ... as Docker's term.ToBytes; NULL or ""
   gives the default ctrl-p,ctrl-q.  -1 on a bad spec. */
int dk_detach_parse (const char *spec, struct dk_detach *d);
/* Appends to out the bytes of in[0..n) that go to the process; returns true
   when the whole sequence was read (the rest of in is dropped). */
bool dk_detach_feed (struct dk_detach *d, const char *in, size_t n, struct dk_buf *out);

#endif

/* A layer stream decompressed and hashed on its own thread, so inflating
   and writing files overlap (tar -xzf gets the same from its gzip child). */
#ifndef DK_LAYERPIPE_H
#define DK_LAYERPIPE_H

#include <sys/types.h>

#include "error.h"
#include "layerstream.h"

struct dk_layerpipe;

/* Starts reading s (borrowed until dk_layerpipe_stop returns). */
struct dk_layerpipe *dk_layerpipe_start (struct dk_layerstream *s, dk_err_t *err);
/* Like dk_layerstream_next; *buf stays valid until the next call. */
ssize_t dk_layerpipe_next (struct dk_layerpipe *p, const void **buf, dk_err_t *err);
/* Ends the producer (cancelling a read that blocks) and frees p. */
void dk_layerpipe_stop (struct dk_layerpipe *p);

#endif

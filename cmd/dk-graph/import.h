/* dk-graph import: a root filesystem tar as a one-layer image. */
#ifndef DK_GRAPH_IMPORT_H
#define DK_GRAPH_IMPORT_H

#include <stddef.h>

#include "error.h"
#include "json.h"

/* Applies moby's allowed --change instructions (CMD, ENTRYPOINT, ENV,
   EXPOSE, LABEL, USER, VOLUME, WORKDIR, ONBUILD, STOPSIGNAL, HEALTHCHECK) to
   the container config *cfg (an object, replaced). */
int import_apply_changes (jv *cfg, char **changes, size_t n, dk_err_t *err);

#endif

/* dk-pull import URL [-- ARGS...]: `docker import URL`. */
#ifndef DK_PULL_IMPORTURL_H
#define DK_PULL_IMPORTURL_H

#include "error.h"
#include "graph.h"
#include "json.h"

/* Fetches url (http:// is assumed without a scheme) into an unlinked file
   under ROOT/tmp, with "Importing" progress, then runs `dk-graph import
   ARGS... -` on it; *result is dk-graph's result (the image ID). */
int import_url (const struct graph *g, const char *url, char *const *args, int nargs, jv *result,
                dk_err_t *err);

#endif

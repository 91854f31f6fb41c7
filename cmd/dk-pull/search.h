/* dk-pull search: a registry's search (GET /v1/search), where it has one. */
#ifndef DK_PULL_SEARCH_H
#define DK_PULL_SEARCH_H

#include "registry.h"

/* limit: 1..100.  result: {"type":"result","registry":..,"query":..,
   "results":[{name, description, star_count, is_official, is_automated}]} */
int search (const struct reg_opts *o, const char *term, int limit, jv *result, dk_err_t *err);

#endif

/* What dk-pull remembers of where a layer came from (diff ID -> compressed
   digest and repository), so a push can skip or mount blobs the registry
   already holds.  Kept under ROOT/distribution/ (dk-pull's own folder). */
#ifndef DK_PULL_DISTMETA_H
#define DK_PULL_DISTMETA_H

#include "json.h"

/* Best effort: a failure to record is logged, never fatal. */
void distmeta_add (const char *root, const char *diff_id, const char *digest, const char *host,
                   const char *repo);
/* Array of {"digest","host","repo"} for diff_id (jv_array() when none). */
jv distmeta_get (const char *root, const char *diff_id);

#endif

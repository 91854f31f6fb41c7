/* Progress objects on stdout (JSON Lines), safe to call from any thread. */
#ifndef DK_PULL_PROGRESS_H
#define DK_PULL_PROGRESS_H

#include <stdint.h>

/* {"type":"progress","status":..,"id":..,"progressDetail":{"current":..,"total":..}};
   id may be NULL; detail only when current >= 0. */
void progress (const char *status, const char *id, int64_t current, int64_t total);
/* "<tag>: Pulling from <repo>" */
void progress_pulling_from (const char *id, const char *repo);
/* The 12-hex short id Docker shows for a digest. */
void progress_short_id (const char *digest, char out[13]);
/* Milliseconds on a monotonic clock (to rate-limit "Downloading"). */
int64_t progress_now_ms (void);

#endif

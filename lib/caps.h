/* Linux capabilities by name, as Docker handles them: the default set of a
   container, CapAdd/CapDrop normalisation ("net_admin", "CAP_NET_ADMIN",
   "ALL") and the set this process can actually grant. */
#ifndef DK_CAPS_H
#define DK_CAPS_H

#include <stdbool.h>

#include "error.h"
#include "json.h"

/* "CAP_CHOWN" for 0 ..., NULL past the last known capability. */
const char *dk_caps_name (int cap);
/* Capability number for a "CAP_..." name, -1 when unknown. */
int dk_caps_number (const char *name);
/* Docker's 14 default capabilities, as a new array of strings. */
jv dk_caps_default (void);
/* Capabilities of this process's effective set (what --privileged and
   "ALL" grant; a capability outside it cannot be given to a container). */
jv dk_caps_available (void);
/* Upper-cases and prefixes with CAP_; "ALL" stays.  Unknown names and
   names outside the available set are errors with Docker's messages.
   list borrowed (array of strings or null). */
int dk_caps_normalize (jv list, jv *out, dk_err_t *err);
/* Docker's rule: privileged -> all available; else defaults minus drops
   plus adds, with "ALL" in adds or drops. adds/drops borrowed. */
int dk_caps_tweak (jv adds, jv drops, bool privileged, jv *out, dk_err_t *err);

#endif

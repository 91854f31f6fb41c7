/* Seccomp profiles in Docker's format (moby's profile JSON with archMap and
   per-rule includes/excludes by capability, architecture and kernel) turned
   into the OCI runtime spec's linux.seccomp object for this host. */
#ifndef DK_SECCOMP_PROFILE_H
#define DK_SECCOMP_PROFILE_H

#include "error.h"
#include "json.h"

/* The built-in default profile (Docker's), as JSON text. */
const char *dk_seccomp_default_profile (void);
/* Converts a profile (JSON text) for a container whose bounding set is
   `bounding` (borrowed array of "CAP_..." strings): keeps the rules whose
   includes match and whose excludes do not, the native architecture and its
   sub-architectures from archMap.  *out is the linux.seccomp object. */
int dk_seccomp_profile_to_oci (const char *profile, jv bounding, jv *out, dk_err_t *err);

#endif

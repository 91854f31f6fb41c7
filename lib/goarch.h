/* The machine, as uname(2) tells it (asked once), and its architecture in
   Go's (and the OCI image spec's) names. */
#ifndef DK_GOARCH_H
#define DK_GOARCH_H

#include <sys/utsname.h>

/* uname's answer, read on the first call; not for use from several threads
   before that */
const struct utsname *dk_uname (void);
/* "amd64", "arm64", "arm", else uname's machine; a static string */
const char *dk_go_arch (void);

#endif

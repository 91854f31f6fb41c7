/* The machine's architecture in Go's (and the OCI image spec's) names. */
#ifndef DK_GOARCH_H
#define DK_GOARCH_H

/* "amd64", "arm64", "arm", else uname's machine; a static string */
const char *dk_go_arch (void);

#endif

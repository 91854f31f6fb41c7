/* Image references, parsed and normalised as Docker does:
   "busybox" -> docker.io/library/busybox:latest. */
#ifndef DK_REFERENCE_H
#define DK_REFERENCE_H

#include <stdbool.h>

#include "error.h"

struct dk_ref
{
  char *domain; /* "docker.io", "localhost:5000", "127.0.0.1:5000" */
  char *path;   /* "library/busybox", "a/b" */
  char *tag;    /* "latest" when neither tag nor digest was given; NULL if only a digest */
  char *digest; /* "sha256:..." or NULL */
};

/* Parses and normalises; malformed or upper-case repository names fail with
   code "invalid" and the message "invalid reference format" (with Docker's
   variants: "invalid reference format: repository name (library/Busybox)
   must be lowercase"). */
int dk_ref_parse (const char *s, struct dk_ref *out, dk_err_t *err);
void dk_ref_free (struct dk_ref *r);
/* "docker.io/library/busybox" */
char *dk_ref_name (const struct dk_ref *r);
/* Full normalised string: "docker.io/library/busybox:latest" or "...@sha256:.." */
char *dk_ref_string (const struct dk_ref *r);
/* The familiar form Docker shows: "busybox:latest", "localhost:5000/a/b:1". */
char *dk_ref_familiar (const struct dk_ref *r);
/* Familiar name without tag/digest: "busybox". */
char *dk_ref_familiar_name (const struct dk_ref *r);
/* Registry host to contact: "registry-1.docker.io" for docker.io. */
const char *dk_ref_registry_host (const struct dk_ref *r);
/* Is s a valid tag (Docker's [\w][\w.-]{0,127})? */
bool dk_ref_valid_tag (const char *s);

#endif

/* Manifests: fetch by tag or digest, verify, choose the platform of an index. */
#ifndef DK_PULL_MANIFEST_H
#define DK_PULL_MANIFEST_H

#include "registry.h"

#define MT_DOCKER_V2 "application/vnd.docker.distribution.manifest.v2+json"
#define MT_DOCKER_LIST "application/vnd.docker.distribution.manifest.list.v2+json"
#define MT_OCI_MANIFEST "application/vnd.oci.image.manifest.v1+json"
#define MT_OCI_INDEX "application/vnd.oci.image.index.v1+json"
#define MT_DOCKER_CONFIG "application/vnd.docker.container.image.v1+json"
#define MT_OCI_CONFIG "application/vnd.oci.image.config.v1+json"
#define MT_DOCKER_LAYER "application/vnd.docker.image.rootfs.diff.tar.gzip"
#define MT_OCI_LAYER_GZIP "application/vnd.oci.image.layer.v1.tar+gzip"

struct blob_desc
{
  char *digest;
  char *media_type;
  int64_t size;
};

struct manifest
{
  char *top_digest; /* what the tag names (an index or the manifest) */
  char *digest;     /* the image manifest */
  char *media_type;
  char *raw; /* the manifest's bytes */
  size_t raw_len;
  struct blob_desc config;
  struct blob_desc *layers;
  int n_layers;
};

void manifest_free (struct manifest *m);

struct platform
{
  char *os;
  char *arch;
  char *variant; /* NULL: any (or the default for arm) */
};

/* "os/arch[/variant]"; NULL or "" = this host. */
int platform_parse (const char *s, struct platform *p, dk_err_t *err);
void platform_free (struct platform *p);

/* GETs repo's manifest ref (tag or digest), follows an index to the
   platform's manifest, verifies every digest.  familiar: for messages. */
int manifest_resolve (struct reg_client *c, const char *repo, const char *ref,
                      const struct platform *plat, const char *familiar_name,
                      const char *familiar_ref, struct manifest *out, dk_err_t *err);

#endif

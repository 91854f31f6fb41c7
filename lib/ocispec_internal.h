/* Pieces of the config.json builder shared between lib/ocispec*.c. */
#ifndef DK_OCISPEC_INTERNAL_H
#define DK_OCISPEC_INTERNAL_H

#include <stdbool.h>
#include <stdint.h>

#include "ocispec.h"

/* What every part of the build reads, decoded once. */
struct dk_spec_ctx
{
  const struct dk_spec_input *in;
  jv create; /* borrowed */
  jv hc;     /* HostConfig (owned; an empty object when absent) */
  jv img;    /* image config (borrowed; may be null/invalid) */
  bool privileged;
  bool readonly;
  const char *network_mode; /* "default" when absent */
  const char *ipc_mode;     /* "private" when absent */
};

/* ocispec_user.c: "user[:group]" resolved in the rootfs's /etc/passwd and
   /etc/group as Docker does; *out is process.user {uid,gid,additionalGids}. */
int dk_ocispec_user (const char *rootfs, const char *userspec, jv group_add, jv *out,
                     dk_err_t *err);

/* ocispec_process.c */
jv dk_ocispec_env (jv create, jv image_config, const char *hostname, bool tty);

/* ocispec_mounts.c: spec.mounts (defaults, binds, volumes, tmpfs, /etc
   files) and the root/propagation/masked paths that depend on them. */
int dk_ocispec_mounts (struct dk_spec_ctx *c, jv *spec, dk_err_t *err);

/* ocispec_binds.c: one HostConfig.Binds entry. */
struct dk_bind
{
  char *source; /* absolute host path, or a volume name; NULL for anonymous */
  char *target; /* cleaned destination */
  bool is_volume;
  bool read_only;
  char *propagation; /* NULL: default */
  bool nocopy;
};
int dk_ocispec_parse_bind (const char *raw, struct dk_bind *b, dk_err_t *err);
void dk_ocispec_bind_free (struct dk_bind *b);
/* Validates one HostConfig.Mounts entry (Docker's messages). */
int dk_ocispec_check_mount (jv m, dk_err_t *err);
/* Tmpfs options of a Mounts entry's TmpfsOptions as Docker spells them
   ("size=64m,mode=1777"); malloc'd. */
int dk_ocispec_tmpfs_data (jv tmpfs_options, bool read_only, char **out, dk_err_t *err);
/* Docker's MergeTmpfsOptions: later options win per flag or key. */
int dk_ocispec_merge_tmpfs (jv options, jv *out, dk_err_t *err);
char *dk_ocispec_clean_path (const char *p);

/* ocispec_linux.c: namespaces, cgroupsPath, resources, devices, sysctls,
   rlimits. */
int dk_ocispec_linux (struct dk_spec_ctx *c, jv *spec, dk_err_t *err);
int dk_ocispec_rlimits (struct dk_spec_ctx *c, jv *out, dk_err_t *err);
/* True when /sys/fs/cgroup is the unified (v2) hierarchy. */
bool dk_ocispec_cgroup2 (void);

/* ocispec_validate_config.c: Config checks and generic HostConfig ones
   (hc may be invalid when absent). */
int dk_ocispec_validate_config (jv create, jv hc, dk_err_t *err);
int dk_ocispec_validate_host_misc (jv hc, dk_err_t *err);

/* ocispec_validate.c */
int dk_ocispec_validate_ulimits (jv ulimits, bool clamp, jv *out, dk_err_t *err);
/* HostConfig.SecurityOpt decoded. */
struct dk_secopts
{
  bool no_new_privileges;
  bool writable_cgroups;
  bool writable_cgroups_set;
  char *seccomp; /* NULL, "unconfined", "builtin", or the profile JSON */
};
int dk_ocispec_parse_secopts (jv hc, struct dk_secopts *o, dk_err_t *err);
void dk_ocispec_secopts_free (struct dk_secopts *o);

/* Small jv helpers. */
jv dk_spec_strv (const char *const *v);
bool dk_spec_has_str (jv arr, const char *s);
/* Integer member of HostConfig treated as 0 when absent or null. */
int64_t dk_spec_int (jv obj, const char *key);

#endif

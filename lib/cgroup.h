/* Container cgroups on cgroup v1 (hybrid: one hierarchy per controller under
   /sys/fs/cgroup/<ctl>, plus /sys/fs/cgroup/unified) and v2 (unified).
   A cgroup is named by its OCI cgroupsPath ("/a/b", or systemd's
   "slice:prefix:name"); resources are the OCI linux.resources object. */
#ifndef DK_CGROUP_H
#define DK_CGROUP_H

#include <stdbool.h>
#include <sys/types.h>

#include "error.h"
#include "json.h"

enum
{
  DK_CGROUP_V1 = 1,
  DK_CGROUP_V2 = 2
};

/* DK_CGROUP_V2 when /sys/fs/cgroup is a cgroup2 mount, else DK_CGROUP_V1.
   $DK_CGROUP_ROOT overrides /sys/fs/cgroup (tests). */
int dk_cgroup_mode (void);
const char *dk_cgroup_root (void);

/* Normalises an OCI cgroupsPath (NULL or "" gives "/dk-run/<id>") into an
   absolute path below the hierarchy roots.  malloc'd. */
char *dk_cgroup_path (const char *cgroups_path, const char *id);

/* Creates the cgroup in every hierarchy, applies resources (borrowed, may be
   jv_null) and moves pid into it.  On failure nothing is left behind. */
int dk_cgroup_create (const char *path, jv resources, pid_t pid, dk_err_t *err);
/* Refuses, as runc does, a cgroup that already exists frozen or with
   processes in it: init would block in the freezer, or share the cgroup. */
int dk_cgroup_check_unused (const char *path, dk_err_t *err);
/* Moves pid into an existing cgroup (exec). */
int dk_cgroup_enter (const char *path, pid_t pid, dk_err_t *err);
/* Kills what is left when kill is set, then removes the cgroup everywhere.
   A cgroup that does not exist is not an error. */
int dk_cgroup_destroy (const char *path, bool kill, dk_err_t *err);
/* Applies resources (borrowed) to an existing cgroup (`update`). */
int dk_cgroup_update (const char *path, jv resources, dk_err_t *err);
/* Freezes or thaws every process of the cgroup (pause/resume). */
int dk_cgroup_freeze (const char *path, bool freeze, dk_err_t *err);
bool dk_cgroup_frozen (const char *path);
/* v2 device rules (OCI linux.resources.devices, borrowed) as an eBPF
   program attached to the cgroup directory dir. */
int dk_cgroup_devices_v2 (const char *dir, jv rules, dk_err_t *err);
/* The pids in the cgroup (from the memory or pids hierarchy on v1). */
int dk_cgroup_pids (const char *path, pid_t **pids, size_t *n, dk_err_t *err);
/* Number of OOM kills recorded for the cgroup (0 when unknown). */
long dk_cgroup_oom_kills (const char *path);
/* true when dir is a cgroup or cgroup2 mount (not a plain directory). */
bool dk_cgroup_is_hierarchy (const char *dir);
/* Directory of the cgroup for a v1 controller ("memory") or, on v2, the
   unified directory (controller ignored).  malloc'd. */
char *dk_cgroup_dir (const char *path, const char *controller);

#endif

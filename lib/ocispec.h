/* Turning a Docker container (Engine API create body + image config +
   daemon settings) into an OCI runtime config.json, with Docker's security
   defaults: default capabilities, default seccomp profile, masked and
   read-only /proc paths, minimal /dev, private propagation. */
#ifndef DK_OCISPEC_H
#define DK_OCISPEC_H

#include <stdbool.h>

#include "error.h"
#include "json.h"

struct dk_spec_input
{
  const char *id;            /* container ID, 64 hex */
  jv create;                 /* borrowed: ContainerCreate body (Config fields at top level,
                                "HostConfig", "NetworkingConfig"), as stored by dockerd */
  jv image_config;           /* borrowed: the image config's "config" object (may be null) */
  const char *rootfs;        /* mounted root filesystem (absolute) */
  const char *netns_path;    /* network namespace to join; NULL: a new empty one
                                (--network none); "host": the host's */
  const char *hostname_path; /* files bind-mounted at /etc/hostname, /etc/hosts, */
  const char *hosts_path;    /* /etc/resolv.conf (NULL: not mounted) */
  const char *resolv_path;
  const char *shm_path;      /* a tmpfs/dir for /dev/shm, or NULL for a tmpfs mount */
  jv volume_paths;           /* borrowed object: named volume -> host path, or null; an
                                anonymous volume (-v /data, Config/image "Volumes") is
                                keyed by its destination ("/data") */
  const char *cgroup_parent; /* daemon's --cgroup-parent, NULL = "/docker" (cgroupfs) */
  const char *cgroup_driver; /* "cgroupfs" (default) or "systemd" */
  jv default_ulimits; /* borrowed array of {"Name","Soft","Hard"} from --default-ulimit, or null */
  const char *seccomp_profile; /* daemon --seccomp-profile file contents, NULL = built-in default,
                                  "unconfined": none */
  const char *pid_ns_path;     /* PidMode container:<x>: that container's /proc/<pid>/ns/pid */
  const char *ipc_ns_path;     /* IpcMode container:<x>: its /proc/<pid>/ns/ipc */
};

/* Validates the create body as Docker does at create time (messages as
   Docker's, code "invalid"), e.g. "invalid restart policy", ulimits above
   the host hard limit: "ulimit ... exceeds hard limit ..." */
int dk_ocispec_validate (jv create, dk_err_t *err);
/* Builds the config.json object into *spec (validating first).  Side
   effects, as Docker's: a missing WorkingDir is created inside the rootfs
   (root, 0755) and a missing -v host directory is created.  Errors: code
   "invalid" for bad input ("no command specified", "unable to find user
   x: ..."), "not_found" for a volume missing from volume_paths. */
int dk_ocispec_build (const struct dk_spec_input *in, jv *spec, dk_err_t *err);
/* The process that will run (entrypoint + cmd merged with the image's), as
   inspect's Path and Args: returns an array of strings (may be empty). */
jv dk_ocispec_process_args (jv create, jv image_config);
/* Docker's `Mounts` of inspect and ps (MountPoint objects: Type, Source,
   Destination, Mode, RW, Propagation) for the binds and bind/tmpfs mounts
   of a HostConfig (borrowed). */
jv dk_ocispec_mount_points (jv hostconfig);

#endif

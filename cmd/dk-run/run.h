/* dk-run internals: a runc-compatible OCI runtime. */
#ifndef DK_RUN_H
#define DK_RUN_H

#include <linux/filter.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/resource.h>
#include <sys/types.h>

#include "cleanup.h"
#include "error.h"
#include "json.h"

/* Error codes beyond lib/error.h's, turned into runc's exit statuses. */
#define DK_ECODE_EXEC_NOT_FOUND "exec_not_found" /* 127 */
#define DK_ECODE_EXEC_DENIED "exec_denied"       /* 126 */

struct dk_run_global
{
  const char *root; /* state directory, default /run/dk-run */
  bool debug;
};
extern struct dk_run_global dk_run_global;

/* ---- state.c: ROOT/<id>/state.json and exec.fifo ---- */
struct dk_state
{
  char *id;
  char *dir; /* ROOT/<id> */
  pid_t pid;
  unsigned long long start_time; /* field 22 of /proc/pid/stat, guards pid reuse */
  char *bundle;
  char *rootfs;
  char *created; /* RFC 3339 with nanoseconds */
  char *cgroup;  /* normalised cgroups path */
  char *owner;
  jv config; /* the config.json the container was created from */
};
int dk_state_check_id (const char *id, dk_err_t *err);
char *dk_state_dir (const char *id);
int dk_state_load (const char *id, struct dk_state *st, dk_err_t *err);
int dk_state_save (const struct dk_state *st, dk_err_t *err);
void dk_state_free (struct dk_state *st);
/* "created", "running" or "stopped". */
const char *dk_state_status (const struct dk_state *st);
/* The OCI state object (runc's `state` output). */
jv dk_state_json (const struct dk_state *st, const char *status);
unsigned long long dk_proc_start_time (pid_t pid);
char *dk_now_rfc3339 (void);
/* Writes the whole string to fd. */
int dk_write_all (int fd, const void *buf, size_t len);
/* One message from a child on a SOCK_SEQPACKET sync socket (NUL-terminated
   in buf); 0 when the child is gone and nothing is queued, -1 on error. */
ssize_t dk_sync_recv (int sock, char *buf, size_t size);

/* ---- process.c: the container process itself (init and exec) ---- */
struct dk_rlimit
{
  int resource;
  struct rlimit lim;
};
struct dk_proc_plan
{
  char **argv, **envp;
  char *path; /* resolved executable, after dk_proc_find_exec */
  char *cwd;
  uid_t uid;
  gid_t gid;
  gid_t *groups;
  size_t ngroups;
  int umask; /* -1: unchanged */
  bool nnp;
  bool terminal;
  unsigned short rows, cols; /* process.consoleSize, 0: not given */
  /* dk-run relays the pty itself: as runc, "\n" is not turned into "\r\n"
     (cleared on the slave before the process runs) */
  bool no_onlcr;
  bool has_caps;
  uint64_t bounding, effective, permitted, inheritable, ambient;
  struct dk_rlimit *rlimits;
  size_t nrlimits;
  struct sock_fprog *seccomp; /* NULL: none */
  unsigned seccomp_flags;
  int preserve_fds;
};
/* Parses an OCI process object (borrowed); validates capabilities and
   rlimits.  seccomp (borrowed, may be null) is compiled here, outside. */
int dk_proc_plan_build (jv process, jv seccomp, struct dk_proc_plan *p, dk_err_t *err);
void dk_proc_plan_free (struct dk_proc_plan *p);
/* Resolves argv[0] in the (container's) filesystem with runc's messages. */
int dk_proc_find_exec (struct dk_proc_plan *p, dk_err_t *err);
/* Closes every fd above stdio and the preserved ones, except keep
   (runc's init starts with only those: a host fd must not reach the
   container, its hooks or its /proc/<pid>/fd before execve). */
void dk_proc_close_inherited (int preserve_fds, const int *keep, size_t nkeep);
int dk_proc_apply_rlimits (const struct dk_proc_plan *p, dk_err_t *err);
/* Credentials, capabilities, no_new_privs, seccomp, execve.  Never returns:
   a failure is printed to stderr and the process exits 126/127/1. */
void dk_proc_exec (struct dk_proc_plan *p) __attribute__ ((noreturn));

/* ---- seccomp.c ---- */
int dk_seccomp_compile (jv seccomp, struct sock_fprog **out, unsigned *flags, dk_err_t *err);
int dk_seccomp_load (struct sock_fprog *prog, unsigned flags, dk_err_t *err);
/* seccomp_cache.c: dk_seccomp_compile through the cache under the root. */
int dk_seccomp_prepare (jv seccomp, struct sock_fprog **out, unsigned *flags, dk_err_t *err);

/* ---- rootfs.c: mounts, /dev, pivot_root (in the child) ---- */
int dk_rootfs_prepare (jv config, const char *rootfs, const char *cgroup, bool userns,
                       dk_err_t *err);
int dk_rootfs_pivot (const char *rootfs, bool no_pivot, dk_err_t *err);
int dk_rootfs_finish (jv config, dk_err_t *err);

/* ---- hooks.c ---- */
/* Runs config.hooks[kind] (borrowed config) with the state on stdin. */
int dk_hooks_run (jv config, const char *kind, jv state, dk_err_t *err);

/* ---- terminal.c ---- */
int dk_console_connect (const char *path, dk_err_t *err);
/* In the container: opens a pty, sends its master over sock, makes the
   slave the controlling terminal and stdio. */
int dk_console_setup (int sock, const struct dk_proc_plan *plan, dk_err_t *err);
/* The pty master dk_console_setup sent over sock. */
int dk_console_recv (int sock, dk_err_t *err);
/* Forwards signals to pid and, with a pty master (else -1), relays it to
   our stdio until pid exits; returns its status.  The caller has blocked
   every signal. */
int dk_pty_relay (pid_t pid, int master);

/* ---- cgroup_warm.c ---- */
/* Starts the cgroup write lock's grace period in a helper process (see the
   file); dk_cgroup_warm_reap waits for it. */
pid_t dk_cgroup_warm_start (void);
void dk_cgroup_warm_reap (pid_t pid);

/* ---- create.c ---- */
struct dk_create_opts
{
  const char *id;
  const char *bundle;
  const char *pid_file;
  const char *console_socket;
  int console_fd; /* > 0: a connected console socket (run's own relay) */
  int preserve_fds;
  bool no_pivot;
};
/* Creates the container, leaving its init waiting on exec.fifo. */
int dk_container_create (const struct dk_create_opts *o, pid_t *pid, dk_err_t *err);
/* Opens exec.fifo and releases init. */
int dk_container_start (const char *id, dk_err_t *err);
/* Removes a container that is stopped (or any, with force). */
int dk_container_delete (const char *id, bool force, dk_err_t *err);

int dk_container_kill (const char *id, const char *signame, bool all, dk_err_t *err);
/* create + start + wait + delete; returns the container's exit status. */
int dk_container_run (const struct dk_create_opts *o, bool detach, dk_err_t *err);
int dk_container_pause (const char *id, bool pause, dk_err_t *err);
/* Applies an OCI linux.resources object (borrowed) to a live container. */
int dk_container_update (const char *id, jv resources, dk_err_t *err);
/* ---- exec.c ---- */
struct dk_exec_opts
{
  const char *id;
  const char *process_file;
  char **args;
  char **env;
  const char *cwd;
  const char *user;
  char **caps;
  const char *pid_file;
  const char *console_socket;
  bool tty, detach, nnp, ignore_paused;
  int preserve_fds;
};
int dk_container_exec (const struct dk_exec_opts *o, dk_err_t *err);

/* ---- commands ---- */
int dk_cmd_create (int argc, char **argv, dk_err_t *err);
int dk_cmd_run (int argc, char **argv, dk_err_t *err);
int dk_cmd_start (int argc, char **argv, dk_err_t *err);
int dk_cmd_state (int argc, char **argv, dk_err_t *err);
int dk_cmd_kill (int argc, char **argv, dk_err_t *err);
int dk_cmd_delete (int argc, char **argv, dk_err_t *err);
int dk_cmd_list (int argc, char **argv, dk_err_t *err);
int dk_cmd_ps (int argc, char **argv, dk_err_t *err);
int dk_cmd_features (int argc, char **argv, dk_err_t *err);
int dk_cmd_exec (int argc, char **argv, dk_err_t *err);
int dk_cmd_pause (int argc, char **argv, dk_err_t *err);
int dk_cmd_resume (int argc, char **argv, dk_err_t *err);
int dk_cmd_update (int argc, char **argv, dk_err_t *err);
int dk_cmd_spec (int argc, char **argv, dk_err_t *err);

#endif

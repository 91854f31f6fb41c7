/* create: the runtime process clones the container's init into its new
   namespaces and talks to it over a SOCK_SEQPACKET pair:

     parent                               init (child)
     clone(CLONE_NEW*)  ----------------> waits for 'g'
     cgroup dirs and limits, uid/gid maps,
     oom_score_adj
     'g' -------------------------------> setns (joined namespaces)
     move init into its cgroup
     'c' -------------------------------> (waited for here with a cgroup
                                          namespace or hooks, else below)
                                          cgroupns, mounts and /dev in the
                                          rootfs
     prestart/createRuntime hooks <------ 'h' (only when there are hooks)
     'd' -------------------------------> createContainer hooks, pivot_root,
                                          masked/readonly paths, console,
                                          executable lookup, waits for 'c'
     state.json, pid file  <------------- 'r'  (or 'e' + error, then exit)
                                          blocks opening exec.fifo for write

   `start` opens exec.fifo for reading, which lets init go on to its
   credentials, capabilities, no_new_privs, seccomp and execve.

   Why 'c' is separate from 'g': the first write to a cgroup.procs file
   takes the kernel's cgroup_threadgroup_rwsem for writing, which waits for
   an RCU grace period (8-15 ms here, most of create's wall time).  Init
   does its mounts meanwhile; it needs its cgroup only before the cgroup
   namespace is made, before hooks run and before it reports ready (nothing
   of the container runs before that).  What init allocates in between is
   charged to the runtime's cgroup: its own few pages and the mounts. */
#include "run.h"
#include "cgroup.h"

#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <net/if.h>
#include <sys/ioctl.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "atomicfile.h"
#include "scratchfile.h"

enum
{
  MSG_GO = 'g',
  MSG_CGROUP = 'c',
  MSG_HOOKS = 'h',
  MSG_HOOKS_DONE = 'd',
  MSG_READY = 'r',
  MSG_ERROR = 'e'
};

static const struct
{
  const char *name;
  int flag;
} ns_types[]
    = { { "pid", CLONE_NEWPID },      { "network", CLONE_NEWNET }, { "mount", CLONE_NEWNS },
        { "ipc", CLONE_NEWIPC },      { "uts", CLONE_NEWUTS },     { "user", CLONE_NEWUSER },
        { "cgroup", CLONE_NEWCGROUP } };

struct ns_join
{
  int fd;
  int type;
};

struct child_ctx
{
  jv config;
  const char *id, *bundle, *rootfs, *cgroup;
  struct dk_proc_plan *plan;
  int sync, fifo_fd, console_fd;
  struct ns_join joins[8];
  int njoins;
  int clone_flags;
  bool new_cgroupns;
  bool no_pivot;
  bool cgroup_pending; /* init has not read MSG_CGROUP yet */
};

static void __attribute__ ((noreturn)) child_fail (int sync, dk_err_t err)
{
  struct dk_buf b = DK_BUF_INIT;
  dk_buf_addc (&b, MSG_ERROR);
  dk_buf_adds (&b, err->code);
  dk_buf_addc (&b, '\0');
  dk_buf_adds (&b, err->msg);
  if (send (sync, b.data, b.len, MSG_NOSIGNAL) < 0)
    dprintf (2, "dk-run: error: %s\n", err->msg);
  _exit (1);
}

/* The parent says MSG_CGROUP once init is in its cgroup. */
static void
wait_cgroup (struct child_ctx *c)
{
  char b;
  if (!c->cgroup_pending)
    return;
  if (read (c->sync, &b, 1) != 1 || b != MSG_CGROUP)
    _exit (1);
  c->cgroup_pending = false;
}

static bool
has_hooks (jv config, const char *kind)
{
  cleanup_jv jv hooks = dk_json_get_kind (config, "hooks", JV_KIND_OBJECT);
  cleanup_jv jv list = dk_json_get_kind (hooks, kind, JV_KIND_ARRAY);
  return dk_json_len (list) > 0;
}

static jv
hook_state (const char *id, pid_t pid, const char *bundle, const char *status, jv config)
{
  jv o = jv_object ();
  o = jv_object_set (o, jv_string ("ociVersion"), jv_string ("1.0.2-dev"));
  o = jv_object_set (o, jv_string ("id"), jv_string (id));
  o = jv_object_set (o, jv_string ("status"), jv_string (status));
  o = jv_object_set (o, jv_string ("pid"), dk_json_int64 (pid));
  o = jv_object_set (o, jv_string ("bundle"), jv_string (bundle));
  jv ann = dk_json_get_kind (config, "annotations", JV_KIND_OBJECT);
  if (jv_is_valid (ann))
    o = jv_object_set (o, jv_string ("annotations"), ann);
  else
    jv_free (ann);
  return o;
}

/* a new network namespace starts with lo down; runc brings it up */
static void
loopback_up (void)
{
  struct ifreq ifr = { 0 };
  int fd = socket (AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  if (fd < 0)
    return;
  strcpy (ifr.ifr_name, "lo");
  if (ioctl (fd, SIOCGIFFLAGS, &ifr) == 0)
    {
      ifr.ifr_flags |= IFF_UP | IFF_RUNNING;
      ioctl (fd, SIOCSIFFLAGS, &ifr);
    }
  close (fd);
}

static void __attribute__ ((noreturn)) child_main (struct child_ctx *c)
{
  dk_err_t err = NULL;
  char b;
  /* die with the runtime until setup is over: nothing half made survives it */
  prctl (PR_SET_PDEATHSIG, SIGKILL, 0, 0, 0);
  /* until execve, /proc/<pid>/exe of this process is dk-run itself: nobody
     in the container may open it (CVE-2019-5736); execve resets this */
  prctl (PR_SET_DUMPABLE, 0, 0, 0, 0);
  int keep[3 + sizeof c->joins / sizeof c->joins[0]] = { c->sync, c->fifo_fd, c->console_fd };
  for (int i = 0; i < c->njoins; i++)
    keep[3 + i] = c->joins[i].fd;
  dk_proc_close_inherited (c->plan->preserve_fds, keep, 3 + (size_t)c->njoins);
  /* the parent puts us in the cgroup and writes the id maps first */
  char go[32] = "";
  if (read (c->sync, go, sizeof go - 1) < 1 || go[0] != MSG_GO)
    _exit (1);
  /* our pid as the host sees it, for the hooks' state */
  pid_t host_pid = (pid_t)atoi (go + 1);
  if (c->clone_flags & CLONE_NEWUSER)
    {
      /* root of the new user namespace, as mapped by the parent */
      if (setresgid (0, 0, 0) < 0 || setresuid (0, 0, 0) < 0)
        child_fail (c->sync, (dk_make_error (&err, errno, "become root in user namespace"), err));
    }
  /* joined namespaces: the user namespace first, so that the others are
     joined with its privileges */
  for (int pass = 0; pass < 2; pass++)
    for (int i = 0; i < c->njoins; i++)
      if ((pass == 0) == (c->joins[i].type == CLONE_NEWUSER)
          && setns (c->joins[i].fd, c->joins[i].type) < 0)
        child_fail (c->sync, (dk_make_error (&err, errno, "join namespace"), err));
  /* hooks run in the container's cgroup, as runc's do */
  if (c->new_cgroupns || has_hooks (c->config, "prestart") || has_hooks (c->config, "createRuntime")
      || has_hooks (c->config, "createContainer"))
    wait_cgroup (c);
  /* after the cgroup move, so the namespace root is the container's cgroup */
  if (c->new_cgroupns && unshare (CLONE_NEWCGROUP) < 0)
    child_fail (c->sync, (dk_make_error (&err, errno, "unshare cgroup namespace"), err));
  setsid ();
  if (c->clone_flags & CLONE_NEWNET)
    loopback_up ();
  cleanup_jv jv lx = dk_json_get_kind (c->config, "linux", JV_KIND_OBJECT);
  const char *hostname = dk_json_str (c->config, "hostname");
  const char *domain = dk_json_str (c->config, "domainname");
  if (hostname && *hostname && sethostname (hostname, strlen (hostname)) < 0)
    child_fail (c->sync, (dk_make_error (&err, errno, "sethostname"), err));
  if (domain && *domain && setdomainname (domain, strlen (domain)) < 0)
    child_fail (c->sync, (dk_make_error (&err, errno, "setdomainname"), err));
  if (dk_rootfs_prepare (c->config, c->rootfs, c->cgroup, c->clone_flags & CLONE_NEWUSER, &err) < 0)
    child_fail (c->sync, err);
  if (has_hooks (c->config, "prestart") || has_hooks (c->config, "createRuntime"))
    {
      b = MSG_HOOKS;
      if (send (c->sync, &b, 1, MSG_NOSIGNAL) != 1 || read (c->sync, &b, 1) != 1
          || b != MSG_HOOKS_DONE)
        _exit (1);
    }
  if (has_hooks (c->config, "createContainer"))
    {
      cleanup_jv jv st = hook_state (c->id, host_pid, c->bundle, "created", c->config);
      if (dk_hooks_run (c->config, "createContainer", st, &err) < 0)
        child_fail (c->sync, err);
    }
  if (dk_rootfs_pivot (c->rootfs, c->no_pivot, &err) < 0 || dk_rootfs_finish (c->config, &err) < 0)
    child_fail (c->sync, err);
  if (c->console_fd >= 0)
    {
      if (dk_console_setup (c->console_fd, c->plan, &err) < 0)
        child_fail (c->sync, err);
      close (c->console_fd);
    }
  if (chdir (c->plan->cwd) < 0)
    child_fail (c->sync,
                (dk_make_error (&err, errno, "chdir to cwd (\"%s\") set in config.json failed",
                                c->plan->cwd),
                 err));
  if (dk_proc_find_exec (c->plan, &err) < 0)
    child_fail (c->sync, err);
  wait_cgroup (c);
  /* the runtime exits once it has our 'r': stop dying with it before that */
  prctl (PR_SET_PDEATHSIG, 0, 0, 0, 0);
  b = MSG_READY;
  if (send (c->sync, &b, 1, MSG_NOSIGNAL) != 1)
    _exit (1);
  close (c->sync);
  /* wait for `start`: opening a fifo for writing blocks until a reader comes */
  char path[64];
  snprintf (path, sizeof path, "/proc/self/fd/%d", c->fifo_fd);
  int fd = open (path, O_WRONLY | O_CLOEXEC);
  if (fd < 0 || write (fd, "0", 1) != 1)
    {
      dprintf (2, "dk-run: error: open exec fifo: %s\n", strerror (errno));
      _exit (1);
    }
  close (fd);
  close (c->fifo_fd);
  if (has_hooks (c->config, "startContainer"))
    {
      cleanup_jv jv st = hook_state (c->id, host_pid, c->bundle, "running", c->config);
      if (dk_hooks_run (c->config, "startContainer", st, &err) < 0)
        {
          dprintf (2, "dk-run: error: %s\n", err->msg);
          _exit (1);
        }
    }
  dk_proc_exec (c->plan);
}

static int
write_id_map (pid_t pid, const char *file, jv maps, dk_err_t *err)
{
  struct dk_buf b = DK_BUF_INIT;
  int n = dk_json_len (maps);
  for (int i = 0; i < n; i++)
    {
      cleanup_jv jv m = jv_array_get (jv_copy (maps), i);
      int64_t cid = 0, hid = 0, size = 0;
      dk_json_int (m, "containerID", &cid);
      dk_json_int (m, "hostID", &hid);
      dk_json_int (m, "size", &size);
      dk_buf_printf (&b, "%lld %lld %lld\n", (long long)cid, (long long)hid, (long long)size);
    }
  cleanup_free char *path = xasprintf ("/proc/%d/%s", (int)pid, file);
  cleanup_close int fd = open (path, O_WRONLY | O_CLOEXEC);
  int r = 0;
  if (fd < 0 || (b.len && write (fd, b.data, b.len) != (ssize_t)b.len))
    r = dk_make_error (err, errno, "write %s", file);
  dk_buf_free (&b);
  return r;
}

/* What a failed create leaves must go: init, its cgroup, the state dir. */
struct undo
{
  char *state_dir;
  char *cgroup;
  pid_t pid;
};

static void
undo_create (struct undo *u)
{
  if (u->pid > 0)
    {
      kill (u->pid, SIGKILL);
      waitpid (u->pid, NULL, 0);
    }
  if (u->cgroup)
    dk_cgroup_destroy (u->cgroup, true, NULL);
  if (u->state_dir)
    dk_remove_tree (u->state_dir, NULL);
}

static int
load_config (const char *bundle, jv *config, char **rootfs, dk_err_t *err)
{
  cleanup_free char *path = xasprintf ("%s/config.json", bundle);
  if (dk_json_read_file (path, config, err) < 0)
    return dk_error_wrap (err, "load config.json");
  if (jv_get_kind (*config) != JV_KIND_OBJECT)
    return dk_make_error_code (err, DK_ECODE_INVALID, 0, "config.json is not a JSON object");
  cleanup_jv jv root = dk_json_get_kind (*config, "root", JV_KIND_OBJECT);
  const char *rp = dk_json_str (root, "path");
  if (rp == NULL || *rp == '\0')
    return dk_make_error_code (err, DK_ECODE_INVALID, 0, "root.path is not set in config.json");
  cleanup_free char *abs = rp[0] == '/' ? xstrdup (rp) : xasprintf ("%s/%s", bundle, rp);
  char *real = realpath (abs, NULL);
  if (real == NULL)
    return dk_make_error_code (err, DK_ECODE_NOT_FOUND, 0, "rootfs (%s) does not exist", abs);
  *rootfs = real;
  return 0;
}

static int
parse_namespaces (jv config, struct child_ctx *c, dk_err_t *err)
{
  cleanup_jv jv lx = dk_json_get_kind (config, "linux", JV_KIND_OBJECT);
  cleanup_jv jv nss = dk_json_get_kind (lx, "namespaces", JV_KIND_ARRAY);
  int n = dk_json_len (nss);
  for (int i = 0; i < n; i++)
    {
      cleanup_jv jv ns = jv_array_get (jv_copy (nss), i);
      const char *type = dk_json_str (ns, "type"), *path = dk_json_str (ns, "path");
      int flag = 0;
      for (size_t k = 0; type && k < sizeof ns_types / sizeof ns_types[0]; k++)
        if (strcmp (type, ns_types[k].name) == 0)
          flag = ns_types[k].flag;
      if (flag == 0)
        return dk_make_error_code (err, DK_ECODE_INVALID, 0, "namespace type \"%s\" not supported",
                                   type ? type : "");
      if (path && *path)
        {
          int fd = open (path, O_RDONLY | O_CLOEXEC);
          if (fd < 0)
            return dk_make_error (err, errno, "open namespace `%s`", path);
          c->joins[c->njoins].fd = fd;
          c->joins[c->njoins++].type = flag;
          if (c->njoins >= 8)
            return dk_make_error_code (err, DK_ECODE_INVALID, 0, "too many namespaces");
        }
      else if (flag == CLONE_NEWCGROUP)
        c->new_cgroupns = true;
      else
        c->clone_flags |= flag;
    }
  if (!(c->clone_flags & CLONE_NEWNS))
    {
      bool joined = false;
      for (int i = 0; i < c->njoins; i++)
        joined |= c->joins[i].type == CLONE_NEWNS;
      if (!joined)
        return dk_make_error_code (err, DK_ECODE_INVALID, 0,
                                   "the mount namespace is required (linux.namespaces)");
    }
  return 0;
}

static jv
device_rule (bool allow, const char *type, int64_t major, int64_t minor, const char *access)
{
  jv r = jv_object ();
  r = jv_object_set (r, jv_string ("allow"), jv_bool (allow));
  r = jv_object_set (r, jv_string ("type"), jv_string (type));
  r = jv_object_set (r, jv_string ("major"), dk_json_int64 (major));
  r = jv_object_set (r, jv_string ("minor"), dk_json_int64 (minor));
  return jv_object_set (r, jv_string ("access"), jv_string (access));
}

/* The device rules the cgroup gets, as runc builds them: everything denied
   first (a new v1 devices cgroup inherits its parent's, usually "a *:* rwm",
   and a config need not start with a deny-all rule), then the config's
   rules, then the devices a container always needs.  linux.devices entries
   are not allowed by being listed: the config's rules decide (runc's
   dev.bats "device cgroup deny" creates /dev/kmsg and expects EPERM). */
static jv
with_default_devices (jv resources)
{
  if (jv_get_kind (resources) != JV_KIND_OBJECT)
    {
      jv_free (resources);
      resources = jv_object ();
    }
  jv rules = jv_array_append (jv_array (), device_rule (false, "a", -1, -1, "rwm"));
  jv own = dk_json_get_kind (resources, "devices", JV_KIND_ARRAY);
  if (jv_is_valid (own))
    rules = jv_array_concat (rules, own);
  else
    jv_free (own);
  static const struct
  {
    const char *type;
    int64_t major, minor;
    const char *access;
  } defaults[] = { { "c", -1, -1, "m" }, { "b", -1, -1, "m" },   { "c", 1, 3, "rwm" },
                   { "c", 1, 8, "rwm" }, { "c", 1, 7, "rwm" },   { "c", 5, 0, "rwm" },
                   { "c", 1, 5, "rwm" }, { "c", 1, 9, "rwm" },   { "c", 136, -1, "rwm" },
                   { "c", 5, 2, "rwm" }, { "c", 10, 200, "rwm" } };
  for (size_t i = 0; i < sizeof defaults / sizeof defaults[0]; i++)
    rules = jv_array_append (rules, device_rule (true, defaults[i].type, defaults[i].major,
                                                 defaults[i].minor, defaults[i].access));
  return jv_object_set (resources, jv_string ("devices"), rules);
}

static int
parent_setup (struct child_ctx *c, pid_t pid, jv lx, dk_err_t *err)
{
  cleanup_jv jv resources
      = with_default_devices (dk_json_get_kind (lx, "resources", JV_KIND_OBJECT));
  /* init is moved in after MSG_GO (see the top of this file) */
  if (dk_cgroup_create (c->cgroup, resources, 0, err) < 0)
    return -1;
  if (c->clone_flags & CLONE_NEWUSER)
    {
      cleanup_jv jv um = dk_json_get_kind (lx, "uidMappings", JV_KIND_ARRAY);
      cleanup_jv jv gm = dk_json_get_kind (lx, "gidMappings", JV_KIND_ARRAY);
      if (write_id_map (pid, "uid_map", um, err) < 0 || write_id_map (pid, "gid_map", gm, err) < 0)
        return -1;
    }
  cleanup_jv jv process = dk_json_get_kind (c->config, "process", JV_KIND_OBJECT);
  int64_t adj;
  if (dk_json_int (process, "oomScoreAdj", &adj))
    {
      char p[64], v[32];
      snprintf (p, sizeof p, "/proc/%d/oom_score_adj", (int)pid);
      snprintf (v, sizeof v, "%lld", (long long)adj);
      cleanup_close int fd = open (p, O_WRONLY | O_CLOEXEC);
      if (fd < 0 || write (fd, v, strlen (v)) < 0)
        return dk_make_error (err, errno, "set oom_score_adj");
    }
  return 0;
}

/* Messages from init until it is ready. */
static int
parent_wait_ready (struct child_ctx *c, int sock, pid_t pid, bool *eof, dk_err_t *err)
{
  for (;;)
    {
      char buf[8192];
      ssize_t n = dk_sync_recv (sock, buf, sizeof buf);
      if (n <= 0)
        {
          *eof = true;
          return dk_make_error (err, n < 0 ? errno : 0, "container init exited during setup");
        }
      if (buf[0] == MSG_READY)
        return 0;
      if (buf[0] == MSG_ERROR)
        {
          const char *code = buf + 1;
          const char *msg = code + strlen (code) + 1;
          return dk_make_error_code (err, msg <= buf + n ? code : DK_ECODE_INTERNAL, 0, "%s",
                                     msg <= buf + n ? msg : "setup failed");
        }
      if (buf[0] == MSG_HOOKS)
        {
          cleanup_jv jv st = hook_state (c->id, pid, c->bundle, "creating", c->config);
          if (dk_hooks_run (c->config, "prestart", st, err) < 0
              || dk_hooks_run (c->config, "createRuntime", st, err) < 0)
            return -1;
          char b = MSG_HOOKS_DONE;
          if (send (sock, &b, 1, MSG_NOSIGNAL) != 1)
            return dk_make_error (err, errno, "sync with init");
        }
    }
}

static int
create (const struct dk_create_opts *o, pid_t *out_pid, dk_err_t *err)
{
  cleanup_free char *bundle = realpath (o->bundle ? o->bundle : ".", NULL);
  if (bundle == NULL)
    return dk_make_error (err, errno, "bundle `%s`", o->bundle ? o->bundle : ".");
  cleanup_jv jv config = jv_invalid ();
  cleanup_free char *rootfs = NULL;
  if (load_config (bundle, &config, &rootfs, err) < 0)
    return -1;
  struct child_ctx c = { .config = config,
                         .id = o->id,
                         .bundle = bundle,
                         .rootfs = rootfs,
                         .fifo_fd = -1,
                         .console_fd = -1,
                         .no_pivot = o->no_pivot,
                         .cgroup_pending = true };
  cleanup_jv jv lx = dk_json_get_kind (config, "linux", JV_KIND_OBJECT);
  cleanup_jv jv process = dk_json_get_kind (config, "process", JV_KIND_OBJECT);
  cleanup_jv jv seccomp = dk_json_get_kind (lx, "seccomp", JV_KIND_OBJECT);
  struct dk_proc_plan plan;
  int ret = dk_proc_plan_build (process, seccomp, &plan, err);
  plan.preserve_fds = o->preserve_fds;
  plan.no_onlcr = o->console_fd > 0; /* run relays the pty itself */
  c.plan = &plan;
  if (ret == 0)
    ret = parse_namespaces (config, &c, err);
  bool has_console = o->console_socket || o->console_fd > 0;
  if (ret == 0 && plan.terminal && !has_console)
    ret = dk_make_error_code (
        err, DK_ECODE_INVALID, 0,
        "cannot allocate tty if runc will detach without setting console socket");
  if (ret == 0 && !plan.terminal && has_console)
    ret = dk_make_error_code (err, DK_ECODE_INVALID, 0,
                              "cannot use console socket if runc will not detach or allocate tty");
  cleanup_free char *cgroup = dk_cgroup_path (dk_json_str (lx, "cgroupsPath"), o->id);
  c.cgroup = cgroup;
  struct undo u = { 0 };
  cleanup_free char *dir = dk_state_dir (o->id);
  if (ret == 0 && dk_mkdir_p (dk_run_global.root, 0700, err) < 0)
    ret = -1;
  if (ret == 0 && mkdir (dir, 0711) < 0)
    ret = errno == EEXIST ? dk_make_error_code (err, DK_ECODE_CONFLICT, 0,
                                                "container with given ID already exists")
                          : dk_make_error (err, errno, "mkdir `%s`", dir);
  if (ret == 0)
    u.state_dir = dir;
  /* before the cgroup is made ours: a failure here must not remove it */
  if (ret == 0)
    ret = dk_cgroup_check_unused (cgroup, err);
  cleanup_free char *fifo = xasprintf ("%s/exec.fifo", dir);
  if (ret == 0
      && (mkfifo (fifo, 0622) < 0 || chmod (fifo, 0622) < 0
          || (c.fifo_fd = open (fifo, O_PATH | O_CLOEXEC)) < 0))
    ret = dk_make_error (err, errno, "create exec fifo");
  if (ret == 0 && o->console_fd > 0
      && (c.console_fd = fcntl (o->console_fd, F_DUPFD_CLOEXEC, 3)) < 0)
    ret = dk_make_error (err, errno, "dup console fd");
  else if (ret == 0 && o->console_socket
           && (c.console_fd = dk_console_connect (o->console_socket, err)) < 0)
    ret = -1;
  int sp[2] = { -1, -1 };
  if (ret == 0 && socketpair (AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sp) < 0)
    ret = dk_make_error (err, errno, "socketpair");
  /* a pid namespace is joined by the parent: it only applies to children */
  for (int i = 0; ret == 0 && i < c.njoins; i++)
    if (c.joins[i].type == CLONE_NEWPID && setns (c.joins[i].fd, CLONE_NEWPID) < 0)
      ret = dk_make_error (err, errno, "join pid namespace");
  pid_t pid = -1;
  if (ret == 0)
    {
      pid = (pid_t)syscall (SYS_clone, (unsigned long)c.clone_flags | SIGCHLD, NULL, NULL, NULL,
                            NULL);
      if (pid < 0)
        ret = dk_make_error (err, errno, "clone");
      else if (pid == 0)
        {
          close (sp[0]);
          c.sync = sp[1];
          child_main (&c);
        }
    }
  if (sp[1] >= 0)
    close (sp[1]);
  if (pid > 0)
    {
      u.pid = pid;
      u.cgroup = cgroup;
      char go[32];
      int golen = snprintf (go, sizeof go, "%c%d", MSG_GO, (int)pid);
      ret = parent_setup (&c, pid, lx, err);
      if (ret == 0 && send (sp[0], go, golen, MSG_NOSIGNAL) != golen)
        ret = dk_make_error (err, errno, "sync with init");
      cleanup_error dk_err_t cgerr = NULL;
      char cg = MSG_CGROUP;
      /* init may have failed already: its message says more than ours */
      if (ret == 0 && dk_cgroup_enter (cgroup, pid, &cgerr) < 0)
        shutdown (sp[0], SHUT_WR); /* init's read of MSG_CGROUP sees the end */
      else if (ret == 0)
        send (sp[0], &cg, 1, MSG_NOSIGNAL); /* a dead init shows below */
      bool eof = false;
      if (ret == 0)
        ret = parent_wait_ready (&c, sp[0], pid, &eof, err);
      if (ret < 0 && eof && cgerr)
        {
          dk_error_release (err);
          *err = cgerr;
          cgerr = NULL;
          dk_error_wrap (err, "cgroup `%s`", cgroup);
        }
    }
  if (sp[0] >= 0)
    close (sp[0]);
  if (c.fifo_fd >= 0)
    close (c.fifo_fd);
  if (c.console_fd >= 0)
    close (c.console_fd);
  for (int i = 0; i < c.njoins; i++)
    close (c.joins[i].fd);
  dk_proc_plan_free (&plan);
  struct dk_state st = { .id = (char *)o->id,
                         .dir = dir,
                         .pid = pid,
                         .bundle = bundle,
                         .rootfs = rootfs,
                         .cgroup = cgroup,
                         .owner = (char *)"",
                         .config = config };
  cleanup_free char *created = dk_now_rfc3339 ();
  st.created = created;
  if (ret == 0)
    {
      st.start_time = dk_proc_start_time (pid);
      ret = dk_state_save (&st, err);
    }
  if (ret == 0 && o->pid_file)
    {
      char buf[32];
      int len = snprintf (buf, sizeof buf, "%d", (int)pid);
      /* read by the caller at once (the shim, in its exec root): no fsync */
      ret = dk_scratch_write (o->pid_file, buf, len, 0644, err);
    }
  if (ret < 0)
    {
      undo_create (&u);
      return -1;
    }
  *out_pid = pid;
  return 0;
}

int
dk_container_create (const struct dk_create_opts *o, pid_t *out_pid, dk_err_t *err)
{
  if (dk_state_check_id (o->id, err) < 0)
    return -1;
  /* before the config is even read: see cgroup_warm.c */
  pid_t warm = dk_cgroup_warm_start ();
  int ret = create (o, out_pid, err);
  dk_cgroup_warm_reap (warm);
  return ret;
}

/* exec: a new process in a running container.  An intermediate child joins
   the container's namespaces (the pid namespace only applies to children),
   forks the process and exits; we are subreaper, so the process becomes our
   child and we can wait for it.  The same sync protocol as create. */
#include "run.h"
#include "cgroup.h"

#include "atomicfile.h"
#include "scratchfile.h"

#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

static jv
strv_append (jv arr, char **v)
{
  if (jv_get_kind (arr) != JV_KIND_ARRAY)
    {
      jv_free (arr);
      arr = jv_array ();
    }
  for (; v && *v; v++)
    arr = jv_array_append (arr, jv_string (*v));
  return arr;
}

static int
build_process (const struct dk_exec_opts *o, jv config, jv *out, dk_err_t *err)
{
  jv p;
  if (o->process_file)
    {
      if (dk_json_read_file (o->process_file, &p, err) < 0)
        return dk_error_wrap (err, "load process");
    }
  else
    {
      p = dk_json_get_kind (config, "process", JV_KIND_OBJECT);
      if (!jv_is_valid (p))
        p = jv_object ();
      if (o->args == NULL || o->args[0] == NULL)
        {
          jv_free (p);
          return dk_make_error_code (err, "usage", 0, "exec: args must not be empty");
        }
      p = jv_object_set (p, jv_string ("args"), strv_append (jv_array (), o->args));
      p = jv_object_set (p, jv_string ("terminal"), o->tty ? jv_true () : jv_false ());
      p = jv_object_set (p, jv_string ("env"), strv_append (dk_json_get (p, "env"), o->env));
      if (o->cwd)
        p = jv_object_set (p, jv_string ("cwd"), jv_string (o->cwd));
      if (o->nnp)
        p = jv_object_set (p, jv_string ("noNewPrivileges"), jv_true ());
      if (o->user)
        {
          unsigned uid = 0, gid = 0;
          int n = sscanf (o->user, "%u:%u", &uid, &gid);
          if (n < 1)
            {
              jv_free (p);
              return dk_make_error_code (err, DK_ECODE_INVALID, 0, "invalid user \"%s\"", o->user);
            }
          jv u = jv_object ();
          u = jv_object_set (u, jv_string ("uid"), dk_json_int64 (uid));
          u = jv_object_set (u, jv_string ("gid"), dk_json_int64 (n > 1 ? gid : 0));
          p = jv_object_set (p, jv_string ("user"), u);
        }
      if (o->caps && o->caps[0])
        {
          jv caps = dk_json_get_kind (p, "capabilities", JV_KIND_OBJECT);
          if (!jv_is_valid (caps))
            caps = jv_object ();
          for (const char *const *set = (const char *const[]){ "bounding", "effective", "permitted",
                                                               "inheritable", "ambient", NULL };
               *set; set++)
            caps = jv_object_set (caps, jv_string (*set),
                                  strv_append (dk_json_get (caps, *set), o->caps));
          p = jv_object_set (p, jv_string ("capabilities"), caps);
        }
    }
  *out = p;
  return 0;
}

static const struct
{
  const char *name;
  int type;
} ns_order[] = {
  /* user first: it grants the rights to join the others; mount last, since
     it changes what /proc is */
  { "user", CLONE_NEWUSER }, { "ipc", CLONE_NEWIPC }, { "uts", CLONE_NEWUTS },
  { "net", CLONE_NEWNET },   { "pid", CLONE_NEWPID }, { "cgroup", CLONE_NEWCGROUP },
  { "mnt", CLONE_NEWNS },
};

static void __attribute__ ((noreturn)) fail (int sync, dk_err_t err)
{
  struct dk_buf b = DK_BUF_INIT;
  dk_buf_addc (&b, 'e');
  dk_buf_adds (&b, err->code);
  dk_buf_addc (&b, '\0');
  dk_buf_adds (&b, err->msg);
  send (sync, b.data, b.len, MSG_NOSIGNAL);
  _exit (1);
}

static void __attribute__ ((noreturn))
intermediate (pid_t target, int sync, int console_fd, struct dk_proc_plan *plan)
{
  dk_err_t err = NULL;
  int fds[8];
  size_t n = sizeof ns_order / sizeof ns_order[0];
  for (size_t i = 0; i < n; i++)
    {
      char p[64], self[64];
      struct stat a, b;
      snprintf (p, sizeof p, "/proc/%d/ns/%s", (int)target, ns_order[i].name);
      snprintf (self, sizeof self, "/proc/self/ns/%s", ns_order[i].name);
      fds[i] = -1;
      /* a namespace we already share is not joined (setns to our own user
         namespace is refused) */
      if (stat (p, &a) < 0
          || (stat (self, &b) == 0 && a.st_ino == b.st_ino && a.st_dev == b.st_dev))
        continue;
      fds[i] = open (p, O_RDONLY | O_CLOEXEC);
      if (fds[i] < 0)
        fail (sync, (dk_make_error (&err, errno, "open `%s`", p), err));
    }
  for (size_t i = 0; i < n; i++)
    if (fds[i] >= 0 && setns (fds[i], ns_order[i].type) < 0)
      fail (sync, (dk_make_error (&err, errno, "join %s namespace", ns_order[i].name), err));
  pid_t pid = fork ();
  if (pid < 0)
    fail (sync, (dk_make_error (&err, errno, "fork"), err));
  if (pid > 0)
    {
      char msg[32];
      int len = snprintf (msg, sizeof msg, "p%d", (int)pid);
      send (sync, msg, len, MSG_NOSIGNAL);
      _exit (0);
    }
  prctl (PR_SET_DUMPABLE, 0, 0, 0, 0); /* see create.c: CVE-2019-5736 */
  dk_proc_close_inherited (plan->preserve_fds, (int[]){ sync, console_fd }, 2);
  char b;
  if (read (sync, &b, 1) != 1 || b != 'g')
    _exit (1);
  if (console_fd >= 0)
    {
      if (dk_console_setup (console_fd, plan, &err) < 0)
        fail (sync, err);
      close (console_fd);
    }
  if (chdir (plan->cwd) < 0)
    fail (sync, (dk_make_error (&err, errno, "chdir to cwd (\"%s\") failed", plan->cwd), err));
  if (dk_proc_find_exec (plan, &err) < 0)
    fail (sync, err);
  b = 'r';
  send (sync, &b, 1, MSG_NOSIGNAL);
  close (sync);
  dk_proc_exec (plan);
}

static int
wait_exec (int sock, pid_t *pid, const char *cgroup, dk_err_t *err)
{
  for (;;)
    {
      char buf[8192];
      ssize_t n = dk_sync_recv (sock, buf, sizeof buf);
      if (n <= 0)
        return dk_make_error (err, 0, "exec process exited during setup");
      if (buf[0] == 'p')
        {
          *pid = atoi (buf + 1);
          /* in the container's cgroup before it runs anything */
          if (dk_cgroup_enter (cgroup, *pid, err) < 0)
            return -1;
          char g = 'g';
          if (send (sock, &g, 1, MSG_NOSIGNAL) != 1)
            return dk_make_error (err, errno, "sync with exec process");
        }
      else if (buf[0] == 'r')
        return 0;
      else if (buf[0] == 'e')
        {
          const char *code = buf + 1, *msg = code + strlen (code) + 1;
          return dk_make_error_code (err, msg <= buf + n ? code : DK_ECODE_INTERNAL, 0, "%s",
                                     msg <= buf + n ? msg : "exec failed");
        }
    }
}

int
dk_container_exec (const struct dk_exec_opts *o, dk_err_t *err)
{
  struct dk_state st;
  if (dk_state_load (o->id, &st, err) < 0)
    return -1;
  int ret = 0;
  if (strcmp (dk_state_status (&st), "stopped") == 0)
    ret = dk_make_error_code (err, DK_ECODE_CONFLICT, 0, "cannot exec in a stopped container");
  /* the new process would join a frozen cgroup and hang until a resume */
  else if (strcmp (dk_state_status (&st), "paused") == 0 && !o->ignore_paused)
    ret = dk_make_error_code (
        err, DK_ECODE_CONFLICT, 0,
        "cannot exec in a paused container (use --ignore-paused to override)");
  cleanup_jv jv process = jv_invalid ();
  if (ret == 0)
    ret = build_process (o, st.config, &process, err);
  cleanup_jv jv lx = dk_json_get_kind (st.config, "linux", JV_KIND_OBJECT);
  cleanup_jv jv seccomp = dk_json_get_kind (lx, "seccomp", JV_KIND_OBJECT);
  struct dk_proc_plan plan = { 0 };
  if (ret == 0)
    ret = dk_proc_plan_build (process, seccomp, &plan, err);
  plan.preserve_fds = o->preserve_fds;
  if (ret == 0 && plan.terminal && o->console_socket == NULL && o->detach)
    ret = dk_make_error_code (
        err, DK_ECODE_INVALID, 0,
        "cannot allocate tty if runc will detach without setting console socket");
  /* a terminal without a console socket in the foreground: we hold the pty
     and relay it, as `run` does */
  bool relay = ret == 0 && plan.terminal && o->console_socket == NULL;
  plan.no_onlcr = relay;
  cleanup_close int console_fd = -1, relay_sock = -1;
  if (ret == 0 && o->console_socket && plan.terminal
      && (console_fd = dk_console_connect (o->console_socket, err)) < 0)
    ret = -1;
  int csp[2];
  if (relay && socketpair (AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, csp) < 0)
    ret = dk_make_error (err, errno, "socketpair");
  else if (relay)
    relay_sock = csp[0], console_fd = csp[1];
  int sp[2] = { -1, -1 };
  if (ret == 0 && socketpair (AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sp) < 0)
    ret = dk_make_error (err, errno, "socketpair");
  if (ret == 0)
    prctl (PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0);
  pid_t mid = ret == 0 ? fork () : -1;
  if (ret == 0 && mid < 0)
    ret = dk_make_error (err, errno, "fork");
  if (mid == 0)
    {
      close (sp[0]);
      intermediate (st.pid, sp[1], console_fd, &plan);
    }
  if (sp[1] >= 0)
    close (sp[1]);
  /* the pty comes from the process; our copy of its end would hide its death */
  if (relay && console_fd >= 0)
    {
      close (console_fd);
      console_fd = -1;
    }
  pid_t pid = -1;
  sigset_t all, old;
  sigfillset (&all);
  if (ret == 0)
    {
      if (!o->detach)
        sigprocmask (SIG_BLOCK, &all, &old);
      ret = wait_exec (sp[0], &pid, st.cgroup, err);
      waitpid (mid, NULL, 0);
    }
  cleanup_close int master = -1;
  if (ret == 0 && relay && (master = dk_console_recv (relay_sock, err)) < 0)
    ret = -1;
  if (sp[0] >= 0)
    close (sp[0]);
  dk_proc_plan_free (&plan);
  dk_state_free (&st);
  if (ret < 0)
    {
      if (pid > 0)
        {
          kill (pid, SIGKILL);
          waitpid (pid, NULL, 0);
        }
      return -1;
    }
  if (o->pid_file)
    {
      char buf[32];
      int len = snprintf (buf, sizeof buf, "%d", (int)pid);
      if (dk_scratch_write (o->pid_file, buf, len, 0644, err) < 0)
        return -1;
    }
  if (o->detach)
    return 0;
  if (relay)
    {
      int st = dk_pty_relay (pid, master);
      sigprocmask (SIG_SETMASK, &old, NULL);
      return st;
    }
  int status = 0;
  for (;;)
    {
      siginfo_t si;
      int ws;
      int sig = sigtimedwait (&all, &si, &(struct timespec){ 0, 200 * 1000 * 1000 });
      if (sig > 0 && sig != SIGCHLD && sig != SIGURG && sig != SIGWINCH)
        kill (pid, sig);
      pid_t r = waitpid (pid, &ws, WNOHANG);
      if (r == pid)
        {
          status = WIFEXITED (ws) ? WEXITSTATUS (ws) : 128 + WTERMSIG (ws);
          break;
        }
      if (r < 0 && errno == ECHILD)
        break;
    }
  sigprocmask (SIG_SETMASK, &old, NULL);
  return status;
}

static char **
strv_push (char **v, size_t *n, const char *s)
{
  v = xrealloc (v, sizeof (char *) * (*n + 2));
  v[(*n)++] = (char *)s;
  v[*n] = NULL;
  return v;
}

int
dk_cmd_exec (int argc, char **argv, dk_err_t *err)
{
  static const struct option opts[] = { { "process", required_argument, 0, 'p' },
                                        { "tty", no_argument, 0, 't' },
                                        { "detach", no_argument, 0, 'd' },
                                        { "pid-file", required_argument, 0, 'P' },
                                        { "console-socket", required_argument, 0, 'c' },
                                        { "cwd", required_argument, 0, 'w' },
                                        { "env", required_argument, 0, 'e' },
                                        { "user", required_argument, 0, 'u' },
                                        { "cap", required_argument, 0, 'C' },
                                        { "no-new-privs", no_argument, 0, 'n' },
                                        { "preserve-fds", required_argument, 0, 'f' },
                                        { "additional-gids", required_argument, 0, 'g' },
                                        { "apparmor", required_argument, 0, 'a' },
                                        { "process-label", required_argument, 0, 'l' },
                                        { "ignore-paused", no_argument, 0, 'i' },
                                        { 0, 0, 0, 0 } };
  struct dk_exec_opts o = { 0 };
  cleanup_free char **env = NULL, **caps = NULL;
  size_t nenv = 0, ncaps = 0;
  int c;
  optind = 0;
  while ((c = getopt_long_only (argc, argv, "+p:tde:u:c:", opts, NULL)) != -1)
    switch (c)
      {
      case 'p':
        o.process_file = optarg;
        break;
      case 't':
        o.tty = true;
        break;
      case 'd':
        o.detach = true;
        break;
      case 'P':
        o.pid_file = optarg;
        break;
      case 'c':
        o.console_socket = optarg;
        break;
      case 'w':
        o.cwd = optarg;
        break;
      case 'e':
        env = strv_push (env, &nenv, optarg);
        break;
      case 'u':
        o.user = optarg;
        break;
      case 'C':
        caps = strv_push (caps, &ncaps, optarg);
        break;
      case 'n':
        o.nnp = true;
        break;
      case 'f':
        o.preserve_fds = atoi (optarg);
        break;
      case 'i':
        o.ignore_paused = true;
        break;
      case 'g':
      case 'a':
      case 'l':
        break;
      default:
        return dk_make_error_code (err, "usage", 0, "exec: bad option");
      }
  if (optind >= argc)
    return dk_make_error_code (err, "usage", 0, "\"exec\" requires a container id");
  o.id = argv[optind++];
  o.args = argv + optind;
  o.env = env;
  o.caps = caps;
  return dk_container_exec (&o, err);
}

/* run in the foreground: create, start, forward signals, wait, delete.
   With terminal: true and no --console-socket, dk-run holds the pty itself
   and relays it to its own stdio (as runc does), in raw mode when stdin is
   a terminal, resizing the pty on SIGWINCH. */
#include "run.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <termios.h>
#include <unistd.h>

int
dk_console_recv (int sock, dk_err_t *err)
{
  char name[256], cbuf[CMSG_SPACE (sizeof (int))];
  struct iovec iov = { name, sizeof name };
  struct msghdr msg
      = { .msg_iov = &iov, .msg_iovlen = 1, .msg_control = cbuf, .msg_controllen = sizeof cbuf };
  if (recvmsg (sock, &msg, MSG_CMSG_CLOEXEC) < 0)
    return dk_make_error (err, errno, "receive the pty");
  struct cmsghdr *c = CMSG_FIRSTHDR (&msg);
  if (c == NULL || c->cmsg_type != SCM_RIGHTS)
    return dk_make_error (err, 0, "receive the pty: no fd");
  int fd;
  memcpy (&fd, CMSG_DATA (c), sizeof fd);
  return fd;
}

static bool
wants_terminal (const char *bundle)
{
  cleanup_free char *path = xasprintf ("%s/config.json", bundle ? bundle : ".");
  cleanup_jv jv config = jv_invalid ();
  if (dk_json_read_file (path, &config, NULL) < 0)
    return false;
  cleanup_jv jv process = dk_json_get_kind (config, "process", JV_KIND_OBJECT);
  bool t = false;
  return dk_json_bool (process, "terminal", &t) && t;
}

static void
copy_winsize (int from, int to)
{
  struct winsize ws;
  if (ioctl (from, TIOCGWINSZ, &ws) == 0)
    ioctl (to, TIOCSWINSZ, &ws);
}

static int
pump (int from, int to)
{
  char buf[8192];
  ssize_t n = read (from, buf, sizeof buf);
  if (n < 0 && (errno == EINTR || errno == EAGAIN))
    return 0;
  if (n <= 0)
    return -1;
  dk_write_all (to, buf, n);
  return 0;
}

/* Forwards signals to pid and, with a pty master (else -1), relays it to
   our stdio until pid exits; returns its status.  All signals must be
   blocked by the caller. */
int
dk_pty_relay (pid_t pid, int master)
{
  bool relay = master >= 0;
  sigset_t all;
  sigfillset (&all);
  cleanup_close int sfd = signalfd (-1, &all, SFD_CLOEXEC);
  struct termios saved;
  bool raw = relay && isatty (0) && tcgetattr (0, &saved) == 0;
  if (raw)
    {
      struct termios t = saved;
      cfmakeraw (&t);
      tcsetattr (0, TCSANOW, &t);
    }
  if (relay && isatty (0))
    copy_winsize (0, master);
  int status = 0;
  bool in_open = relay, out_open = relay;
  for (;;)
    {
      struct pollfd p[3] = { { sfd, POLLIN, 0 },
                             { in_open ? 0 : -1, POLLIN, 0 },
                             { out_open ? master : -1, POLLIN, 0 } };
      int n = poll (p, 3, 200);
      if (n > 0 && (p[0].revents & POLLIN))
        {
          struct signalfd_siginfo si;
          if (read (sfd, &si, sizeof si) == sizeof si)
            {
              int sig = (int)si.ssi_signo;
              if (sig == SIGWINCH && relay)
                copy_winsize (0, master);
              else if (sig != SIGCHLD && sig != SIGURG && sig != SIGWINCH)
                kill (pid, sig);
            }
        }
      if (n > 0 && p[1].revents && pump (0, master) < 0)
        in_open = false;
      if (n > 0 && p[2].revents && pump (master, 1) < 0)
        out_open = false;
      /* a timeout also checks: the exit may predate the signalfd */
      int ws;
      if (waitpid (pid, &ws, WNOHANG) == pid)
        {
          status = WIFEXITED (ws) ? WEXITSTATUS (ws) : 128 + WTERMSIG (ws);
          while (out_open && pump (master, 1) == 0)
            {
              struct pollfd q = { master, POLLIN, 0 };
              if (poll (&q, 1, 0) <= 0)
                break;
            }
          break;
        }
    }
  if (raw)
    tcsetattr (0, TCSANOW, &saved);
  return status;
}

int
dk_container_run (const struct dk_create_opts *o, bool detach, dk_err_t *err)
{
  struct dk_create_opts co = *o;
  int sp[2] = { -1, -1 };
  bool relay = !detach && !o->console_socket && wants_terminal (o->bundle);
  if (relay && socketpair (AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sp) < 0)
    return dk_make_error (err, errno, "socketpair");
  co.console_fd = relay ? sp[1] : 0;
  pid_t pid;
  int r = dk_container_create (&co, &pid, err);
  if (relay)
    close (sp[1]);
  cleanup_close int master = -1;
  if (r == 0 && relay)
    r = master = dk_console_recv (sp[0], err);
  if (sp[0] >= 0)
    close (sp[0]);
  if (r < 0)
    {
      if (master < 0 && relay)
        dk_container_delete (o->id, true, NULL);
      return -1;
    }
  sigset_t all, old;
  sigfillset (&all);
  if (!detach)
    sigprocmask (SIG_BLOCK, &all, &old);
  if (dk_container_start (o->id, err) < 0)
    {
      dk_container_delete (o->id, true, NULL);
      return -1;
    }
  if (detach)
    return 0;
  int status = dk_pty_relay (pid, relay ? master : -1);
  sigprocmask (SIG_SETMASK, &old, NULL);
  if (dk_container_delete (o->id, true, err) < 0)
    return -1;
  return status;
}

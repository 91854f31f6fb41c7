/* terminal: true.  The pty is opened inside the container (its devpts) and
   the master goes to the caller over --console-socket with SCM_RIGHTS. */
#include "fdpass.h"
#include "run.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mount.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <termios.h>
#include <unistd.h>

int
dk_console_connect (const char *path, dk_err_t *err)
{
  struct sockaddr_un addr = { .sun_family = AF_UNIX };
  if (strlen (path) >= sizeof addr.sun_path)
    return dk_make_error_code (err, DK_ECODE_INVALID, 0, "console socket path too long: %s", path);
  strcpy (addr.sun_path, path);
  int fd = socket (AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0)
    return dk_make_error (err, errno, "socket");
  if (connect (fd, (struct sockaddr *)&addr, sizeof addr) < 0)
    {
      int e = errno;
      close (fd);
      return dk_make_error (err, e, "connect to console socket `%s`", path);
    }
  return fd;
}

static int
send_fd (int sock, int fd, const char *name, dk_err_t *err)
{
  if (dk_send_fds (sock, name, strlen (name), &fd, 1, 0) < 0)
    return dk_make_error (err, errno, "send console fd");
  return 0;
}

int
dk_console_setup (int sock, const struct dk_proc_plan *plan, dk_err_t *err)
{
  int master = open ("/dev/ptmx", O_RDWR | O_NOCTTY | O_CLOEXEC);
  if (master < 0)
    return dk_make_error (err, errno, "open /dev/ptmx");
  char name[64];
  if (unlockpt (master) < 0 || ptsname_r (master, name, sizeof name) != 0)
    {
      int e = errno;
      close (master);
      return dk_make_error (err, e, "unlock pty");
    }
  int slave = open (name, O_RDWR | O_NOCTTY | O_CLOEXEC);
  if (slave < 0)
    {
      int e = errno;
      close (master);
      return dk_make_error (err, e, "open `%s`", name);
    }
  /* before the process runs: its first output must not be translated */
  struct termios t;
  if (plan->no_onlcr && tcgetattr (slave, &t) == 0)
    {
      t.c_oflag &= ~ONLCR;
      tcsetattr (slave, TCSANOW, &t);
    }
  /* process.consoleSize: the size the process sees from its start */
  if (plan->rows && plan->cols)
    ioctl (slave, TIOCSWINSZ, &(struct winsize){ .ws_row = plan->rows, .ws_col = plan->cols });
  /* /dev/console is the pty, as a container's console is expected to be */
  mount (name, "/dev/console", NULL, MS_BIND, NULL);
  int r = send_fd (sock, master, name, err);
  close (master);
  if (r < 0)
    {
      close (slave);
      return -1;
    }
  if (setsid () < 0 && errno != EPERM)
    {
      close (slave);
      return dk_make_error (err, errno, "setsid");
    }
  if (ioctl (slave, TIOCSCTTY, 0) < 0)
    {
      int e = errno;
      close (slave);
      return dk_make_error (err, e, "set controlling terminal");
    }
  for (int i = 0; i < 3; i++)
    if (dup2 (slave, i) < 0)
      {
        int e = errno;
        close (slave);
        return dk_make_error (err, e, "dup2 pty");
      }
  close (slave);
  return 0;
}

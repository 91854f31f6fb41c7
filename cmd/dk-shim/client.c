/* `dk-shim ctl`: a small client of the shim socket for shells and tests.
   Sends one request; prints the answer line; for attach/exec, copies the
   stream (stdout frames to stdout, stderr frames to stderr) and its own
   stdin to the shim, half-closing at EOF; exits with an exec's exit code. */
#include "shim.h"
#include "cleanup.h"
#include "stdcopy.h"

#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

static const char ctl_usage[]
    = "Usage: dk-shim ctl [--no-stdin] STATEDIR|SOCKET REQUEST-JSON\n"
      "Prints the answer; for attach and exec the answer goes to stderr and the\n"
      "stream to stdout/stderr; exits with the exec's exit code.\n";

static int exit_code = -1;

static void
write_all (int fd, const char *p, size_t n)
{
  while (n > 0)
    {
      ssize_t w = write (fd, p, n);
      if (w < 0 && errno == EINTR)
        continue;
      if (w < 0)
        return;
      p += w;
      n -= (size_t)w;
    }
}

static struct dk_buf control = DK_BUF_INIT;

static void
on_frame (int stream, const char *data, size_t len, int end, void *arg)
{
  if (stream == DK_STDCOPY_SYSTEM)
    {
      dk_buf_add (&control, data, len);
      if (end)
        {
          const char *p = strstr (control.data ? control.data : "", "\"exit_code\":");
          if (p)
            exit_code = atoi (p + 12);
          dk_buf_reset (&control);
        }
      return;
    }
  write_all (stream == DK_STDCOPY_STDERR ? 2 : 1, data, len);
}

int
shim_ctl_main (int argc, char **argv)
{
  bool use_stdin = true;
  const char *pos[2] = { NULL, NULL };
  int npos = 0;
  for (int i = 1; i < argc; i++)
    {
      if (strcmp (argv[i], "--no-stdin") == 0)
        use_stdin = false;
      else if (npos < 2)
        pos[npos++] = argv[i];
      else
        npos = 3;
    }
  if (npos != 2)
    {
      fputs (ctl_usage, stderr);
      return 2;
    }
  const char *target = pos[0], *req = pos[1];
  struct sockaddr_un addr = { .sun_family = AF_UNIX };
  size_t tl = strlen (target);
  if (tl > 5 && strcmp (target + tl - 5, ".sock") == 0)
    snprintf (addr.sun_path, sizeof addr.sun_path, "%s", target);
  else if (snprintf (addr.sun_path, sizeof addr.sun_path, "%s/shim.sock", target)
           >= (int)sizeof addr.sun_path)
    {
      fprintf (stderr, "dk-shim: error: socket path too long\n");
      return 1;
    }
  cleanup_close int fd = socket (AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0 || connect (fd, (struct sockaddr *)&addr, sizeof addr) < 0)
    {
      fprintf (stderr, "dk-shim: error: connect `%s`: %s\n", addr.sun_path, strerror (errno));
      return 1;
    }
  write_all (fd, req, strlen (req));
  write_all (fd, "\n", 1);

  /* the answer line */
  struct dk_buf in = DK_BUF_INIT;
  char buf[16384];
  char *nl = NULL;
  while ((nl = in.len ? memchr (in.data, '\n', in.len) : NULL) == NULL)
    {
      ssize_t n = read (fd, buf, sizeof buf);
      if (n < 0 && errno == EINTR)
        continue;
      if (n <= 0)
        {
          fprintf (stderr, "dk-shim: error: the shim closed the connection\n");
          return 1;
        }
      dk_buf_add (&in, buf, (size_t)n);
    }
  size_t llen = (size_t)(nl - in.data) + 1;
  bool ok = memmem (in.data, llen, "\"type\":\"ok\"", 11) != NULL;
  bool stream = ok
                && (strstr (req, "\"attach\"")
                    || (strstr (req, "\"exec\"") && !strstr (req, "\"detach\":true")));
  write_all (stream ? 2 : 1, in.data, llen);
  if (!stream)
    return memmem (in.data, llen, "\"type\":\"error\"", 14) ? 1 : 0;

  struct dk_stdcopy_decoder dec = DK_STDCOPY_DECODER_INIT;
  dk_err_t err = NULL;
  if (dk_stdcopy_decode (&dec, in.data + llen, in.len - llen, on_frame, NULL, &err) < 0)
    {
      dk_error_print ("dk-shim", err);
      return 1;
    }
  dk_buf_free (&in);
  bool in_open = use_stdin;
  for (;;)
    {
      struct pollfd p[2] = { { fd, POLLIN, 0 }, { in_open ? 0 : -1, POLLIN, 0 } };
      if (poll (p, 2, -1) < 0 && errno != EINTR)
        return 1;
      if (p[1].revents)
        {
          ssize_t n = read (0, buf, sizeof buf);
          if (n > 0)
            write_all (fd, buf, (size_t)n);
          else if (n == 0 || errno != EINTR)
            {
              shutdown (fd, SHUT_WR);
              in_open = false;
            }
        }
      if (p[0].revents)
        {
          ssize_t n = read (fd, buf, sizeof buf);
          if (n < 0 && errno == EINTR)
            continue;
          if (n <= 0)
            break;
          if (dk_stdcopy_decode (&dec, buf, (size_t)n, on_frame, NULL, &err) < 0)
            {
              dk_error_print ("dk-shim", err);
              return 1;
            }
        }
    }
  dk_buf_free (&control);
  return exit_code >= 0 ? exit_code : 0;
}

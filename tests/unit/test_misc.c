/* buf, log and cleanup helpers */
#include "tap.h"
#include "buf.h"
#include "cleanup.h"
#include "log.h"

#include <fcntl.h>
#include <unistd.h>

static void
test_buf (void)
{
  struct dk_buf b = DK_BUF_INIT;
  dk_buf_adds (&b, "hello");
  dk_buf_addc (&b, ' ');
  dk_buf_printf (&b, "%s %d", "world", 42);
  is_str (b.data, "hello world 42", "buf: adds, addc, printf");
  ok (b.len == 14, "buf: length");
  dk_buf_consume (&b, 6);
  is_str (b.data, "world 42", "buf: consume drops the front");
  for (int i = 0; i < 10000; i++)
    dk_buf_addc (&b, 'x');
  ok (b.len == 10008 && b.data[b.len] == '\0', "buf: grows and stays NUL-terminated");
  char *s = dk_buf_steal (&b);
  ok (s && strlen (s) == 10008 && b.len == 0, "buf: steal hands the data over");
  free (s);
  char *e = dk_buf_steal (&b);
  is_str (e, "", "buf: steal of an empty buffer is an empty string");
  free (e);
  dk_buf_add (&b, "a\0b", 3);
  ok (b.len == 3 && memcmp (b.data, "a\0b", 3) == 0, "buf: binary data");
  dk_buf_reset (&b);
  ok (b.len == 0, "buf: reset");
  dk_buf_free (&b);
}

static char *
capture_stderr (void (*fn) (void))
{
  char path[] = "/tmp/dk-log-XXXXXX";
  int fd = mkstemp (path);
  int saved = dup (2);
  fflush (stderr);
  dup2 (fd, 2);
  fn ();
  fflush (stderr);
  dup2 (saved, 2);
  close (saved);
  lseek (fd, 0, SEEK_SET);
  char buf[1024] = "";
  ssize_t n = read (fd, buf, sizeof buf - 1);
  buf[n > 0 ? n : 0] = '\0';
  close (fd);
  unlink (path);
  return xstrdup (buf);
}

static void
log_some (void)
{
  dk_debug ("hidden %d", 1);
  dk_info ("shown %d", 2);
  dk_warn ("warned");
}

static void
log_quiet (void)
{
  dk_log_set_level (DK_LOG_ERROR);
  dk_warn ("not shown");
  dk_errorf ("bad %s", "thing");
}

static void
test_log (void)
{
  ok (dk_log_parse_level ("debug") == DK_LOG_DEBUG, "log: parse debug");
  ok (dk_log_parse_level ("warning") == DK_LOG_WARN, "log: warning is warn");
  ok (dk_log_parse_level ("loud") == -1, "log: unknown level is -1");
  dk_log_init ("/usr/bin/dk-test", DK_LOG_INFO);
  is_str (dk_log_prog (), "dk-test", "log: program name without directory");
  cleanup_free char *out = capture_stderr (log_some);
  is_str (out, "dk-test: info: shown 2\ndk-test: warn: warned\n",
          "log: lines below the level are dropped");
  cleanup_free char *q = capture_stderr (log_quiet);
  is_str (q, "dk-test: error: bad thing\n", "log: set_level raises the threshold");
  ok (dk_log_get_level () == DK_LOG_ERROR, "log: get_level");
}

static void
test_cleanup (void)
{
  cleanup_free char *s = xasprintf ("%s-%d", "a", 1);
  is_str (s, "a-1", "cleanup: xasprintf");
  cleanup_free char *d = xstrndup ("abcdef", 3);
  is_str (d, "abc", "cleanup: xstrndup");
  int fd = open ("/dev/null", O_RDONLY | O_CLOEXEC);
  int got;
  {
    cleanup_close int owned = fd;
    got = steal_fd (&owned);
  }
  ok (got == fd && fcntl (fd, F_GETFD) >= 0, "cleanup: a stolen fd is not closed");
  {
    cleanup_close int owned = got;
    (void)owned;
  }
  ok (fcntl (fd, F_GETFD) < 0, "cleanup: cleanup_close closes");
  char *p = xstrdup ("x");
  char *q = steal_ptr (&p);
  ok (p == NULL && q != NULL, "cleanup: steal_ptr");
  free (q);
  char *z = xzalloc (16);
  int zero = 1;
  for (int i = 0; i < 16; i++)
    zero &= z[i] == 0;
  ok (zero, "cleanup: xzalloc zeroes");
  free (z);
}

int
main (void)
{
  test_buf ();
  test_log ();
  test_cleanup ();
  return tap_done ();
}

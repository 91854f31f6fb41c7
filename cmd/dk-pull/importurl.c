/* docker import from a URL, as moby does it: the body is fetched (status
   "Downloading from URL", then "Importing" with the bytes so far) and
   imported as a one-layer image; an answer other than 2xx is an error that
   names the URL, the status and the body, as moby's (a 500 of the API). */
#include "importurl.h"
#include "cleanup.h"
#include "progress.h"

#include <curl/curl.h>
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "atomicfile.h"

struct fetch
{
  int fd;
  int64_t done, total, last_ms;
  int werrno;
  char status[64]; /* "404 Not Found" of the last status line */
};

/* the status line of each response (a redirect's too): the last one stays */
static size_t
on_header (char *p, size_t sz, size_t n, void *ud)
{
  struct fetch *f = ud;
  size_t len = sz * n;
  if (len > 9 && !strncmp (p, "HTTP/", 5))
    {
      const char *sp = memchr (p, ' ', len);
      size_t rest = sp ? len - (size_t)(sp + 1 - p) : 0;
      while (rest > 0 && (sp[rest] == '\r' || sp[rest] == '\n'))
        rest--;
      snprintf (f->status, sizeof f->status, "%.*s", (int)rest, sp ? sp + 1 : "");
    }
  return len;
}

static size_t
on_data (char *p, size_t sz, size_t n, void *ud)
{
  struct fetch *f = ud;
  if (write_all (f->fd, p, sz * n) < 0)
    {
      f->werrno = errno;
      return 0;
    }
  f->done += (int64_t)(sz * n);
  int64_t now = progress_now_ms ();
  if (now - f->last_ms >= 100)
    {
      f->last_ms = now;
      progress ("Importing", NULL, f->done, f->total);
    }
  return sz * n;
}

static int
on_info (void *ud, curl_off_t dltotal, curl_off_t dlnow, curl_off_t ult, curl_off_t ulnow)
{
  struct fetch *f = ud;
  if (dltotal > 0)
    f->total = (int64_t)dltotal;
  return 0;
}

static int
fetch (const char *url, int fd, dk_err_t *err)
{
  struct fetch f = { .fd = fd };
  CURL *h = curl_easy_init ();
  if (h == NULL)
    return dk_make_error (err, 0, "curl_easy_init failed");
  char ebuf[CURL_ERROR_SIZE] = "";
  curl_easy_setopt (h, CURLOPT_URL, url);
  curl_easy_setopt (h, CURLOPT_FOLLOWLOCATION, 1L);
  curl_easy_setopt (h, CURLOPT_MAXREDIRS, 10L);
  curl_easy_setopt (h, CURLOPT_PROTOCOLS_STR, "http,https");
  curl_easy_setopt (h, CURLOPT_REDIR_PROTOCOLS_STR, "http,https");
  curl_easy_setopt (h, CURLOPT_WRITEFUNCTION, on_data);
  curl_easy_setopt (h, CURLOPT_WRITEDATA, &f);
  curl_easy_setopt (h, CURLOPT_XFERINFOFUNCTION, on_info);
  curl_easy_setopt (h, CURLOPT_XFERINFODATA, &f);
  curl_easy_setopt (h, CURLOPT_NOPROGRESS, 0L);
  curl_easy_setopt (h, CURLOPT_ERRORBUFFER, ebuf);
  curl_easy_setopt (h, CURLOPT_NOSIGNAL, 1L);
  curl_easy_setopt (h, CURLOPT_HEADERFUNCTION, on_header);
  curl_easy_setopt (h, CURLOPT_HEADERDATA, &f);
  CURLcode rc = curl_easy_perform (h);
  long code = 0;
  curl_easy_getinfo (h, CURLINFO_RESPONSE_CODE, &code);
  curl_easy_cleanup (h);
  if (f.werrno)
    return dk_make_error (err, f.werrno, "import from %s: write", url);
  if (rc == CURLE_OK && code >= 400)
    {
      /* moby's text: the status line, then the body the server gave */
      char body[1024];
      ssize_t nb = pread (fd, body, sizeof body - 1, 0);
      body[nb > 0 ? nb : 0] = 0;
      char *b = body;
      while (*b == ' ' || *b == '\n' || *b == '\r' || *b == '\t')
        b++;
      for (size_t e = strlen (b); e > 0 && strchr (" \n\r\t", b[e - 1]); e--)
        b[e - 1] = 0;
      return dk_make_error (err, 0, "failed to GET %s with status %s: %s", url,
                            f.status[0] ? f.status : "error", b);
    }
  if (rc != CURLE_OK)
    return dk_make_error_code (err, DK_ECODE_UNAVAILABLE, 0, "Get \"%s\": %s", url,
                               *ebuf ? ebuf : curl_easy_strerror (rc));
  progress ("Importing", NULL, f.done, f.done);
  return 0;
}

int
import_url (const struct graph *g, const char *url, char *const *args, int nargs, jv *result,
            dk_err_t *err)
{
  cleanup_free char *full = strstr (url, "://") ? xstrdup (url) : xasprintf ("http://%s", url);
  if (strncmp (full, "http://", 7) && strncmp (full, "https://", 8))
    return dk_make_error_code (err, DK_ECODE_INVALID, 0, "unsupported URL scheme: %s", full);
  cleanup_free char *dir = xasprintf ("%s/tmp", g->root);
  if (dk_mkdir_p (dir, 0700, err) < 0)
    return -1;
  /* unlinked at once: nothing is left by a failure or a kill */
  cleanup_close int fd = open (dir, O_TMPFILE | O_RDWR | O_CLOEXEC, 0600);
  if (fd < 0)
    return dk_make_error (err, errno, "temporary file in `%s`", dir);
  cleanup_free char *what = xasprintf ("Downloading from %s", full);
  progress (what, NULL, -1, 0);
  if (fetch (full, fd, err) < 0)
    return -1;
  if (lseek (fd, 0, SEEK_SET) < 0)
    return dk_make_error (err, errno, "seek");
  cleanup_free const char **argv = xzalloc ((nargs + 3) * sizeof *argv);
  int n = 0;
  argv[n++] = "import";
  for (int i = 0; i < nargs; i++)
    argv[n++] = args[i];
  argv[n++] = "-";
  return graph_run (g, argv, fd, result, err);
}

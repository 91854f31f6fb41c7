/* lib/cgroup: path normalisation, and a real cgroup made, filled, listed
   and removed when running as root on a cgroup hierarchy. */
#include "cgroup.h"
#include "cleanup.h"

#include <stdlib.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "tap.h"

static void
paths (void)
{
  cleanup_free char *a = dk_cgroup_path (NULL, "abc");
  is_str (a, "/dk-run/abc", "cgroup: no cgroupsPath gives /dk-run/<id>");
  cleanup_free char *b = dk_cgroup_path ("/docker/123", "x");
  is_str (b, "/docker/123", "cgroup: an absolute path is kept");
  cleanup_free char *c = dk_cgroup_path ("docker/123", "x");
  is_str (c, "/docker/123", "cgroup: a relative path is made absolute");
  cleanup_free char *d = dk_cgroup_path ("system.slice:docker:abc", "x");
  is_str (d, "/system.slice/docker-abc.scope", "cgroup: systemd slice:prefix:name");
  cleanup_free char *e = dk_cgroup_path (":docker:abc", "x");
  is_str (e, "/system.slice/docker-abc.scope", "cgroup: systemd form with an empty slice");
}

static void
real_cgroup (void)
{
  if (geteuid () != 0 || access ("/sys/fs/cgroup/pids", W_OK) != 0)
    {
      skip ("needs root and a v1 pids hierarchy", "cgroup: create, list, destroy");
      return;
    }
  char path[64];
  snprintf (path, sizeof path, "/dk-unit-test-%d", (int)getpid ());
  pid_t child = fork ();
  if (child == 0)
    {
      pause ();
      _exit (0);
    }
  dk_err_t err = NULL;
  jv res = jv_parse ("{\"pids\": {\"limit\": 33}}");
  int r = dk_cgroup_create (path, res, child, &err);
  jv_free (res);
  ok (r == 0, "cgroup: create with a pids limit and a process");
  cleanup_free char *dir = dk_cgroup_dir (path, "pids");
  cleanup_free char *max = xasprintf ("%s/pids.max", dir);
  char buf[32] = "";
  FILE *f = fopen (max, "re");
  if (f)
    {
      if (fgets (buf, sizeof buf, f) == NULL)
        buf[0] = '\0';
      fclose (f);
    }
  is_str (buf, "33\n", "cgroup: pids.max written");
  pid_t *pids = NULL;
  size_t n = 0;
  ok (dk_cgroup_pids (path, &pids, &n, &err) == 0 && n == 1 && pids[0] == child,
      "cgroup: the process is listed");
  free (pids);
  ok (dk_cgroup_destroy (path, true, &err) == 0, "cgroup: destroy kills and removes");
  struct stat st;
  ok (stat (dir, &st) < 0, "cgroup: the directory is gone");
  waitpid (child, NULL, 0);
  dk_error_release (&err);
}

int
main (void)
{
  paths ();
  real_cgroup ();
  return tap_done ();
}

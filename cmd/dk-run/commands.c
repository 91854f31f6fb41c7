/* The subcommands' command lines (runc's options) and output formats. */
#include "run.h"
#include "cgroup.h"

#include <dirent.h>
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

static int
usage_error (dk_err_t *err, const char *fmt, const char *arg)
{
  dk_make_error_code (err, "usage", 0, fmt, arg);
  return -1;
}

static int
one_id (int argc, char **argv, const char *cmd, const char **id, dk_err_t *err)
{
  if (optind >= argc)
    return usage_error (err, "\"%s\" requires a container id", cmd);
  *id = argv[optind++];
  return 0;
}

static int
create_like (int argc, char **argv, bool is_run, dk_err_t *err)
{
  static const struct option opts[] = {
    { "bundle", required_argument, 0, 'b' },   { "console-socket", required_argument, 0, 'c' },
    { "pid-file", required_argument, 0, 'p' }, { "no-pivot", no_argument, 0, 'n' },
    { "no-new-keyring", no_argument, 0, 'k' }, { "preserve-fds", required_argument, 0, 'f' },
    { "detach", no_argument, 0, 'd' },         { "keep", no_argument, 0, 'K' },
    { "no-subreaper", no_argument, 0, 's' },   { 0, 0, 0, 0 }
  };
  struct dk_create_opts o = { 0 };
  bool detach = false;
  int c;
  optind = 0;
  while ((c = getopt_long_only (argc, argv, "+b:d", opts, NULL)) != -1)
    switch (c)
      {
      case 'b':
        o.bundle = optarg;
        break;
      case 'c':
        o.console_socket = optarg;
        break;
      case 'p':
        o.pid_file = optarg;
        break;
      case 'n':
        o.no_pivot = true;
        break;
      case 'f':
        o.preserve_fds = atoi (optarg);
        break;
      case 'd':
        detach = true;
        break;
      case 'k':
      case 'K':
      case 's':
        break;
      default:
        return usage_error (err, "%s: bad option", argv[0]);
      }
  if (one_id (argc, argv, argv[0], &o.id, err) < 0)
    return -1;
  if (!is_run)
    {
      pid_t pid;
      return dk_container_create (&o, &pid, err);
    }
  return dk_container_run (&o, detach, err);
}

int
dk_cmd_create (int argc, char **argv, dk_err_t *err)
{
  return create_like (argc, argv, false, err);
}

int
dk_cmd_run (int argc, char **argv, dk_err_t *err)
{
  return create_like (argc, argv, true, err);
}

int
dk_cmd_start (int argc, char **argv, dk_err_t *err)
{
  const char *id;
  optind = 1;
  if (one_id (argc, argv, "start", &id, err) < 0)
    return -1;
  return dk_container_start (id, err);
}

int
dk_cmd_state (int argc, char **argv, dk_err_t *err)
{
  const char *id;
  optind = 1;
  if (one_id (argc, argv, "state", &id, err) < 0)
    return -1;
  struct dk_state st;
  if (dk_state_load (id, &st, err) < 0)
    return -1;
  jv o = dk_state_json (&st, dk_state_status (&st));
  if (dk_cgroup_oom_kills (st.cgroup) > 0)
    o = jv_object_set (o, jv_string ("oomKilled"), jv_true ());
  dk_state_free (&st);
  dk_jsonl_write (stdout, o);
  return 0;
}

int
dk_cmd_kill (int argc, char **argv, dk_err_t *err)
{
  static const struct option opts[] = { { "all", no_argument, 0, 'a' }, { 0, 0, 0, 0 } };
  bool all = false;
  int c;
  optind = 0;
  while ((c = getopt_long_only (argc, argv, "+a", opts, NULL)) != -1)
    if (c == 'a')
      all = true;
    else
      return usage_error (err, "%s: bad option", argv[0]);
  const char *id;
  if (one_id (argc, argv, "kill", &id, err) < 0)
    return -1;
  return dk_container_kill (id, optind < argc ? argv[optind] : NULL, all, err);
}

int
dk_cmd_delete (int argc, char **argv, dk_err_t *err)
{
  static const struct option opts[] = { { "force", no_argument, 0, 'f' }, { 0, 0, 0, 0 } };
  bool force = false;
  int c;
  optind = 0;
  while ((c = getopt_long_only (argc, argv, "+f", opts, NULL)) != -1)
    if (c == 'f')
      force = true;
    else
      return usage_error (err, "%s: bad option", argv[0]);
  const char *id;
  if (one_id (argc, argv, "delete", &id, err) < 0)
    return -1;
  return dk_container_delete (id, force, err);
}

int
dk_cmd_list (int argc, char **argv, dk_err_t *err)
{
  static const struct option opts[] = { { "format", required_argument, 0, 'f' },
                                        { "quiet", no_argument, 0, 'q' },
                                        { 0, 0, 0, 0 } };
  const char *format = "table";
  bool quiet = false;
  int c;
  optind = 0;
  while ((c = getopt_long_only (argc, argv, "+f:q", opts, NULL)) != -1)
    if (c == 'f')
      format = optarg;
    else if (c == 'q')
      quiet = true;
    else
      return usage_error (err, "%s: bad option", argv[0]);
  jv arr = jv_array ();
  cleanup_closedir DIR *d = opendir (dk_run_global.root);
  struct dirent *de;
  while (d && (de = readdir (d)))
    {
      struct dk_state st;
      if (de->d_name[0] == '.' || dk_state_load (de->d_name, &st, NULL) < 0)
        continue;
      jv o = dk_state_json (&st, dk_state_status (&st));
      o = jv_object_set (o, jv_string ("owner"), jv_string ("root"));
      arr = jv_array_append (arr, o);
      dk_state_free (&st);
    }
  if (strcmp (format, "json") == 0)
    {
      dk_jsonl_write (stdout, arr);
      return 0;
    }
  if (!quiet)
    printf ("%-12s%-12s%-12s%-12s%-33s%s\n", "ID", "PID", "STATUS", "BUNDLE", "CREATED", "OWNER");
  jv_array_foreach (arr, i, o)
  {
    int64_t pid = 0;
    dk_json_int (o, "pid", &pid);
    if (quiet)
      printf ("%s\n", dk_json_str (o, "id"));
    else
      printf ("%-12s%-12lld%-12s%-12s%-33s%s\n", dk_json_str (o, "id"), (long long)pid,
              dk_json_str (o, "status"), dk_json_str (o, "bundle"), dk_json_str (o, "created"),
              dk_json_str (o, "owner"));
    jv_free (o);
  }
  jv_free (arr);
  return 0;
}

int
dk_cmd_ps (int argc, char **argv, dk_err_t *err)
{
  static const struct option opts[] = { { "format", required_argument, 0, 'f' }, { 0, 0, 0, 0 } };
  const char *format = "table";
  int c;
  optind = 0;
  while ((c = getopt_long_only (argc, argv, "+f:", opts, NULL)) != -1)
    if (c == 'f')
      format = optarg;
    else
      return usage_error (err, "%s: bad option", argv[0]);
  const char *id;
  if (one_id (argc, argv, "ps", &id, err) < 0)
    return -1;
  struct dk_state st;
  if (dk_state_load (id, &st, err) < 0)
    return -1;
  cleanup_free pid_t *pids = NULL;
  size_t n = 0;
  int ret = dk_cgroup_pids (st.cgroup, &pids, &n, err);
  dk_state_free (&st);
  if (ret < 0)
    return -1;
  if (strcmp (format, "json") == 0)
    {
      jv arr = jv_array ();
      for (size_t i = 0; i < n; i++)
        arr = jv_array_append (arr, dk_json_int64 (pids[i]));
      dk_jsonl_write (stdout, arr);
      return 0;
    }
  /* table: ps(1) with the caller's options, keeping the header and our pids */
  int fds[2];
  if (pipe (fds) < 0)
    return dk_make_error (err, errno, "pipe");
  pid_t child = fork ();
  if (child == 0)
    {
      dup2 (fds[1], 1);
      close (fds[0]);
      char **av = xzalloc (sizeof (char *) * (argc - optind + 3));
      av[0] = (char *)"ps";
      int k = 1;
      if (optind >= argc)
        av[k++] = (char *)"-ef";
      for (int i = optind; i < argc; i++)
        av[k++] = argv[i];
      execvp ("ps", av);
      _exit (127);
    }
  close (fds[1]);
  cleanup_fclose FILE *f = fdopen (fds[0], "r");
  char *line = NULL;
  size_t cap = 0;
  int pidcol = -1, lineno = 0;
  while (getline (&line, &cap, f) > 0)
    {
      if (lineno++ == 0)
        {
          /* find the PID column in the header */
          int col = 0;
          cleanup_free char *hdr = xstrdup (line);
          for (char *tok = hdr, *save = NULL; (tok = strtok_r (tok, " \t\n", &save)); tok = NULL)
            {
              if (strcmp (tok, "PID") == 0)
                pidcol = col;
              col++;
            }
          fputs (line, stdout);
          continue;
        }
      cleanup_free char *copy = xstrdup (line);
      int col = 0;
      long v = -1;
      for (char *tok = copy, *save = NULL; (tok = strtok_r (tok, " \t\n", &save)); tok = NULL)
        if (col++ == pidcol)
          v = strtol (tok, NULL, 10);
      for (size_t i = 0; i < n; i++)
        if (pids[i] == v)
          fputs (line, stdout);
    }
  free (line);
  waitpid (child, NULL, 0);
  return 0;
}

int
dk_cmd_features (int argc, char **argv, dk_err_t *err)
{
  static const char features[]
      = "{\"ociVersionMin\":\"1.0.0\",\"ociVersionMax\":\"1.1.0\","
        "\"hooks\":[\"prestart\",\"createRuntime\",\"createContainer\",\"startContainer\","
        "\"poststart\",\"poststop\"],"
        "\"mountOptions\":[\"async\",\"atime\",\"bind\",\"dev\",\"diratime\",\"dirsync\",\"exec\","
        "\"mand\",\"noatime\",\"nodev\",\"nodiratime\",\"noexec\",\"nomand\",\"norelatime\","
        "\"nostrictatime\",\"nosuid\",\"private\",\"rbind\",\"relatime\",\"remount\",\"ro\","
        "\"rprivate\",\"rshared\",\"rslave\",\"runbindable\",\"rw\",\"shared\",\"slave\","
        "\"strictatime\",\"suid\",\"sync\",\"unbindable\"],"
        "\"linux\":{\"namespaces\":[\"cgroup\",\"ipc\",\"mount\",\"network\",\"pid\",\"user\","
        "\"uts\"],\"capabilities\":null,"
        "\"cgroup\":{\"v1\":true,\"v2\":true,\"systemd\":false,\"systemdUser\":false},"
        "\"seccomp\":{\"enabled\":true,\"actions\":[\"SCMP_ACT_ALLOW\",\"SCMP_ACT_ERRNO\","
        "\"SCMP_ACT_KILL\",\"SCMP_ACT_KILL_PROCESS\",\"SCMP_ACT_KILL_THREAD\",\"SCMP_ACT_LOG\","
        "\"SCMP_ACT_TRACE\",\"SCMP_ACT_TRAP\"],\"operators\":[\"SCMP_CMP_EQ\",\"SCMP_CMP_GE\","
        "\"SCMP_CMP_GT\",\"SCMP_CMP_LE\",\"SCMP_CMP_LT\",\"SCMP_CMP_MASKED_EQ\",\"SCMP_CMP_NE\"],"
        "\"archs\":[\"SCMP_ARCH_X86\",\"SCMP_ARCH_X86_64\",\"SCMP_ARCH_X32\",\"SCMP_ARCH_AARCH64\","
        "\"SCMP_ARCH_ARM\"],\"knownFlags\":[\"SECCOMP_FILTER_FLAG_LOG\","
        "\"SECCOMP_FILTER_FLAG_SPEC_ALLOW\",\"SECCOMP_FILTER_FLAG_TSYNC\"]},"
        "\"apparmor\":{\"enabled\":false},\"selinux\":{\"enabled\":false}},"
        "\"annotations\":{\"org.opencontainers.runc.version\":\"" DK_VERSION "\"}}";
  cleanup_jv jv v = jv_invalid ();
  if (dk_json_parse (features, strlen (features), &v, err) < 0)
    return -1;
  dk_jsonl_write (stdout, jv_copy (v));
  return 0;
}

int
dk_cmd_pause (int argc, char **argv, dk_err_t *err)
{
  const char *id;
  optind = 1;
  if (one_id (argc, argv, "pause", &id, err) < 0)
    return -1;
  return dk_container_pause (id, true, err);
}

int
dk_cmd_resume (int argc, char **argv, dk_err_t *err)
{
  const char *id;
  optind = 1;
  if (one_id (argc, argv, "resume", &id, err) < 0)
    return -1;
  return dk_container_pause (id, false, err);
}

/* update -r FILE|- ID, or runc's per-value flags */
int
dk_cmd_update (int argc, char **argv, dk_err_t *err)
{
  static const struct option opts[] = { { "resources", required_argument, 0, 'r' },
                                        { "memory", required_argument, 0, 'm' },
                                        { "memory-reservation", required_argument, 0, 'R' },
                                        { "memory-swap", required_argument, 0, 's' },
                                        { "cpu-shares", required_argument, 0, 'c' },
                                        { "cpu-quota", required_argument, 0, 'q' },
                                        { "cpu-period", required_argument, 0, 'p' },
                                        { "cpuset-cpus", required_argument, 0, 'C' },
                                        { "cpuset-mems", required_argument, 0, 'M' },
                                        { "pids-limit", required_argument, 0, 'P' },
                                        { "blkio-weight", required_argument, 0, 'b' },
                                        { 0, 0, 0, 0 } };
  cleanup_jv jv res = jv_object ();
  const char *file = NULL;
  int c;
  optind = 0;
  while ((c = getopt_long_only (argc, argv, "+r:", opts, NULL)) != -1)
    {
      const char *group = NULL, *key = NULL;
      switch (c)
        {
        case 'r':
          file = optarg;
          continue;
        case 'm':
          group = "memory", key = "limit";
          break;
        case 'R':
          group = "memory", key = "reservation";
          break;
        case 's':
          group = "memory", key = "swap";
          break;
        case 'c':
          group = "cpu", key = "shares";
          break;
        case 'q':
          group = "cpu", key = "quota";
          break;
        case 'p':
          group = "cpu", key = "period";
          break;
        case 'C':
          group = "cpu", key = "cpus";
          break;
        case 'M':
          group = "cpu", key = "mems";
          break;
        case 'P':
          group = "pids", key = "limit";
          break;
        case 'b':
          group = "blockIO", key = "weight";
          break;
        default:
          return usage_error (err, "%s: bad option", argv[0]);
        }
      jv g = dk_json_get_kind (res, group, JV_KIND_OBJECT);
      if (!jv_is_valid (g))
        g = jv_object ();
      jv v = c == 'C' || c == 'M' ? jv_string (optarg) : dk_json_int64 (strtoll (optarg, NULL, 10));
      g = jv_object_set (g, jv_string (key), v);
      res = jv_object_set (res, jv_string (group), g);
    }
  const char *id;
  if (one_id (argc, argv, "update", &id, err) < 0)
    return -1;
  if (file)
    {
      jv_free (res);
      res = jv_invalid ();
      if (dk_json_read_file (strcmp (file, "-") == 0 ? "/dev/stdin" : file, &res, err) < 0)
        return -1;
    }
  return dk_container_update (id, res, err);
}

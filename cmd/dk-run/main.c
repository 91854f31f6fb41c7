/* dk-run: a runc-compatible OCI runtime.  See docs/runtime.md. */
#include "run.h"

#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static const char usage[]
    = "Usage: dk-run [--root DIR] [--log FILE] [--log-format text|json] [--debug] COMMAND\n"
      "\n"
      "Commands (runc's options and output formats):\n"
      "  create [--bundle DIR] [--console-socket PATH] [--pid-file FILE] [--preserve-fds N] ID\n"
      "  start ID\n"
      "  run [--bundle DIR] [--detach] [--console-socket PATH] [--pid-file FILE] ID\n"
      "  state ID\n"
      "  kill [--all] ID [SIGNAL]\n"
      "  delete [--force] ID\n"
      "  exec [--process FILE] [--tty] [--detach] [--pid-file FILE] [--console-socket PATH]\n"
      "       [--cwd DIR] [--env K=V]... [--user UID[:GID]] [--cap CAP]... [--ignore-paused]\n"
      "       ID [ARGS...]\n"
      "  ps [--format table|json] ID [PS OPTIONS]\n"
      "  list [--format table|json] [--quiet]\n"
      "  pause ID | resume ID\n"
      "  update [-r RESOURCES.json|-] [--memory N] [--cpu-shares N] [--pids-limit N] ... ID\n"
      "  features\n"
      "  spec [--bundle DIR] [--rootless]\n";

static const struct
{
  const char *name;
  int (*fn) (int, char **, dk_err_t *);
} commands[] = {
  { "create", dk_cmd_create },     { "start", dk_cmd_start }, { "run", dk_cmd_run },
  { "state", dk_cmd_state },       { "kill", dk_cmd_kill },   { "delete", dk_cmd_delete },
  { "exec", dk_cmd_exec },         { "ps", dk_cmd_ps },       { "list", dk_cmd_list },
  { "features", dk_cmd_features }, { "pause", dk_cmd_pause }, { "resume", dk_cmd_resume },
  { "update", dk_cmd_update },     { "spec", dk_cmd_spec },
};

/* runc prints errors as logrus does: to the --log file (json or text) when
   given, else to stderr in text form; a caller such as containerd parses
   these. */
static void
report (dk_err_t err, const char *log, bool json)
{
  char ts[64];
  time_t now = time (NULL);
  struct tm tm;
  gmtime_r (&now, &tm);
  strftime (ts, sizeof ts, "%Y-%m-%dT%H:%M:%SZ", &tm);
  cleanup_fclose FILE *f = log ? fopen (log, "ae") : NULL;
  if (f && json)
    {
      jv o = jv_object ();
      o = jv_object_set (o, jv_string ("level"), jv_string ("error"));
      o = jv_object_set (o, jv_string ("msg"), jv_string (err->msg));
      o = jv_object_set (o, jv_string ("time"), jv_string (ts));
      dk_jsonl_write (f, o);
    }
  else if (f)
    fprintf (f, "time=\"%s\" level=error msg=\"%s\"\n", ts, err->msg);
  if (f)
    fprintf (stderr, "%s\n", err->msg);
  else
    {
      jv s = jv_dump_string (jv_string (err->msg), 0);
      fprintf (stderr, "time=\"%s\" level=error msg=%s\n", ts, jv_string_value (s));
      jv_free (s);
    }
}

int
main (int argc, char **argv)
{
  static const struct option opts[]
      = { { "root", required_argument, 0, 'r' },       { "log", required_argument, 0, 'l' },
          { "log-format", required_argument, 0, 'f' }, { "debug", no_argument, 0, 'd' },
          { "systemd-cgroup", no_argument, 0, 's' },   { "rootless", required_argument, 0, 'R' },
          { "criu", required_argument, 0, 'c' },       { "help", no_argument, 0, 'h' },
          { "version", no_argument, 0, 'v' },          { 0, 0, 0, 0 } };
  const char *log = NULL;
  bool json = false;
  int c;
  while ((c = getopt_long_only (argc, argv, "+hv", opts, NULL)) != -1)
    switch (c)
      {
      case 'r':
        dk_run_global.root = optarg;
        break;
      case 'l':
        log = optarg;
        break;
      case 'f':
        json = strcmp (optarg, "json") == 0;
        break;
      case 'd':
        dk_run_global.debug = true;
        break;
      case 'h':
        fputs (usage, stdout);
        return 0;
      case 'v':
        printf ("dk-run version %s\nspec: 1.0.2-dev\n", DK_VERSION);
        return 0;
      case 's':
      case 'R':
      case 'c':
        break;
      default:
        fputs (usage, stderr);
        return 2;
      }
  if (optind >= argc)
    {
      fputs (usage, stderr);
      return 2;
    }
  const char *cmd = argv[optind];
  for (size_t i = 0; i < sizeof commands / sizeof commands[0]; i++)
    if (strcmp (cmd, commands[i].name) == 0)
      {
        dk_err_t err = NULL;
        int r = commands[i].fn (argc - optind, argv + optind, &err);
        if (r >= 0)
          return r;
        int status = 1;
        if (strcmp (err->code, DK_ECODE_EXEC_NOT_FOUND) == 0)
          status = 127;
        else if (strcmp (err->code, DK_ECODE_EXEC_DENIED) == 0)
          status = 126;
        else if (strcmp (err->code, "usage") == 0)
          status = 2;
        else if (strcmp (cmd, "exec") == 0)
          status = 255; /* runc: exec's own failures, apart from the process's status */
        if (status == 255)
          dk_error_wrap (&err, "exec failed"); /* runc's words for those */
        report (err, log, json);
        dk_error_release (&err);
        return status;
      }
  fprintf (stderr, "dk-run: no such command: %s\n%s", cmd, usage);
  return 2;
}

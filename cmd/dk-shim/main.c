#include "shim.h"
#include "atomicfile.h"
#include "cleanup.h"
#include "log.h"

#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static const char usage[]
    = "Usage: dk-shim --id ID --bundle DIR --dir STATEDIR [--runtime PATH] [--runtime-root DIR]\n"
      "               [--runtime-arg ARG]... [--log-path FILE] [--log-driver json-file|none]\n"
      "               [--log-opt max-size=N] [--log-opt max-file=N] [--terminal] [--stdin]\n"
      "               [--stdin-once] [--start] [--notify-fd N] [--foreground]\n"
      "\n"
      "Monitors one container run by an OCI runtime (dk-run by default): its stdio,\n"
      "json-file logs, attach/exec/signals over STATEDIR/shim.sock, and its exit\n"
      "status in STATEDIR/exit.json.  Prints {\"type\":\"ready\",\"pid\":N} once the\n"
      "container is created.  See docs/tools.md and docs/shim-protocol.md.\n"
      "\n"
      "       dk-shim ctl [--no-stdin] STATEDIR REQUEST-JSON   (a client of the socket)\n";

static int
usage_error (const char *msg)
{
  fprintf (stderr, "dk-shim: %s\n%s", msg, usage);
  return 2;
}

static char *
absolute (const char *p)
{
  if (p[0] == '/')
    return xstrdup (p);
  cleanup_free char *cwd = getcwd (NULL, 0);
  return xasprintf ("%s/%s", cwd ? cwd : ".", p);
}

static int
log_opt (struct shim_opts *o, const char *opt)
{
  if (strncmp (opt, "max-size=", 9) == 0)
    {
      if (dk_jsonlog_parse_size (opt + 9, &o->log_max_size) < 0 || o->log_max_size < 0)
        return -1;
      return 0;
    }
  if (strncmp (opt, "max-file=", 9) == 0)
    {
      char *end;
      long n = strtol (opt + 9, &end, 10);
      if (*end || n < 1)
        return -1;
      o->log_max_file = (int)n;
      return 0;
    }
  return -1;
}

enum
{
  O_ID = 256,
  O_BUNDLE,
  O_DIR,
  O_RUNTIME,
  O_RUNTIME_ROOT,
  O_RUNTIME_ARG,
  O_LOG_PATH,
  O_LOG_DRIVER,
  O_LOG_OPT,
  O_TERMINAL,
  O_STDIN,
  O_STDIN_ONCE,
  O_START,
  O_NOTIFY_FD,
  O_FOREGROUND,
  O_HELP,
  O_VERSION,
};

static const struct option longopts[]
    = { { "id", required_argument, NULL, O_ID },
        { "bundle", required_argument, NULL, O_BUNDLE },
        { "dir", required_argument, NULL, O_DIR },
        { "runtime", required_argument, NULL, O_RUNTIME },
        { "runtime-root", required_argument, NULL, O_RUNTIME_ROOT },
        { "runtime-arg", required_argument, NULL, O_RUNTIME_ARG },
        { "log-path", required_argument, NULL, O_LOG_PATH },
        { "log-driver", required_argument, NULL, O_LOG_DRIVER },
        { "log-opt", required_argument, NULL, O_LOG_OPT },
        { "terminal", no_argument, NULL, O_TERMINAL },
        { "stdin", no_argument, NULL, O_STDIN },
        { "stdin-once", no_argument, NULL, O_STDIN_ONCE },
        { "start", no_argument, NULL, O_START },
        { "notify-fd", required_argument, NULL, O_NOTIFY_FD },
        { "foreground", no_argument, NULL, O_FOREGROUND },
        { "help", no_argument, NULL, O_HELP },
        { "version", no_argument, NULL, O_VERSION },
        { NULL, 0, NULL, 0 } };

int
main (int argc, char **argv)
{
  struct shim_opts o = { .notify_fd = -1, .log_max_file = 1 };
  const char *log_path = NULL, *driver = "json-file";
  o.runtime_args = xzalloc ((size_t)argc * sizeof (char *));
  int c;
  dk_log_init ("dk-shim", DK_LOG_INFO);
  if (argc > 1 && strcmp (argv[1], "ctl") == 0)
    return shim_ctl_main (argc - 1, argv + 1);
  while ((c = getopt_long (argc, argv, "h", longopts, NULL)) != -1)
    switch (c)
      {
      case O_ID:
        o.id = optarg;
        break;
      case O_BUNDLE:
        o.bundle = absolute (optarg);
        break;
      case O_DIR:
        o.dir = absolute (optarg);
        break;
      case O_RUNTIME:
        o.runtime = optarg;
        break;
      case O_RUNTIME_ROOT:
        o.runtime_root = optarg;
        break;
      case O_RUNTIME_ARG:
        o.runtime_args[o.n_runtime_args++] = optarg;
        break;
      case O_LOG_PATH:
        log_path = optarg;
        break;
      case O_LOG_DRIVER:
        driver = optarg;
        if (strcmp (driver, "json-file") != 0 && strcmp (driver, "none") != 0)
          return usage_error ("--log-driver: json-file or none");
        break;
      case O_LOG_OPT:
        if (log_opt (&o, optarg) < 0)
          return usage_error ("--log-opt: max-size=SIZE or max-file=N (N >= 1)");
        break;
      case O_TERMINAL:
        o.terminal = true;
        break;
      case O_STDIN:
        o.open_stdin = true;
        break;
      case O_STDIN_ONCE:
        o.stdin_once = true;
        break;
      case O_START:
        o.start = true;
        break;
      case O_NOTIFY_FD:
        o.notify_fd = atoi (optarg);
        break;
      case O_FOREGROUND:
        o.foreground = true;
        break;
      case O_VERSION:
        printf ("dk-shim version %s\n", DK_VERSION);
        return 0;
      case 'h':
      case O_HELP:
        fputs (usage, stdout);
        return 0;
      default:
        fputs (usage, stderr);
        return 2;
      }
  if (optind != argc)
    return usage_error ("unexpected argument");
  if (o.id == NULL || o.bundle == NULL || o.dir == NULL)
    return usage_error ("--id, --bundle and --dir are required");
  if (o.id[0] == '\0' || strchr (o.id, '/') || strlen (o.id) > 128)
    return usage_error ("--id: a name without '/'");
  if (strcmp (driver, "json-file") == 0)
    o.log_path = log_path ? absolute (log_path) : xasprintf ("%s/%s-json.log", o.dir, o.id);
  if (o.runtime == NULL)
    o.runtime = dk_shim_default_runtime ();

  int report_fd = -1;
  dk_err_t err = NULL;
  struct shim s = { .o = &o, .listen_fd = -1, .sig_fd = -1, .console_fd = -1 };
  if (shim_daemonize (&o, &report_fd, &err) < 0)
    {
      /* only the foreground process gets here: print the failure */
      dk_error_emit (stdout, err);
      dk_error_print ("dk-shim", err);
      return 1;
    }
  return shim_main (&s, &report_fd);
}

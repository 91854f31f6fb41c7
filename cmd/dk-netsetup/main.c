/* dk-netsetup: bridge networking for containers (docs/tools.md, docs/network.md). */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "error.h"
#include "log.h"
#include "netsetup.h"
#include "toolserver.h"

static const char usage[]
    = "Usage: dk-netsetup --state-dir DIR --exec-root DIR COMMAND [OPTIONS]\n"
      "Commands: init, connect, disconnect, network-create, network-rm, network-ls,\n"
      "          network-inspect, cleanup, proxy.  See docs/tools.md.\n"
      "       dk-netsetup serve   (requests on a seqpacket stdin: docs/toolserver.md)\n";

static const struct
{
  const char *name;
  int (*fn) (struct ctx *, int, char **, dk_err_t *);
} cmds[] = {
  { "init", cmd_init },
  { "connect", cmd_connect },
  { "disconnect", cmd_disconnect },
  { "network-create", cmd_network_create },
  { "network-rm", cmd_network_rm },
  { "network-ls", cmd_network_ls },
  { "network-inspect", cmd_network_inspect },
  { "cleanup", cmd_cleanup },
  { "proxy", cmd_proxy },
};

static int
netsetup_main (int argc, char **argv)
{
  trace_step ("main");
  dk_log_init (argv[0], DK_LOG_INFO);
  struct ctx c = { .lock_fd = -1 };
  int i = 1;
  for (; i < argc && argv[i][0] == '-'; i++)
    {
      if (!strcmp (argv[i], "--version"))
        return printf ("dk-netsetup version %s\n", DK_VERSION), 0;
      if (!strcmp (argv[i], "--help") || !strcmp (argv[i], "-h"))
        return fputs (usage, stdout), 0;
      if (!strcmp (argv[i], "--state-dir") && i + 1 < argc)
        c.state_dir = argv[++i];
      else if (!strcmp (argv[i], "--exec-root") && i + 1 < argc)
        c.exec_root = argv[++i];
      else
        return fputs (usage, stderr), 2;
    }
  if (i >= argc || c.state_dir == NULL || c.exec_root == NULL)
    return fputs (usage, stderr), 2;
  for (size_t k = 0; k < sizeof cmds / sizeof cmds[0]; k++)
    if (!strcmp (argv[i], cmds[k].name))
      {
        cleanup_error dk_err_t err = NULL;
        if (state_init (&c, &err) == 0 && cmds[k].fn (&c, argc - i, argv + i, &err) == 0)
          return trace_step ("done"), 0;
        dk_error_print ("dk-netsetup", err);
        dk_error_emit (stdout, err);
        return strcmp (err->code, DK_ECODE_INVALID) == 0 && strstr (err->msg, "option") ? 2 : 1;
      }
  fprintf (stderr, "dk-netsetup: unknown command `%s`\n%s", argv[i], usage);
  return 2;
}

int
main (int argc, char **argv)
{
  if (argc == 2 && !strcmp (argv[1], "serve"))
    {
      dk_log_init (argv[0], DK_LOG_INFO);
      return dk_toolserver_run (0, argv, netsetup_main);
    }
  return netsetup_main (argc, argv);
}

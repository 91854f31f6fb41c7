/* dk-graph: the image and layer store (docs/tools.md, docs/store.md). */
#include <getopt.h>
#include <stdio.h>
#include <string.h>

#include "cleanup.h"
#include "error.h"
#include "log.h"
#include "store.h"
#include "toolserver.h"

static const char usage[]
    = "Usage: dk-graph --root DIR [--driver overlay2|vfs] [--uidmap C:H:N]... [--gidmap C:H:N]...\n"
      "                SUBCOMMAND ...\n"
      "  layer-register [--parent CHAINID [--parent-wait SECS]] [--diff-id D] [--digest D] "
      "[FILE|-]\n"
      "  layer-exists CHAINID | layer-release CHAINID...\n"
      "  image-add --config FILE [--manifest FILE] [--tag NAME:TAG]... [--digest-ref NAME@DIGEST]\n"
      "  resolve REF|ID|SHORTID\n"
      "  tag SOURCE TARGET | untag REF\n"
      "  ls [--all] [--digests] [--filter k=v]...\n"
      "  inspect IMAGE | history IMAGE\n"
      "  rm [--force] [--no-prune] IMAGE\n"
      "  prune [--all] [--filter until=T|label=k[=v]]... | du\n"
      "  save IMAGE... [-o FILE|-] | load [-i FILE|-] [--quiet]\n"
      "  import [--change INSTRUCTION]... [--message M] [--ref NAME[:TAG]] [FILE|-]\n"
      "  layer-diff CHAINID [-o FILE|-]\n"
      "  container-create ID --image IMAGE | container-mount ID | container-unmount ID\n"
      "  container-changes ID | container-diff ID [-o FILE|-] | container-rm ID\n"
      "  container-size [--ignore-missing] ID...\n"
      "  serve   (requests on a seqpacket stdin: docs/toolserver.md)\n"
      "See docs/tools.md.\n";

static const struct
{
  const char *name;
  int (*fn) (struct store *, int, char **, dk_err_t *);
} cmds[] = {
  { "layer-register", cmd_layer_register },
  { "layer-exists", cmd_layer_exists },
  { "layer-release", cmd_layer_release },
  { "image-add", cmd_image_add },
  { "resolve", cmd_resolve },
  { "tag", cmd_tag },
  { "untag", cmd_untag },
  { "ls", cmd_ls },
  { "inspect", cmd_inspect },
  { "history", cmd_history },
  { "rm", cmd_rm },
  { "layer-diff", cmd_layer_diff },
  { "prune", cmd_prune },
  { "du", cmd_du },
  { "save", cmd_save },
  { "load", cmd_load },
  { "import", cmd_import },
  { "container-create", cmd_container_create },
  { "container-mount", cmd_container_mount },
  { "container-unmount", cmd_container_unmount },
  { "container-changes", cmd_container_changes },
  { "container-diff", cmd_container_diff },
  { "container-rm", cmd_container_rm },
  { "container-size", cmd_container_size },
};

static int
graph_main (int argc, char **argv)
{
  static const struct option longopts[] = { { "root", required_argument, 0, 'r' },
                                            { "driver", required_argument, 0, 'd' },
                                            { "uidmap", required_argument, 0, 'u' },
                                            { "gidmap", required_argument, 0, 'g' },
                                            { "help", no_argument, 0, 'h' },
                                            { "version", no_argument, 0, 'V' },
                                            { 0, 0, 0, 0 } };
  const char *root = NULL, *driver = "overlay2";
  cleanup_free struct dk_idmap *uidmap = NULL;
  cleanup_free struct dk_idmap *gidmap = NULL;
  size_t n_uid = 0, n_gid = 0;
  int c;
  /* "+": stop at the subcommand, whose options are its own */
  while ((c = getopt_long (argc, argv, "+h", longopts, NULL)) != -1)
    switch (c)
      {
      case 'r':
        root = optarg;
        break;
      case 'd':
        driver = optarg;
        break;
      case 'u':
      case 'g':
        {
          cleanup_error dk_err_t e = NULL;
          if (dk_idmap_parse (optarg, c == 'u' ? &uidmap : &gidmap, c == 'u' ? &n_uid : &n_gid, &e)
              < 0)
            {
              dk_error_print ("dk-graph", e);
              return 2;
            }
          break;
        }
      case 'h':
        fputs (usage, stdout);
        return 0;
      case 'V':
        printf ("dk-graph version %s\n", DK_VERSION);
        return 0;
      default:
        fputs (usage, stderr);
        return 2;
      }
  if (root == NULL || optind >= argc)
    {
      fputs (usage, stderr);
      return 2;
    }
  const char *sub = argv[optind];
  for (size_t i = 0; i < sizeof cmds / sizeof cmds[0]; i++)
    if (strcmp (sub, cmds[i].name) == 0)
      {
        cleanup_error dk_err_t err = NULL;
        struct store s;
        int r = store_open (&s, root, driver, &err);
        s.uidmap = steal_ptr (&uidmap);
        s.gidmap = steal_ptr (&gidmap);
        s.n_uidmap = n_uid;
        s.n_gidmap = n_gid;
        if (r == 0)
          r = cmds[i].fn (&s, argc - optind, argv + optind, &err);
        store_close (&s);
        if (r < 0)
          {
            dk_error_print ("dk-graph", err);
            dk_error_emit (stdout, err);
            return strcmp (err->code, DK_ECODE_INVALID) == 0 && strncmp (err->msg, "usage:", 6) == 0
                       ? 2
                       : 1;
          }
        return 0;
      }
  fprintf (stderr, "dk-graph: unknown subcommand `%s`\n%s", sub, usage);
  return 2;
}

int
main (int argc, char **argv)
{
  if (argc == 2 && !strcmp (argv[1], "serve"))
    {
      /* not argv[0]: its memory becomes each child's title */
      dk_log_init ("dk-graph", DK_LOG_INFO);
      return dk_toolserver_run (0, argv, graph_main);
    }
  return graph_main (argc, argv);
}

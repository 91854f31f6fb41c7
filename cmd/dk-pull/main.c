#include "atomicfile.h"
#include "cleanup.h"
#include "error.h"
#include "log.h"
#include "pull.h"
#include "push.h"
#include "login.h"
#include "search.h"
#include "importurl.h"

#include <curl/curl.h>
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static const char usage[]
    = "Usage: dk-pull --root DIR [--driver D] [pull] REF [OPTIONS]\n"
      "       dk-pull --root DIR push REF [OPTIONS]\n"
      "       dk-pull login SERVER --auth-file FILE\n"
      "       dk-pull search TERM [--limit N]   (TERM: [REGISTRY/]QUERY)\n"
      "       dk-pull --root DIR import URL [-- DK-GRAPH-IMPORT-OPTIONS...]\n"
      "\n"
      "Options:\n"
      "  --platform os/arch[/variant]     platform to pull from a multi-arch image\n"
      "  --insecure-registry HOST|CIDR    plain HTTP or unverified TLS (repeatable)\n"
      "  --registry-mirror URL            tried first for docker.io (repeatable)\n"
      "  --certs-dir DIR                  instead of /etc/docker/certs.d\n"
      "  --max-concurrent-downloads N     default 3\n"
      "  --max-concurrent-uploads N       default 5\n"
      "  --upload-chunk-size BYTES        push blobs larger than this in PATCH chunks\n"
      "                                   of this size (default 32 MiB; 0: never)\n"
      "  --serial-unpack                  overlay2: unpack layers one after another\n"
      "                                   (default: all at once, --parallel-unpack)\n"
      "  --auth-file FILE|-               Docker auth config JSON (or base64url)\n"
      "  --output-dir DIR                 debug: verified blobs into DIR, no store\n"
      "  --limit N                        search: at most N results (1..100, default 25)\n"
      "  --retries N                      attempts per request (default 5)\n"
      "  --limit-rate BYTES               per-transfer speed limit (tests)\n"
      "  --log-level LEVEL                debug, info, warn, error\n";

enum
{
  O_ROOT = 256,
  O_DRIVER,
  O_PLATFORM,
  O_INSECURE,
  O_MIRROR,
  O_CERTS,
  O_MAXDL,
  O_MAXUL,
  O_CHUNK,
  O_AUTH,
  O_OUTDIR,
  O_RETRIES,
  O_RATE,
  O_LOGLEVEL,
  O_PARUNPACK,
  O_SERUNPACK,
  O_LIMIT,
  O_HELP,
  O_VERSION
};

static const struct option longopts[]
    = { { "root", required_argument, 0, O_ROOT },
        { "driver", required_argument, 0, O_DRIVER },
        { "platform", required_argument, 0, O_PLATFORM },
        { "insecure-registry", required_argument, 0, O_INSECURE },
        { "registry-mirror", required_argument, 0, O_MIRROR },
        { "certs-dir", required_argument, 0, O_CERTS },
        { "max-concurrent-downloads", required_argument, 0, O_MAXDL },
        { "max-concurrent-uploads", required_argument, 0, O_MAXUL },
        { "upload-chunk-size", required_argument, 0, O_CHUNK },
        { "auth-file", required_argument, 0, O_AUTH },
        { "output-dir", required_argument, 0, O_OUTDIR },
        { "retries", required_argument, 0, O_RETRIES },
        { "limit-rate", required_argument, 0, O_RATE },
        { "log-level", required_argument, 0, O_LOGLEVEL },
        { "parallel-unpack", no_argument, 0, O_PARUNPACK },
        { "serial-unpack", no_argument, 0, O_SERUNPACK },
        { "limit", required_argument, 0, O_LIMIT },
        { "help", no_argument, 0, O_HELP },
        { "version", no_argument, 0, O_VERSION },
        { 0, 0, 0, 0 } };

static void
strv_push (char ***v, size_t *n, const char *s)
{
  *v = xrealloc (*v, (*n + 2) * sizeof **v);
  (*v)[(*n)++] = (char *)s;
  (*v)[*n] = NULL;
}

static int
usage_error (const char *msg)
{
  fprintf (stderr, "dk-pull: %s\n%s", msg, usage);
  return 2;
}

static int
read_auth (const char *path, char **out, dk_err_t *err)
{
  if (strcmp (path, "-") != 0)
    return dk_read_file (path, out, NULL, err);
  struct dk_buf b = DK_BUF_INIT;
  char buf[4096];
  ssize_t n;
  while ((n = read (0, buf, sizeof buf)) > 0)
    dk_buf_add (&b, buf, n);
  dk_buf_addc (&b, '\0');
  *out = dk_buf_steal (&b);
  return 0;
}

static int
finish (int ret, jv result, dk_err_t *err)
{
  if (ret < 0)
    {
      dk_error_print ("dk-pull", *err);
      dk_error_emit (stdout, *err);
      jv_free (result);
      return 1;
    }
  dk_jsonl_write (stdout, result);
  return 0;
}

static bool
positive (const char *s, int *out)
{
  char *end = NULL;
  long v = strtol (s, &end, 10);
  if (*s == '\0' || *end != '\0' || v <= 0 || v > 1000)
    return false;
  *out = (int)v;
  return true;
}

/* import URL [-- ARGS...]: the arguments after the URL go to dk-graph import */
static int
import_main (const struct pull_opts *o, const char *url, char **args, int nargs)
{
  if (o->root == NULL)
    return usage_error ("--root is required");
  signal (SIGPIPE, SIG_IGN);
  curl_global_init (CURL_GLOBAL_ALL);
  struct graph g = { .root = o->root, .driver = o->driver };
  cleanup_error dk_err_t err = NULL;
  jv result = jv_invalid ();
  int ret = import_url (&g, url, args, nargs, &result, &err);
  int status = finish (ret, result, &err);
  curl_global_cleanup ();
  return status;
}

int
main (int argc, char **argv)
{
  struct pull_opts o = { .max_concurrent = 3, .parallel_unpack = true };
  struct push_opts po = { .max_concurrent = 5, .chunk_size = PUSH_DEFAULT_CHUNK };
  size_t n_insecure = 0, n_mirrors = 0;
  const char *auth_path = NULL;
  int limit = 25;
  int c;
  dk_log_init ("dk-pull", DK_LOG_WARN);
  while ((c = getopt_long (argc, argv, "h", longopts, NULL)) != -1)
    switch (c)
      {
      case O_ROOT:
        o.root = optarg;
        break;
      case O_DRIVER:
        o.driver = optarg;
        break;
      case O_PLATFORM:
        o.platform = optarg;
        break;
      case O_INSECURE:
        strv_push (&o.reg.insecure, &n_insecure, optarg);
        break;
      case O_MIRROR:
        strv_push (&o.reg.mirrors, &n_mirrors, optarg);
        break;
      case O_CERTS:
        o.reg.certs_dir = optarg;
        break;
      case O_MAXDL:
        if (!positive (optarg, &o.max_concurrent))
          return usage_error ("--max-concurrent-downloads wants a positive number");
        break;
      case O_MAXUL:
        if (!positive (optarg, &po.max_concurrent))
          return usage_error ("--max-concurrent-uploads wants a positive number");
        break;
      case O_CHUNK:
        {
          char *end = NULL;
          long long v = strtoll (optarg, &end, 10);
          if (*optarg == '\0' || *end != '\0' || v < 0)
            return usage_error ("--upload-chunk-size wants a number of bytes (0: never)");
          po.chunk_size = v;
        }
        break;
      case O_AUTH:
        auth_path = optarg;
        break;
      case O_OUTDIR:
        o.output_dir = optarg;
        break;
      case O_RETRIES:
        if (!positive (optarg, &o.reg.retries))
          return usage_error ("--retries wants a positive number");
        break;
      case O_LIMIT:
        if (!positive (optarg, &limit) || limit > 100)
          return usage_error ("--limit wants a number from 1 to 100");
        break;
      case O_RATE:
        o.reg.limit_rate = atol (optarg);
        break;
      case O_PARUNPACK:
        o.parallel_unpack = true;
        break;
      case O_SERUNPACK:
        o.parallel_unpack = false;
        break;
      case O_LOGLEVEL:
        {
          int l = dk_log_parse_level (optarg);
          if (l < 0)
            return usage_error ("unknown --log-level");
          dk_log_set_level (l);
        }
        break;
      case 'h':
      case O_HELP:
        fputs (usage, stdout);
        return 0;
      case O_VERSION:
        printf ("dk-pull version %s\n", DK_VERSION);
        return 0;
      default:
        return usage_error ("unknown option");
      }
  const char *cmd = "pull";
  int npos = argc - optind;
  char **pos = argv + optind;
  if (npos >= 2 && strcmp (pos[0], "import") == 0)
    return import_main (&o, pos[1], pos + 2, npos - 2);
  if (npos >= 1
      && (strcmp (pos[0], "pull") == 0 || strcmp (pos[0], "push") == 0
          || strcmp (pos[0], "login") == 0 || strcmp (pos[0], "search") == 0)
      && npos >= 2)
    {
      cmd = pos[0];
      pos++, npos--;
    }
  if (npos != 1)
    return usage_error (npos == 0 ? "a reference is required" : "too many arguments");
  if (strcmp (cmd, "login") != 0 && strcmp (cmd, "search") != 0 && o.root == NULL
      && o.output_dir == NULL)
    return usage_error ("--root is required");

  signal (SIGPIPE, SIG_IGN);
  curl_global_init (CURL_GLOBAL_ALL);
  cleanup_error dk_err_t err = NULL;
  cleanup_free char *auth_text = NULL;
  jv result = jv_invalid ();
  int ret = 0;
  if (auth_path && read_auth (auth_path, &auth_text, &err) < 0)
    ret = -1;
  o.reg.auth_text = auth_text;
  if (ret == 0 && strcmp (cmd, "pull") == 0)
    ret = pull_image (&o, pos[0], &result, &err);
  else if (ret == 0 && strcmp (cmd, "push") == 0)
    {
      po.reg = o.reg;
      po.root = o.root;
      po.driver = o.driver;
      ret = push_image (&po, pos[0], &result, &err);
    }
  else if (ret == 0 && strcmp (cmd, "search") == 0)
    ret = search (&o.reg, pos[0], limit, &result, &err);
  else if (ret == 0)
    ret = login (&o.reg, pos[0], &result, &err);
  int status = finish (ret, result, &err);
  free (o.reg.insecure);
  free (o.reg.mirrors);
  curl_global_cleanup ();
  return status;
}

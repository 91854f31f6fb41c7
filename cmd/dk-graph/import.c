/* import: a root filesystem tar (plain, gzip, zstd...) registered as a
   one-layer image with a config built like moby's `docker import`. */
#include "import.h"
#include "goarch.h"
#include "store.h"
#include "cleanup.h"
#include "unpack.h"

#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static const char import_usage[]
    = "usage: import [--change INSTRUCTION]... [--message M] [--ref NAME[:TAG]] [FILE|-]";

static jv
import_config (jv cfg, const char *diff_id, const char *msg)
{
  cleanup_free char *now = now_rfc3339 ();
  jv c = jv_object ();
  c = jv_object_set (c, jv_string ("architecture"), jv_string (dk_go_arch ()));
  c = jv_object_set (c, jv_string ("comment"), jv_string (msg));
  c = jv_object_set (c, jv_string ("config"), cfg);
  c = jv_object_set (c, jv_string ("created"), jv_string (now));
  jv h = jv_object_set (jv_object (), jv_string ("created"), jv_string (now));
  h = jv_object_set (h, jv_string ("comment"), jv_string (msg));
  c = jv_object_set (c, jv_string ("history"), JV_ARRAY (h));
  c = jv_object_set (c, jv_string ("os"), jv_string ("linux"));
  jv rootfs = jv_object_set (jv_object (), jv_string ("type"), jv_string ("layers"));
  rootfs = jv_object_set (rootfs, jv_string ("diff_ids"), JV_ARRAY (jv_string (diff_id)));
  return jv_object_set (c, jv_string ("rootfs"), rootfs);
}

/* On a refusal the rest of stdin is read: the writer of the pipe (dockerd
   streaming a request body) then answers the error once the whole body is
   taken, and the client's connection stays usable. */
static int
drained (const char *file, int ret)
{
  if (strcmp (file, "-") == 0)
    {
      char buf[65536];
      ssize_t n;
      while ((n = read (0, buf, sizeof buf)) > 0 || (n < 0 && errno == EINTR))
        ;
    }
  return ret;
}

static int import_fd (struct store *s, const char *file, jv cfg, const char *msg, const char *key,
                      dk_err_t *err);

int
cmd_import (struct store *s, int argc, char **argv, dk_err_t *err)
{
  static const struct option longopts[] = { { "change", required_argument, 0, 'c' },
                                            { "message", required_argument, 0, 'm' },
                                            { "ref", required_argument, 0, 'r' },
                                            { 0, 0, 0, 0 } };
  cleanup_free char **changes = xzalloc ((argc + 1) * sizeof *changes);
  size_t nchanges = 0;
  const char *msg = NULL, *ref = NULL;
  int c;
  optind = 0;
  while ((c = getopt_long (argc, argv, "c:m:r:", longopts, NULL)) != -1)
    switch (c)
      {
      case 'c':
        changes[nchanges++] = optarg;
        break;
      case 'm':
        msg = optarg;
        break;
      case 'r':
        ref = *optarg ? optarg : NULL;
        break;
      default:
        return dk_make_error_code (err, DK_ECODE_INVALID, 0, "%s", import_usage);
      }
  if (optind + 1 < argc)
    return dk_make_error_code (err, DK_ECODE_INVALID, 0, "%s", import_usage);
  const char *file = optind < argc ? argv[optind] : "-";
  /* everything that can be refused is checked before the tar is read */
  cleanup_free char *key = NULL;
  if (ref && parse_ref (ref, true, &key, err) < 0)
    return drained (file, -1);
  jv cfg = jv_object ();
  if (import_apply_changes (&cfg, changes, nchanges, err) < 0)
    {
      jv_free (cfg);
      return drained (file, -1);
    }
  cleanup_free char *defmsg = xasprintf ("Imported from %s", file);
  if (msg == NULL || *msg == 0)
    msg = defmsg;

  return drained (file, import_fd (s, file, cfg, msg, key, err));
}

/* A failed import drops the layer it registered, as a failed pull does
   (layer-release); one that was there before is left as it was. */
static void
release_new_layer (struct store *s, jv res)
{
  bool existed = true;
  const char *chain = dk_json_str (res, "chain_id");
  if (!dk_json_bool (res, "existed", &existed) || existed || chain == NULL)
    return;
  char *chains[] = { (char *)chain };
  cleanup_jv jv records = jv_array ();
  int64_t reclaimed = 0;
  dk_err_t e = NULL;
  if (layers_release (s, chains, 1, &records, &reclaimed, &e) < 0)
    {
      fprintf (stderr, "dk-graph: warning: release the layer of the failed import: %s\n", e->msg);
      dk_error_release (&e);
    }
  store_unlock (s);
}

static int
import_fd (struct store *s, const char *file, jv cfg, const char *msg, const char *key,
           dk_err_t *err)
{
  cleanup_close int fd = strcmp (file, "-") == 0 ? dup (0) : open (file, O_RDONLY | O_CLOEXEC);
  if (fd < 0)
    {
      jv_free (cfg);
      return dk_make_error (err, errno, "open `%s`", file);
    }
  /* the layer is complete or absent: dk_layer_unpack works in tmp/; from
     its registration to the image-add, a release, rm or prune keeps it */
  struct dk_unpack_opts o = { 0 };
  cleanup_jv jv res = jv_invalid ();
  cleanup_holds struct holds h = { .chains = jv_invalid () };
  if (holds_new (s, &h, err) < 0 || layer_register_fd (s, fd, NULL, &o, 0, &h, &res, err) < 0)
    {
      jv_free (cfg);
      return -1;
    }
  const char *diff_id = dk_json_str (res, "diff_id");
  cleanup_free char *raw = dk_json_dump (import_config (cfg, diff_id, msg));
  cleanup_jv jv keys = key ? JV_ARRAY (jv_string (key)) : jv_array ();
  char id[DK_DIGEST_STR_LEN];
  if (image_add_raw (s, raw, strlen (raw), NULL, 0, keys, id, err) < 0)
    {
      holds_done (&h);
      release_new_layer (s, res);
      return -1;
    }
  dk_jsonl_write (stdout, jv_object_set (result_obj (), jv_string ("id"), jv_string (id)));
  return 0;
}

/* dk-unpack: applies one layer blob to a storage driver's directory. */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cleanup.h"
#include "digest.h"
#include "error.h"
#include "json.h"
#include "unpack.h"

static const char usage[]
    = "Usage: dk-unpack [--driver overlay2|vfs] [--parent-dir DIR] [--digest sha256:..]\n"
      "                 [--diff-id sha256:..] [--uidmap C:H:N]... [--gidmap C:H:N]...\n"
      "                 --target DIR [FILE|-]\n"
      "Applies one layer (tar, tar+gzip or tar+zstd) to DIR and prints\n"
      "{\"type\":\"result\",\"diff_id\":..,\"digest\":..,\"size\":N,\"compressed_size\":N}.\n";

static int
fail (dk_err_t *err, int status)
{
  dk_error_print ("dk-unpack", *err);
  dk_error_emit (stdout, *err);
  return status;
}

int
main (int argc, char **argv)
{
  static const struct option longopts[]
      = { { "driver", required_argument, 0, 'd' }, { "parent-dir", required_argument, 0, 'p' },
          { "digest", required_argument, 0, 'D' }, { "diff-id", required_argument, 0, 'i' },
          { "uidmap", required_argument, 0, 'u' }, { "gidmap", required_argument, 0, 'g' },
          { "target", required_argument, 0, 't' }, { "help", no_argument, 0, 'h' },
          { "version", no_argument, 0, 'V' },      { 0, 0, 0, 0 } };
  cleanup_error dk_err_t err = NULL;
  struct dk_unpack_opts o = { .whiteouts = DK_WHITEOUT_OVERLAY };
  cleanup_free struct dk_idmap *uidmap = NULL;
  cleanup_free struct dk_idmap *gidmap = NULL;
  const char *target = NULL;
  int c;
  while ((c = getopt_long (argc, argv, "h", longopts, NULL)) != -1)
    switch (c)
      {
      case 'd':
        if (strcmp (optarg, "vfs") == 0)
          o.whiteouts = DK_WHITEOUT_DELETE;
        else if (strcmp (optarg, "overlay2") != 0)
          {
            dk_make_error_code (&err, DK_ECODE_INVALID, 0, "unknown driver `%s`", optarg);
            return fail (&err, 2);
          }
        break;
      case 'p':
        o.parent_dir = optarg;
        break;
      case 'D':
      case 'i':
        if (dk_digest_validate (optarg, &err) < 0)
          return fail (&err, 2);
        *(c == 'D' ? &o.expect_digest : &o.expect_diff_id) = optarg;
        break;
      case 'u':
      case 'g':
        if (dk_idmap_parse (optarg, c == 'u' ? &uidmap : &gidmap,
                            c == 'u' ? &o.n_uidmap : &o.n_gidmap, &err)
            < 0)
          return fail (&err, 2);
        break;
      case 't':
        target = optarg;
        break;
      case 'h':
        fputs (usage, stdout);
        return 0;
      case 'V':
        printf ("dk-unpack version %s\n", DK_VERSION);
        return 0;
      default:
        fputs (usage, stderr);
        return 2;
      }
  o.uidmap = uidmap;
  o.gidmap = gidmap;
  if (target == NULL || argc - optind > 1)
    {
      fputs (usage, stderr);
      return 2;
    }
  if (o.parent_dir && o.whiteouts != DK_WHITEOUT_DELETE)
    {
      dk_make_error_code (&err, DK_ECODE_INVALID, 0, "--parent-dir is for the vfs driver");
      return fail (&err, 2);
    }
  const char *file = optind < argc ? argv[optind] : "-";
  cleanup_close int fd = strcmp (file, "-") == 0 ? dup (0) : open (file, O_RDONLY | O_CLOEXEC);
  if (fd < 0)
    {
      dk_make_error (&err, errno, "open `%s`", file);
      return fail (&err, 1);
    }
  struct dk_unpack_result r;
  if (dk_layer_unpack (fd, target, &o, &r, &err) < 0)
    return fail (&err, 1);
  jv res = jv_object ();
  res = jv_object_set (res, jv_string ("type"), jv_string ("result"));
  res = jv_object_set (res, jv_string ("diff_id"), jv_string (r.diff_id));
  res = jv_object_set (res, jv_string ("digest"), jv_string (r.digest));
  res = jv_object_set (res, jv_string ("size"), dk_json_int64 (r.size));
  res = jv_object_set (res, jv_string ("compressed_size"), dk_json_int64 (r.compressed_size));
  res = jv_object_set (res, jv_string ("format"), jv_string (r.format));
  dk_jsonl_write (stdout, res);
  return 0;
}

/* cleanup: removes what a crash left behind (endpoints whose container is
   gone, their veths, rules, proxy listeners, netns mounts and addresses). */
#include <dirent.h>
#include <getopt.h>
#include <string.h>

#include "cleanup.h"
#include "netlink.h"
#include "netsetup.h"

static bool
kept (jv keep, const char *id)
{
  bool k = false;
  jv_array_foreach (keep, i, s)
  {
    if (!strcmp (jv_string_value (s), id))
      k = true;
    jv_free (s);
  }
  return k;
}

int
cmd_cleanup (struct ctx *c, int argc, char **argv, dk_err_t *err)
{
  static const struct option opts[] = { { "keep", 1, 0, 'k' }, { 0, 0, 0, 0 } };
  cleanup_jv jv keep = jv_array ();
  int o;
  optind = 1;
  while ((o = getopt_long (argc, argv, "", opts, NULL)) != -1)
    {
      if (o != 'k')
        return dk_make_error_code (err, DK_ECODE_INVALID, 0, "cleanup: bad option");
      keep = jv_array_append (keep, jv_string (optarg));
    }
  if (ctx_lock (c, err) < 0)
    return -1;
  jv removed = jv_array ();
  cleanup_strv char **ids = ep_ids (c);
  for (char **id = ids; *id; id++)
    {
      if (kept (keep, *id))
        continue;
      cleanup_jv jv ep = ep_load (c, *id);
      cleanup_jv jv nets = dk_json_get_kind (ep, "networks", JV_KIND_OBJECT);
      if (jv_is_valid (nets))
        jv_object_foreach (nets, k, nv)
        {
          cleanup_error dk_err_t e = NULL;
          endpoint_teardown (c, *id, &ep, jv_string_value (k), &e);
          jv_free (k);
          jv_free (nv);
        }
      cleanup_error dk_err_t e = NULL;
      ep_remove (c, *id, &e);
      removed = jv_array_append (removed, jv_string (*id));
    }
  /* namespaces without a record */
  cleanup_free char *nsdir = xasprintf ("%s/netns", c->exec_root);
  cleanup_closedir DIR *d = opendir (nsdir);
  struct dirent *de;
  while (d && (de = readdir (d)))
    {
      if (de->d_name[0] == '.' || kept (keep, de->d_name))
        continue;
      cleanup_jv jv ep = ep_load (c, de->d_name);
      if (jv_get_kind (ep) == JV_KIND_OBJECT)
        continue;
      cleanup_free char *p = xasprintf ("%s/%s", nsdir, de->d_name);
      cleanup_error dk_err_t e = NULL;
      dk_netns_remove (p, &e);
    }
  /* addresses whose owner has no record */
  cleanup_strv char **names = net_names (c);
  for (char **n = names; *n; n++)
    {
      jv alloc = ipam_load (c, *n);
      jv keep_alloc = jv_object ();
      jv_object_foreach (alloc, ip, owner)
      {
        cleanup_jv jv ep = ep_load (c, jv_string_value (owner));
        if (jv_get_kind (ep) == JV_KIND_OBJECT)
          keep_alloc = jv_object_set (keep_alloc, jv_copy (ip), jv_copy (owner));
        jv_free (ip);
        jv_free (owner);
      }
      jv_free (alloc);
      cleanup_error dk_err_t e = NULL;
      ipam_save (c, *n, keep_alloc, &e);
    }
  ctx_unlock (c);
  dk_jsonl_write (
      stdout, JV_OBJECT (jv_string ("type"), jv_string ("result"), jv_string ("removed"), removed));
  return 0;
}

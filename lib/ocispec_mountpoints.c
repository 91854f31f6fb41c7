/* The `Mounts` list of container inspect and `ps` (Docker's MountPoint
   objects), from HostConfig.Binds and HostConfig.Mounts. */
#include "ocispec_internal.h"
#include "cleanup.h"
#include "json.h"

#include <string.h>

static jv
mount_point (const char *type, const char *source, const char *dest, const char *mode, bool rw,
             const char *propagation)
{
  jv m = jv_object ();
  m = jv_object_set (m, jv_string ("Type"), jv_string (type));
  m = jv_object_set (m, jv_string ("Source"), jv_string (source ? source : ""));
  m = jv_object_set (m, jv_string ("Destination"), jv_string (dest));
  m = jv_object_set (m, jv_string ("Mode"), jv_string (mode ? mode : ""));
  m = jv_object_set (m, jv_string ("RW"), jv_bool (rw));
  m = jv_object_set (m, jv_string ("Propagation"), jv_string (propagation ? propagation : ""));
  return m;
}

/* The mode part of "src:dst:mode" as written, "" without one. */
static const char *
bind_mode (const char *raw)
{
  const char *first = strchr (raw, ':');
  const char *last = strrchr (raw, ':');
  return first && last != first ? last + 1 : "";
}

static jv
from_binds (jv hc, jv out)
{
  cleanup_jv jv bl = dk_json_get_kind (hc, "Binds", JV_KIND_ARRAY);
  for (int i = 0; i < dk_json_len (bl); i++)
    {
      cleanup_jv jv e = jv_array_get (jv_copy (bl), i);
      if (jv_get_kind (e) != JV_KIND_STRING)
        continue;
      struct dk_bind b;
      cleanup_error dk_err_t err = NULL;
      if (dk_ocispec_parse_bind (jv_string_value (e), &b, &err) < 0)
        continue; /* refused at create already */
      if (!b.is_volume)
        out = jv_array_append (out, mount_point ("bind", b.source, b.target,
                                                 bind_mode (jv_string_value (e)), !b.read_only,
                                                 b.propagation ? b.propagation : "rprivate"));
      dk_ocispec_bind_free (&b);
    }
  return out;
}

static jv
from_mounts (jv hc, jv out)
{
  cleanup_jv jv ml = dk_json_get_kind (hc, "Mounts", JV_KIND_ARRAY);
  for (int i = 0; i < dk_json_len (ml); i++)
    {
      cleanup_jv jv m = jv_array_get (jv_copy (ml), i);
      const char *type = dk_json_str (m, "Type");
      const char *target = dk_json_str (m, "Target");
      if (type == NULL || target == NULL)
        continue;
      bool ro = false;
      dk_json_bool (m, "ReadOnly", &ro);
      cleanup_free char *dest = dk_ocispec_clean_path (target);
      if (strcmp (type, "bind") == 0)
        {
          cleanup_jv jv bo = dk_json_get_kind (m, "BindOptions", JV_KIND_OBJECT);
          const char *prop = dk_json_str (bo, "Propagation");
          cleanup_free char *src = dk_ocispec_clean_path (dk_json_str (m, "Source") ?: "");
          out = jv_array_append (
              out, mount_point ("bind", src, dest, "", !ro, prop && *prop ? prop : "rprivate"));
        }
      else if (strcmp (type, "tmpfs") == 0)
        out = jv_array_append (out, mount_point ("tmpfs", "", dest, "", !ro, ""));
    }
  return out;
}

jv
dk_ocispec_mount_points (jv hostconfig)
{
  return from_mounts (hostconfig, from_binds (hostconfig, jv_array ()));
}

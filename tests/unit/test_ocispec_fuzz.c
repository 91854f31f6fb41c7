/* Malformed create bodies: every member of a body the docker CLI sent,
   replaced by values of every JSON kind, must give a config or an error,
   never an abort (jv asserts on kinds) or a leak.  Runs under ASan. */
#include "tap.h"
#include "ocispec.h"
#include "cleanup.h"

#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#define ID "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"

static jv
collect_paths (jv v, jv prefix, jv acc)
{
  /* v borrowed, prefix consumed */
  jv_kind k = jv_get_kind (v);
  if (k == JV_KIND_OBJECT)
    {
      jv_object_foreach (v, key, val)
      {
        jv p = jv_array_append (jv_copy (prefix), key);
        acc = jv_array_append (acc, jv_copy (p));
        acc = collect_paths (val, p, acc);
        jv_free (val);
      }
    }
  else if (k == JV_KIND_ARRAY)
    {
      jv_array_foreach (v, i, val)
      {
        jv p = jv_array_append (jv_copy (prefix), jv_number (i));
        acc = jv_array_append (acc, jv_copy (p));
        acc = collect_paths (val, p, acc);
        jv_free (val);
      }
    }
  jv_free (prefix);
  return acc;
}

int
main (void)
{
  static const char *const values[]
      = { "\"x\"", "\"\"", "7",       "-1",     "1e300",           "1.5", "true",     "null",
          "[]",    "[1]",  "[\"x\"]", "[null]", "[{\"a\":\"b\"}]", "{}",  "{\"a\":1}" };
  char root[] = "/tmp/dk-spec-fuzz-XXXXXX";
  if (!mkdtemp (root))
    return 1;
  cleanup_free char *etc = xasprintf ("%s/etc", root);
  mkdir (etc, 0755);
  const char *files[][2]
      = { { "passwd", "root:x:0:0::/root:/bin/sh\napp:x:1000:1000::/:/bin/sh\n" },
          { "group", "root:x:0:\napp:x:1000:\nvideo:x:44:app\n" } };
  for (int f = 0; f < 2; f++)
    {
      cleanup_free char *p = xasprintf ("%s/%s", etc, files[f][0]);
      cleanup_fclose FILE *fp = fopen (p, "w");
      if (fp)
        fputs (files[f][1], fp);
    }
  jv body = jv_invalid ();
  dk_err_t err = NULL;
  if (dk_json_read_file ("tests/fixtures/spec/cli-create-many-flags.json", &body, &err) < 0)
    {
      skip (err->msg, "fuzz: fixture readable (run from the repository root)");
      dk_error_release (&err);
      return tap_done ();
    }
  cleanup_free char *bind = xasprintf ("%s/b:/b", root);
  jv hc = jv_object_get (jv_copy (body), jv_string ("HostConfig"));
  hc = jv_object_set (hc, jv_string ("Init"), jv_false ());
  hc = jv_object_set (hc, jv_string ("Binds"), jv_array_append (jv_array (), jv_string (bind)));
  body = jv_object_set (body, jv_string ("HostConfig"), hc);

  jv paths = collect_paths (body, jv_array (), jv_array ());
  int n = 0, built = 0, refused = 0, bad_errors = 0;
  jv_array_foreach (paths, i, path)
  {
    for (size_t k = 0; k < sizeof values / sizeof values[0]; k++)
      {
        jv create = jv_setpath (jv_copy (body), jv_copy (path), jv_parse (values[k]));
        if (!jv_is_valid (create))
          {
            jv_free (create);
            continue;
          }
        struct dk_spec_input in = { .id = ID,
                                    .create = create,
                                    .image_config = jv_null (),
                                    .rootfs = root,
                                    .volume_paths = jv_null () };
        jv spec = jv_invalid ();
        n++;
        if (dk_ocispec_build (&in, &spec, &err) == 0)
          {
            built++;
            jv_free (spec);
          }
        else
          {
            refused++;
            if (!err || !err->msg || !*err->msg)
              bad_errors++;
            dk_error_release (&err);
          }
        jv_free (create);
      }
    jv_free (path);
  }
  /* the image config is untrusted too (it came from a registry) */
  static const char *const image_keys[]
      = { "User", "Env", "Cmd", "Entrypoint", "WorkingDir", "Volumes", NULL };
  jv plain = jv_parse ("{\"Cmd\":null}");
  for (int ik = 0; image_keys[ik]; ik++)
    for (size_t k = 0; k < sizeof values / sizeof values[0]; k++)
      {
        jv img = jv_object_set (jv_object (), jv_string (image_keys[ik]), jv_parse (values[k]));
        img = jv_object_set (img, jv_string ("Cmd"), jv_parse ("[\"sh\"]"));
        if (strcmp (image_keys[ik], "Cmd") == 0)
          img = jv_object_set (img, jv_string ("Cmd"), jv_parse (values[k]));
        struct dk_spec_input in = {
          .id = ID, .create = plain, .image_config = img, .rootfs = root, .volume_paths = jv_null ()
        };
        jv spec = jv_invalid ();
        n++;
        if (dk_ocispec_build (&in, &spec, &err) == 0)
          built++, jv_free (spec);
        else
          refused++, bad_errors += !err || !err->msg || !*err->msg, dk_error_release (&err);
        jv_free (img);
      }
  jv_free (plain);

  ok (n > 1000, "fuzz: %d mutated bodies tried", n);
  ok (built > 0 && refused > 0, "fuzz: %d built, %d refused, none aborted", built, refused);
  ok (bad_errors == 0, "fuzz: every refusal has a message");
  jv_free (paths);
  jv_free (body);
  cleanup_free char *cmd = xasprintf ("rm -rf '%s'", root);
  if (system (cmd) != 0)
    printf ("# could not remove %s\n", root);
  return tap_done ();
}

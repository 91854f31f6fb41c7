/* A container whose dk-shim died (kill -9 of the shim, a crash): its wait
   connection closed without an answer and the shim left no exit.json.
   As containerd does after a dead shim (the shim binary's `delete`): the
   runtime's `delete --force` kills what is left of the container and
   drops the runtime's state; the container then exits with 137 (128 +
   SIGKILL), or 255 when that delete failed too.  Until then it stays
   running, so a stop or rm -f in flight answers once it is done. */
#include "container.h"
#include "cleanup.h"
#include "log.h"

#include <stdlib.h>
#include <string.h>

char **runtime_delete_argv (struct container *c, dk_err_t *err);

static void
exited_as (const char *id, int64_t code)
{
  struct container *c = container_find (id);
  if (c == NULL)
    return;
  cleanup_free char *now = now_rfc3339 ();
  jv st = jv_object_set (jv_object (), jv_string ("exit_code"), dk_json_int64 (code));
  st = jv_object_set (st, jv_string ("finished_at"), jv_string (now));
  container_exited (c, st);
  jv_free (st);
}

static void
delete_done (struct job *j, jv result, int status, void *ud)
{
  cleanup_free char *id = ud;
  /* the runtime prints no JSON: its status says it */
  bool failed = status != 0;
  if (failed)
    dk_warn ("container %.12s: runtime delete after its shim died: %s", id,
             dk_json_str (result, "message") ? dk_json_str (result, "message") : "failed");
  exited_as (id, failed ? 255 : 137);
}

void
container_shim_died (struct container *c)
{
  dk_warn ("container %.12s: its shim is gone; cleaning up after it", c->id);
  cleanup_error dk_err_t err = NULL;
  cleanup_strv char **argv = runtime_delete_argv (c, &err);
  struct job_opts o = { .on_done = delete_done, .ud = xstrdup (c->id) };
  if (argv == NULL || job_start ((const char *const *)argv, &o, &err) == NULL)
    {
      dk_warn ("container %.12s: %s", c->id, err ? err->msg : "no runtime");
      free (o.ud);
      exited_as (c->id, 255);
    }
}

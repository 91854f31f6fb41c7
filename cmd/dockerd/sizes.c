/* Container sizes for `docker ps -s` and /system/df: SizeRw and SizeRootFs
   of each listed container from one `dk-graph container-size` run. */
#include "container.h"
#include "cleanup.h"
#include "log.h"

#include <stdlib.h>
#include <string.h>

struct sizes_ctx
{
  struct http_req *req;
  jv list; /* container summaries, each with "Id" */
  sizes_cb cb;
  void *ud;
  struct job *job;
};

static jv
with_sizes (jv list, jv sizes)
{
  jv out = jv_array ();
  jv_array_foreach (list, i, s)
  {
    const char *id = dk_json_str (s, "Id");
    cleanup_jv jv one = id ? dk_json_get_kind (sizes, id, JV_KIND_OBJECT) : jv_invalid ();
    int64_t rw = 0, root = 0;
    dk_json_int (one, "size_rw", &rw);
    dk_json_int (one, "size_root_fs", &root);
    s = jv_object_set (s, jv_string ("SizeRw"), dk_json_int64 (rw));
    out = jv_array_append (out, jv_object_set (s, jv_string ("SizeRootFs"), dk_json_int64 (root)));
  }
  jv_free (list);
  return out;
}

static void
sizes_done (struct job *j, jv result, int status, void *ud)
{
  struct sizes_ctx *x = ud;
  x->req->on_abort = NULL;
  cleanup_jv jv sizes = dk_json_get_kind (result, "sizes", JV_KIND_OBJECT);
  if (!jv_is_valid (sizes))
    dk_log (DK_LOG_WARN, "container sizes: %s",
            dk_json_str (result, "message") ? dk_json_str (result, "message") : "no result");
  x->cb (x->req, with_sizes (x->list, sizes), x->ud);
  free (x);
}

static void
sizes_abort (struct http_req *req, void *data)
{
  struct sizes_ctx *x = data;
  job_detach (x->job);
  jv_free (x->list);
  free (x);
  http_respond_empty (req, 500);
}

void
containers_with_sizes (struct http_req *req, jv list, sizes_cb cb, void *ud)
{
  int n = jv_array_length (jv_copy (list));
  if (n == 0)
    {
      cb (req, list, ud);
      return;
    }
  const char **tail = xzalloc ((n + 3) * sizeof *tail);
  int k = 0;
  tail[k++] = "container-size";
  tail[k++] = "--ignore-missing";
  for (int i = 0; i < n; i++)
    {
      cleanup_jv jv s = jv_array_get (jv_copy (list), i);
      const char *id = dk_json_str (s, "Id");
      if (id)
        tail[k++] = xstrdup (id);
    }
  const char **argv = graph_argv (tail);
  struct sizes_ctx *x = xzalloc (sizeof *x);
  *x = (struct sizes_ctx){ .req = req, .list = list, .cb = cb, .ud = ud };
  struct job_opts o = { .on_done = sizes_done, .ud = x };
  cleanup_error dk_err_t err = NULL;
  x->job = job_start (argv, &o, &err);
  for (int i = 2; i < k; i++)
    free ((char *)tail[i]);
  free (tail);
  if (x->job == NULL)
    {
      dk_log (DK_LOG_WARN, "container sizes: %s", err->msg);
      cb (req, with_sizes (list, jv_object ()), ud);
      free (x);
      return;
    }
  req->on_abort = sizes_abort;
  req->abort_data = x;
}

/* Image endpoints: every one is a dk-graph or dk-pull job whose JSON lines
   become the API's answer (or its streamed messages). */
#include "dockerd.h"
#include "cleanup.h"
#include "log.h"

#include <stdlib.h>
#include <string.h>

/* ---- what create asked dk-graph inspect, until an image changes ---- */

static jv image_cache;

jv
image_cache_get (const char *ref)
{
  if (ref == NULL || jv_get_kind (image_cache) != JV_KIND_OBJECT)
    return jv_invalid ();
  return dk_json_get_kind (image_cache, ref, JV_KIND_OBJECT);
}

void
image_cache_put (const char *ref, jv image)
{
  if (ref == NULL || jv_get_kind (image) != JV_KIND_OBJECT)
    return;
  if (jv_get_kind (image_cache) != JV_KIND_OBJECT)
    image_cache = jv_object ();
  image_cache = jv_object_set (image_cache, jv_string (ref), jv_copy (image));
}

void
image_cache_clear (void)
{
  if (jv_get_kind (image_cache) == JV_KIND_OBJECT)
    jv_free (image_cache);
  image_cache = jv_invalid ();
}

/* ---- a request served by one job ---- */

typedef void (*result_fn) (struct http_req *req, jv result, void *ud); /* result borrowed */

struct simple
{
  struct http_req *req;
  result_fn fn;
  void *ud;
  struct job *job;
  bool streaming; /* a chunked response has begun */
  bool raw;
  char *event_action, *event_id; /* image event on success */
  bool mutates;                  /* changes images: the create cache goes */
  bool inband_errors;            /* errors go in the stream even before it began (load) */
};

static bool
is_error (jv result)
{
  const char *t = dk_json_str (result, "type");
  return t && !strcmp (t, "error");
}

static void
simple_free (struct simple *s)
{
  free (s->event_action);
  free (s->event_id);
  free (s);
}

/* A job that ends before its request body (a refused import or load): the
   rest of the body is read and dropped (load_body sees no context). */
static void
body_unhook (struct http_req *req, struct simple *s)
{
  if (req->body_ud != s)
    return;
  req->body_ud = NULL;
  if (!req->body_done)
    http_body_pause (req, false);
}

static void
simple_abort (struct http_req *req, void *data)
{
  struct simple *s = data;
  body_unhook (req, s);
  job_detach (s->job);
  s->job = NULL;
  if (s->mutates)
    image_cache_clear ();
  if (s->streaming || s->raw)
    http_stream_end (req);
  else
    http_respond_empty (req, 500);
  /* the job's done callback will not come: it is detached */
  simple_free (s);
}

static void
simple_done (struct job *j, jv result, int status, void *ud)
{
  struct simple *s = ud;
  if (s->mutates)
    image_cache_clear ();
  struct http_req *req = s->req;
  req->on_abort = NULL;
  body_unhook (req, s);
  if (is_error (result))
    {
      const char *msg = dk_json_str (result, "message");
      if (s->inband_errors && !s->streaming)
        {
          /* moby answers a load 200 and writes its failure in the stream
             (docker-py raises ImageLoadError from it) */
          http_stream_begin (req, 200, "application/json");
          s->streaming = true;
        }
      /* a streaming answer carries the error in-band; http_error knows */
      http_error (req, http_status_for_code (dk_json_str (result, "code")), "%s",
                  msg ? msg : "failed");
    }
  else
    {
      if (s->event_action)
        events_emit ("image", s->event_action, s->event_id,
                     jv_object_set (jv_object (), jv_string ("name"), jv_string (s->event_id)));
      s->fn (req, result, s->ud);
    }
  simple_free (s);
}

static void send_member (struct http_req *req, jv result, void *ud);
static void raw_end (struct http_req *req, jv result, void *ud);

static struct simple *
run_job (struct http_req *req, const char **argv, result_fn fn, void *ud, struct job_opts *extra)
{
  struct simple *s = xzalloc (sizeof *s);
  s->mutates = !(fn == send_member || fn == raw_end);
  if (s->mutates)
    image_cache_clear ();
  s->req = req;
  s->fn = fn;
  s->ud = ud;
  struct job_opts o = { 0 };
  if (extra)
    o = *extra;
  o.on_done = simple_done;
  o.ud = s;
  cleanup_error dk_err_t err = NULL;
  s->job = job_start (argv, &o, &err);
  if (s->job == NULL)
    {
      free (s);
      http_error_err (req, err);
      return NULL;
    }
  req->on_abort = simple_abort;
  req->abort_data = s;
  return s;
}

static void
send_member (struct http_req *req, jv result, void *ud)
{
  const char *key = ud;
  jv v = dk_json_get (result, key);
  http_respond_json (req, 200, jv_is_valid (v) ? v : (jv_free (v), jv_null ()));
}

/* ---- progress streams (pull, push, load) ---- */

static void
stream_line (struct job *j, jv line, void *ud)
{
  struct simple *s = ud;
  if (!s->streaming)
    {
      http_stream_begin (s->req, 200, "application/json");
      s->streaming = true;
    }
  jv out = jv_object_delete (jv_copy (line), jv_string ("type"));
  http_stream_json (s->req, out);
}

static void
pull_result (struct http_req *req, jv result, void *ud)
{
  struct simple *s = ud;
  const char *status = dk_json_str (result, "status");
  /* the tool streams its own Digest/Status lines; without any, say the result */
  if (!s->streaming)
    {
      http_stream_begin (req, 200, "application/json");
      if (status)
        http_stream_json (req, jv_object_set (jv_object (), jv_string ("status"),
                                              jv_string_fmt ("Status: %s", status)));
    }
  http_stream_end (req);
}

/* X-Registry-Auth: base64url JSON -> the JSON (malloc'd) or NULL */
static char *
registry_auth (struct http_req *req, size_t *len)
{
  const char *h = http_header (req, "X-Registry-Auth");
  if (h == NULL || *h == 0)
    return NULL;
  size_t n = strlen (h);
  char *out = xmalloc (n + 1);
  unsigned acc = 0;
  int bits = 0;
  size_t o = 0;
  for (size_t i = 0; i < n; i++)
    {
      char c = h[i];
      int v;
      if (c >= 'A' && c <= 'Z')
        v = c - 'A';
      else if (c >= 'a' && c <= 'z')
        v = c - 'a' + 26;
      else if (c >= '0' && c <= '9')
        v = c - '0' + 52;
      else if (c == '+' || c == '-')
        v = 62;
      else if (c == '/' || c == '_')
        v = 63;
      else
        continue;
      acc = (acc << 6) | (unsigned)v;
      bits += 6;
      if (bits >= 8)
        {
          bits -= 8;
          out[o++] = (char)((acc >> bits) & 0xff);
        }
    }
  out[o] = 0;
  *len = o;
  return out;
}

/* "FLAG VALUE" for each string of list (borrowed; the strings live as long
   as list does), leaving room in argv[64] for the auth options and NULL. */
static void
add_list_args (const char **argv, int *n, const char *flag, jv list)
{
  jv_array_foreach (list, i, e)
  {
    if (*n < 56 && jv_get_kind (e) == JV_KIND_STRING)
      {
        argv[(*n)++] = flag;
        argv[(*n)++] = jv_string_value (e);
      }
    jv_free (e);
  }
}

/* Registry credentials go to dk-pull on its stdin, never on its command line. */
static void
add_auth (const char **argv, int *n, struct job_opts *o, const char *auth, size_t alen)
{
  if (auth && alen > 2)
    {
      argv[(*n)++] = "--auth-file";
      argv[(*n)++] = "-";
      o->stdin_data = auth;
      o->stdin_len = alen;
    }
}

/* dk-pull --root R --driver D CMD REF OPT VAL: the start of a pull's or a
   push's argv[64]; returns the count */
static int
registry_argv (const char **argv, const char *cmd, const char *ref, const char *opt,
               const char *val)
{
  const char *head[]
      = { "dk-pull", "--root", D.data_root, "--driver", D.driver, cmd, ref, opt, val };
  memcpy (argv, head, sizeof head);
  return (int)(sizeof head / sizeof *head);
}

/* Runs dk-pull (pull or push) as a streamed job, credentials on its stdin. */
static void
start_registry_job (struct http_req *req, const char **argv, int n, const char *auth, size_t alen,
                    const char *action, const char *ref)
{
  struct job_opts o = { .on_line = stream_line };
  add_auth (argv, &n, &o, auth, alen);
  argv[n] = NULL;
  struct simple *s = run_job (req, argv, pull_result, NULL, &o);
  if (s)
    {
      s->ud = s;
      s->event_action = xstrdup (action);
      s->event_id = xstrdup (ref);
    }
}

static void images_import (struct http_req *req, const char *src);

void
h_images_create (struct http_req *req)
{
  cleanup_free char *from = http_query (req, "fromImage");
  cleanup_free char *tag = http_query (req, "tag");
  cleanup_free char *src = http_query (req, "fromSrc");
  cleanup_free char *platform = http_query (req, "platform");
  if (src && *src)
    {
      images_import (req, src);
      return;
    }
  if (from == NULL || *from == 0)
    {
      http_error (req, 400, "fromImage or fromSrc must be specified");
      return;
    }
  cleanup_free char *ref = NULL;
  if (tag && *tag)
    ref = xasprintf ("%s%s%s", from, strncmp (tag, "sha256:", 7) ? ":" : "@", tag);
  else
    ref = xstrdup (from);
  size_t alen = 0;
  cleanup_free char *auth = registry_auth (req, &alen);
  cleanup_free char *mcd = xasprintf ("%lld", (long long)cfg_int ("max-concurrent-downloads"));
  const char *argv[64];
  int n = registry_argv (argv, "pull", ref, "--max-concurrent-downloads", mcd);
  if (platform && *platform)
    {
      argv[n++] = "--platform";
      argv[n++] = platform;
    }
  jv insecure = cfg_list ("insecure-registries"), mirrors = cfg_list ("registry-mirrors");
  add_list_args (argv, &n, "--insecure-registry", insecure);
  add_list_args (argv, &n, "--registry-mirror", mirrors);
  start_registry_job (req, argv, n, auth, alen, "pull", ref);
  jv_free (insecure);
  jv_free (mirrors);
}

void
h_image_push (struct http_req *req)
{
  cleanup_free char *tag = http_query (req, "tag");
  cleanup_free char *ref
      = tag && *tag ? xasprintf ("%s:%s", req->params[0], tag) : xstrdup (req->params[0]);
  size_t alen = 0;
  cleanup_free char *auth = registry_auth (req, &alen);
  cleanup_free char *mcu = xasprintf ("%lld", (long long)cfg_int ("max-concurrent-uploads"));
  const char *argv[64];
  int n = registry_argv (argv, "push", ref, "--max-concurrent-uploads", mcu);
  jv insecure = cfg_list ("insecure-registries");
  add_list_args (argv, &n, "--insecure-registry", insecure);
  start_registry_job (req, argv, n, auth, alen, "push", ref);
  jv_free (insecure);
}

static void
push_filters (const char **argv, int *n, jv filters, char ***owned)
{
  int k = 0;
  jv_object_foreach (filters, key, vals)
  {
    jv_array_foreach (vals, i, v)
    {
      if (*n < 60)
        {
          char *s = xasprintf ("%s=%s", jv_string_value (key), jv_string_value (v));
          *owned = xrealloc (*owned, (k + 2) * sizeof **owned);
          (*owned)[k++] = s;
          (*owned)[k] = NULL;
          argv[(*n)++] = "--filter";
          argv[(*n)++] = s;
        }
      jv_free (v);
    }
    jv_free (key);
    jv_free (vals);
  }
}

void
h_images_list (struct http_req *req)
{
  cleanup_free char *filt = http_query (req, "filters");
  jv filters;
  cleanup_error dk_err_t err = NULL;
  if (parse_filters (filt, &filters, &err) < 0)
    {
      jv_free (filters);
      http_error_err (req, err);
      return;
    }
  jv dl = dk_json_get_kind (filters, "dangling", JV_KIND_ARRAY);
  if (jv_is_valid (dl))
    jv_array_foreach (dl, i, e)
    {
      const char *v = jv_string_value (e);
      if (!err && strcmp (v, "true") && strcmp (v, "false") && strcmp (v, "1") && strcmp (v, "0"))
        dk_make_error_code (&err, DK_ECODE_INVALID, 0, "invalid filter 'dangling=%s'", v);
      jv_free (e);
    }
  jv_free (dl);
  if (err)
    {
      jv_free (filters);
      http_error_err (req, err);
      return;
    }
  /* API < 1.25 sends filter=NAME */
  cleanup_free char *legacy = http_query (req, "filter");
  if (legacy && *legacy)
    filters = jv_object_set (filters, jv_string ("reference"),
                             jv_array_append (jv_array (), jv_string (legacy)));
  const char *argv[64] = { "ls" };
  int n = 1;
  if (http_query_bool (req, "all", false))
    argv[n++] = "--all";
  if (http_query_bool (req, "digests", false))
    argv[n++] = "--digests";
  cleanup_strv char **owned = NULL;
  push_filters (argv, &n, filters, &owned);
  jv_free (filters);
  argv[n] = NULL;
  run_job (req, graph_argv (argv), send_member, "images", NULL);
}

void
h_image_inspect (struct http_req *req)
{
  const char *tail[] = { "inspect", req->params[0], NULL };
  run_job (req, graph_argv (tail), send_member, "image", NULL);
}

void
h_image_history (struct http_req *req)
{
  const char *tail[] = { "history", req->params[0], NULL };
  run_job (req, graph_argv (tail), send_member, "history", NULL);
}

static void
send_created (struct http_req *req, jv result, void *ud)
{
  http_respond_empty (req, 201);
}

void
h_image_tag (struct http_req *req)
{
  cleanup_free char *repo = http_query (req, "repo");
  cleanup_free char *tag = http_query (req, "tag");
  if (repo == NULL || *repo == 0)
    {
      http_error (req, 400, "repository name must have at least one component");
      return;
    }
  cleanup_free char *target = tag && *tag ? xasprintf ("%s:%s", repo, tag) : xstrdup (repo);
  const char *tail[] = { "tag", req->params[0], target, NULL };
  struct simple *s = run_job (req, graph_argv (tail), send_created, NULL, NULL);
  if (s)
    {
      s->event_action = xstrdup ("tag");
      s->event_id = xstrdup (target);
    }
}

static void
send_deleted (struct http_req *req, jv result, void *ud)
{
  jv d = dk_json_get_kind (result, "deleted", JV_KIND_ARRAY);
  if (!jv_is_valid (d))
    {
      jv_free (d);
      d = jv_array ();
    }
  jv_array_foreach (d, i, e)
  {
    const char *u = dk_json_str (e, "Untagged"), *del = dk_json_str (e, "Deleted");
    if (u)
      events_emit ("image", "untag", u, jv_object ());
    if (del)
      events_emit ("image", "delete", del, jv_object ());
    jv_free (e);
  }
  http_respond_json (req, 200, d);
}

void
h_image_delete (struct http_req *req)
{
  const char *argv[8] = { "rm" };
  int n = 1;
  if (http_query_bool (req, "force", false))
    argv[n++] = "--force";
  if (http_query_bool (req, "noprune", false))
    argv[n++] = "--no-prune";
  argv[n++] = req->params[0];
  argv[n] = NULL;
  run_job (req, graph_argv (argv), send_deleted, NULL, NULL);
}

static void
send_pruned (struct http_req *req, jv result, void *ud)
{
  jv d = dk_json_get_kind (result, "deleted", JV_KIND_ARRAY);
  int64_t space = 0;
  dk_json_int (result, "space_reclaimed", &space);
  jv v = jv_object_set (jv_object (), jv_string ("ImagesDeleted"),
                        jv_is_valid (d) ? d : (jv_free (d), jv_null ()));
  v = jv_object_set (v, jv_string ("SpaceReclaimed"), dk_json_int64 (space));
  events_emit ("image", "prune", "",
               jv_object_set (jv_object (), jv_string ("reclaimed"),
                              jv_string_fmt ("%lld", (long long)space)));
  http_respond_json (req, 200, v);
}

void
h_images_prune (struct http_req *req)
{
  cleanup_free char *filt = http_query (req, "filters");
  jv filters;
  cleanup_error dk_err_t err = NULL;
  if (parse_filters (filt, &filters, &err) < 0)
    {
      jv_free (filters);
      http_error_err (req, err);
      return;
    }
  const char *argv[64] = { "prune" };
  int n = 1;
  /* dangling=false means every unused image (docker image prune -a) */
  jv dl = dk_json_get_kind (filters, "dangling", JV_KIND_ARRAY);
  if (jv_is_valid (dl))
    {
      jv first = dk_json_at (dl, 0);
      const char *s = jv_get_kind (first) == JV_KIND_STRING ? jv_string_value (first) : "true";
      if (!strcmp (s, "false") || !strcmp (s, "0"))
        argv[n++] = "--all";
      jv_free (first);
      filters = jv_object_delete (filters, jv_string ("dangling"));
    }
  jv_free (dl);
  cleanup_strv char **owned = NULL;
  push_filters (argv, &n, filters, &owned);
  jv_free (filters);
  argv[n] = NULL;
  run_job (req, graph_argv (argv), send_pruned, NULL, NULL);
}

/* ---- save: raw tar from dk-graph save ---- */

static void
raw_out (struct job *j, const char *data, ssize_t n, void *ud)
{
  struct simple *s = ud;
  if (n <= 0)
    return;
  if (!s->raw)
    {
      http_stream_begin (s->req, 200, "application/x-tar");
      s->raw = true;
      s->streaming = true;
    }
  http_stream_write (s->req, data, n);
}

static void
raw_end (struct http_req *req, jv result, void *ud)
{
  struct simple *s = ud;
  if (!s->raw)
    http_stream_begin (req, 200, "application/x-tar");
  http_stream_end (req);
}

/* argv: head, then the strings of opts, then tail (NULL-terminated each);
   the array is malloc'd, the strings borrowed */
static const char **
join_argv (const char *const *head, char *const *opts, const char *const *tail)
{
  size_t n = 0, k = 0;
  for (size_t i = 0; head[i]; i++)
    n++;
  for (size_t i = 0; opts[i]; i++)
    n++;
  for (size_t i = 0; tail[i]; i++)
    n++;
  const char **argv = xzalloc ((n + 1) * sizeof *argv);
  for (size_t i = 0; head[i]; i++)
    argv[k++] = head[i];
  for (size_t i = 0; opts[i]; i++)
    argv[k++] = opts[i];
  for (size_t i = 0; tail[i]; i++)
    argv[k++] = tail[i];
  return argv;
}

static void
save (struct http_req *req, char *const *names)
{
  const char *head[] = { "save", NULL }, *tail[] = { "-o", "-", NULL };
  cleanup_free const char **args = join_argv (head, names, tail);
  struct job_opts o = { .on_raw = raw_out };
  struct simple *s = run_job (req, graph_argv (args), raw_end, NULL, &o);
  if (s)
    s->ud = s;
}

void
h_image_get (struct http_req *req)
{
  char *names[] = { req->params[0], NULL };
  save (req, names);
}

void
h_images_get (struct http_req *req)
{
  cleanup_strv char **names = http_query_all (req, "names");
  if (names[0] == NULL)
    {
      http_error (req, 400, "no images given: use names=IMAGE");
      return;
    }
  save (req, names);
}

/* ---- load: the request body is the tar ---- */

static void
load_result (struct http_req *req, jv result, void *ud)
{
  struct simple *s = ud;
  if (!s->streaming)
    http_stream_begin (req, 200, "application/json");
  jv loaded = dk_json_get_kind (result, "loaded", JV_KIND_ARRAY);
  if (jv_is_valid (loaded))
    {
      jv_array_foreach (loaded, i, e)
      {
        const char *name = jv_string_value (e);
        bool id = !strncmp (name, "sha256:", 7);
        cleanup_free char *msg = xasprintf ("Loaded image%s: %s\n", id ? " ID" : "", name);
        http_stream_json (req, jv_object_set (jv_object (), jv_string ("stream"), jv_string (msg)));
        events_emit ("image", "load", name, jv_object ());
        jv_free (e);
      }
    }
  jv_free (loaded);
  http_stream_end (req);
}

static void
load_body (struct http_req *req, const char *data, ssize_t n, void *ud)
{
  struct simple *s = ud;
  if (s == NULL || s->job == NULL)
    return;
  if (n < 0)
    {
      job_close_stdin (s->job);
      return;
    }
  job_write (s->job, data, n);
  if (job_stdin_queue (s->job) > ((size_t)8 << 20))
    http_body_pause (req, true);
}

static void
load_drain (struct job *j, void *ud)
{
  struct simple *s = ud;
  http_body_pause (s->req, false);
}

void
h_images_load (struct http_req *req)
{
  bool quiet = http_query_bool (req, "quiet", false);
  const char *argv[8] = { "load", "-i", "-", NULL, NULL };
  if (quiet)
    argv[3] = "--quiet";
  struct job_opts o
      = { .on_line = quiet ? NULL : stream_line, .want_stdin = true, .on_drain = load_drain };
  struct simple *s = run_job (req, graph_argv (argv), load_result, NULL, &o);
  if (s == NULL)
    return;
  s->ud = s;
  s->inband_errors = true;
  /* the archive streams from the request body into dk-graph's stdin */
  req->on_body = load_body;
  req->body_ud = s;
  if (req->body_done)
    {
      job_write (s->job, req->body.data, req->body.len);
      job_close_stdin (s->job);
    }
}

/* ---- import (create with fromSrc): "-" is a rootfs tar in the request
   body, anything else a URL ---- */

static void
import_result (struct http_req *req, jv result, void *ud)
{
  struct simple *s = ud;
  if (!s->streaming)
    http_stream_begin (req, 200, "application/json");
  const char *id = dk_json_str (result, "id");
  if (id)
    {
      http_stream_json (req, jv_object_set (jv_object (), jv_string ("status"), jv_string (id)));
      events_emit ("image", "import", id, jv_object ());
    }
  http_stream_end (req);
}

/* The options of `dk-graph import` the request asks for (--ref, --message,
   a --change per `changes`), each string malloc'd; NULL-terminated. */
static char **
import_options (struct http_req *req, const char *src)
{
  cleanup_free char *repo = http_query (req, "repo");
  cleanup_free char *tag = http_query (req, "tag");
  cleanup_free char *msg = http_query (req, "message");
  cleanup_strv char **changes = http_query_all (req, "changes");
  size_t n = 0, nc = 0;
  while (changes[nc])
    nc++;
  char **v = xzalloc ((2 * nc + 5) * sizeof *v);
  if (repo && *repo)
    {
      v[n++] = xstrdup ("--ref");
      v[n++] = tag && *tag ? xasprintf ("%s:%s", repo, tag) : xstrdup (repo);
    }
  if ((msg && *msg) || strcmp (src, "-") != 0)
    {
      v[n++] = xstrdup ("--message");
      /* moby's comment of an import without a message */
      v[n++] = msg && *msg ? xstrdup (msg) : xasprintf ("Imported from %s", src);
    }
  for (size_t i = 0; i < nc; i++)
    {
      v[n++] = xstrdup ("--change");
      v[n++] = steal_ptr (&changes[i]);
    }
  return v;
}

static void
images_import (struct http_req *req, const char *src)
{
  cleanup_strv char **opts = import_options (req, src);
  if (strcmp (src, "-") != 0)
    {
      /* a URL: dk-pull fetches it and runs dk-graph import with the options
         after "--"; its progress is relayed as the answer's stream */
      const char *head[]
          = { "dk-pull", "--root", D.data_root, "--driver", D.driver, "import", src, "--", NULL };
      const char *none[] = { NULL };
      cleanup_free const char **argv = join_argv (head, opts, none);
      struct job_opts o = { .on_line = stream_line };
      struct simple *s = run_job (req, argv, import_result, NULL, &o);
      if (s)
        s->ud = s;
      return;
    }
  const char *head[] = { "import", NULL }, *tail[] = { "-", NULL };
  cleanup_free const char **gtail = join_argv (head, opts, tail);
  const char **argv = graph_argv (gtail);
  struct job_opts o = { .want_stdin = true, .on_drain = load_drain };
  struct simple *s = run_job (req, argv, import_result, NULL, &o);
  if (s == NULL)
    return;
  s->ud = s;
  /* the tar streams from the request body into dk-graph's stdin */
  req->on_body = load_body;
  req->body_ud = s;
  if (req->body_done)
    {
      job_write (s->job, req->body.data, req->body.len);
      job_close_stdin (s->job);
    }
}

/* ---- search: dk-pull search, filtered here as moby does ---- */

/* The filters of a search, packed into the job's ud (no allocation to lose
   when the job fails or the client goes away): bits 0-1 is-official (0
   unset, 1 false, 2 true), bits 2-3 is-automated, bits 4.. the least stars. */
#define SF_OFFICIAL(f) ((f)&3)
#define SF_AUTOMATED(f) (((f) >> 2) & 3)
#define SF_STARS(f) ((int64_t)((f) >> 4))

static bool
search_keep (jv r, uintptr_t f)
{
  bool official = false;
  int64_t stars = 0;
  dk_json_bool (r, "is_official", &official);
  dk_json_int (r, "star_count", &stars);
  if (SF_OFFICIAL (f) && official != (SF_OFFICIAL (f) == 2))
    return false;
  /* moby 28: is-automated is deprecated, =true finds nothing, =false all */
  if (SF_AUTOMATED (f) == 2)
    return false;
  return stars >= SF_STARS (f);
}

static void
search_result (struct http_req *req, jv result, void *ud)
{
  uintptr_t f = (uintptr_t)ud;
  jv out = jv_array ();
  jv results = dk_json_get_kind (result, "results", JV_KIND_ARRAY);
  if (jv_is_valid (results))
    {
      jv_array_foreach (results, i, r)
      {
        /* the registry's is_automated is untrustworthy: moby says false */
        if (jv_get_kind (r) == JV_KIND_OBJECT && search_keep (r, f))
          out = jv_array_append (out, jv_object_set (r, jv_string ("is_automated"), jv_false ()));
        else
          jv_free (r);
      }
    }
  jv_free (results);
  http_respond_json (req, 200, out);
}

/* A boolean filter: unset 0, false 1, true 2; -1 when its values are not
   one truthy or falsy word (moby's GetBoolOrDefault). */
static int
search_bool_filter (jv filters, const char *key)
{
  jv vals = dk_json_get_kind (filters, key, JV_KIND_ARRAY);
  if (!jv_is_valid (vals))
    return jv_free (vals), 0;
  bool t = false, f = false;
  jv_array_foreach (vals, i, v)
  {
    const char *s = jv_string_value (v);
    t = t || !strcmp (s, "1") || !strcmp (s, "true");
    f = f || !strcmp (s, "0") || !strcmp (s, "false");
    jv_free (v);
  }
  jv_free (vals);
  return t == f ? -1 : t ? 2 : 1;
}

static char *
joined_values (jv filters, const char *key)
{
  jv vals = dk_json_get_kind (filters, key, JV_KIND_ARRAY);
  struct dk_buf b = DK_BUF_INIT;
  if (jv_is_valid (vals))
    jv_array_foreach (vals, i, v)
    {
      dk_buf_printf (&b, "%s%s", i ? "," : "", jv_string_value (v));
      jv_free (v);
    }
  jv_free (vals);
  dk_buf_addc (&b, '\0');
  return dk_buf_steal (&b);
}

/* filters -> the packed form, or -1 with a 400 answered */
static int
search_filters (struct http_req *req, uintptr_t *out)
{
  static const char *const known[] = { "stars", "is-official", "is-automated", NULL };
  cleanup_free char *fs = http_query (req, "filters");
  cleanup_error dk_err_t err = NULL;
  jv filters = jv_invalid ();
  if (parse_filters (fs, &filters, &err) < 0 || filters_check_keys (filters, known, NULL, &err) < 0)
    {
      jv_free (filters);
      http_error_err (req, err);
      return -1;
    }
  int off = search_bool_filter (filters, "is-official");
  int aut = search_bool_filter (filters, "is-automated");
  int64_t stars = 0;
  const char *bad = off < 0 ? "is-official" : aut < 0 ? "is-automated" : NULL;
  jv sv = dk_json_get_kind (filters, "stars", JV_KIND_ARRAY);
  if (bad == NULL && jv_is_valid (sv))
    jv_array_foreach (sv, i, v)
    {
      const char *s = jv_string_value (v);
      char *end = NULL;
      long long n = strtoll (s, &end, 10);
      if (*s == 0 || *end != 0 || n > INT32_MAX || n < INT32_MIN)
        bad = "stars";
      else if (n > stars)
        stars = n;
      jv_free (v);
    }
  jv_free (sv);
  if (bad)
    {
      cleanup_free char *vals = joined_values (filters, bad);
      jv_free (filters);
      http_error (req, 400, "invalid filter '%s=%s'", bad, vals);
      return -1;
    }
  jv_free (filters);
  *out = (uintptr_t)off | ((uintptr_t)aut << 2) | ((uintptr_t)stars << 4);
  return 0;
}

void
h_images_search (struct http_req *req)
{
  cleanup_free char *term = http_query (req, "term");
  cleanup_free char *lim = http_query (req, "limit");
  if (term == NULL || *term == 0)
    {
      http_error (req, 400, "search term is required: use term=TERM");
      return;
    }
  long long limit = 25;
  if (lim && *lim)
    {
      char *end = NULL;
      limit = strtoll (lim, &end, 10);
      if (*end != 0 || limit < 0)
        {
          http_error (req, 400, "invalid limit specified");
          return;
        }
      if (limit == 0)
        limit = 25;
    }
  if (limit < 1 || limit > 100)
    {
      http_error (req, 400, "limit %lld is outside the range of [1, 100]", limit);
      return;
    }
  uintptr_t f = 0;
  if (search_filters (req, &f) < 0)
    return;
  size_t alen = 0;
  cleanup_free char *auth = registry_auth (req, &alen);
  cleanup_free char *n_arg = xasprintf ("%lld", limit);
  const char *argv[64];
  int n = 0;
  argv[n++] = "dk-pull";
  argv[n++] = "search";
  argv[n++] = term;
  argv[n++] = "--limit";
  argv[n++] = n_arg;
  jv insecure = cfg_list ("insecure-registries");
  add_list_args (argv, &n, "--insecure-registry", insecure);
  struct job_opts o = { 0 };
  add_auth (argv, &n, &o, auth, alen);
  argv[n] = NULL;
  struct simple *s = run_job (req, argv, search_result, (void *)f, &o);
  if (s)
    s->mutates = false;
  jv_free (insecure);
}

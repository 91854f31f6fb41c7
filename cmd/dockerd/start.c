/* Starting a container (DESIGN.md section 5): rootfs mount (dk-graph),
   network (dk-netsetup, or files of our own for none/host), OCI bundle
   (lib/ocispec), dk-shim; attach streams and the wait connection are on
   the shim socket before `start`.  On exit: state, event, cleanup,
   AutoRemove. */
#include "container.h"
#include "cleanup.h"
#include "scratchfile.h"
#include "log.h"
#include "ocispec.h"

#include <errno.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

struct start_ctx
{
  struct container *c;
  struct http_req *req;
  char *rootfs;
  char *netns; /* NULL none, "host", or a path */
  struct job *job;
  bool shim_up;
  int pending;     /* rootfs mount and network setup, run side by side */
  int fail_status; /* the first of them to fail */
  char *fail_msg;
};

static void start_fail (struct start_ctx *x, int status, const char *msg);
static void cleanup_chain (struct container *c);

/* ---- cleanup jobs: independent tools (network, layer) run side by side ---- */

struct chain
{
  char *owned[4][24];
  int n, pending;
  void (*done) (void *ud);
  void *ud;
};

static void
chain_finish (struct chain *ch)
{
  if (--ch->pending > 0)
    return;
  if (ch->done)
    ch->done (ch->ud);
  for (int i = 0; i < ch->n; i++)
    for (int k = 0; ch->owned[i][k]; k++)
      free (ch->owned[i][k]);
  free (ch);
}

static void
chain_step_done (struct job *j, jv result, int status, void *ud)
{
  const char *t = dk_json_str (result, "type");
  if (t && !strcmp (t, "error"))
    dk_warn ("cleanup: %s",
             dk_json_str (result, "message") ? dk_json_str (result, "message") : "failed");
  chain_finish (ud);
}

/* Starts every step at once; done() runs when the last one has ended. */
static void
chain_run (struct chain *ch)
{
  ch->pending = 1; /* this loop's own hold: no done() while starting */
  for (int i = 0; i < ch->n; i++)
    {
      const char *argv[24];
      int k = 0;
      for (; ch->owned[i][k]; k++)
        argv[k] = ch->owned[i][k];
      argv[k] = NULL;
      struct job_opts o = { .on_done = chain_step_done, .ud = ch };
      cleanup_error dk_err_t err = NULL;
      ch->pending++;
      if (job_start (argv, &o, &err) == NULL)
        {
          dk_warn ("cleanup: %s", err->msg);
          ch->pending--;
        }
    }
  chain_finish (ch);
}

static void
chain_add (struct chain *ch, const char **argv)
{
  for (int k = 0; argv[k] && k < 23; k++)
    ch->owned[ch->n][k] = xstrdup (argv[k]);
  ch->n++;
}

static const char *
net_mode (struct container *c, jv hc)
{
  const char *nm = dk_json_str (hc, "NetworkMode");
  if (nm == NULL || *nm == 0 || !strcmp (nm, "default") || !strcmp (nm, "bridge"))
    {
      const char *b = cfg_str ("bridge");
      return b && !strcmp (b, "none") ? "none" : "bridge";
    }
  return nm;
}

/* moby's "network connect"/"disconnect" events of the default bridge */
static void
network_event (struct container *c, const char *action)
{
  cleanup_jv jv net = dk_json_get_kind (c->doc, "Net", JV_KIND_OBJECT);
  const char *nid = dk_json_str (net, "network_id");
  if (nid == NULL)
    return;
  jv a = jv_object_set (jv_object (), jv_string ("container"), jv_string (c->id));
  a = jv_object_set (a, jv_string ("name"), jv_string ("bridge"));
  a = jv_object_set (a, jv_string ("type"), jv_string ("bridge"));
  events_emit ("network", action, nid, a);
}

static void
add_netsetup (struct chain *ch, struct container *c)
{
  network_event (c, "disconnect");
  cleanup_free char *state = xasprintf ("%s/network", D.data_root);
  const char *argv[] = { "dk-netsetup", "--state-dir", state, "--exec-root", D.exec_root,
                         "disconnect",  "--id",        c->id, NULL };
  chain_add (ch, argv);
}

/* ---- exit ---- */

static void
removed_done (struct container *c, void *ud)
{
}

void remove_now (struct http_req *req, struct container *c, bool volumes);

static void
after_cleanup (void *ud)
{
  struct container *c = ud;
  c->cleaning = false;
  struct http_req *start = c->start_after, *rm = c->rm_after;
  c->start_after = c->rm_after = NULL;
  if (c->removing)
    {
      /* AutoRemove: its layer went with container-rm among the cleanup jobs */
      if (start)
        http_error (start, 409, "container is marked for removal and cannot be started");
      container_remove_finish (c, rm ? container_rm_reply : removed_done, rm);
      return;
    }
  if (rm)
    {
      if (start)
        http_error (start, 409, "container is marked for removal and cannot be started");
      remove_now (rm, c, true);
      return;
    }
  if (start)
    container_start (c, start);
}

/* After an exit or a failed start: network disconnect and the layer's
   unmount, or for an AutoRemove container its removal (container-rm
   unmounts too), side by side; the container is gone (wait=removed
   answered) once both have ended. */
static void
cleanup_chain (struct container *c)
{
  struct chain *ch = xzalloc (sizeof *ch);
  free (steal_ptr (&c->premounted)); /* unmounted below */
  jv hc = container_hostconfig (c);
  const char *mode = net_mode (c, hc);
  if (strcmp (mode, "none") && strcmp (mode, "host") && strncmp (mode, "container:", 10))
    add_netsetup (ch, c);
  bool autorm = false;
  dk_json_bool (hc, "AutoRemove", &autorm);
  jv_free (hc);
  if (autorm && !c->removing && c->state != C_RUNNING)
    {
      c->removing = true;
      container_transition (c, C_REMOVING, NULL, jv_null ());
      const char *tail[] = { "container-rm", c->id, NULL };
      chain_add (ch, graph_argv (tail));
    }
  else
    {
      const char *tail[] = { "container-unmount", c->id, NULL };
      chain_add (ch, graph_argv (tail));
    }
  c->cleaning = true;
  ch->done = after_cleanup;
  ch->ud = c;
  chain_run (ch);
}

void
container_exited (struct container *c, jv status)
{
  if (c->starting && c->state != C_RUNNING && !c->early_exit)
    {
      /* the wait connection answered before the start did */
      c->early_exit = true;
      c->early_status = jv_copy (status);
      return;
    }
  if (c->state != C_RUNNING && c->state != C_PAUSED && c->state != C_RESTARTING)
    return;
  int64_t code = 255;
  bool oom = false;
  if (jv_is_valid (status))
    {
      dk_json_int (status, "exit_code", &code);
      dk_json_bool (status, "oom_killed", &oom);
    }
  const char *fin = jv_is_valid (status) ? dk_json_str (status, "finished_at") : NULL;
  cleanup_free char *now = now_rfc3339 ();
  container_set_state_field (c, "ExitCode", dk_json_int64 (code));
  container_set_state_field (c, "FinishedAt", jv_string (fin ? fin : now));
  container_set_state_field (c, "OOMKilled", jv_bool (oom));
  container_set_state_field (c, "Pid", dk_json_int64 (0));
  if (c->waitconn)
    {
      shimc_close (c->waitconn);
      c->waitconn = NULL;
    }
  if (oom)
    container_event (c, "oom", jv_object ());
  container_transition (c, C_EXITED, "die",
                        jv_object_set (jv_object (), jv_string ("exitCode"),
                                       jv_string_fmt ("%lld", (long long)code)));
  waiters_notify (c, false);
  cleanup_chain (c);
}

static void
wait_reply (struct shimc *s, jv reply, void *ud)
{
  struct container *c = ud;
  if (c->waitconn != s)
    return;
  c->waitconn = NULL;
  shimc_close (s);
  if (!jv_is_valid (reply))
    {
      /* the shim went away without answering: read what it left on disk */
      cleanup_free char *ed = container_exec_dir (c);
      cleanup_free char *p = xasprintf ("%s/exit.json", ed);
      jv st;
      cleanup_error dk_err_t err = NULL;
      if (dk_json_read_file (p, &st, &err) == 0)
        {
          container_exited (c, st);
          jv_free (st);
          return;
        }
      container_shim_died (c);
      return;
    }
  container_exited (c, reply);
}

void
container_watch (struct container *c)
{
  cleanup_free char *sock = shim_sock (c);
  c->waitconn
      = shimc_request (sock, jv_object_set (jv_object (), jv_string ("op"), jv_string ("wait")),
                       wait_reply, NULL, c);
}

/* ---- start ---- */

static void
start_ctx_free (struct start_ctx *x)
{
  free (x->rootfs);
  free (x->netns);
  free (x->fail_msg);
  free (x);
}

static void
start_abort (struct http_req *req, void *data)
{
  struct start_ctx *x = data;
  /* the container keeps starting: the client left, the work does not */
  x->req = NULL;
  http_respond_empty (req, 500);
}

static void
release_reply (struct shimc *s, jv reply, void *ud)
{
  shimc_close (s);
}

static void
start_fail (struct start_ctx *x, int status, const char *msg)
{
  struct container *c = x->c;
  c->starting = false;
  if (c->early_exit)
    {
      c->early_exit = false;
      jv_free (c->early_status);
    }
  dk_info ("container %.12s failed to start: %s", c->id, msg);
  container_set_state_field (c, "Error", jv_string (msg));
  int64_t code
      = strstr (msg, "executable file not found") || strstr (msg, "no such file or directory") ? 127
        : strstr (msg, "permission denied")                                                    ? 126
                                            : 128;
  container_set_state_field (c, "ExitCode", dk_json_int64 (code));
  cleanup_error dk_err_t err = NULL;
  container_save (c, &err);
  if (x->shim_up)
    {
      /* the runtime created the container: the shim ends it and leaves */
      container_kill (c, SIGKILL, &err);
      dk_error_release (&err);
      /* nobody waits on it any more: let it go once the container is dead */
      cleanup_free char *sock = shim_sock (c);
      shimc_request (sock, jv_object_set (jv_object (), jv_string ("op"), jv_string ("release")),
                     release_reply, NULL, NULL);
    }
  if (x->req)
    {
      x->req->on_abort = NULL;
      http_error (x->req, status, "%s", msg);
    }
  waiters_notify (c, false);
  attach_close_all (c);
  /* undo: network, mount; --rm removes */
  cleanup_chain (c);
  start_ctx_free (x);
}

static void
started (struct shimc *s, jv reply, void *ud)
{
  struct start_ctx *x = ud;
  struct container *c = x->c;
  shimc_close (s);
  const char *t = dk_json_str (reply, "type");
  if (!jv_is_valid (reply) || !t || strcmp (t, "ok"))
    {
      const char *m = dk_json_str (reply, "message");
      if (c->waitconn)
        {
          shimc_close (c->waitconn);
          c->waitconn = NULL;
        }
      start_fail (x, 500, m ? m : "the shim did not start the container");
      return;
    }
  c->starting = false;
  container_transition (c, C_RUNNING, "start", jv_object ());
  if (x->req)
    {
      x->req->on_abort = NULL;
      http_respond_empty (x->req, 204);
    }
  start_ctx_free (x);
  if (c->early_exit)
    {
      jv st = c->early_status;
      c->early_exit = false;
      container_exited (c, st);
      jv_free (st);
    }
}

static void
attaches_ready (struct container *c, void *ud)
{
  struct start_ctx *x = ud;
  cleanup_free char *sock = shim_sock (c);
  container_watch (c);
  shimc_request (sock, jv_object_set (jv_object (), jv_string ("op"), jv_string ("start")), started,
                 NULL, x);
}

static void
shim_ready (struct job *j, jv result, int status, void *ud)
{
  struct start_ctx *x = ud;
  const char *t = dk_json_str (result, "type");
  if (!t || strcmp (t, "ready"))
    {
      const char *m = dk_json_str (result, "message");
      start_fail (x, 500, m ? m : "dk-shim failed");
      return;
    }
  int64_t pid = 0;
  x->shim_up = true;
  dk_json_int (result, "pid", &pid);
  container_set_state_field (x->c, "Pid", dk_json_int64 (pid));
  attach_connect_pending (x->c, attaches_ready, x);
}

int bundle_write (struct container *c, const char *rootfs, const char *netns, dk_err_t *err);
char **shim_argv (struct container *c, dk_err_t *err);

static void
spawn_shim (struct start_ctx *x)
{
  cleanup_error dk_err_t err = NULL;
  if (bundle_write (x->c, x->rootfs, x->netns, &err) < 0)
    {
      start_fail (x, http_status_for_code (err->code), err->msg);
      return;
    }
  cleanup_strv char **argv = shim_argv (x->c, &err);
  if (argv == NULL)
    {
      start_fail (x, 400, err->msg);
      return;
    }
  /* a previous run's state goes first: the shim refuses a live directory */
  cleanup_free char *edir = container_exec_dir (x->c);
  const char *stale[] = { "exit.json", "shim.pid", "shim.sock", NULL };
  for (int i = 0; stale[i]; i++)
    {
      cleanup_free char *p = xasprintf ("%s/%s", edir, stale[i]);
      unlink (p);
    }
  struct job_opts o = { .on_done = shim_ready, .ud = x };
  x->job = job_start ((const char *const *)argv, &o, &err);
  if (x->job == NULL)
    start_fail (x, 500, err->msg);
}

/* One of the steps before the shim (mount, network) has ended: the shim
   starts after the last, or the first failure is reported then. */
static void
step_done (struct start_ctx *x)
{
  if (--x->pending > 0)
    return;
  if (x->fail_msg)
    {
      cleanup_free char *m = steal_ptr (&x->fail_msg);
      start_fail (x, x->fail_status, m);
      return;
    }
  spawn_shim (x);
}

static void
step_fail (struct start_ctx *x, int status, const char *msg)
{
  if (x->fail_msg == NULL)
    {
      x->fail_msg = xstrdup (msg);
      x->fail_status = status;
    }
  step_done (x);
}

/* Files of our own when dk-netsetup is not involved (none, host). */
static int
write_net_files (struct container *c, bool host, dk_err_t *err)
{
  jv create = container_create_body (c);
  const char *h = dk_json_str (create, "Hostname");
  char hn[256];
  if (host)
    gethostname (hn, sizeof hn);
  else
    snprintf (hn, sizeof hn, "%s", h && *h ? h : (char[13]){ 0 });
  if (!host && !(h && *h))
    snprintf (hn, sizeof hn, "%.12s", c->id);
  jv_free (create);
  cleanup_free char *hostname = container_path (c, "hostname");
  cleanup_free char *hosts = container_path (c, "hosts");
  cleanup_free char *resolv = container_path (c, "resolv.conf");
  cleanup_free char *line = xasprintf ("%s\n", hn);
  if (dk_scratch_write (hostname, line, strlen (line), 0644, err) < 0)
    return -1;
  cleanup_free char *hdata = NULL;
  if (host)
    {
      if (dk_read_file ("/etc/hosts", &hdata, NULL, err) < 0)
        {
          dk_error_release (err);
          hdata = xstrdup ("127.0.0.1\tlocalhost\n");
        }
    }
  else
    hdata = xasprintf ("127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\n"
                       "fe00::0\tip6-localnet\nff00::0\tip6-mcastprefix\nff02::1\tip6-allnodes\n"
                       "ff02::2\tip6-allrouters\n");
  if (dk_scratch_write (hosts, hdata, strlen (hdata), 0644, err) < 0)
    return -1;
  cleanup_free char *rdata = NULL;
  if (dk_read_file ("/etc/resolv.conf", &rdata, NULL, err) < 0)
    {
      dk_error_release (err);
      rdata = xstrdup ("");
    }
  return dk_scratch_write (resolv, rdata, strlen (rdata), 0644, err);
}

static void
net_done (struct job *j, jv result, int status, void *ud)
{
  struct start_ctx *x = ud;
  const char *t = dk_json_str (result, "type");
  if (t && !strcmp (t, "error"))
    {
      const char *m = dk_json_str (result, "message");
      step_fail (x, http_status_for_code (dk_json_str (result, "code")),
                 m ? m : "network setup failed");
      return;
    }
  jv net = jv_object_delete (jv_copy (result), jv_string ("type"));
  x->c->doc = jv_object_set (x->c->doc, jv_string ("Net"), net);
  network_event (x->c, "connect");
  const char *ns = dk_json_str (result, "netns");
  x->netns = ns ? xstrdup (ns) : NULL;
  step_done (x);
}

static char *
publish_spec (const char *key, jv b)
{
  const char *hip = dk_json_str (b, "HostIp"), *hp = dk_json_str (b, "HostPort");
  const char *slash = strchr (key, '/');
  cleanup_free char *cp = slash ? xstrdup (key) : xasprintf ("%s/tcp", key);
  if (hip && *hip)
    return xasprintf (strchr (hip, ':') ? "[%s]:%s:%s" : "%s:%s:%s", hip, hp ? hp : "", cp);
  if (hp && *hp)
    return xasprintf ("%s:%s", hp, cp);
  return xstrdup (cp);
}

static void
setup_network (struct start_ctx *x)
{
  struct container *c = x->c;
  cleanup_jv jv hc = container_hostconfig (c);
  cleanup_jv jv create = container_create_body (c);
  const char *mode = net_mode (c, hc);
  cleanup_error dk_err_t err = NULL;
  c->doc = jv_object_delete (c->doc, jv_string ("Net"));
  if (!strcmp (mode, "none") || !strcmp (mode, "host"))
    {
      bool host = !strcmp (mode, "host");
      if (write_net_files (c, host, &err) < 0)
        {
          step_fail (x, 500, err->msg);
          return;
        }
      x->netns = host ? xstrdup ("host") : NULL;
      step_done (x);
      return;
    }
  if (!strncmp (mode, "container:", 10))
    {
      struct container *o = container_find (mode + 10);
      jv onet = o ? dk_json_get_kind (o->doc, "Net", JV_KIND_OBJECT) : jv_invalid ();
      const char *ns = dk_json_str (onet, "netns");
      if (o == NULL || o->state != C_RUNNING)
        {
          jv_free (onet);
          step_fail (x, 409,
                     o ? "cannot join network of a non running container" : "No such container");
          return;
        }
      x->netns = ns ? xstrdup (ns) : NULL;
      jv_free (onet);
      if (write_net_files (c, false, &err) < 0)
        {
          step_fail (x, 500, err->msg);
          return;
        }
      step_done (x);
      return;
    }
  cleanup_free char *state = xasprintf ("%s/network", D.data_root);
  cleanup_free char *files = container_dir (c);
  const char *argv[160];
  char *owned[160];
  int n = 0, no = 0;
  argv[n++] = "dk-netsetup";
  argv[n++] = "--state-dir";
  argv[n++] = state;
  argv[n++] = "--exec-root";
  argv[n++] = D.exec_root;
  argv[n++] = "connect";
  argv[n++] = "--id";
  argv[n++] = c->id;
  argv[n++] = "--files-dir";
  argv[n++] = files;
  if (strcmp (mode, "bridge"))
    {
      argv[n++] = "--network";
      argv[n++] = mode;
    }
  const char *h = dk_json_str (create, "Hostname");
  owned[no] = h && *h ? xstrdup (h) : xasprintf ("%.12s", c->id);
  argv[n++] = "--hostname";
  argv[n++] = owned[no++];
  const char *dn = dk_json_str (create, "Domainname");
  if (dn && *dn)
    {
      argv[n++] = "--domainname";
      argv[n++] = dn;
    }
  const char *mac = dk_json_str (create, "MacAddress");
  if (mac && *mac)
    {
      argv[n++] = "--mac";
      argv[n++] = mac;
    }
  struct
  {
    const char *hckey, *cfgkey, *flag;
  } lists[] = { { "Dns", "dns", "--dns" },
                { "DnsSearch", "dns-search", "--dns-search" },
                { "DnsOptions", "dns-opts", "--dns-opt" },
                { "ExtraHosts", NULL, "--add-host" } };
  jv keep = jv_array ();
  for (size_t i = 0; i < sizeof lists / sizeof lists[0]; i++)
    {
      jv l = dk_json_get_kind (hc, lists[i].hckey, JV_KIND_ARRAY);
      if ((!jv_is_valid (l) || jv_array_length (jv_copy (l)) == 0) && lists[i].cfgkey)
        {
          jv_free (l);
          l = cfg_list (lists[i].cfgkey);
        }
      if (jv_is_valid (l))
        jv_array_foreach (l, k, e)
        {
          if (n < 140 && jv_get_kind (e) == JV_KIND_STRING)
            {
              argv[n++] = lists[i].flag;
              argv[n++] = jv_string_value (e);
              keep = jv_array_append (keep, jv_copy (e));
            }
          jv_free (e);
        }
      jv_free (l);
    }
  jv pb = dk_json_get_kind (hc, "PortBindings", JV_KIND_OBJECT);
  if (jv_is_valid (pb))
    {
      jv_object_foreach (pb, k, binds)
      {
        if (jv_get_kind (binds) == JV_KIND_ARRAY && jv_array_length (jv_copy (binds)) > 0)
          jv_array_foreach (binds, i, b)
          {
            if (n < 150 && no < 150)
              {
                owned[no] = publish_spec (jv_string_value (k), b);
                argv[n++] = "--publish";
                argv[n++] = owned[no++];
              }
            jv_free (b);
          }
        else if (n < 150 && no < 150)
          {
            owned[no] = publish_spec (jv_string_value (k), jv_null ());
            argv[n++] = "--publish";
            argv[n++] = owned[no++];
          }
        jv_free (k);
        jv_free (binds);
      }
    }
  jv_free (pb);
  bool pall = false;
  if (dk_json_bool (hc, "PublishAllPorts", &pall) && pall)
    {
      argv[n++] = "--publish-all";
      jv ep = dk_json_get_kind (create, "ExposedPorts", JV_KIND_OBJECT);
      jv iconf = dk_json_get (c->doc, "ImageConfig");
      jv iep = dk_json_get_kind (iconf, "ExposedPorts", JV_KIND_OBJECT);
      jv all = jv_is_valid (iep) ? iep : (jv_free (iep), jv_object ());
      if (jv_is_valid (ep))
        all = jv_object_merge (all, ep);
      else
        jv_free (ep);
      jv_free (iconf);
      jv_object_foreach (all, k, v)
      {
        if (n < 156 && no < 150)
          {
            owned[no] = xstrdup (jv_string_value (k));
            argv[n++] = "--expose";
            argv[n++] = owned[no++];
          }
        jv_free (k);
        jv_free (v);
      }
      jv_free (all);
    }
  argv[n] = NULL;
  struct job_opts o = { .on_done = net_done, .ud = x };
  x->job = job_start (argv, &o, &err);
  for (int i = 0; i < no; i++)
    free (owned[i]);
  jv_free (keep);
  if (x->job == NULL)
    step_fail (x, 500, err->msg);
}

static void
mounted (struct job *j, jv result, int status, void *ud)
{
  struct start_ctx *x = ud;
  const char *t = dk_json_str (result, "type"), *path = dk_json_str (result, "path");
  if ((t && !strcmp (t, "error")) || path == NULL)
    {
      const char *m = dk_json_str (result, "message");
      step_fail (x, 500, m ? m : "cannot mount the container's root filesystem");
      return;
    }
  x->rootfs = xstrdup (path);
  step_done (x);
}

void
container_start (struct container *c, struct http_req *req)
{
  struct start_ctx *x = xzalloc (sizeof *x);
  x->c = c;
  x->req = req;
  c->starting = true;
  container_set_state_field (c, "Error", jv_string (""));
  req->on_abort = start_abort;
  req->abort_data = x;
  /* the rootfs and the network do not depend on each other */
  x->pending = 2;
  if (c->premounted)
    {
      /* mounted by container-create --mount and not unmounted since */
      x->rootfs = steal_ptr (&c->premounted);
      x->pending--;
    }
  else
    {
      const char *tail[] = { "container-mount", c->id, NULL };
      struct job_opts o = { .on_done = mounted, .ud = x };
      cleanup_error dk_err_t err = NULL;
      if (job_start (graph_argv (tail), &o, &err) == NULL)
        {
          x->pending--;
          x->fail_msg = xstrdup (err->msg);
          x->fail_status = 500;
        }
    }
  setup_network (x);
}

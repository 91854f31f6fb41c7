/* Container endpoints: create, inspect, list, wait, kill, stop, remove,
   start (the pipeline is start.c), resize. */
#include "container.h"
#include "cleanup.h"
#include "log.h"
#include "ocispec.h"
#include "reference.h"

#include <regex.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static struct container *
lookup (struct http_req *req)
{
  struct container *c = container_find (req->params[0]);
  if (c == NULL)
    http_error (req, 404, "No such container: %s", req->params[0]);
  return c;
}

/* ---- create ---- */

struct create_ctx
{
  struct http_req *req;
  jv body;
  char *name;
  char id[65];
  jv image; /* image inspect */
  struct job *job;
};

static void
create_ctx_free (struct create_ctx *x)
{
  jv_free (x->body);
  jv_free (x->image);
  free (x->name);
  free (x);
}

static void
create_abort (struct http_req *req, void *data)
{
  struct create_ctx *x = data;
  job_detach (x->job);
  http_respond_empty (req, 500);
  create_ctx_free (x);
}

static const char *zero_time = "0001-01-01T00:00:00Z";

static void
created (struct job *j, jv result, int status, void *ud)
{
  struct create_ctx *x = ud;
  struct http_req *req = x->req;
  req->on_abort = NULL;
  const char *type = dk_json_str (result, "type");
  if (type && !strcmp (type, "error"))
    {
      const char *msg = dk_json_str (result, "message");
      http_error (req, http_status_for_code (dk_json_str (result, "code")), "%s",
                  msg ? msg : "cannot create the container's layer");
      create_ctx_free (x);
      return;
    }
  if (container_find_name (x->name))
    {
      /* a concurrent create took the name meanwhile */
      const char *tail[] = { "container-rm", x->id, NULL };
      struct job_opts o = { 0 };
      cleanup_error dk_err_t err = NULL;
      job_start (graph_argv (tail), &o, &err);
      http_error (req, 409, "Conflict. The container name \"/%s\" is already in use", x->name);
      create_ctx_free (x);
      return;
    }
  cleanup_free char *now = now_rfc3339 ();
  jv doc = jv_object ();
  doc = jv_object_set (doc, jv_string ("Id"), jv_string (x->id));
  cleanup_free char *slashname = xasprintf ("/%s", x->name);
  doc = jv_object_set (doc, jv_string ("Name"), jv_string (slashname));
  doc = jv_object_set (doc, jv_string ("Created"), jv_string (now));
  doc = jv_object_set (doc, jv_string ("Image"), dk_json_get (x->image, "Id"));
  const char *iname = dk_json_str (x->body, "Image");
  doc = jv_object_set (doc, jv_string ("ImageName"), jv_string (iname));
  jv iconf = dk_json_get_kind (x->image, "Config", JV_KIND_OBJECT);
  doc = jv_object_set (doc, jv_string ("ImageConfig"),
                       jv_is_valid (iconf) ? iconf : (jv_free (iconf), jv_null ()));
  doc = jv_object_set (doc, jv_string ("Create"), jv_copy (x->body));
  doc = jv_object_set (doc, jv_string ("Driver"), jv_string (D.driver));
  doc = jv_object_set (doc, jv_string ("RestartCount"), dk_json_int64 (0));
  jv st = jv_object ();
  st = jv_object_set (st, jv_string ("Status"), jv_string ("created"));
  st = jv_object_set (st, jv_string ("Running"), jv_false ());
  st = jv_object_set (st, jv_string ("Paused"), jv_false ());
  st = jv_object_set (st, jv_string ("Restarting"), jv_false ());
  st = jv_object_set (st, jv_string ("OOMKilled"), jv_false ());
  st = jv_object_set (st, jv_string ("Dead"), jv_false ());
  st = jv_object_set (st, jv_string ("Pid"), dk_json_int64 (0));
  st = jv_object_set (st, jv_string ("ExitCode"), dk_json_int64 (0));
  st = jv_object_set (st, jv_string ("Error"), jv_string (""));
  st = jv_object_set (st, jv_string ("StartedAt"), jv_string (zero_time));
  st = jv_object_set (st, jv_string ("FinishedAt"), jv_string (zero_time));
  doc = jv_object_set (doc, jv_string ("State"), st);
  struct container *c = container_new (x->id, doc);
  const char *mpath = dk_json_str (result, "path");
  if (mpath)
    c->premounted = xstrdup (mpath);
  cleanup_free char *dir = container_dir (c);
  cleanup_error dk_err_t err = NULL;
  if (dk_mkdir_p (dir, 0710, &err) < 0 || container_save (c, &err) < 0)
    {
      container_unlink (c);
      container_free (c);
      http_error_err (req, err);
      create_ctx_free (x);
      return;
    }
  container_event (c, "create", jv_object ());
  jv resp = jv_object_set (jv_object (), jv_string ("Id"), jv_string (x->id));
  resp = jv_object_set (resp, jv_string ("Warnings"), jv_array ());
  http_respond_json (req, 201, resp);
  create_ctx_free (x);
}

static void image_found_go (struct create_ctx *x);

static void
image_found (struct job *j, jv result, int status, void *ud)
{
  struct create_ctx *x = ud;
  struct http_req *req = x->req;
  const char *type = dk_json_str (result, "type");
  if (type && !strcmp (type, "error"))
    {
      req->on_abort = NULL;
      const char *msg = dk_json_str (result, "message");
      const char *code = dk_json_str (result, "code");
      struct dk_ref ref;
      cleanup_error dk_err_t rerr = NULL;
      const char *image = dk_json_str (x->body, "Image");
      if (code && !strcmp (code, DK_ECODE_NOT_FOUND) && dk_ref_parse (image, &ref, &rerr) == 0)
        {
          /* Docker names the familiar form with its tag */
          cleanup_free char *fam = dk_ref_familiar (&ref);
          dk_ref_free (&ref);
          http_error (req, 404, "No such image: %s", fam);
        }
      else
        http_error (req, http_status_for_code (code), "%s", msg ? msg : "no such image");
      create_ctx_free (x);
      return;
    }
  x->image = dk_json_get_kind (result, "image", JV_KIND_OBJECT);
  image_cache_put (dk_json_str (x->body, "Image"), x->image);
  image_found_go (x);
}

static void
image_found_go (struct create_ctx *x)
{
  struct http_req *req = x->req;
  const char *iid = dk_json_str (x->image, "Id");
  if (iid == NULL)
    {
      req->on_abort = NULL;
      http_error (req, 500, "dk-graph inspect gave no image Id");
      create_ctx_free (x);
      return;
    }
  /* docker run --rm starts what it creates at once: mount in the same run;
     its layer is never kept, so overlay need not sync it (volatile) */
  jv hc = dk_json_get_kind (x->body, "HostConfig", JV_KIND_OBJECT);
  bool autorm = false;
  if (jv_is_valid (hc))
    dk_json_bool (hc, "AutoRemove", &autorm);
  jv_free (hc);
  const char *tail[] = { "container-create", x->id, "--image", iid, NULL, NULL, NULL };
  if (autorm)
    {
      tail[4] = "--mount";
      tail[5] = "--volatile";
    }
  struct job_opts o = { .on_done = created, .ud = x };
  cleanup_error dk_err_t err = NULL;
  x->job = job_start (graph_argv (tail), &o, &err);
  if (x->job == NULL)
    {
      req->on_abort = NULL;
      http_error_err (req, err);
      create_ctx_free (x);
    }
}

void
h_container_create (struct http_req *req)
{
  jv body;
  cleanup_error dk_err_t err = NULL;
  if (dk_json_parse (req->body.data ? req->body.data : "", req->body.len, &body, &err) < 0)
    {
      http_error (req, 400, "invalid JSON: %s", err->msg);
      return;
    }
  if (jv_get_kind (body) != JV_KIND_OBJECT)
    {
      jv_free (body);
      http_error (req, 400, "invalid JSON: the body is not an object");
      return;
    }
  if (container_create_check (&body, &err) < 0)
    {
      jv_free (body);
      http_error_err (req, err);
      return;
    }
  const char *image = dk_json_str (body, "Image");
  if (image == NULL || *image == 0)
    {
      jv_free (body);
      http_error (req, 400, "No image specified");
      return;
    }
  if (dk_ocispec_validate (body, &err) < 0)
    {
      jv_free (body);
      http_error_err (req, err);
      return;
    }
  cleanup_free char *name = http_query (req, "name");
  if (name && *name)
    {
      regex_t re;
      regcomp (&re, "^/?[a-zA-Z0-9][a-zA-Z0-9_.-]+$", REG_EXTENDED | REG_NOSUB);
      int bad = regexec (&re, name, 0, NULL, 0);
      regfree (&re);
      if (bad)
        {
          jv_free (body);
          http_error (req, 400,
                      "Invalid container name (%s), only [a-zA-Z0-9][a-zA-Z0-9_.-] are allowed",
                      name);
          return;
        }
      struct container *other = container_find_name (name);
      if (other)
        {
          jv_free (body);
          http_error (
              req, 409,
              "Conflict. The container name \"/%s\" is already in use by container \"%s\". You "
              "have to remove (or rename) that container to be able to reuse that name.",
              name[0] == '/' ? name + 1 : name, other->id);
          return;
        }
    }
  struct create_ctx *x = xzalloc (sizeof *x);
  x->req = req;
  x->body = body;
  x->image = jv_invalid ();
  x->name = name && *name ? xstrdup (name[0] == '/' ? name + 1 : name) : container_random_name ();
  cleanup_free char *id = rand_hex (32);
  memcpy (x->id, id, 64);
  jv cached = image_cache_get (image);
  if (jv_is_valid (cached))
    {
      x->image = cached;
      req->on_abort = create_abort;
      req->abort_data = x;
      image_found_go (x);
      return;
    }
  jv_free (cached);
  const char *tail[] = { "inspect", image, NULL };
  struct job_opts o = { .on_done = image_found, .ud = x };
  x->job = job_start (graph_argv (tail), &o, &err);
  if (x->job == NULL)
    {
      http_error_err (req, err);
      create_ctx_free (x);
      return;
    }
  req->on_abort = create_abort;
  req->abort_data = x;
}

/* ---- inspect ---- */

static jv
merged_config (struct container *c)
{
  jv create = container_create_body (c);
  jv img = dk_json_get_kind (c->doc, "ImageConfig", JV_KIND_OBJECT);
  if (!jv_is_valid (img))
    {
      jv_free (img);
      img = jv_object ();
    }
  jv conf = jv_object ();
  const char *host = dk_json_str (create, "Hostname");
  char shortid[13];
  snprintf (shortid, sizeof shortid, "%.12s", c->id);
  conf = jv_object_set (conf, jv_string ("Hostname"), jv_string (host && *host ? host : shortid));
  const char *dn = dk_json_str (create, "Domainname");
  conf = jv_object_set (conf, jv_string ("Domainname"), jv_string (dn ? dn : ""));
  const char *user = dk_json_str (create, "User");
  const char *iuser = dk_json_str (img, "User");
  conf = jv_object_set (conf, jv_string ("User"),
                        jv_string (user && *user ? user
                                   : iuser       ? iuser
                                                 : ""));
  static const char *const bools[]
      = { "AttachStdin", "AttachStdout", "AttachStderr", "Tty", "OpenStdin", "StdinOnce" };
  for (size_t i = 0; i < sizeof bools / sizeof *bools; i++)
    {
      bool b = false;
      dk_json_bool (create, bools[i], &b);
      conf = jv_object_set (conf, jv_string (bools[i]), jv_bool (b));
    }
  /* ExposedPorts, Labels, Volumes: image's, then the container's */
  static const char *const maps[] = { "ExposedPorts", "Volumes", "Labels" };
  for (size_t i = 0; i < 3; i++)
    {
      jv m = dk_json_get_kind (img, maps[i], JV_KIND_OBJECT);
      jv u = dk_json_get_kind (create, maps[i], JV_KIND_OBJECT);
      if (!jv_is_valid (m))
        {
          jv_free (m);
          m = jv_object ();
        }
      if (jv_is_valid (u))
        m = jv_object_merge (m, u);
      else
        jv_free (u);
      if (i < 2 && jv_object_length (jv_copy (m)) == 0)
        {
          jv_free (m);
          m = jv_null ();
        }
      conf = jv_object_set (conf, jv_string (maps[i]), m);
    }
  /* Env: image's, overridden by key */
  jv env = dk_json_get_kind (img, "Env", JV_KIND_ARRAY);
  if (!jv_is_valid (env))
    {
      jv_free (env);
      env = jv_array ();
    }
  jv uenv = dk_json_get_kind (create, "Env", JV_KIND_ARRAY);
  if (jv_is_valid (uenv))
    {
      jv_array_foreach (uenv, i, e)
      {
        if (jv_get_kind (e) != JV_KIND_STRING)
          {
            jv_free (e);
            continue;
          }
        const char *s = jv_string_value (e);
        size_t kl = strcspn (s, "=");
        jv out = jv_array ();
        jv_array_foreach (env, k, old)
        {
          const char *o = jv_string_value (old);
          if (strncmp (o, s, kl) == 0 && (o[kl] == '=' || o[kl] == 0))
            jv_free (old);
          else
            out = jv_array_append (out, old);
        }
        jv_free (env);
        env = jv_array_append (out, e);
      }
    }
  jv_free (uenv);
  conf = jv_object_set (conf, jv_string ("Env"), env);
  jv ep = dk_json_get_kind (create, "Entrypoint", JV_KIND_ARRAY);
  jv cmd = dk_json_get_kind (create, "Cmd", JV_KIND_ARRAY);
  bool user_ep = jv_is_valid (ep);
  if (!user_ep)
    {
      jv_free (ep);
      ep = dk_json_get (img, "Entrypoint");
    }
  if (!jv_is_valid (cmd) || jv_array_length (jv_copy (cmd)) == 0)
    {
      jv_free (cmd);
      cmd = user_ep ? jv_null () : dk_json_get (img, "Cmd");
    }
  conf = jv_object_set (conf, jv_string ("Cmd"),
                        jv_is_valid (cmd) ? cmd : (jv_free (cmd), jv_null ()));
  conf = jv_object_set (conf, jv_string ("Image"), dk_json_get (c->doc, "ImageName"));
  const char *wd = dk_json_str (create, "WorkingDir");
  const char *iwd = dk_json_str (img, "WorkingDir");
  conf = jv_object_set (conf, jv_string ("WorkingDir"),
                        jv_string (wd && *wd ? wd
                                   : iwd     ? iwd
                                             : ""));
  conf = jv_object_set (conf, jv_string ("Entrypoint"),
                        jv_is_valid (ep) ? ep : (jv_free (ep), jv_null ()));
  conf = jv_object_set (conf, jv_string ("OnBuild"), jv_null ());
  const char *ss = dk_json_str (create, "StopSignal");
  const char *iss = dk_json_str (img, "StopSignal");
  if ((ss && *ss) || iss)
    conf = jv_object_set (conf, jv_string ("StopSignal"), jv_string (ss && *ss ? ss : iss));
  int64_t st;
  if (dk_json_int (create, "StopTimeout", &st))
    conf = jv_object_set (conf, jv_string ("StopTimeout"), dk_json_int64 (st));
  jv_free (img);
  jv_free (create);
  return conf;
}

static jv
full_hostconfig (struct container *c)
{
  jv hc = container_hostconfig (c);
  const char *nm = dk_json_str (hc, "NetworkMode");
  if (nm == NULL || *nm == 0 || !strcmp (nm, "default"))
    hc = jv_object_set (hc, jv_string ("NetworkMode"), jv_string ("bridge"));
  jv rp = dk_json_get_kind (hc, "RestartPolicy", JV_KIND_OBJECT);
  if (!jv_is_valid (rp) || dk_json_str (rp, "Name") == NULL || !*dk_json_str (rp, "Name"))
    {
      jv p = jv_object_set (jv_object (), jv_string ("Name"), jv_string ("no"));
      p = jv_object_set (p, jv_string ("MaximumRetryCount"), dk_json_int64 (0));
      hc = jv_object_set (hc, jv_string ("RestartPolicy"), p);
    }
  jv_free (rp);
  hc = jv_object_set (hc, jv_string ("LogConfig"), log_config_of (hc));
  static const char *const objs[] = { "PortBindings" };
  for (size_t i = 0; i < 1; i++)
    {
      jv v = dk_json_get_kind (hc, objs[i], JV_KIND_OBJECT);
      if (!jv_is_valid (v))
        hc = jv_object_set (hc, jv_string (objs[i]), jv_object ());
      jv_free (v);
    }
  static const char *const bools[]
      = { "AutoRemove", "Privileged", "PublishAllPorts", "ReadonlyRootfs", "Init" };
  for (size_t i = 0; i < sizeof bools / sizeof *bools; i++)
    {
      bool b = false;
      if (!dk_json_bool (hc, bools[i], &b))
        hc = jv_object_set (hc, jv_string (bools[i]), jv_false ());
    }
  const char *rt = dk_json_str (hc, "Runtime");
  if (rt == NULL || *rt == 0)
    hc = jv_object_set (hc, jv_string ("Runtime"), jv_string (cfg_str ("default-runtime")));
  return hc;
}

static jv
port_map (jv net, jv exposed)
{
  jv ports = jv_object ();
  if (jv_get_kind (exposed) == JV_KIND_OBJECT)
    {
      jv_object_foreach (exposed, k, v)
      {
        ports = jv_object_set (ports, k, jv_null ());
        jv_free (v);
      }
    }
  jv list = dk_json_get_kind (net, "ports", JV_KIND_ARRAY);
  if (jv_is_valid (list))
    {
      jv_array_foreach (list, i, p)
      {
        int64_t cp = 0, hp = 0;
        dk_json_int (p, "container_port", &cp);
        dk_json_int (p, "host_port", &hp);
        const char *proto = dk_json_str (p, "proto"), *hip = dk_json_str (p, "host_ip");
        cleanup_free char *key = xasprintf ("%lld/%s", (long long)cp, proto ? proto : "tcp");
        jv cur = dk_json_get_kind (ports, key, JV_KIND_ARRAY);
        if (!jv_is_valid (cur))
          {
            jv_free (cur);
            cur = jv_array ();
          }
        /* a port published on every address is on [::] too: a binding of
           its own, as Docker 27 lists it */
        const char *hips[2] = { hip ? hip : "0.0.0.0", dk_json_str (p, "host_ip6") };
        for (int j = 0; j < 2 && hips[j]; j++)
          {
            jv b = jv_object_set (jv_object (), jv_string ("HostIp"), jv_string (hips[j]));
            b = jv_object_set (b, jv_string ("HostPort"), jv_string_fmt ("%lld", (long long)hp));
            cur = jv_array_append (cur, b);
          }
        ports = jv_object_set (ports, jv_string (key), cur);
        jv_free (p);
      }
    }
  jv_free (list);
  return ports;
}

static jv
network_settings (struct container *c, jv conf)
{
  jv net = dk_json_get_kind (c->doc, "Net", JV_KIND_OBJECT);
  bool running = c->state == C_RUNNING || c->state == C_PAUSED;
  const char *ip = running ? dk_json_str (net, "ip") : NULL;
  const char *gw = running ? dk_json_str (net, "gateway") : NULL;
  const char *mac = running ? dk_json_str (net, "mac") : NULL;
  const char *netns = running ? dk_json_str (net, "netns") : NULL;
  const char *ip6 = running ? dk_json_str (net, "ipv6") : NULL;
  const char *gw6 = running ? dk_json_str (net, "ipv6_gateway") : NULL;
  const char *epid = running ? dk_json_str (net, "endpoint_id") : NULL;
  const char *netid = running ? dk_json_str (net, "network_id") : NULL;
  int64_t plen = 0, plen6 = 0;
  if (running)
    {
      dk_json_int (net, "prefix_len", &plen);
      dk_json_int (net, "ipv6_prefix_len", &plen6);
    }
  jv exposed = dk_json_get (conf, "ExposedPorts");
  jv ns = jv_object ();
  ns = jv_object_set (ns, jv_string ("Bridge"), jv_string (""));
  ns = jv_object_set (ns, jv_string ("SandboxID"), jv_string (running ? c->id : ""));
  ns = jv_object_set (ns, jv_string ("SandboxKey"), jv_string (netns ? netns : ""));
  ns = jv_object_set (ns, jv_string ("Ports"), running ? port_map (net, exposed) : jv_object ());
  jv_free (exposed);
  ns = jv_object_set (ns, jv_string ("HairpinMode"), jv_false ());
  ns = jv_object_set (ns, jv_string ("LinkLocalIPv6Address"), jv_string (""));
  ns = jv_object_set (ns, jv_string ("LinkLocalIPv6PrefixLen"), dk_json_int64 (0));
  ns = jv_object_set (ns, jv_string ("SecondaryIPAddresses"), jv_null ());
  ns = jv_object_set (ns, jv_string ("SecondaryIPv6Addresses"), jv_null ());
  ns = jv_object_set (ns, jv_string ("EndpointID"), jv_string (epid ? epid : ""));
  ns = jv_object_set (ns, jv_string ("Gateway"), jv_string (gw ? gw : ""));
  ns = jv_object_set (ns, jv_string ("GlobalIPv6Address"), jv_string (ip6 ? ip6 : ""));
  ns = jv_object_set (ns, jv_string ("GlobalIPv6PrefixLen"), dk_json_int64 (plen6));
  ns = jv_object_set (ns, jv_string ("IPAddress"), jv_string (ip ? ip : ""));
  ns = jv_object_set (ns, jv_string ("IPPrefixLen"), dk_json_int64 (plen));
  ns = jv_object_set (ns, jv_string ("IPv6Gateway"), jv_string (gw6 ? gw6 : ""));
  ns = jv_object_set (ns, jv_string ("MacAddress"), jv_string (mac ? mac : ""));
  jv hc = container_hostconfig (c);
  const char *nm = dk_json_str (hc, "NetworkMode");
  const char *netname = nm == NULL || !*nm || !strcmp (nm, "default") ? "bridge" : nm;
  jv ep = jv_object ();
  ep = jv_object_set (ep, jv_string ("IPAMConfig"), jv_null ());
  ep = jv_object_set (ep, jv_string ("Links"), jv_null ());
  ep = jv_object_set (ep, jv_string ("Aliases"), jv_null ());
  ep = jv_object_set (ep, jv_string ("MacAddress"), jv_string (mac ? mac : ""));
  ep = jv_object_set (ep, jv_string ("NetworkID"), jv_string (netid ? netid : ""));
  ep = jv_object_set (ep, jv_string ("EndpointID"), jv_string (epid ? epid : ""));
  ep = jv_object_set (ep, jv_string ("Gateway"), jv_string (gw ? gw : ""));
  ep = jv_object_set (ep, jv_string ("IPAddress"), jv_string (ip ? ip : ""));
  ep = jv_object_set (ep, jv_string ("IPPrefixLen"), dk_json_int64 (plen));
  ep = jv_object_set (ep, jv_string ("IPv6Gateway"), jv_string (gw6 ? gw6 : ""));
  ep = jv_object_set (ep, jv_string ("GlobalIPv6Address"), jv_string (ip6 ? ip6 : ""));
  ep = jv_object_set (ep, jv_string ("GlobalIPv6PrefixLen"), dk_json_int64 (plen6));
  ep = jv_object_set (ep, jv_string ("DriverOpts"), jv_null ());
  ep = jv_object_set (ep, jv_string ("DNSNames"), jv_null ());
  ns = jv_object_set (ns, jv_string ("Networks"),
                      jv_object_set (jv_object (), jv_string (netname), ep));
  jv_free (hc);
  jv_free (net);
  return ns;
}

jv
container_inspect_json (struct container *c)
{
  jv conf = merged_config (c);
  jv create = container_create_body (c);
  jv img = dk_json_get (c->doc, "ImageConfig");
  jv args
      = dk_ocispec_process_args (create, jv_get_kind (img) == JV_KIND_OBJECT ? img : jv_null ());
  jv_free (create);
  jv_free (img);
  jv v = jv_object ();
  v = jv_object_set (v, jv_string ("Id"), jv_string (c->id));
  v = jv_object_set (v, jv_string ("Created"), dk_json_get (c->doc, "Created"));
  jv path = dk_json_at (args, 0);
  v = jv_object_set (v, jv_string ("Path"),
                     jv_is_valid (path) ? path : (jv_free (path), jv_string ("")));
  jv rest = jv_array ();
  jv_array_foreach (args, i, a)
  {
    if (i > 0)
      rest = jv_array_append (rest, a);
    else
      jv_free (a);
  }
  jv_free (args);
  v = jv_object_set (v, jv_string ("Args"), rest);
  v = jv_object_set (v, jv_string ("State"), dk_json_get (c->doc, "State"));
  v = jv_object_set (v, jv_string ("Image"), dk_json_get (c->doc, "Image"));
  cleanup_free char *resolv = container_path (c, "resolv.conf");
  cleanup_free char *hostname = container_path (c, "hostname");
  cleanup_free char *hosts = container_path (c, "hosts");
  cleanup_free char *logname = xasprintf ("%s-json.log", c->id);
  cleanup_free char *log = container_path (c, logname);
  v = jv_object_set (v, jv_string ("ResolvConfPath"), jv_string (resolv));
  v = jv_object_set (v, jv_string ("HostnamePath"), jv_string (hostname));
  v = jv_object_set (v, jv_string ("HostsPath"), jv_string (hosts));
  v = jv_object_set (v, jv_string ("LogPath"), jv_string (log));
  v = jv_object_set (v, jv_string ("Name"), jv_string (container_name (c)));
  v = jv_object_set (v, jv_string ("RestartCount"), dk_json_get (c->doc, "RestartCount"));
  v = jv_object_set (v, jv_string ("Driver"), jv_string (D.driver));
  v = jv_object_set (v, jv_string ("Platform"), jv_string ("linux"));
  v = jv_object_set (v, jv_string ("MountLabel"), jv_string (""));
  v = jv_object_set (v, jv_string ("ProcessLabel"), jv_string (""));
  v = jv_object_set (v, jv_string ("AppArmorProfile"), jv_string (""));
  v = jv_object_set (v, jv_string ("ExecIDs"), jv_null ());
  v = jv_object_set (v, jv_string ("HostConfig"), full_hostconfig (c));
  jv gd = jv_object_set (jv_object (), jv_string ("Name"), jv_string (D.driver));
  gd = jv_object_set (gd, jv_string ("Data"), jv_null ());
  v = jv_object_set (v, jv_string ("GraphDriver"), gd);
  jv hc = full_hostconfig (c);
  v = jv_object_set (v, jv_string ("Mounts"), dk_ocispec_mount_points (hc));
  jv_free (hc);
  v = jv_object_set (v, jv_string ("NetworkSettings"), network_settings (c, conf));
  v = jv_object_set (v, jv_string ("Config"), conf);
  return v;
}

void
h_container_inspect (struct http_req *req)
{
  struct container *c = lookup (req);
  if (c)
    http_respond_json (req, 200, container_inspect_json (c));
}

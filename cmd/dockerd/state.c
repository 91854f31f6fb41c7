/* The container object model: in memory, one JSON document per container
   persisted atomically at data-root/containers/<id>/config.v2.json, and the
   one function that changes a container's state (and emits the event). */
#include "dockerd.h"
#include "container.h"
#include "cleanup.h"
#include "scratchfile.h"
#include "log.h"

#include <dirent.h>
#include <errno.h>
#include <sys/stat.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

struct container *containers;

static const char *const state_names[]
    = { "created", "running", "paused", "restarting", "removing", "exited", "dead" };

const char *
cstate_name (enum cstate s)
{
  return state_names[s];
}

char *
container_dir (struct container *c)
{
  return xasprintf ("%s/containers/%s", D.data_root, c->id);
}

char *
container_path (struct container *c, const char *name)
{
  return xasprintf ("%s/containers/%s/%s", D.data_root, c->id, name);
}

char *
container_exec_dir (struct container *c)
{
  /* short: the runtime puts its console socket here (108-byte sun_path) */
  return xasprintf ("%s/c/%s", D.exec_root, c->id);
}

const char *
container_name (struct container *c)
{
  const char *n = dk_json_str (c->doc, "Name");
  return n ? n : "";
}

/* Create body member (borrowed view into c->doc). */
jv
container_create_body (struct container *c)
{
  return dk_json_get (c->doc, "Create");
}

jv
container_hostconfig (struct container *c)
{
  jv create = container_create_body (c);
  jv hc = dk_json_get_kind (create, "HostConfig", JV_KIND_OBJECT);
  jv_free (create);
  return jv_is_valid (hc) ? hc : (jv_free (hc), jv_object ());
}

/* LogConfig as used and shown, merged as moby does at create: no Type is
   the daemon's driver; with the daemon's driver, each daemon log-opt the
   container does not set is added. */
jv
log_config_of (jv hc)
{
  jv lc = dk_json_get_kind (hc, "LogConfig", JV_KIND_OBJECT);
  const char *t = dk_json_str (lc, "Type");
  const char *dflt = cfg_str ("log-driver");
  jv type = jv_string (t && *t ? t : dflt);
  jv opts = dk_json_get_kind (lc, "Config", JV_KIND_OBJECT);
  if (!jv_is_valid (opts))
    {
      jv_free (opts);
      opts = jv_object ();
    }
  jv_free (lc);
  if (!strcmp (jv_string_value (type), dflt))
    {
      jv daemon = cfg_get ("log-opts");
      if (jv_get_kind (daemon) == JV_KIND_OBJECT)
        jv_object_foreach (daemon, k, v)
        {
          if (jv_object_has (jv_copy (opts), jv_copy (k)))
            {
              jv_free (k);
              jv_free (v);
            }
          else
            opts = jv_object_set (opts, k, v);
        }
      jv_free (daemon);
    }
  return jv_object_set (jv_object_set (jv_object (), jv_string ("Type"), type),
                        jv_string ("Config"), opts);
}

bool
container_tty (struct container *c)
{
  jv create = container_create_body (c);
  bool tty = false;
  dk_json_bool (create, "Tty", &tty);
  jv_free (create);
  return tty;
}

int
container_save (struct container *c, dk_err_t *err)
{
  cleanup_free char *p = container_path (c, "config.v2.json");
  /* An AutoRemove container's record is never made durable: it is deleted
     at the container's exit, and at the daemon's start one that is not
     running is removed (as moby does), one that a crash left empty or
     missing too (containers_load). */
  jv hc = container_hostconfig (c);
  bool autorm = false;
  dk_json_bool (hc, "AutoRemove", &autorm);
  jv_free (hc);
  if (autorm)
    return dk_scratch_write_json (p, jv_copy (c->doc), err);
  return dk_atomic_write_json (p, jv_copy (c->doc), err);
}

struct container *
container_find (const char *ref)
{
  if (ref == NULL || *ref == 0)
    return NULL;
  const char *name = ref[0] == '/' ? ref + 1 : ref;
  for (struct container *c = containers; c; c = c->next)
    if (!strcmp (c->id, ref))
      return c;
  for (struct container *c = containers; c; c = c->next)
    if (!strcmp (container_name (c) + 1, name))
      return c;
  struct container *hit = NULL;
  size_t n = strlen (ref);
  for (struct container *c = containers; c; c = c->next)
    if (n >= 1 && !strncmp (c->id, ref, n))
      {
        if (hit)
          return NULL; /* ambiguous */
        hit = c;
      }
  return hit;
}

struct container *
container_find_name (const char *name)
{
  for (struct container *c = containers; c; c = c->next)
    if (!strcmp (container_name (c) + 1, name[0] == '/' ? name + 1 : name))
      return c;
  return NULL;
}

struct container *
container_new (const char *id, jv doc)
{
  struct container *c = xzalloc (sizeof *c);
  memcpy (c->id, id, 64);
  c->doc = doc;
  const char *st = dk_json_str (doc, "State") ? NULL : NULL;
  (void)st;
  jv state = dk_json_get (doc, "State");
  const char *s = dk_json_str (state, "Status");
  c->state = C_CREATED;
  for (int i = 0; s && i <= C_DEAD; i++)
    if (!strcmp (s, state_names[i]))
      c->state = i;
  jv_free (state);
  c->next = containers;
  containers = c;
  return c;
}

void
container_unlink (struct container *c)
{
  for (struct container **pp = &containers; *pp; pp = &(*pp)->next)
    if (*pp == c)
      {
        *pp = c->next;
        break;
      }
}

void
container_free (struct container *c)
{
  jv_free (c->doc);
  if (c->early_exit)
    jv_free (c->early_status);
  free (c->premounted);
  free (c);
}

static jv
state_obj (struct container *c)
{
  jv s = dk_json_get_kind (c->doc, "State", JV_KIND_OBJECT);
  return jv_is_valid (s) ? s : (jv_free (s), jv_object ());
}

void
container_set_state_field (struct container *c, const char *key, jv v)
{
  jv s = state_obj (c);
  s = jv_object_set (s, jv_string (key), v);
  c->doc = jv_object_set (c->doc, jv_string ("State"), s);
}

static jv
event_attrs (struct container *c)
{
  jv a = jv_object ();
  jv create = container_create_body (c);
  jv labels = dk_json_get_kind (create, "Labels", JV_KIND_OBJECT);
  if (jv_is_valid (labels))
    {
      jv_object_foreach (labels, k, v)
      {
        if (jv_get_kind (v) == JV_KIND_STRING)
          a = jv_object_set (a, k, v);
        else
          {
            jv_free (k);
            jv_free (v);
          }
      }
    }
  jv_free (labels);
  jv_free (create);
  const char *img = dk_json_str (c->doc, "ImageName");
  a = jv_object_set (a, jv_string ("image"), jv_string (img ? img : ""));
  a = jv_object_set (a, jv_string ("name"), jv_string (container_name (c) + 1));
  return a;
}

void
container_event (struct container *c, const char *action, jv extra)
{
  jv a = event_attrs (c);
  if (jv_get_kind (extra) == JV_KIND_OBJECT)
    {
      jv_object_foreach (extra, k, v) a = jv_object_set (a, k, v);
    }
  jv_free (extra);
  events_emit ("container", action, c->id, a);
}

/* The only place a container changes state. */
void
container_transition (struct container *c, enum cstate to, const char *action, jv extra)
{
  c->state = to;
  jv s = state_obj (c);
  s = jv_object_set (s, jv_string ("Status"), jv_string (state_names[to]));
  s = jv_object_set (s, jv_string ("Running"), jv_bool (to == C_RUNNING || to == C_PAUSED));
  s = jv_object_set (s, jv_string ("Paused"), jv_bool (to == C_PAUSED));
  s = jv_object_set (s, jv_string ("Restarting"), jv_bool (to == C_RESTARTING));
  s = jv_object_set (s, jv_string ("Dead"), jv_bool (to == C_DEAD));
  if (to == C_RUNNING)
    {
      cleanup_free char *now = now_rfc3339 ();
      s = jv_object_set (s, jv_string ("StartedAt"), jv_string (now));
      s = jv_object_set (s, jv_string ("Error"), jv_string (""));
    }
  c->doc = jv_object_set (c->doc, jv_string ("State"), s);
  cleanup_error dk_err_t err = NULL;
  if (to != C_REMOVING && container_save (c, &err) < 0)
    dk_warn ("container %.12s: %s", c->id, err->msg);
  if (action)
    container_event (c, action, extra);
  else
    jv_free (extra);
}

void
container_counts (int64_t *total, int64_t *running, int64_t *paused, int64_t *stopped)
{
  *total = *running = *paused = *stopped = 0;
  for (struct container *c = containers; c; c = c->next)
    {
      (*total)++;
      if (c->state == C_RUNNING)
        (*running)++;
      else if (c->state == C_PAUSED)
        (*paused)++;
      else
        (*stopped)++;
    }
}

static const char *const adjectives[] = {
  "admiring", "brave",  "clever", "dazzling", "eager",   "focused",    "gallant",  "happy",
  "jolly",    "keen",   "loving", "modest",   "nifty",   "optimistic", "pensive",  "quirky",
  "relaxed",  "serene", "tender", "upbeat",   "vibrant", "wizardly",   "youthful", "zealous"
};
static const char *const surnames[]
    = { "albattani", "babbage", "curie",   "darwin",   "einstein", "feynman", "galileo",
        "hopper",    "hypatia", "jemison", "kepler",   "lovelace", "meitner", "noether",
        "pascal",    "ritchie", "shannon", "thompson", "turing",   "wozniak", "yalow" };

char *
container_random_name (void)
{
  for (int tries = 0; tries < 100; tries++)
    {
      unsigned r[2];
      cleanup_free char *h = rand_hex (8);
      r[0] = (unsigned)strtoul ((char[9]){ h[0], h[1], h[2], h[3], h[4], h[5], h[6], h[7], 0 },
                                NULL, 16);
      r[1] = (unsigned)strtoul (h + 8, NULL, 16);
      char *n = xasprintf ("%s_%s", adjectives[r[0] % (sizeof adjectives / sizeof *adjectives)],
                           surnames[r[1] % (sizeof surnames / sizeof *surnames)]);
      if (tries > 10)
        {
          char *m = xasprintf ("%s%d", n, tries);
          free (n);
          n = m;
        }
      if (container_find_name (n) == NULL)
        return n;
      free (n);
    }
  return rand_hex (6);
}

/* At start: containers from disk.  Running ones whose shim is alive are
   reconnected by start.c (live-restore); the others are marked exited. */
void
containers_load (void)
{
  cleanup_free char *dir = xasprintf ("%s/containers", D.data_root);
  cleanup_closedir DIR *d = opendir (dir);
  if (d == NULL)
    return;
  struct dirent *e;
  while ((e = readdir (d)))
    {
      if (strlen (e->d_name) != 64)
        continue;
      cleanup_free char *p = xasprintf ("%s/%s/config.v2.json", dir, e->d_name);
      jv doc;
      cleanup_error dk_err_t err = NULL;
      struct stat st;
      if (stat (p, &st) < 0 ? errno == ENOENT : st.st_size == 0)
        {
          /* a create that never completed, or an AutoRemove record (written
             without fsync) that a crash emptied */
          dk_warn ("container %.12s: no record: removing what is left of it", e->d_name);
          container_discard (e->d_name);
          continue;
        }
      if (dk_json_read_file (p, &doc, &err) < 0)
        {
          dk_warn ("skipping container %.12s: %s", e->d_name, err->msg);
          continue;
        }
      if (jv_get_kind (doc) != JV_KIND_OBJECT)
        {
          jv_free (doc);
          continue;
        }
      container_new (e->d_name, doc);
    }
}

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "atomicfile.h"
#include "cleanup.h"
#include "lock.h"
#include "netsetup.h"

/* Runtime files (a container's DNS files, the proxy's pid) are written in
   place, as Docker writes them: on ext4 a create, rename or unlink waits
   0.7-1.5 ms for the journal while other processes commit, rewriting the
   data of an existing file ~0.03 ms (docs/network.md, "Performance").  In
   place also keeps a bind-mounted hosts or resolv.conf current inside a
   running container, which a rename would leave on the old inode.  The
   new text goes over the old one before the file is cut to its length, so
   a reader never sees it empty; never through a symlink.  Not fsynced:
   these files mean nothing after a power loss. */
int
write_runtime_file (const char *path, const void *data, size_t len, dk_err_t *err)
{
  cleanup_close int fd = open (path, O_WRONLY | O_CREAT | O_NOFOLLOW | O_CLOEXEC, 0644);
  if (fd < 0)
    return dk_make_error (err, errno, "open `%s`", path);
  const char *p = data;
  for (size_t off = 0; off < len;)
    {
      ssize_t w = pwrite (fd, p + off, len - off, off);
      if (w < 0 && errno == EINTR)
        continue;
      if (w < 0)
        return dk_make_error (err, errno, "write `%s`", path);
      off += w;
    }
  if (ftruncate (fd, len) < 0)
    return dk_make_error (err, errno, "truncate `%s`", path);
  return 0;
}

/* The temp file + rename way, for records longer than a page. */
static int
write_renamed (const char *path, const void *data, size_t len, dk_err_t *err)
{
  cleanup_free char *tmp = xasprintf ("%s.tmp%d", path, (int)getpid ());
  if (write_runtime_file (tmp, data, len, err) < 0)
    {
      unlink (tmp);
      return -1;
    }
  if (rename (tmp, path) < 0)
    {
      int e = errno;
      unlink (tmp);
      return dk_make_error (err, e, "rename `%s`", tmp);
    }
  return 0;
}

/* State records (allocations, endpoints) are one line of JSON, read up to
   its newline (load_json).  Up to a page they are rewritten in place: one
   pwrite of at most a page at offset 0 is all or nothing under kill -9
   (the kernel looks for a fatal signal between pages only), and an older,
   longer text left behind the newline by a kill before the ftruncate is
   ignored.  Longer records go through a temp file and a rename.  Not
   fsynced: they describe kernel state that a power loss erases (cleanup
   reconciles). */
static int
write_runtime_json (const char *path, jv v, dk_err_t *err)
{
  cleanup_free char *s = dk_json_dump (v);
  size_t l = strlen (s);
  s = xrealloc (s, l + 2);
  s[l] = '\n';
  s[l + 1] = '\0';
  if (l + 1 > 4096)
    return write_renamed (path, s, l + 1, err);
  return write_runtime_file (path, s, l + 1, err);
}

int
ctx_lock (struct ctx *c, dk_err_t *err)
{
  if (c->lock_fd >= 0)
    return 0;
  cleanup_free char *p = state_path (c, "lock");
  c->lock_fd = dk_lock_acquire (p, true, err);
  return c->lock_fd < 0 ? -1 : 0;
}

void
ctx_unlock (struct ctx *c)
{
  dk_lock_release (c->lock_fd);
  c->lock_fd = -1;
}

static char *
path_in (const char *base, const char *fmt, va_list ap)
{
  char *rel = NULL;
  if (vasprintf (&rel, fmt, ap) < 0)
    abort ();
  char *p = xasprintf ("%s/%s", base, rel);
  free (rel);
  return p;
}

char *
state_path (struct ctx *c, const char *fmt, ...)
{
  va_list ap;
  va_start (ap, fmt);
  char *p = path_in (c->state_dir, fmt, ap);
  va_end (ap);
  return p;
}

/* Runtime state (allocations, endpoint records) lives in the exec root,
   a tmpfs where Docker's /var/run is: it describes kernel state that a
   reboot erases, and on ext4 each endpoint's two creates cost 0.5-1 ms
   apiece, more while others use the journal (docs/network.md, "Fifth
   round"). */
char *
run_path (struct ctx *c, const char *fmt, ...)
{
  va_list ap;
  va_start (ap, fmt);
  char *p = path_in (c->exec_root, fmt, ap);
  va_end (ap);
  return p;
}

/* The first line of a state file (see write_runtime_json), else the whole
   file; null when absent or not JSON. */
static jv
load_json (const char *path)
{
  cleanup_free char *text = NULL;
  size_t len = 0;
  cleanup_error dk_err_t e = NULL;
  if (access (path, F_OK) < 0 || dk_read_file (path, &text, &len, &e) < 0)
    return jv_null ();
  const char *nl = memchr (text, '\n', len);
  jv v;
  if (dk_json_parse (text, nl ? (size_t)(nl - text) : len, &v, &e) == 0)
    return v;
  /* a file written by hand may span lines */
  cleanup_error dk_err_t e2 = NULL;
  return nl && dk_json_parse (text, len, &v, &e2) == 0 ? v : jv_null ();
}

static bool
get_bool (jv o, const char *k, bool dflt)
{
  bool b;
  return dk_json_bool (o, k, &b) ? b : dflt;
}

int
daemon_load (struct ctx *c, struct daemon_cfg *d, dk_err_t *err)
{
  cleanup_free char *p = state_path (c, "daemon.json");
  cleanup_jv jv o = load_json (p);
  d->iptables = get_bool (o, "iptables", true);
  d->ip6tables = get_bool (o, "ip6tables", true);
  d->ip_forward = get_bool (o, "ip_forward", true);
  d->userland_proxy = get_bool (o, "userland_proxy", true);
  d->ipv6 = get_bool (o, "ipv6", false);
  d->default_bind_ip = 0;
  const char *ip = dk_json_str (o, "ip");
  if (ip)
    parse_ip4 (ip, &d->default_bind_ip);
  const char *br = dk_json_str (o, "bridge");
  d->default_bridge = br ? xstrdup (br) : NULL;
  return 0;
}

int
daemon_save (struct ctx *c, const struct daemon_cfg *d, dk_err_t *err)
{
  cleanup_free char *ip = fmt_ip4 (d->default_bind_ip);
  jv o = JV_OBJECT (jv_string ("iptables"), jv_bool (d->iptables), jv_string ("ip_forward"),
                    jv_bool (d->ip_forward), jv_string ("userland_proxy"),
                    jv_bool (d->userland_proxy), jv_string ("ipv6"), jv_bool (d->ipv6),
                    jv_string ("ip"), jv_string (ip));
  o = jv_object_set (o, jv_string ("ip6tables"), jv_bool (d->ip6tables));
  o = jv_object_set (o, jv_string ("bridge"),
                     d->default_bridge ? jv_string (d->default_bridge) : jv_null ());
  cleanup_free char *p = state_path (c, "daemon.json");
  return dk_atomic_write_json (p, o, err);
}

void
daemon_free (struct daemon_cfg *d)
{
  free (d->default_bridge);
  d->default_bridge = NULL;
}

bool
name_ok (const char *name)
{
  if (name == NULL || *name == '\0' || strlen (name) > 128 || name[0] == '.')
    return false;
  for (const char *p = name; *p; p++)
    if (!(('a' <= *p && *p <= 'z') || ('A' <= *p && *p <= 'Z') || ('0' <= *p && *p <= '9')
          || *p == '_' || *p == '-' || *p == '.'))
      return false;
  return true;
}

int
net_load (struct ctx *c, const char *name, struct net *n, dk_err_t *err)
{
  memset (n, 0, sizeof *n);
  n->labels = jv_null ();
  n->options = jv_null ();
  if (!name_ok (name))
    return dk_make_error_code (err, DK_ECODE_NOT_FOUND, 0, "network %s not found", name);
  cleanup_free char *p = state_path (c, "networks/%s.json", name);
  cleanup_jv jv o = load_json (p);
  if (jv_get_kind (o) != JV_KIND_OBJECT)
    return dk_make_error_code (err, DK_ECODE_NOT_FOUND, 0, "network %s not found", name);
  const char *s;
  n->name = xstrdup (name);
  n->id = xstrdup ((s = dk_json_str (o, "id")) ? s : "");
  n->bridge = xstrdup ((s = dk_json_str (o, "bridge")) ? s : "");
  n->created = xstrdup ((s = dk_json_str (o, "created")) ? s : "");
  if (parse_cidr4 (dk_json_str (o, "subnet"), &n->subnet, &n->plen) < 0
      || parse_ip4 (dk_json_str (o, "gateway"), &n->gateway) < 0
      || parse_cidr4 (dk_json_str (o, "ip_range"), &n->range, &n->range_plen) < 0)
    return dk_make_error_code (err, DK_ECODE_INTERNAL, 0, "network %s: corrupt state", name);
  const char *s6 = dk_json_str (o, "subnet6");
  if (s6)
    {
      if (parse_cidr6 (s6, &n->subnet6, &n->plen6) < 0
          || parse_ip6 (dk_json_str (o, "gateway6"), &n->gateway6) < 0)
        return dk_make_error_code (err, DK_ECODE_INTERNAL, 0, "network %s: corrupt state", name);
      n->v6 = true;
    }
  n->internal = get_bool (o, "internal", false);
  n->icc = get_bool (o, "icc", true);
  n->masq = get_bool (o, "masq", true);
  n->is_default = get_bool (o, "default", false);
  n->user_bridge = get_bool (o, "user_bridge", false);
  int64_t mtu = 0;
  if (dk_json_int (o, "mtu", &mtu))
    n->mtu = (unsigned)mtu;
  n->labels = dk_json_get_kind (o, "labels", JV_KIND_OBJECT);
  if (!jv_is_valid (n->labels))
    n->labels = jv_object ();
  n->options = dk_json_get_kind (o, "options", JV_KIND_OBJECT);
  if (!jv_is_valid (n->options))
    n->options = jv_object ();
  return 0;
}

jv
net_to_json (const struct net *n)
{
  cleanup_free char *sub = fmt_ip4 (n->subnet);
  cleanup_free char *gw = fmt_ip4 (n->gateway);
  cleanup_free char *rng = fmt_ip4 (n->range);
  jv o = jv_object ();
  o = jv_object_set (o, jv_string ("name"), jv_string (n->name));
  o = jv_object_set (o, jv_string ("id"), jv_string (n->id));
  o = jv_object_set (o, jv_string ("bridge"), jv_string (n->bridge));
  o = jv_object_set (o, jv_string ("created"), jv_string (n->created ? n->created : ""));
  o = jv_object_set (o, jv_string ("subnet"), jv_string_fmt ("%s/%d", sub, n->plen));
  o = jv_object_set (o, jv_string ("gateway"), jv_string (gw));
  o = jv_object_set (o, jv_string ("ip_range"), jv_string_fmt ("%s/%d", rng, n->range_plen));
  if (n->v6)
    {
      cleanup_free char *s6 = fmt_ip6 (&n->subnet6);
      cleanup_free char *g6 = fmt_ip6 (&n->gateway6);
      o = jv_object_set (o, jv_string ("subnet6"), jv_string_fmt ("%s/%d", s6, n->plen6));
      o = jv_object_set (o, jv_string ("gateway6"), jv_string (g6));
    }
  o = jv_object_set (o, jv_string ("internal"), jv_bool (n->internal));
  o = jv_object_set (o, jv_string ("icc"), jv_bool (n->icc));
  o = jv_object_set (o, jv_string ("masq"), jv_bool (n->masq));
  o = jv_object_set (o, jv_string ("default"), jv_bool (n->is_default));
  o = jv_object_set (o, jv_string ("user_bridge"), jv_bool (n->user_bridge));
  o = jv_object_set (o, jv_string ("mtu"), dk_json_int64 (n->mtu));
  o = jv_object_set (o, jv_string ("labels"),
                     jv_is_valid (n->labels) && jv_get_kind (n->labels) == JV_KIND_OBJECT
                         ? jv_copy (n->labels)
                         : jv_object ());
  o = jv_object_set (o, jv_string ("options"),
                     jv_is_valid (n->options) && jv_get_kind (n->options) == JV_KIND_OBJECT
                         ? jv_copy (n->options)
                         : jv_object ());
  return o;
}

int
net_save (struct ctx *c, const struct net *n, dk_err_t *err)
{
  cleanup_free char *dir = state_path (c, "networks");
  if (dk_mkdir_p (dir, 0700, err) < 0)
    return -1;
  cleanup_free char *p = state_path (c, "networks/%s.json", n->name);
  return dk_atomic_write_json (p, net_to_json (n), err);
}

void
net_free (struct net *n)
{
  free (n->name);
  free (n->id);
  free (n->bridge);
  free (n->created);
  jv_free (n->labels);
  jv_free (n->options);
  memset (n, 0, sizeof *n);
  n->labels = jv_null ();
  n->options = jv_null ();
}

static char **
list_json (const char *dir)
{
  char **v = xzalloc (sizeof (char *));
  size_t n = 0;
  cleanup_closedir DIR *d = opendir (dir);
  if (d == NULL)
    return v;
  struct dirent *de;
  while ((de = readdir (d)))
    {
      size_t l = strlen (de->d_name);
      if (de->d_name[0] == '.' || l < 6 || strcmp (de->d_name + l - 5, ".json"))
        continue;
      v = xrealloc (v, (n + 2) * sizeof *v);
      v[n++] = xstrndup (de->d_name, l - 5);
      v[n] = NULL;
    }
  return v;
}

static int
cmp_str (const void *a, const void *b)
{
  return strcmp (*(char *const *)a, *(char *const *)b);
}

static char **
sorted (char **v)
{
  size_t n = 0;
  while (v[n])
    n++;
  qsort (v, n, sizeof *v, cmp_str);
  return v;
}

char **
net_names (struct ctx *c)
{
  cleanup_free char *dir = state_path (c, "networks");
  return sorted (list_json (dir));
}

jv
ipam_load (struct ctx *c, const char *net)
{
  cleanup_free char *p = run_path (c, "ipam/%s.json", net);
  jv o = load_json (p);
  if (jv_get_kind (o) != JV_KIND_OBJECT)
    {
      jv_free (o);
      return jv_object ();
    }
  return o;
}

int
ipam_save (struct ctx *c, const char *net, jv alloc, dk_err_t *err)
{
  cleanup_free char *dir = run_path (c, "ipam");
  if (dk_mkdir_p (dir, 0700, err) < 0)
    {
      jv_free (alloc);
      return -1;
    }
  cleanup_free char *p = run_path (c, "ipam/%s.json", net);
  if (jv_object_length (jv_copy (alloc)) == 0)
    {
      jv_free (alloc);
      if (unlink (p) < 0 && errno != ENOENT)
        return dk_make_error (err, errno, "remove `%s`", p);
      return 0;
    }
  return write_runtime_json (p, alloc, err);
}

int
ipam_alloc (struct ctx *c, const struct net *n, uint32_t want, const char *owner, uint32_t *out,
            dk_err_t *err)
{
  cleanup_jv jv alloc = ipam_load (c, n->name);
  uint32_t net = n->subnet & mask4 (n->plen), bcast = net | ~mask4 (n->plen);
  if (want)
    {
      cleanup_free char *s = fmt_ip4 (want);
      if (!in_subnet (want, n->subnet, n->plen))
        return dk_make_error_code (err, DK_ECODE_INVALID, 0,
                                   "no configured subnet or ip-range contain the IP address %s", s);
      if (want == n->gateway || (n->plen < 31 && (want == net || want == bcast))
          || jv_object_has (jv_copy (alloc), jv_string (s)))
        return dk_make_error_code (err, DK_ECODE_CONFLICT, 0, "Address already in use");
      alloc = jv_object_set (alloc, jv_string (s), jv_string (owner));
      *out = want;
      return ipam_save (c, n->name, jv_copy (alloc), err);
    }
  uint32_t lo = n->range & mask4 (n->range_plen), hi = lo | ~mask4 (n->range_plen);
  if (lo < net)
    lo = net;
  if (hi > bcast)
    hi = bcast;
  uint32_t rlo = lo, rhi = hi;
  for (uint32_t a = lo; a <= hi && a >= lo; a++)
    {
      if (n->plen < 31 && (a == net || a == bcast))
        continue;
      if (n->range_plen < 31 && (a == rlo || a == rhi))
        continue;
      if (a == n->gateway)
        continue;
      cleanup_free char *s = fmt_ip4 (a);
      if (jv_object_has (jv_copy (alloc), jv_string (s)))
        continue;
      alloc = jv_object_set (alloc, jv_string (s), jv_string (owner));
      *out = a;
      return ipam_save (c, n->name, jv_copy (alloc), err);
    }
  return dk_make_error_code (err, DK_ECODE_UNAVAILABLE, 0,
                             "no available IPv4 addresses on this network's address pools: %s",
                             n->name);
}

int
ipam_release (struct ctx *c, const char *net, uint32_t ip, dk_err_t *err)
{
  jv alloc = ipam_load (c, net);
  cleanup_free char *s = fmt_ip4 (ip);
  alloc = jv_object_delete (alloc, jv_string (s));
  return ipam_save (c, net, alloc, err);
}

jv
ep_load (struct ctx *c, const char *id)
{
  if (!name_ok (id))
    return jv_null ();
  cleanup_free char *p = run_path (c, "endpoints/%s.json", id);
  jv o = load_json (p);
  if (jv_get_kind (o) != JV_KIND_OBJECT)
    {
      jv_free (o);
      return jv_null ();
    }
  return o;
}

int
ep_save (struct ctx *c, const char *id, jv ep, dk_err_t *err)
{
  cleanup_free char *dir = run_path (c, "endpoints");
  if (dk_mkdir_p (dir, 0700, err) < 0)
    {
      jv_free (ep);
      return -1;
    }
  cleanup_free char *p = run_path (c, "endpoints/%s.json", id);
  return write_runtime_json (p, ep, err);
}

int
ep_remove (struct ctx *c, const char *id, dk_err_t *err)
{
  cleanup_free char *p = run_path (c, "endpoints/%s.json", id);
  if (unlink (p) < 0 && errno != ENOENT)
    return dk_make_error (err, errno, "remove `%s`", p);
  return 0;
}

char **
ep_ids (struct ctx *c)
{
  cleanup_free char *dir = run_path (c, "endpoints");
  return sorted (list_json (dir));
}

/* Moves the files of STATE/SUB to EXECROOT/SUB (a file already there is
   the newer one), then removes STATE/SUB. */
static int
migrate_dir (struct ctx *c, const char *sub, dk_err_t *err)
{
  cleanup_free char *old = state_path (c, "%s", sub);
  cleanup_free char *new = run_path (c, "%s", sub);
  if (dk_mkdir_p (new, 0700, err) < 0)
    return -1;
  cleanup_strv char **names = list_json (old);
  for (char **n = names; *n; n++)
    {
      cleanup_free char *from = xasprintf ("%s/%s.json", old, *n);
      cleanup_free char *to = xasprintf ("%s/%s.json", new, *n);
      cleanup_free char *text = NULL;
      size_t len = 0;
      if (access (to, F_OK) < 0
          && (dk_read_file (from, &text, &len, err) < 0
              || write_runtime_file (to, text, len, err) < 0))
        return -1;
      if (unlink (from) < 0 && errno != ENOENT)
        return dk_make_error (err, errno, "remove `%s`", from);
    }
  rmdir (old); /* left when it holds other files */
  return 0;
}

/* An older dk-netsetup kept allocations and endpoint records in the state
   dir: they move to the exec root once, under the lock, so that endpoints
   it made are still torn down completely. */
static int
migrate_runtime (struct ctx *c, dk_err_t *err)
{
  cleanup_free char *ipam = state_path (c, "ipam");
  cleanup_free char *eps = state_path (c, "endpoints");
  if (access (ipam, F_OK) < 0 && access (eps, F_OK) < 0)
    return 0;
  if (ctx_lock (c, err) < 0)
    return -1;
  int r = migrate_dir (c, "ipam", err) < 0 || migrate_dir (c, "endpoints", err) < 0 ? -1 : 0;
  ctx_unlock (c);
  return r;
}

int
state_init (struct ctx *c, dk_err_t *err)
{
  if (dk_mkdir_p (c->state_dir, 0700, err) < 0 || dk_mkdir_p (c->exec_root, 0711, err) < 0)
    return -1;
  return migrate_runtime (c, err);
}

/* By name, full ID or unique ID prefix. */
int
net_find (struct ctx *c, const char *ref, struct net *n, dk_err_t *err)
{
  cleanup_error dk_err_t e = NULL;
  if (net_load (c, ref, n, &e) == 0)
    return 0;
  if (*ref == '\0')
    return dk_make_error_code (err, DK_ECODE_NOT_FOUND, 0, "network %s not found", ref);
  cleanup_strv char **names = net_names (c);
  int hits = 0;
  for (char **p = names; *p; p++)
    {
      struct net o;
      if (net_load (c, *p, &o, &e) == 0 && !strncmp (o.id, ref, strlen (ref)))
        {
          hits++;
          net_free (n);
          *n = o;
          continue;
        }
      net_free (&o);
    }
  if (hits == 1)
    return 0;
  net_free (n);
  return dk_make_error_code (err, DK_ECODE_NOT_FOUND, 0, "network %s not found", ref);
}

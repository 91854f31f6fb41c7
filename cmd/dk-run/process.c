/* The container's process: parsed in the runtime (so every bad value is an
   error before anything is created), finished in the container right before
   execve. */
#include "run.h"

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <linux/close_range.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/capability.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

static const struct
{
  const char *name;
  int res;
} rlimit_names[] = {
  { "RLIMIT_CPU", RLIMIT_CPU },           { "RLIMIT_FSIZE", RLIMIT_FSIZE },
  { "RLIMIT_DATA", RLIMIT_DATA },         { "RLIMIT_STACK", RLIMIT_STACK },
  { "RLIMIT_CORE", RLIMIT_CORE },         { "RLIMIT_RSS", RLIMIT_RSS },
  { "RLIMIT_NPROC", RLIMIT_NPROC },       { "RLIMIT_NOFILE", RLIMIT_NOFILE },
  { "RLIMIT_MEMLOCK", RLIMIT_MEMLOCK },   { "RLIMIT_AS", RLIMIT_AS },
  { "RLIMIT_LOCKS", RLIMIT_LOCKS },       { "RLIMIT_SIGPENDING", RLIMIT_SIGPENDING },
  { "RLIMIT_MSGQUEUE", RLIMIT_MSGQUEUE }, { "RLIMIT_NICE", RLIMIT_NICE },
  { "RLIMIT_RTPRIO", RLIMIT_RTPRIO },     { "RLIMIT_RTTIME", RLIMIT_RTTIME },
};

static char **
strv_from (jv arr)
{
  int n = dk_json_len (arr);
  if (n < 0)
    n = 0;
  char **v = xzalloc (sizeof (char *) * (n + 1));
  int k = 0;
  for (int i = 0; i < n; i++)
    {
      jv s = jv_array_get (jv_copy (arr), i);
      if (jv_get_kind (s) == JV_KIND_STRING)
        v[k++] = xstrdup (jv_string_value (s));
      jv_free (s);
    }
  return v;
}

static int
caps_parse (jv caps, const char *set, uint64_t *out, dk_err_t *err)
{
  cleanup_jv jv arr = dk_json_get_kind (caps, set, JV_KIND_ARRAY);
  *out = 0;
  if (!jv_is_valid (arr))
    return 0;
  int last = (int)cap_max_bits () - 1;
  jv_array_foreach (arr, i, c)
  {
    if (jv_get_kind (c) != JV_KIND_STRING)
      {
        jv_free (c);
        return dk_make_error_code (err, DK_ECODE_INVALID, 0, "capability is not a string");
      }
    cleanup_free char *name = xstrdup (jv_string_value (c));
    jv_free (c);
    for (char *p = name; *p; p++)
      *p = tolower ((unsigned char)*p);
    cap_value_t v;
    if (strncmp (name, "cap_", 4) != 0 || cap_from_name (name, &v) < 0)
      {
        for (char *p = name; *p; p++)
          *p = toupper ((unsigned char)*p);
        return dk_make_error_code (err, DK_ECODE_INVALID, 0, "unknown capability \"%s\"", name);
      }
    /* a capability this kernel does not know is skipped, as runc does */
    if ((int)v <= last)
      *out |= 1ULL << v;
  }
  return 0;
}

int
dk_proc_plan_build (jv process, jv seccomp, struct dk_proc_plan *p, dk_err_t *err)
{
  memset (p, 0, sizeof *p);
  p->umask = -1;
  if (jv_get_kind (process) != JV_KIND_OBJECT)
    return dk_make_error_code (err, DK_ECODE_INVALID, 0, "process is not set");
  cleanup_jv jv args = dk_json_get_kind (process, "args", JV_KIND_ARRAY);
  p->argv = strv_from (args);
  if (p->argv[0] == NULL || p->argv[0][0] == '\0')
    return dk_make_error_code (err, DK_ECODE_INVALID, 0, "args must not be empty");
  cleanup_jv jv env = dk_json_get_kind (process, "env", JV_KIND_ARRAY);
  p->envp = strv_from (env);
  const char *cwd = dk_json_str (process, "cwd");
  p->cwd = xstrdup (cwd && *cwd ? cwd : "/");
  if (p->cwd[0] != '/')
    return dk_make_error_code (err, DK_ECODE_INVALID, 0, "cwd property must be an absolute path");
  dk_json_bool (process, "terminal", &p->terminal);
  cleanup_jv jv size = dk_json_get_kind (process, "consoleSize", JV_KIND_OBJECT);
  int64_t h = 0, w = 0;
  if (dk_json_int (size, "height", &h) && dk_json_int (size, "width", &w) && h > 0 && w > 0
      && h <= 65535 && w <= 65535)
    p->rows = (unsigned short)h, p->cols = (unsigned short)w;
  dk_json_bool (process, "noNewPrivileges", &p->nnp);

  cleanup_jv jv user = dk_json_get_kind (process, "user", JV_KIND_OBJECT);
  int64_t v = 0;
  if (dk_json_int (user, "uid", &v))
    p->uid = (uid_t)v;
  if (dk_json_int (user, "gid", &v))
    p->gid = (gid_t)v;
  if (dk_json_int (user, "umask", &v))
    p->umask = (int)v;
  cleanup_jv jv gids = dk_json_get_kind (user, "additionalGids", JV_KIND_ARRAY);
  if (jv_is_valid (gids))
    {
      int n = dk_json_len (gids);
      p->groups = xzalloc (sizeof (gid_t) * (n + 1));
      for (int i = 0; i < n; i++)
        {
          jv g = jv_array_get (jv_copy (gids), i);
          if (jv_get_kind (g) == JV_KIND_NUMBER)
            p->groups[p->ngroups++] = (gid_t)jv_number_value (g);
          jv_free (g);
        }
    }

  cleanup_jv jv caps = dk_json_get_kind (process, "capabilities", JV_KIND_OBJECT);
  if (jv_is_valid (caps))
    {
      p->has_caps = true;
      if (caps_parse (caps, "bounding", &p->bounding, err) < 0
          || caps_parse (caps, "effective", &p->effective, err) < 0
          || caps_parse (caps, "permitted", &p->permitted, err) < 0
          || caps_parse (caps, "inheritable", &p->inheritable, err) < 0
          || caps_parse (caps, "ambient", &p->ambient, err) < 0)
        return -1;
    }

  cleanup_jv jv rl = dk_json_get_kind (process, "rlimits", JV_KIND_ARRAY);
  if (jv_is_valid (rl))
    {
      int n = dk_json_len (rl);
      p->rlimits = xzalloc (sizeof (struct dk_rlimit) * (n + 1));
      for (int i = 0; i < n; i++)
        {
          cleanup_jv jv r = jv_array_get (jv_copy (rl), i);
          const char *type = dk_json_str (r, "type");
          int64_t soft = 0, hard = 0;
          int res = -1;
          for (size_t k = 0; type && k < sizeof rlimit_names / sizeof rlimit_names[0]; k++)
            if (strcmp (type, rlimit_names[k].name) == 0)
              res = rlimit_names[k].res;
          if (res < 0)
            return dk_make_error_code (err, DK_ECODE_INVALID, 0, "rlimit type \"%s\" not supported",
                                       type ? type : "");
          dk_json_int (r, "soft", &soft);
          dk_json_int (r, "hard", &hard);
          p->rlimits[p->nrlimits].resource = res;
          p->rlimits[p->nrlimits].lim.rlim_cur = (rlim_t)soft;
          p->rlimits[p->nrlimits].lim.rlim_max = (rlim_t)hard;
          p->nrlimits++;
        }
    }
  if (jv_get_kind (seccomp) == JV_KIND_OBJECT
      && dk_seccomp_prepare (seccomp, &p->seccomp, &p->seccomp_flags, err) < 0)
    return -1;
  return 0;
}

void
dk_proc_plan_free (struct dk_proc_plan *p)
{
  dk_cleanup_strvp (&p->argv);
  dk_cleanup_strvp (&p->envp);
  free (p->path);
  free (p->cwd);
  free (p->groups);
  free (p->rlimits);
  if (p->seccomp)
    free (p->seccomp->filter);
  free (p->seccomp);
  memset (p, 0, sizeof *p);
}

static const char *
env_get (char **envp, const char *name)
{
  size_t n = strlen (name);
  for (char **e = envp; e && *e; e++)
    if (strncmp (*e, name, n) == 0 && (*e)[n] == '=')
      return *e + n + 1;
  return NULL;
}

static int
check_exec (const char *arg0, const char *path, dk_err_t *err)
{
  struct stat st;
  if (stat (path, &st) < 0)
    return dk_make_error_code (err,
                               errno == ENOENT ? DK_ECODE_EXEC_NOT_FOUND : DK_ECODE_EXEC_DENIED, 0,
                               "exec: \"%s\": stat %s: %s", arg0, path, strerror (errno));
  if (S_ISDIR (st.st_mode))
    return dk_make_error_code (err, DK_ECODE_EXEC_DENIED, 0, "exec: \"%s\": is a directory", arg0);
  if (!S_ISREG (st.st_mode) || (st.st_mode & 0111) == 0)
    return dk_make_error_code (err, DK_ECODE_EXEC_DENIED, 0, "exec: \"%s\": permission denied",
                               arg0);
  return 0;
}

/* The environment as runc passes it: one entry per name, the last one
   given, in the order of those; an empty HOME counts as none. */
static void
dedup_env (char **envp)
{
  size_t n = 0;
  while (envp[n])
    n++;
  for (size_t i = 0; i < n; i++)
    {
      size_t klen = strcspn (envp[i], "=");
      bool later = false;
      for (size_t j = i + 1; j < n && !later; j++)
        later = strncmp (envp[j], envp[i], klen + 1) == 0;
      if (later || strcmp (envp[i], "HOME=") == 0)
        {
          free (envp[i]);
          envp[i] = NULL;
        }
    }
  size_t w = 0;
  for (size_t i = 0; i < n; i++)
    if (envp[i])
      envp[w++] = envp[i];
  envp[w] = NULL;
}

/* HOME as runc sets it when the config does not: the user's home in the
   container's /etc/passwd, else "/".  Runs in the container. */
static void
set_home (struct dk_proc_plan *p)
{
  if (env_get (p->envp, "HOME"))
    return;
  const char *home = "/";
  char *line = NULL;
  size_t cap = 0;
  cleanup_fclose FILE *f = fopen ("/etc/passwd", "re");
  cleanup_free char *found = NULL;
  while (f && found == NULL && getline (&line, &cap, f) > 0)
    {
      /* name:pw:uid:gid:gecos:home:shell */
      char *fields[7] = { 0 };
      char *tok = line;
      int n = 0;
      for (char *q = line; n < 7; q++)
        if (*q == ':' || *q == '\n' || *q == '\0')
          {
            bool end = *q != ':';
            *q = '\0';
            fields[n++] = tok;
            tok = q + 1;
            if (end)
              break;
          }
      if (n >= 6 && strtoul (fields[2], NULL, 10) == p->uid && fields[5][0] == '/')
        found = xstrdup (fields[5]);
    }
  free (line);
  if (found)
    home = found;
  size_t n = 0;
  while (p->envp[n])
    n++;
  p->envp = xrealloc (p->envp, sizeof (char *) * (n + 2));
  p->envp[n] = xasprintf ("HOME=%s", home);
  p->envp[n + 1] = NULL;
}

int
dk_proc_find_exec (struct dk_proc_plan *p, dk_err_t *err)
{
  dedup_env (p->envp); /* before HOME: an empty HOME= counts as none */
  set_home (p);
  const char *arg0 = p->argv[0];
  if (strchr (arg0, '/'))
    {
      if (check_exec (arg0, arg0, err) < 0)
        return -1;
      p->path = xstrdup (arg0);
      return 0;
    }
  const char *path = env_get (p->envp, "PATH");
  if (path == NULL)
    path = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";
  while (*path)
    {
      const char *e = strchrnul (path, ':');
      cleanup_free char *cand
          = xasprintf ("%.*s/%s", (int)(e - path), e == path ? "." : path, arg0);
      struct stat st;
      if (stat (cand, &st) == 0 && S_ISREG (st.st_mode) && (st.st_mode & 0111))
        {
          p->path = steal_ptr (&cand);
          return 0;
        }
      path = *e ? e + 1 : e;
    }
  return dk_make_error_code (err, DK_ECODE_EXEC_NOT_FOUND, 0,
                             "exec: \"%s\": executable file not found in $PATH", arg0);
}

int
dk_proc_apply_rlimits (const struct dk_proc_plan *p, dk_err_t *err)
{
  for (size_t i = 0; i < p->nrlimits; i++)
    if (setrlimit (p->rlimits[i].resource, &p->rlimits[i].lim) < 0)
      return dk_make_error (err, errno, "setrlimit %s", rlimit_names[0].name);
  return 0;
}

static int
set_caps (const struct dk_proc_plan *p, dk_err_t *err)
{
  cap_t c = cap_init ();
  int last = (int)cap_max_bits () - 1;
  for (int v = 0; v <= last; v++)
    {
      cap_value_t cv = v;
      if (p->effective & (1ULL << v))
        cap_set_flag (c, CAP_EFFECTIVE, 1, &cv, CAP_SET);
      if (p->permitted & (1ULL << v))
        cap_set_flag (c, CAP_PERMITTED, 1, &cv, CAP_SET);
      if (p->inheritable & (1ULL << v))
        cap_set_flag (c, CAP_INHERITABLE, 1, &cv, CAP_SET);
    }
  int r = cap_set_proc (c);
  int saved = errno;
  cap_free (c);
  if (r < 0)
    return dk_make_error (err, saved, "capset");
  for (int v = 0; v <= last; v++)
    if ((p->ambient & (1ULL << v)) && prctl (PR_CAP_AMBIENT, PR_CAP_AMBIENT_RAISE, v, 0, 0) < 0)
      {
        /* like runc: an ambient capability that is not inheritable is skipped */
        if (errno != EPERM)
          return dk_make_error (err, errno, "raise ambient capability %d", v);
      }
  return 0;
}

/* As runc: the process's stdio (its terminal, or pipes) belongs to its
   user, so that it can reopen /proc/self/fd/N or chmod its tty; /dev/null
   is left alone.  Only the uid: the devpts mount chose the gid. */
static int
chown_stdio (uid_t uid, dk_err_t *err)
{
  struct stat null;
  bool have_null = stat ("/dev/null", &null) == 0;
  for (int fd = 0; fd < 3; fd++)
    {
      struct stat st;
      if (fstat (fd, &st) < 0 || st.st_uid == uid
          || (have_null && S_ISCHR (st.st_mode) && st.st_rdev == null.st_rdev))
        continue;
      /* a file of another user namespace or a read-only mount: runc goes on */
      if (fchown (fd, uid, (gid_t)-1) < 0 && errno != EINVAL && errno != EPERM && errno != EROFS)
        return dk_make_error (err, errno, "fix stdio permissions");
    }
  return 0;
}

static int
finalize (struct dk_proc_plan *p, dk_err_t *err)
{
  if (dk_proc_apply_rlimits (p, err) < 0)
    return -1;
  /* Without no_new_privs, loading a filter needs CAP_SYS_ADMIN, which the
     process may be about to lose: load it while we still hold it.  The
     filter must then allow the few calls below (the default profile does). */
  bool seccomp_early = p->seccomp && !p->nnp && !(p->effective & (1ULL << CAP_SYS_ADMIN));
  if (seccomp_early && dk_seccomp_load (p->seccomp, p->seccomp_flags, err) < 0)
    return -1;
  /* the bounding set can only shrink while we hold CAP_SETPCAP (before setuid) */
  if (p->has_caps)
    for (int v = 0; v < (int)cap_max_bits (); v++)
      if (!(p->bounding & (1ULL << v)) && prctl (PR_CAPBSET_DROP, v, 0, 0, 0) < 0
          && errno != EINVAL)
        return dk_make_error (err, errno, "drop bounding capability %d", v);
  if (chown_stdio (p->uid, err) < 0)
    return -1;
  /* keep the permitted set across the uid change, set the final sets after */
  if (prctl (PR_SET_KEEPCAPS, 1, 0, 0, 0) < 0)
    return dk_make_error (err, errno, "prctl keepcaps");
  if (setgroups (p->ngroups, p->groups) < 0 && !(errno == EPERM && p->ngroups == 0))
    return dk_make_error (err, errno, "setgroups");
  if (setresgid (p->gid, p->gid, p->gid) < 0)
    return dk_make_error (err, errno, "setgid %d", (int)p->gid);
  if (setresuid (p->uid, p->uid, p->uid) < 0)
    return dk_make_error (err, errno, "setuid %d", (int)p->uid);
  prctl (PR_SET_KEEPCAPS, 0, 0, 0, 0);
  if (p->has_caps && set_caps (p, err) < 0)
    return -1;
  if (p->umask >= 0)
    umask (p->umask);
  /* chdir again as the user; a cwd outside the root (a leaked host directory,
     CVE-2024-21626) shows as "(unreachable)" or fails here */
  if (chdir (p->cwd) < 0)
    return dk_make_error (err, errno, "chdir to cwd (\"%s\") set in config.json failed", p->cwd);
  char buf[4096];
  if (getcwd (buf, sizeof buf) == NULL || buf[0] != '/')
    return dk_make_error (err, 0,
                          "current working directory is outside of container mount namespace root");
  if (p->nnp && prctl (PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0)
    return dk_make_error (err, errno, "prctl no_new_privs");
  /* no fd of ours survives execve: only stdio and the preserved ones */
  if (syscall (SYS_close_range, 3 + p->preserve_fds, ~0U, CLOSE_RANGE_CLOEXEC) < 0)
    for (int fd = 3 + p->preserve_fds; fd < 1024; fd++)
      fcntl (fd, F_SETFD, FD_CLOEXEC);
  /* seccomp last, immediately before execve: nothing of ours runs under it */
  if (p->seccomp && !seccomp_early && dk_seccomp_load (p->seccomp, p->seccomp_flags, err) < 0)
    return -1;
  return 0;
}

void
dk_proc_close_inherited (int preserve_fds, const int *keep, size_t nkeep)
{
  /* the fds of whoever started the runtime: stdio and the preserved ones
     are the process's; our own (keep) close with CLOEXEC or by hand later */
  int first = 3 + (preserve_fds > 0 ? preserve_fds : 0);
  for (;;)
    {
      int next = -1;
      for (size_t i = 0; i < nkeep; i++)
        if (keep[i] >= first && (next < 0 || keep[i] < next))
          next = keep[i];
      unsigned last = next < 0 ? ~0U : (unsigned)next - 1;
      if (next != first && syscall (SYS_close_range, (unsigned)first, last, 0) < 0)
        for (int fd = first; fd <= (next < 0 ? 1023 : next - 1); fd++)
          close (fd);
      if (next < 0)
        return;
      first = next + 1;
    }
}

void
dk_proc_exec (struct dk_proc_plan *p)
{
  dk_err_t err = NULL;
  if (finalize (p, &err) == 0)
    {
      execve (p->path, p->argv, p->envp);
      int e = errno;
      dk_make_error_code (&err, e == ENOENT ? DK_ECODE_EXEC_NOT_FOUND : DK_ECODE_EXEC_DENIED, 0,
                          "exec: \"%s\": %s", p->argv[0], strerror (e));
    }
  dprintf (2, "dk-run: error: unable to start container process: %s\n", err->msg);
  if (strcmp (err->code, DK_ECODE_EXEC_NOT_FOUND) == 0)
    _exit (127);
  if (strcmp (err->code, DK_ECODE_EXEC_DENIED) == 0)
    _exit (126);
  _exit (1);
}

/* Compiled seccomp programs cached under the runtime root.

   libseccomp takes ~15 ms of CPU to turn Docker's default profile into BPF,
   on every create and exec, for the same profile each time.  The result is
   a pure function of the profile, the libseccomp version (which syscalls it
   knows), the architecture and the kernel (which actions it accepts), so it
   is kept in ROOT/.seccomp-cache/<key>.bpf, key = FNV-1a 64 of all four.

   A file is loaded only when every check passes: magic, the exact size the
   header announces, the whole key text equal to ours (a hash collision
   cannot hand us another profile's program) and the checksum of the body.
   Anything else (a truncated or corrupt file, an older format) is compiled
   again and the file replaced, by rename, so readers never see half a file.
   The cache is only a shortcut: when it cannot be written, create goes on. */
#include "run.h"

#include <errno.h>
#include <stddef.h>
#include <fcntl.h>
#include <seccomp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "atomicfile.h"
#include "buf.h"
#include "goarch.h"
#include "scratchfile.h"

#define CACHE_DIR ".seccomp-cache"
/* bump when dk_seccomp_compile changes what it produces for a profile */
#define CACHE_FORMAT "dkbpf2"

struct cache_header
{
  char magic[8];     /* CACHE_FORMAT, NUL padded */
  uint32_t flags;    /* seccomp(2) filter flags */
  uint32_t nfilter;  /* struct sock_filter entries */
  uint32_t key_len;  /* bytes of key text after the header */
  uint32_t reserved; /* 0 */
  uint64_t checksum; /* FNV-1a 64 of key text and program */
};

static uint64_t
fnv1a (uint64_t h, const void *data, size_t len)
{
  const unsigned char *p = data;
  for (size_t i = 0; i < len; i++)
    {
      h ^= p[i];
      h *= 0x100000001b3ULL;
    }
  return h;
}
#define FNV_INIT 0xcbf29ce484222325ULL

/* Everything the compiled program depends on, as text. */
static void
cache_key (jv seccomp, struct dk_buf *key)
{
  const struct scmp_version *v = seccomp_version ();
  dk_buf_printf (key, "%s libseccomp %u.%u.%u arch %u kernel %s\n", CACHE_FORMAT, v ? v->major : 0,
                 v ? v->minor : 0, v ? v->micro : 0, seccomp_arch_native (), dk_uname ()->release);
  dk_json_dump_buf (key, jv_copy (seccomp));
}

static char *
cache_path (const struct dk_buf *key)
{
  return xasprintf ("%s/" CACHE_DIR "/%016llx.bpf", dk_run_global.root,
                    (unsigned long long)fnv1a (FNV_INIT, key->data, key->len));
}

/* 1: *out loaded from the file; 0: no usable file (missing or rejected). */
static int
cache_load (const char *path, const struct dk_buf *key, struct sock_fprog **out, unsigned *flags)
{
  cleanup_close int fd = open (path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
  struct stat st;
  if (fd < 0 || fstat (fd, &st) < 0 || !S_ISREG (st.st_mode)
      || (size_t)st.st_size < sizeof (struct cache_header))
    return 0;
  cleanup_free char *data = xmalloc (st.st_size);
  if (pread (fd, data, st.st_size, 0) != st.st_size)
    return 0;
  struct cache_header h;
  memcpy (&h, data, sizeof h);
  size_t prog_len = (size_t)h.nfilter * sizeof (struct sock_filter);
  if (memcmp (h.magic, CACHE_FORMAT, sizeof CACHE_FORMAT) != 0 || h.reserved != 0 || h.nfilter == 0
      || h.nfilter > BPF_MAXINSNS || h.key_len != key->len
      || (size_t)st.st_size != sizeof h + h.key_len + prog_len)
    return 0;
  const char *body = data + sizeof h;
  if (memcmp (body, key->data, key->len) != 0
      || fnv1a (FNV_INIT, body, key->len + prog_len) != h.checksum)
    return 0;
  struct sock_fprog *prog = xzalloc (sizeof *prog);
  prog->len = h.nfilter;
  prog->filter = xmalloc (prog_len);
  memcpy (prog->filter, body + key->len, prog_len);
  *out = prog;
  *flags = h.flags;
  return 1;
}

static void
cache_store (const char *path, const struct dk_buf *key, const struct sock_fprog *prog,
             unsigned flags)
{
  size_t prog_len = (size_t)prog->len * sizeof (struct sock_filter);
  struct cache_header h = { .flags = flags, .nfilter = prog->len, .key_len = key->len };
  memcpy (h.magic, CACHE_FORMAT, sizeof CACHE_FORMAT);
  struct dk_buf b = DK_BUF_INIT;
  dk_buf_add (&b, &h, sizeof h);
  dk_buf_add (&b, key->data, key->len);
  dk_buf_add (&b, prog->filter, prog_len);
  uint64_t sum = fnv1a (FNV_INIT, b.data + sizeof h, key->len + prog_len);
  memcpy (b.data + offsetof (struct cache_header, checksum), &sum, sizeof sum);
  cleanup_free char *dir = xasprintf ("%s/" CACHE_DIR, dk_run_global.root);
  dk_err_t err = NULL;
  if (dk_mkdir_p (dir, 0700, &err) < 0 || dk_scratch_write (path, b.data, b.len, 0600, &err) < 0)
    {
      if (dk_run_global.debug)
        fprintf (stderr, "dk-run: seccomp cache not written: %s\n", err->msg);
      dk_error_release (&err);
    }
  dk_buf_free (&b);
}

int
dk_seccomp_prepare (jv seccomp, struct sock_fprog **out, unsigned *flags, dk_err_t *err)
{
  struct dk_buf key = DK_BUF_INIT;
  cache_key (seccomp, &key);
  cleanup_free char *path = cache_path (&key);
  int ret = 0;
  if (!cache_load (path, &key, out, flags))
    {
      ret = dk_seccomp_compile (seccomp, out, flags, err);
      if (ret == 0)
        cache_store (path, &key, *out, *flags);
    }
  dk_buf_free (&key);
  return ret;
}

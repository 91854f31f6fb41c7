/* libarchive and libcrypto, loaded on first use (docs/store.md, "Start
   cost"): most subcommands (container-*, ls, inspect, tag, rm) use neither,
   and loading libarchive's 12 dependencies (libxml2, ICU, libstdc++...) at
   every start cost ~4 ms of the dynamic loader's time per process.

   Each function dk-graph calls is defined here under its own name, with the
   prototype from the library's header (so the compiler checks it), and
   forwards to the library's symbol, looked up once.  The executable does not
   export these names (no shared object linked with it refers to them), so
   the libraries' internal calls still reach their own functions. */
#include <archive.h>
#include <archive_entry.h>
#include <dlfcn.h>
#include <openssl/evp.h>
#include <stdarg.h>
#include <stdio.h>
#include <unistd.h>

#include "error.h"

_Static_assert(ARCHIVE_VERSION_NUMBER >= 3000000, "libarchive 3 is libarchive.so.13");
_Static_assert(OPENSSL_VERSION_MAJOR == 3, "OpenSSL 3 is libcrypto.so.3");
#define LIBARCHIVE "libarchive.so.13"
#define LIBCRYPTO "libcrypto.so.3"

/* A missing library is what a failed link at start would have been: fatal.
   The tool contract still gets its error object. */
static void *
lazy_sym (const char *lib, void **handle, const char *name)
{
  void *h = __atomic_load_n (handle, __ATOMIC_ACQUIRE);
  if (h == NULL)
    {
      h = dlopen (lib, RTLD_NOW | RTLD_LOCAL);
      if (h != NULL)
        __atomic_store_n (handle, h, __ATOMIC_RELEASE);
    }
  void *p = h ? dlsym (h, name) : NULL;
  if (p == NULL)
    {
      dk_err_t e = NULL;
      dk_make_error (&e, 0, "load %s from %s: %s", name, lib, dlerror ());
      dk_error_print ("dk-graph", e);
      dk_error_emit (stdout, e);
      fflush (stdout);
      _exit (1);
    }
  return p;
}

static void *archive_handle, *crypto_handle;

#define LAZY_FN(handle, lib, ret, name, params, args, result)                                      \
  ret name params                                                                                  \
  {                                                                                                \
    static __typeof__ (name) *fn;                                                                  \
    __typeof__ (name) *f = __atomic_load_n (&fn, __ATOMIC_ACQUIRE);                                \
    if (f == NULL)                                                                                 \
      {                                                                                            \
        f = (__typeof__ (name) *)lazy_sym (lib, &handle, #name);                                   \
        __atomic_store_n (&fn, f, __ATOMIC_RELEASE);                                               \
      }                                                                                            \
    result f args;                                                                                 \
  }
#define AR(ret, name, params, args)                                                                \
  LAZY_FN (archive_handle, LIBARCHIVE, ret, name, params, args, return )
#define AR_VOID(name, params, args) LAZY_FN (archive_handle, LIBARCHIVE, void, name, params, args, )
#define CR(ret, name, params, args)                                                                \
  LAZY_FN (crypto_handle, LIBCRYPTO, ret, name, params, args, return )
#define CR_VOID(name, params, args) LAZY_FN (crypto_handle, LIBCRYPTO, void, name, params, args, )

typedef struct archive A;
typedef struct archive_entry E;

/* reading */
AR (A *, archive_read_new, (void), ())
AR (int, archive_read_free, (A * a), (a))
AR (int, archive_read_support_filter_all, (A * a), (a))
AR (int, archive_read_support_format_tar, (A * a), (a))
AR (int, archive_read_set_format_option, (A * a, const char *m, const char *o, const char *v),
    (a, m, o, v))
AR (int, archive_read_open_fd, (A * a, int fd, size_t bs), (a, fd, bs))
AR (int, archive_read_open,
    (A * a, void *d, archive_open_callback *o, archive_read_callback *r, archive_close_callback *c),
    (a, d, o, r, c))
AR (int, archive_read_next_header, (A * a, E **e), (a, e))
AR (int, archive_read_data_block, (A * a, const void **b, size_t *s, la_int64_t *o), (a, b, s, o))
/* writing */
AR (A *, archive_write_new, (void), ())
AR (int, archive_write_free, (A * a), (a))
AR (int, archive_write_close, (A * a), (a))
AR (int, archive_write_set_format_pax_restricted, (A * a), (a))
AR (int, archive_write_set_bytes_in_last_block, (A * a, int n), (a, n))
AR (int, archive_write_open_fd, (A * a, int fd), (a, fd))
AR (int, archive_write_header, (A * a, E *e), (a, e))
AR (la_ssize_t, archive_write_data, (A * a, const void *b, size_t n), (a, b, n))
/* errors */
AR (int, archive_errno, (A * a), (a))
AR (const char *, archive_error_string, (A * a), (a))
/* entries */
AR (E *, archive_entry_new, (void), ())
AR_VOID (archive_entry_free, (E * e), (e))
AR (const char *, archive_entry_pathname, (E * e), (e))
AR (const char *, archive_entry_hardlink, (E * e), (e))
AR (const char *, archive_entry_symlink, (E * e), (e))
AR (__LA_MODE_T, archive_entry_filetype, (E * e), (e))
AR (__LA_MODE_T, archive_entry_perm, (E * e), (e))
AR (la_int64_t, archive_entry_uid, (E * e), (e))
AR (la_int64_t, archive_entry_gid, (E * e), (e))
AR (la_int64_t, archive_entry_size, (E * e), (e))
AR (dev_t, archive_entry_rdev, (E * e), (e))
AR (time_t, archive_entry_mtime, (E * e), (e))
AR (long, archive_entry_mtime_nsec, (E * e), (e))
AR (time_t, archive_entry_atime, (E * e), (e))
AR (long, archive_entry_atime_nsec, (E * e), (e))
AR (int, archive_entry_atime_is_set, (E * e), (e))
AR (int, archive_entry_sparse_count, (E * e), (e))
AR (int, archive_entry_xattr_reset, (E * e), (e))
AR (int, archive_entry_xattr_next, (E * e, const char **n, const void **v, size_t *s), (e, n, v, s))
AR_VOID (archive_entry_xattr_add_entry, (E * e, const char *n, const void *v, size_t s),
         (e, n, v, s))
AR_VOID (archive_entry_set_pathname, (E * e, const char *p), (e, p))
AR_VOID (archive_entry_set_hardlink, (E * e, const char *p), (e, p))
AR_VOID (archive_entry_set_symlink, (E * e, const char *p), (e, p))
AR_VOID (archive_entry_set_filetype, (E * e, unsigned int t), (e, t))
AR_VOID (archive_entry_set_perm, (E * e, __LA_MODE_T m), (e, m))
AR_VOID (archive_entry_set_size, (E * e, la_int64_t s), (e, s))
AR_VOID (archive_entry_set_mtime, (E * e, time_t t, long ns), (e, t, ns))
AR_VOID (archive_entry_unset_atime, (E * e), (e))
AR_VOID (archive_entry_unset_ctime, (E * e), (e))
AR_VOID (archive_entry_copy_stat, (E * e, const struct stat *st), (e, st))

/* The one variadic function: the message is formatted here. */
void
archive_set_error (A *a, int err, const char *fmt, ...)
{
  static __typeof__ (archive_set_error) *fn;
  __typeof__ (archive_set_error) *f = __atomic_load_n (&fn, __ATOMIC_ACQUIRE);
  if (f == NULL)
    {
      f = (__typeof__ (archive_set_error) *)lazy_sym (LIBARCHIVE, &archive_handle,
                                                      "archive_set_error");
      __atomic_store_n (&fn, f, __ATOMIC_RELEASE);
    }
  char msg[1024];
  va_list ap;
  va_start (ap, fmt);
  vsnprintf (msg, sizeof msg, fmt, ap);
  va_end (ap);
  f (a, err, "%s", msg);
}

/* sha256 (lib/digest.c) */
CR (const EVP_MD *, EVP_sha256, (void), ())
CR (EVP_MD_CTX *, EVP_MD_CTX_new, (void), ())
CR_VOID (EVP_MD_CTX_free, (EVP_MD_CTX * c), (c))
CR (int, EVP_MD_CTX_copy_ex, (EVP_MD_CTX * o, const EVP_MD_CTX *i), (o, i))
CR (int, EVP_DigestInit_ex, (EVP_MD_CTX * c, const EVP_MD *t, ENGINE *e), (c, t, e))
CR (int, EVP_DigestUpdate, (EVP_MD_CTX * c, const void *d, size_t n), (c, d, n))
CR (int, EVP_DigestFinal_ex, (EVP_MD_CTX * c, unsigned char *md, unsigned int *s), (c, md, s))
CR (int, EVP_Digest,
    (const void *d, size_t n, unsigned char *md, unsigned int *s, const EVP_MD *t, ENGINE *e),
    (d, n, md, s, t, e))

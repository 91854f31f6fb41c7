/* Applying the entries of a layer tar to a directory, confined to it:
   every path is resolved with openat2(RESOLVE_IN_ROOT), so no entry, symlink
   or hard link of the layer can create or change anything outside. */
#ifndef DK_TARAPPLY_H
#define DK_TARAPPLY_H

#include <archive.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "error.h"

/* One range of a uid/gid map: container ids [container, container+size)
   become host ids [host, host+size) (Docker's --userns-remap ranges). */
struct dk_idmap
{
  uint32_t container, host, size;
};

/* Parses "C:H:N" and appends it to *maps (realloc'd). */
int dk_idmap_parse (const char *s, struct dk_idmap **maps, size_t *n, dk_err_t *err);
/* The host id of container id through the n maps (none: id itself); -1
   when no range holds it (lib/idmap.c). */
int dk_idmap_map (const struct dk_idmap *m, size_t n, int64_t id, uint32_t *out);

enum dk_whiteout_mode
{
  DK_WHITEOUT_OVERLAY, /* .wh.x -> 0/0 char device, .wh..wh..opq -> opaque xattr */
  DK_WHITEOUT_DELETE,  /* vfs: delete x, empty the directory */
};

struct dk_tarapply_opts
{
  enum dk_whiteout_mode whiteouts;
  const struct dk_idmap *uidmap;
  size_t n_uidmap;
  const struct dk_idmap *gidmap;
  size_t n_gidmap;
  /* called with the relative path of every regular file written with
     content from the tar (not sparse, not a hard link); may be NULL */
  void (*on_file) (void *data, const char *rel);
  void *on_file_data;
};

/* Reads every entry of a (tar format already configured) and applies it under
   rootfd.  *size receives the bytes of regular files, as Docker counts a
   layer's size. */
int dk_tar_apply (struct archive *a, int rootfd, const struct dk_tarapply_opts *o, uint64_t *size,
                  dk_err_t *err);

/* Confinement helpers (lib/tarpath.c). */

/* Removes name (recursively when a directory) inside dirfd without following
   symlinks or leaving dirfd. */
int dk_remove_at (int dirfd, const char *name, dk_err_t *err);

/* Lexical clean of a tar name to a relative path ("./a//b/" -> "a/b", "/" ->
   ""); NULL when ".." would leave the root. */
char *dk_tar_clean_path (const char *name);

/* openat2(rootfd, path, flags, RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS). */
int dk_openat_in_root (int rootfd, const char *path, int flags, mode_t mode);

#endif

/* dk-graph's store: layout and shared helpers (docs/store.md). */
#ifndef DK_GRAPH_STORE_H
#define DK_GRAPH_STORE_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#include "digest.h"
#include "error.h"
#include "json.h"
#include "tarapply.h"

/* A private directory under tmp/ for partial work, locked while it lives so
   that tmp cleanup of another process leaves it alone. */
struct tmpdir
{
  char *path;
  int lockfd;
};
struct store
{
  char *root;   /* --root */
  char *driver; /* "overlay2" or "vfs" */
  char *ddir;   /* ROOT/DRIVER: layers/, l/, containers/ */
  char *idir;   /* ROOT/image/DRIVER: content/, images/, repositories.json */
  char *tmp;    /* ROOT/tmp */
  int lockfd;   /* graph.lock while held */
  bool overlay;
  /* deleted layers are renamed in here; removed in the background when the
     store is closed (after the command's result) */
  struct tmpdir trash;
  /* --uidmap/--gidmap (--userns-remap): layers are unpacked shifted */
  struct dk_idmap *uidmap, *gidmap;
  size_t n_uidmap, n_gidmap;
};

int store_open (struct store *s, const char *root, const char *driver, dk_err_t *err);
void store_close (struct store *s);
/* Exclusive lock of the store's metadata (layers, images, references). */
int store_lock (struct store *s, dk_err_t *err);
void store_unlock (struct store *s);
/* Removes overlay2 short links whose layer is gone (a crash between the
   link and the layer's commit): prune does it, no other command needs it
   (a mount recreates missing links from meta.json). */
void store_clean_links (struct store *s);

int tmpdir_new (struct store *s, struct tmpdir *t, dk_err_t *err);
void tmpdir_done (struct tmpdir *t); /* removes what is left */
/* tmpdir_done in a child process: the caller returns at once (the child
   holds the directory's lock until it is gone; a crash leaves it to the next
   store_open). Mounts under the directory are detached first. */
void tmpdir_done_background (struct tmpdir *t);
/* Detaches every mount at or under dir, deepest first. */
void unmount_under (const char *dir);

/* Layers: ROOT/DRIVER/layers/<chain hex>/{diff,meta.json}. */
char *layer_dir (struct store *s, const char *chain_id);
bool layer_exists (struct store *s, const char *chain_id);
/* meta.json of the layer: {chain_id, parent, diff_id, digest, size, ...}. */
int layer_meta (struct store *s, const char *chain_id, jv *out, dk_err_t *err);
/* Calls fn for each layer from top down to the base, with its chain ID and
   meta.json (both borrowed; the meta is invalid when it cannot be read, and
   the walk ends there: an error with err, the end of the chain without).
   A negative return of fn ends the walk and is returned; a chain that
   comes back to a layer it passed ends it with -1 and an error. */
typedef int (*layer_walk_fn) (const char *chain, jv meta, void *data);
int layer_walk (struct store *s, const char *top, layer_walk_fn fn, void *data, dk_err_t *err);
/* Calls fn with the name and meta.json (borrowed) of each entry of the
   driver dir's sub ("layers", "containers"); entries without a readable
   meta.json are skipped. */
typedef void (*meta_walk_fn) (const char *name, jv meta, void *data);
void meta_walk (struct store *s, const char *sub, meta_walk_fn fn, void *data);
/* meta_walk over the containers: fn gets each container's ID. */
void container_walk (struct store *s, meta_walk_fn fn, void *data);
void chain_id_of (const char *parent, const char *diff_id, char out[DK_DIGEST_STR_LEN]);

/* Images and references. */
int image_load (struct store *s, const char *id, jv *config, jv *meta, dk_err_t *err);
jv image_ids (struct store *s); /* "sha256:<hex>" of each image in images/ */
/* {"<normalised ref>": "sha256:<id>"} */
int refs_load (struct store *s, jv *out, dk_err_t *err);
int refs_save (struct store *s, jv refs, dk_err_t *err); /* consumes refs */
/* REF, ID or short ID -> "sha256:<id>" (malloc'd); not_found "No such image: X". */
int image_resolve (struct store *s, const char *ref, char **id, dk_err_t *err);
/* Chain IDs of an image's layers, bottom first (jv array of strings). */
jv image_chain (jv config);
/* The same, from the image meta's "chain" when it has one (written by
   image-add: reading it spares loading libcrypto), else computed. */
jv image_chain_meta (jv config, jv meta);

/* RFC 3339 -> unix seconds (0 when unparsable). */
int64_t parse_time (const char *s);
char *now_rfc3339 (void);

/* Subcommands: argc/argv after the subcommand name, result on stdout. */
int cmd_layer_register (struct store *s, int argc, char **argv, dk_err_t *err);
int cmd_layer_exists (struct store *s, int argc, char **argv, dk_err_t *err);
int cmd_image_add (struct store *s, int argc, char **argv, dk_err_t *err);
int cmd_resolve (struct store *s, int argc, char **argv, dk_err_t *err);
int cmd_tag (struct store *s, int argc, char **argv, dk_err_t *err);
int cmd_untag (struct store *s, int argc, char **argv, dk_err_t *err);
int cmd_ls (struct store *s, int argc, char **argv, dk_err_t *err);
int cmd_inspect (struct store *s, int argc, char **argv, dk_err_t *err);
int cmd_history (struct store *s, int argc, char **argv, dk_err_t *err);
int cmd_rm (struct store *s, int argc, char **argv, dk_err_t *err);
int cmd_layer_diff (struct store *s, int argc, char **argv, dk_err_t *err);
int cmd_container_create (struct store *s, int argc, char **argv, dk_err_t *err);
int cmd_container_mount (struct store *s, int argc, char **argv, dk_err_t *err);
int cmd_container_unmount (struct store *s, int argc, char **argv, dk_err_t *err);
int cmd_container_changes (struct store *s, int argc, char **argv, dk_err_t *err);
int cmd_container_diff (struct store *s, int argc, char **argv, dk_err_t *err);
int cmd_container_rm (struct store *s, int argc, char **argv, dk_err_t *err);
int cmd_container_size (struct store *s, int argc, char **argv, dk_err_t *err);

jv result_obj (void);

/* Shared between the subcommands' files. */
jv image_summary (struct store *s, const char *id, jv config, jv meta, jv refs);
int64_t image_size (struct store *s, jv chain);
jv labels_of (jv config);
/* containers/ID: its meta.json and/or its directory; NOT_FOUND if absent */
int container_meta (struct store *s, const char *id, jv *meta, char **dir, dk_err_t *err);
/* vfs: a container's rootfs (in its dir) against its image's top layer */
int container_changes_vfs (struct store *s, const char *dir, const char *top, jv *changes,
                           dk_err_t *err);
jv refs_of (jv refs, const char *id);                 /* keys pointing at id */
jv untag_key (jv refs, const char *key, jv *records); /* appends {"Untagged"} */
/* Every image's config, parent and layer chain, which images have
   children, which a container uses and how many images and containers hold
   each layer (imageindex.c): read once by the commands that delete images. */
struct image_index
{
  jv images;   /* {"<id>": {"config", "parent" (or null), "chain"}} */
  jv children; /* {"<id>": images naming it as parent} */
  jv users;    /* {"<id>": the first container using it} */
  jv held;     /* {"<chain>": images and containers holding the layer} */
  jv kids;     /* {"<chain>": layers naming it as parent}; read when first asked */
};
void image_index_load (struct store *s, struct image_index *ix);
void image_index_free (struct image_index *ix);
jv image_index_ids (struct image_index *ix); /* sorted */
/* false when the image has no readable config */
bool image_index_config (struct image_index *ix, const char *id, jv *config);
char *image_index_parent (struct image_index *ix, const char *id); /* or NULL */
bool image_index_has_children (struct image_index *ix, const char *id);
char *image_index_user (struct image_index *ix, const char *id); /* or NULL */
bool image_index_holds (struct image_index *ix, const char *chain);
/* Whether a layer is the parent of another (every layer's meta.json read
   once, at the first question). */
bool image_index_layer_has_children (struct store *s, struct image_index *ix, const char *chain);
/* The layer is gone: its parent loses a child. */
void image_index_layer_gone (struct image_index *ix, const char *chain, const char *parent);
/* The image is gone: its parent loses a child, its layers a holder; returns
   its chain (bottom first). */
jv image_index_drop (struct image_index *ix, const char *id);
#define cleanup_image_index __attribute__ ((cleanup (image_index_free)))
/* Deletes the image and then its layers, top first, while nothing else
   holds them. */
int delete_image_layers (struct store *s, struct image_index *ix, const char *id, jv *records,
                         int64_t *reclaimed, dk_err_t *err);
int layer_delete (struct store *s, const char *chain, dk_err_t *err);
/* Removes each of chains (bottom first; tried top first, so a chain of them
   goes whole) that exists, that no image or container holds and that is no
   layer's parent; under the store lock (left held). */
int layers_release (struct store *s, char *const *chains, int n, jv *records, int64_t *reclaimed,
                    dk_err_t *err);
int prune_orphan_layers (struct store *s, struct image_index *ix, long min_age, jv *records,
                         int64_t *reclaimed, dk_err_t *err);
/* Stores config (raw bytes; its sha256 is the image ID), an optional
   manifest, and points the reference keys (borrowed jv array) at it. */
int image_add_raw (struct store *s, const char *raw, size_t len, const char *mraw, size_t mlen,
                   jv keys, char id[DK_DIGEST_STR_LEN], dk_err_t *err);
/* Normalised reference key of s; want_tag: a tag (not digest) reference. */
int parse_ref (const char *s, bool want_tag, char **key, dk_err_t *err);
/* Layers an import or a load needs until its image is added (holds.c):
   listed in the holds file of a locked tmp/ entry, as dk-pull lists a
   pull's, so that rm, prune and layer-release keep them.  A layer is added
   under the store lock while it exists: a release either removed it
   before or finds it held. */
struct holds
{
  struct tmpdir t;
  jv chains;
};
int holds_new (struct store *s, struct holds *h, dk_err_t *err);
int holds_add (struct holds *h, const char *chain, dk_err_t *err); /* under the store lock */
void holds_done (struct holds *h);                                 /* holds nothing any more */
#define cleanup_holds __attribute__ ((cleanup (holds_done)))
/* 1 when the layer exists (then added to h, when given), 0 when not;
   under the store lock (taken and dropped). */
int layer_exists_locked (struct store *s, const char *chain, struct holds *h, dk_err_t *err);
struct dk_unpack_opts;
/* Unpacks a layer blob from fd into the store (opts: expected digests);
 *result is the layer-register result object.  The layer, new or found,
   is added to h when given. */
int layer_register_fd (struct store *s, int fd, const char *parent,
                       const struct dk_unpack_opts *opts, long wait_secs, struct holds *h,
                       jv *result, dk_err_t *err);
/* Parent images (parents.c). */
char *image_parent (struct store *s, const char *id); /* meta "parent" or NULL */
jv image_parent_set (struct store *s);                /* {"<id>": true} of every parent */
int image_set_parent (struct store *s, const char *id, const char *parent, dk_err_t *err);
/* Deletes parent and its ancestors while they are untagged, unused and
   childless (moby's quiet prune after an image delete). refs borrowed. */
int prune_parents (struct store *s, struct image_index *ix, const char *parent, jv refs,
                   jv *records, int64_t *reclaimed, dk_err_t *err);
int cmd_prune (struct store *s, int argc, char **argv, dk_err_t *err);
int cmd_layer_release (struct store *s, int argc, char **argv, dk_err_t *err);
int cmd_du (struct store *s, int argc, char **argv, dk_err_t *err);
int cmd_save (struct store *s, int argc, char **argv, dk_err_t *err);
int cmd_load (struct store *s, int argc, char **argv, dk_err_t *err);
int cmd_import (struct store *s, int argc, char **argv, dk_err_t *err);

#endif

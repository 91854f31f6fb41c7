/* Creating a layer's small regular files from worker threads (used by
   lib/tarapply.c; docs/store.md, "Parallel file creation").

   Creating a file is the expensive step of a many-files layer (the kernel's
   inode allocation, done under the parent directory's lock), so files of
   different directories are created by different threads. Jobs are sharded
   by their parent directory: the files of one directory are created by one
   worker, in the order of the tar, so a name given twice still ends as the
   tar's last entry says. Whatever else the applier does in a directory
   waits for that directory's shard first (dk_filepool_wait). */
#ifndef DK_FILEPOOL_H
#define DK_FILEPOOL_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>
#include <time.h>

#include "error.h"

struct dk_fileattr
{
  char *name;
  void *value;
  size_t size;
};

struct dk_filejob
{
  int dirfd;  /* owned: closed when done */
  char *base; /* name in dirfd */
  char *rel;  /* for messages */
  void *data; /* the whole content */
  size_t size;
  uint32_t uid, gid;
  mode_t perm;
  struct dk_fileattr *xattrs;
  size_t n_xattrs;
  struct timespec ts[2];
};

void dk_filejob_free (struct dk_filejob *j);

struct dk_filepool;

/* NULL when threads cannot be started (the caller then does the work). */
struct dk_filepool *dk_filepool_new (int workers);
int dk_filepool_shard (struct dk_filepool *p, const char *dir, size_t len);
/* Takes the job (the pool frees it); blocks while too much is queued. */
void dk_filepool_submit (struct dk_filepool *p, int shard, struct dk_filejob *job);
struct archive;
struct archive_entry;
/* Reads the content of regular file e (not sparse, not a hard link) from a
   and queues its creation as dfd/base with these owner and mode, e's
   xattrs (but trusted.overlay.*) and times, as lib/tarapply.c would. */
int dk_filepool_submit_entry (struct dk_filepool *p, int shard, struct archive *a,
                              struct archive_entry *e, int dfd, const char *rel, const char *base,
                              uint32_t uid, uint32_t gid, mode_t perm, dk_err_t *err);
/* Waits until the shard (-1: every shard) has done everything queued;
   returns -1 with *err set once any job has failed. */
int dk_filepool_wait (struct dk_filepool *p, int shard, dk_err_t *err);
/* Waits for every job, stops the workers, frees the pool. */
void dk_filepool_free (struct dk_filepool *p);

#endif

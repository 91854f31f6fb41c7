/* Spawning a child tool with pipes and reading its JSON Lines (blocking
   helpers for the tools; dockerd uses libuv for the same). */
#ifndef DK_SPAWN_H
#define DK_SPAWN_H

#include <stdbool.h>
#include <sys/types.h>

#include "error.h"
#include "json.h"

struct dk_child
{
  pid_t pid;
  int stdin_fd;  /* -1 unless DK_SPAWN_STDIN */
  int stdout_fd; /* -1 unless DK_SPAWN_STDOUT */
  int stderr_fd; /* -1 unless DK_SPAWN_STDERR */
};

enum
{
  DK_SPAWN_STDIN = 1,   /* a pipe to the child's stdin */
  DK_SPAWN_STDOUT = 2,  /* a pipe from the child's stdout */
  DK_SPAWN_STDERR = 4,  /* a pipe from the child's stderr (else inherited) */
  DK_SPAWN_NULL_IN = 8, /* stdin from /dev/null */
};

/* argv[0] is looked up next to our own executable first, then on PATH.
   keep_fds: extra fds (terminated by -1) passed to the child at the same
   numbers; all others are closed. */
int dk_spawn (char *const argv[], int flags, const int *keep_fds, struct dk_child *child,
              dk_err_t *err);
/* Waits; returns the exit status (0-255, 128+signal when killed). */
int dk_child_wait (struct dk_child *child, dk_err_t *err);
/* Closes the fds left open. */
void dk_child_close (struct dk_child *child);
/* Full path of a sibling tool: our own directory (or $DK_LIBEXEC), else
   argv0 unchanged for execvp. malloc'd. */
char *dk_tool_path (const char *name);

/* Runs a tool to completion: stdin from in_fd (or /dev/null when -1);
   calls on_line for every progress object (may be NULL) and returns the final
   object in *result.  A final error object becomes *err (its code and
   message), as does a non-zero exit without one. */
typedef void (*dk_line_cb) (jv line, void *data); /* line borrowed */
int dk_run_tool (char *const argv[], int in_fd, dk_line_cb on_line, void *data, jv *result,
                 dk_err_t *err);

#endif

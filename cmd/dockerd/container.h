/* dockerd's container object model (state.c) and the shim client
   (shimc.c) used by start, attach, wait and kill. */
#ifndef DOCKERD_CONTAINER_H
#define DOCKERD_CONTAINER_H

#include "dockerd.h"

enum cstate
{
  C_CREATED,
  C_RUNNING,
  C_PAUSED,
  C_RESTARTING,
  C_REMOVING,
  C_EXITED,
  C_DEAD
};

enum wait_cond
{
  W_NOT_RUNNING,
  W_NEXT_EXIT,
  W_REMOVED
};

struct waiter
{
  struct http_req *req;
  struct container *c;
  enum wait_cond cond;
  struct waiter *next;
};

struct attach;
struct shimc;

struct container
{
  char id[65];
  jv doc; /* persisted document: see docs/dockerd-state.md */
  enum cstate state;
  struct waiter *waiters;
  struct attach *attaches; /* attach clients (pending until the shim exists) */
  struct shimc *waitconn;  /* {"op":"wait"} held open on the shim socket */
  bool starting, stopping, removing;
  bool cleaning;                /* unmount/disconnect after an exit under way */
  struct http_req *start_after; /* a start that waits for that cleanup */
  struct http_req *rm_after;    /* a remove that waits for it */
  int start_gen;
  char *premounted; /* rootfs mounted by container-create --mount, for the first start */
  /* an exit reported by the shim before its answer to `start` (a command
     that ends at once): applied once the start is answered */
  bool early_exit;
  jv early_status;
  struct container *next;
};

extern struct container *containers;

const char *cstate_name (enum cstate s);
char *container_dir (struct container *c);
char *container_path (struct container *c, const char *name);
char *container_exec_dir (struct container *c);
const char *container_name (struct container *c); /* "/name" */
jv container_create_body (struct container *c);   /* new ref */
jv container_hostconfig (struct container *c);    /* new ref, object */
jv log_config_of (jv hc); /* new ref: {Type, Config}, merged with the daemon's as moby */
bool container_tty (struct container *c);
int container_save (struct container *c, dk_err_t *err);
struct container *container_find (const char *ref);
struct container *container_find_name (const char *name);
struct container *container_new (const char *id, jv doc);
void container_unlink (struct container *c);
void container_free (struct container *c);
void container_set_state_field (struct container *c, const char *key, jv v);
void container_transition (struct container *c, enum cstate to, const char *action, jv extra);
void container_event (struct container *c, const char *action, jv extra);
/* the list (summaries with "Id") with SizeRw and SizeRootFs added, to cb
   (at once or after dk-graph container-size); list is consumed */
typedef void (*sizes_cb) (struct http_req *req, jv list, void *ud);
void containers_with_sizes (struct http_req *req, jv list, sizes_cb cb, void *ud);
jv container_summary (struct container *c); /* an entry of GET /containers/json */
/* ps_filters.c: filters that read the inspect document */
struct ps_bounds
{
  const char *before, *since; /* Created of the named containers, or NULL */
};
int ps_filters_prepare (jv filters, struct ps_bounds *b, dk_err_t *err);
bool ps_filters_match (jv filters, const struct ps_bounds *b, struct container *c, jv insp);
void container_counts (int64_t *total, int64_t *running, int64_t *paused, int64_t *stopped);
char *container_random_name (void);
void containers_load (void);
/* lifecycle.c: removes the layer and directories of a container without a record */
void container_discard (const char *id);

/* create_check.c: the JSON kinds of a create body's fields; *body normalized */
int container_create_check (jv *body, dk_err_t *err);

/* start.c */
void container_start (struct container *c, struct http_req *req);
void container_exited (struct container *c, jv status);
void container_remove (struct container *c, bool volumes, void (*done) (struct container *, void *),
                       void *ud);
/* lifecycle.c: the end of a removal once the layer is gone; a reply of 204 */
void container_remove_finish (struct container *c, void (*done) (struct container *, void *),
                              void *ud);
void container_rm_reply (struct container *c, void *ud);
void containers_restore (void);
void container_kill (struct container *c, int sig, dk_err_t *err);
void waiters_notify (struct container *c, bool removed);
/* deadshim.c: the shim went away without an exit status */
void container_shim_died (struct container *c);

/* attach.c */
void attach_connect_pending (struct container *c, void (*done) (struct container *c, void *ud),
                             void *ud);
void attach_close_all (struct container *c);

/* shimc.c: one request on the shim socket, then optionally a stream */
typedef void (*shimc_reply_cb) (struct shimc *s, jv reply, void *ud); /* reply borrowed; invalid on
                                                                         connection failure */
typedef void (*shimc_data_cb) (struct shimc *s, const char *data, ssize_t n, void *ud);
struct shimc *shimc_request (const char *sock_path, jv request, shimc_reply_cb on_reply,
                             shimc_data_cb on_data, void *ud);
void shimc_write (struct shimc *s, const void *data, size_t len);
void shimc_shutdown (struct shimc *s);
void shimc_close (struct shimc *s); /* no more callbacks */
/* no more callbacks; what was written is sent (a half-close), then closed */
void shimc_finish (struct shimc *s);
char *shim_sock (struct container *c);

/* signals by name or number */
int signal_parse (const char *s);

#endif

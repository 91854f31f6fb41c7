/* dockerd: shared types of the daemon's files (server, HTTP, router,
   handlers, jobs). One libuv loop runs everything. */
#ifndef DOCKERD_H
#define DOCKERD_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>
#include <uv.h>
#include <http_parser.h>

#include "atomicfile.h"
#include "buf.h"
#include "error.h"
#include "json.h"

#define API_VERSION_MAX "1.44"
#define API_VERSION_MIN "1.24"
#define API_MAX_MINOR 44
#define API_MIN_MINOR 24
#define SERVER_VERSION "28.0.0-dk" DK_VERSION

/* ---- config.c ---- */
struct dk_config
{
  jv flags;  /* daemon.json keys set by command-line flags */
  jv file;   /* daemon.json as read */
  jv merged; /* file + flags */
  char *config_file;
  bool config_file_given;
};

/* Parses argv; returns 0, 1 when --help/--version was handled, -1 on error. */
int config_parse_args (struct dk_config *cfg, int argc, char **argv, dk_err_t *err);
/* Reads the file and merges; refuses conflicts and unknown keys. */
int config_load_file (struct dk_config *cfg, dk_err_t *err);
/* Re-reads the file; on success *changed lists reloadable keys that changed. */
int config_reload (struct dk_config *cfg, jv *changed, dk_err_t *err);
void config_free (struct dk_config *cfg);
const char *cfg_str (const char *key); /* value or the table's default; NULL if none */
bool cfg_bool (const char *key);
int64_t cfg_int (const char *key);
jv cfg_get (const char *key);  /* new reference; jv_null() when unset */
jv cfg_list (const char *key); /* array (empty when unset) */
void config_usage (void);

/* ---- http.c ---- */
struct http_conn;
struct http_req;
typedef void (*http_handler) (struct http_req *req);
typedef void (*http_abort_cb) (struct http_req *req, void *data);
/* data==NULL, n<0: the peer half-closed (EOF) */
typedef void (*hijack_data_cb) (struct http_req *req, const char *data, ssize_t n, void *ud);

struct http_hdr
{
  char *name;
  char *value;
};

struct http_req
{
  struct http_conn *conn; /* NULL once the connection is gone */
  int refs;
  enum http_method method;
  char *url, *path, *query;
  struct http_hdr *hdrs;
  int nhdrs;
  struct dk_buf body;
  int api_minor; /* negotiated API version 1.<api_minor> */
  char *params[4];
  int nparams;
  bool keep_alive, upgrade;
  int state; /* 0 nothing sent, 1 chunked stream, 2 done, 3 hijacked */
  http_abort_cb on_abort;
  void *abort_data;
  hijack_data_cb on_data; /* hijacked stream input */
  void *data_ud;
  /* routes that stream their request body (router_streams_body): the handler
     runs at the end of the headers and sets on_body; n < 0 is the end */
  bool body_streamed, body_done;
  hijack_data_cb on_body;
  void *body_ud;
};

void http_conn_accept (uv_stream_t *server, bool tls);
const char *http_header (struct http_req *req, const char *name);
/* Decoded query parameter (malloc'd) or NULL. */
char *http_query (struct http_req *req, const char *key);
/* every value of a repeated key, decoded; NULL-terminated, all malloc'd */
char **http_query_all (struct http_req *req, const char *key);
/* Docker's boolean query values: "1", "true", "True" ...; def when absent. */
bool http_query_bool (struct http_req *req, const char *key, bool def);
void http_respond (struct http_req *req, int status, const char *ctype, const char *body,
                   size_t len);
void http_respond_ex (struct http_req *req, int status, const char *ctype, const char *extra,
                      const char *body, size_t len);
void http_respond_json (struct http_req *req, int status, jv v); /* consumes v */
void http_respond_empty (struct http_req *req, int status);
void http_error (struct http_req *req, int status, const char *fmt, ...)
    __attribute__ ((format (printf, 3, 4)));
/* Error from a dk_err_t, status from its code. */
void http_error_err (struct http_req *req, dk_err_t err);
int http_status_for_code (const char *code);
/* Chunked streaming response; headers are sent at once. */
void http_stream_begin (struct http_req *req, int status, const char *ctype);
void http_stream_write (struct http_req *req, const void *data, size_t len);
void http_stream_json (struct http_req *req, jv v); /* consumes v; one object + "\n" */
void http_stream_end (struct http_req *req);
/* 101 UPGRADED, then raw bytes both ways. */
void http_hijack (struct http_req *req, const char *ctype, hijack_data_cb cb, void *ud);
void http_raw_write (struct http_req *req, const void *data, size_t len);
/* Ends a hijacked stream: half-close (shutdown) then close. */
void http_hijack_end (struct http_req *req);
/* Bytes queued on the connection and not yet written (backpressure). */
size_t http_write_queue (struct http_req *req);
void http_req_unref (struct http_req *req);
/* Backpressure on a streamed request body. */
void http_body_pause (struct http_req *req, bool pause);

/* ---- tls.c ---- */
struct tls_conn;
int tls_init (dk_err_t *err);
struct tls_conn *tls_conn_new (void);
void tls_conn_free (struct tls_conn *t);
int tls_feed (struct tls_conn *t, const char *data, size_t n, struct dk_buf *plain,
              struct dk_buf *out);
int tls_encrypt (struct tls_conn *t, const void *data, size_t n, struct dk_buf *out);
void tls_close_notify (struct tls_conn *t, struct dk_buf *out);

/* ---- router.c ---- */
void router_dispatch (struct http_req *req);
bool router_streams_body (struct http_req *req);

/* ---- server.c ---- */
int server_listen (uv_loop_t *loop, jv hosts, dk_err_t *err);
void server_close (void);

/* ---- jobs.c: child tools on the loop ---- */
struct job;
typedef void (*job_line_cb) (struct job *j, jv line, void *ud); /* line borrowed */
/* result: the final object (borrowed) or an error object; status: exit status */
typedef void (*job_done_cb) (struct job *j, jv result, int status, void *ud);
typedef void (*job_raw_cb) (struct job *j, const char *data, ssize_t n, void *ud);
struct job_opts
{
  job_line_cb on_line;
  job_done_cb on_done;
  job_raw_cb on_raw; /* stdout is raw bytes, not JSON lines */
  void *ud;
  bool want_stdin;  /* a pipe to the child's stdin (job_write / job_close_stdin) */
  bool early_final; /* the first final object ends the job for the caller (a daemonizing
                       tool may keep its stdout open) */
  void (*on_drain) (struct job *j, void *ud); /* stdin queue fell under 1 MiB */
  const char *stdin_data;                     /* written then closed (copied) */
  size_t stdin_len;
};
/* argv[0] is a tool name (dk-graph) looked up next to dockerd. */
struct job *job_start (const char *const *argv, const struct job_opts *o, dk_err_t *err);
void job_write (struct job *j, const void *data, size_t len);
void job_close_stdin (struct job *j);
size_t job_stdin_queue (struct job *j);
void job_kill (struct job *j, int sig);
/* Detaches the callbacks (the caller goes away); the job finishes on its own. */
void job_detach (struct job *j);
char *tool_path (const char *name);
/* argv for dk-graph with the daemon's root and driver, then tail (any
   length); the array is reused by the next call (job_start copies it), the
   strings are borrowed. */
const char **graph_argv (const char *const *tail);

/* ---- toolserver.c: warm fork servers for hot tools (docs/toolserver.md) ---- */
typedef void (*tsrv_started_cb) (void *ud, int pid);
typedef void (*tsrv_exit_cb) (void *ud, int status); /* -1: the server was lost */
/* Runs argv (argv[0] = path) with fds as its stdin, stdout and stderr
   through the tool's server: 0 when sent (the fds may be closed), -1 when
   the tool is not served or its server cannot be reached. */
/* Whether jobs of this tool go to its server (not turned off, not failed). */
bool toolserver_serves (const char *name);
int toolserver_run (const char *name, const char *path, char *const *argv, const int fds[3],
                    tsrv_started_cb started, tsrv_exit_cb ended, void *ud);

/* ---- daemon-wide state ---- */
struct daemon
{
  uv_loop_t *loop;
  struct dk_config cfg;
  char *data_root, *exec_root, *bin_dir, *driver;
  char *id;
  time_t started;
  bool shutting_down;
};
extern struct daemon D;

/* ---- handlers ---- */
void h_ping (struct http_req *req);
void h_version (struct http_req *req);
void h_info (struct http_req *req);
void h_events (struct http_req *req);
void h_system_df (struct http_req *req);
void h_auth (struct http_req *req);
int events_listeners (void);
void events_emit (const char *type, const char *action, const char *id, jv attrs);

void h_containers_list (struct http_req *req);
void h_container_create (struct http_req *req);
void h_container_inspect (struct http_req *req);
void h_container_start (struct http_req *req);
void h_container_wait (struct http_req *req);
void h_container_attach (struct http_req *req);
void h_container_kill (struct http_req *req);
void h_container_stop (struct http_req *req);
void h_container_resize (struct http_req *req);
void h_container_logs (struct http_req *req);
void h_container_delete (struct http_req *req);

void h_images_create (struct http_req *req);
void h_images_list (struct http_req *req);
void h_image_inspect (struct http_req *req);
void h_image_history (struct http_req *req);
void h_image_tag (struct http_req *req);
void h_image_delete (struct http_req *req);
void h_images_prune (struct http_req *req);
void h_image_get (struct http_req *req);
void h_images_get (struct http_req *req);
void h_images_load (struct http_req *req);
void h_image_push (struct http_req *req);
void h_images_search (struct http_req *req);
/* image inspect results kept for create, dropped when any image changes */
jv image_cache_get (const char *ref);             /* new ref or invalid */
void image_cache_put (const char *ref, jv image); /* image borrowed */
void image_cache_clear (void);

/* helpers (util.c) */
char *url_decode (const char *s, size_t n);
/* Docker filters JSON ({"k":{"v":true}} or {"k":["v"]}) -> {"k":["v",..]} */
int parse_filters (const char *s, jv *out, dk_err_t *err);
int filters_check_keys (jv filters, const char *const *known, const char *const *later,
                        dk_err_t *err);
/* An integer query value into *v (untouched when absent); false after a
   400 answer when it is not one. */
bool http_query_int (struct http_req *req, const char *key, long long *v);
char *now_rfc3339 (void);
char *rand_hex (int nbytes);
int64_t dir_count (const char *path);

#endif

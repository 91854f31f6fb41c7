/* dk-shim: one container's monitor.  A single-threaded poll(2) loop over
   the container's stdio, the shim socket's clients, exec'd processes and a
   signalfd for SIGCHLD.  See docs/shim.md and docs/shim-protocol.md. */
#ifndef DK_SHIM_H
#define DK_SHIM_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include "buf.h"
#include "error.h"
#include "json.h"
#include "jsonlog.h"

struct shim_opts
{
  const char *id;
  char *bundle; /* absolute */
  char *dir;    /* absolute; the shim's cwd once started */
  const char *runtime;
  const char *runtime_root;
  const char **runtime_args;
  int n_runtime_args;
  char *log_path; /* absolute, NULL with --log-driver none */
  int64_t log_max_size;
  int log_max_file;
  bool terminal, open_stdin, stdin_once, start;
  int notify_fd;
  bool foreground; /* --foreground: no daemonizing (debugging, tests) */
};

struct client;

struct proc
{
  char *exec_id; /* NULL for the container itself */
  pid_t pid;
  bool tty;
  int master; /* pty master, -1 without a tty */
  int in_fd;  /* our end of the stdin pipe (or the master), -1 when none */
  int out_fd; /* our end of stdout (or the master) */
  int err_fd;
  struct dk_buf inbuf; /* stdin bytes not yet written */
  bool close_in;       /* close stdin once inbuf is written */
  bool exited;
  int exit_code;
  int64_t exited_at;
  struct client *client; /* an exec's stream */
  bool finished;         /* exit handled (exec: control frame sent) */
  struct proc *next;
};

enum client_kind
{
  C_REQUEST, /* reading the request line */
  C_ATTACH,
  C_EXEC,
  C_WAIT,
  C_DONE, /* answer queued; closed once written */
};

struct client
{
  int fd;
  enum client_kind kind;
  struct dk_buf in;
  struct dk_buf out;
  bool want_out, want_err, want_in;
  bool in_closed;
  bool exit_fetch; /* out holds the exited status */
  struct proc *proc;
  struct client *next;
};

enum ctr_status
{
  ST_CREATED,
  ST_RUNNING,
  ST_EXITED,
};

struct shim
{
  struct shim_opts *o;
  int listen_fd;
  int sig_fd;
  int console_fd; /* listening socket for the runtime's --console-socket */
  struct proc ctr;
  struct proc *execs;
  int n_execs;
  struct client *clients;
  struct dk_jsonlog_writer *log;
  enum ctr_status status;
  int64_t started_at, finished_at;
  bool oom_killed;
  char *oom_file; /* memory.oom_control (v1) or memory.events (v2) */
  int64_t oom_base;
  bool exit_fetched, release;
  unsigned exec_seq;
};

/* daemon.c */
int shim_main (struct shim *s, int *report_fd);
int shim_daemonize (struct shim_opts *o, int *report_fd, dk_err_t *err);
void shim_report (struct shim *s, int *report_fd, jv msg);
int shim_listen (struct shim *s, dk_err_t *err);
void shim_cleanup_files (struct shim *s, bool all);
int shim_write_exit (struct shim *s, dk_err_t *err);

/* runtime.c */
const char *dk_shim_default_runtime (void);
/* Runs RUNTIME [globals] args... with the given stdio (-1: /dev/null for
   stdin, a capture pipe for stdout/stderr).  With want_console, accepts the
   pty master on the console socket into *master.  On a non-zero exit
   *err holds the runtime's message. */
int rt_run (struct shim *s, const char *const *args, int in, int out, int errfd, int err_read,
            int *master, dk_err_t *err);
int rt_console_open (struct shim *s, dk_err_t *err);
void rt_console_close (struct shim *s);
/* A clear message from what the runtime printed, for *err. */
int rt_error (dk_err_t *err, const char *what, int status, const char *output);
int rt_read_pid (const char *file, pid_t *pid, dk_err_t *err);
int shim_create (struct shim *s, dk_err_t *err);
int shim_start (struct shim *s, dk_err_t *err);
int shim_kill (struct shim *s, int sig, bool all, dk_err_t *err);
void shim_delete (struct shim *s);
int shim_exec (struct shim *s, const char *exec_id, jv process, bool detach, bool want_in,
               struct proc **out, dk_err_t *err);
void shim_oom_setup (struct shim *s);
bool shim_oom_check (struct shim *s);

/* loop.c */
int shim_loop (struct shim *s);
void proc_close_fds (struct proc *p);
/* Closes stdin once what is queued for it is written. */
void proc_request_close_in (struct proc *p);
/* Writes queued stdin; closes it when asked and drained. */
void proc_write_stdin (struct proc *p);

/* clients.c */
void client_send_line (struct client *c, jv msg);
void client_send_error (struct client *c, dk_err_t err);
void client_drop (struct client *c);
void client_flush (struct shim *s, struct client *c);
/* Queues a stdcopy frame; drops a client that lets too much queue up. */
void client_frame (struct shim *s, struct client *c, int stream, const char *data, size_t len);
/* The client half-closed (or left): its stdin ends. */
void client_stdin_eof (struct shim *s, struct client *c);
void read_client (struct shim *s, struct client *c);
void accept_clients (struct shim *s);
/* Frees the clients that were dropped. */
void sweep_clients (struct shim *s);
jv shim_status_json (struct shim *s);
struct proc *shim_find_exec (struct shim *s, const char *exec_id);
void shim_finish_if_exited (struct shim *s);

/* trim.c */
void shim_trim_memory (void);

/* client.c */
int shim_ctl_main (int argc, char **argv);

/* requests.c */
void shim_handle_request (struct shim *s, struct client *c, const char *line, size_t len);

#endif

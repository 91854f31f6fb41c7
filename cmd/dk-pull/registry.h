/* The registry v2 client of dk-pull: endpoints (TLS, insecure registries,
   certs.d, mirrors), authentication (anonymous, Basic, Bearer tokens per
   scope), requests with retries, and the errors a user needs to read. */
#ifndef DK_PULL_REGISTRY_H
#define DK_PULL_REGISTRY_H

#include <curl/curl.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>

#include "buf.h"
#include "error.h"
#include "json.h"

/* Largest manifest or config we accept (Docker's limit for manifests). */
#define REG_MAX_MANIFEST (4 * 1024 * 1024)

/* A Retry-After longer than this (seconds) is not waited for: the request
   fails at once with the registry's answer. */
#define REG_RETRY_AFTER_MAX 30

struct reg_opts
{
  char **insecure; /* "host:port", "host" or CIDR; NULL-terminated */
  char **mirrors;  /* URLs tried first for docker.io; NULL-terminated */
  const char *certs_dir;
  const char *auth_text; /* Docker auth config (JSON, base64url or a config file), or NULL */
  long limit_rate;       /* bytes/s per transfer, 0 = unlimited (tests) */
  int retries;
};

struct reg_token
{
  char *scope;
  char *token;
};

struct reg_client
{
  char *host; /* "127.0.0.1:5000" as written in the reference */
  char *base; /* "https://host" (or http) once pinged */
  bool insecure;
  bool is_mirror;
  char *certs_dir;
  char *no_proxy;
  char *ca_file;
  char *client_cert;
  char *client_key;
  char *username;
  char *password;
  char *identity_token;
  char *registry_token;
  long limit_rate;
  int retries;

  pthread_mutex_t lock;
  bool pinging;
  int auth_scheme; /* 0 none, 1 basic, 2 bearer */
  char *realm;
  char *service;
  struct reg_token *tokens;
  size_t n_tokens;
};

/* A response: status and (when no sink was given) the body. */
struct reg_resp
{
  long status;
  struct dk_buf body;
  char *content_type;
  char *docker_digest;
  char *location;
  char *www_auth;
  char *reason;        /* the status line's reason phrase, or NULL */
  char *range;         /* Range header of an upload's status: "0-N" */
  int64_t retry_after; /* seconds of a Retry-After header, -1 without */
  int64_t content_length;
};

void reg_resp_free (struct reg_resp *r);

/* Where a streamed body goes; returns the number of bytes taken (less = abort). */
typedef size_t (*reg_sink) (const char *data, size_t len, long status, void *ud);

/* Creates a client for host (the registry to contact, e.g.
   "registry-1.docker.io" or a mirror URL when mirror_url is set) and pings
   /v2/, choosing https or http as Docker does. */
int reg_client_open (const char *host, const char *mirror_url, const struct reg_opts *o,
                     struct reg_client **out, dk_err_t *err);
void reg_client_free (struct reg_client *c);

struct reg_req
{
  const char *method; /* "GET" by default */
  const char *path;   /* "/v2/..." or an absolute URL (upload locations) */
  const char *scope;  /* "repository:x:pull" */
  const char *const *headers;
  const void *body;
  size_t body_len;
  bool has_body;
  reg_sink sink; /* with a 2xx status the body streams there */
  void *sink_ud;
  int64_t range_from; /* > 0: "Range: bytes=N-" */
  size_t max_body;    /* for buffered bodies; 0 = REG_MAX_MANIFEST */
  bool no_retry;
  /* bytes of the body sent so far (uploads) */
  void (*on_upload) (int64_t sent, int64_t total, void *ud);
  void *upload_ud;
};

/* One request, authenticated (a 401 fetches a token and retries once),
   retried with backoff on connection errors, 429 and 5xx (when no byte was
   streamed yet).  Returns 0 with resp filled for any HTTP status; the
   caller judges the status.  Transport failures are errors. */
int reg_do (struct reg_client *c, const struct reg_req *req, struct reg_resp *resp, dk_err_t *err);

/* The error of a failed response, in Docker's words.  what: "pull" or
   "push"; name: the familiar repository name; ref: familiar reference. */
int reg_status_error (const struct reg_resp *resp, const char *what, const char *name,
                      const char *ref, dk_err_t *err);

/* Decodes Docker's auth config: a JSON object, or its base64url encoding
   (X-Registry-Auth), or a config file with "auths" (the entry for host). */
int reg_auth_decode (const char *text, const char *host, jv *out, dk_err_t *err);

/* Whether host (host[:port]) is insecure: 127.0.0.0/8, ::1 or listed. */
bool reg_host_insecure (const char *host, char *const *insecure);

/* Backoff sleep before attempt n (1-based). */
void reg_backoff (int attempt);
long reg_backoff_ms (int attempt);

/* "Service Unavailable" for 503 (Go's http.StatusText), "" if unknown. */
const char *reg_status_text (long status);

#endif

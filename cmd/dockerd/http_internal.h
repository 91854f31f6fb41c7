/* What http.c (connections, parsing) and http_response.c (answers,
   streams, hijack) share. */
#ifndef DOCKERD_HTTP_INTERNAL_H
#define DOCKERD_HTTP_INTERNAL_H

#include "dockerd.h"

#define MAX_HEADER_BYTES (1 << 20)
#define MAX_BODY_BYTES ((size_t)64 << 20)

struct http_conn
{
  union
  {
    uv_handle_t handle;
    uv_stream_t stream;
    uv_tcp_t tcp;
    uv_pipe_t pipe;
  } h;
  http_parser parser;
  struct dk_buf in; /* received, not yet parsed */
  struct http_req *cur;
  struct dk_buf hname; /* header name being read */
  bool in_value;
  bool busy;    /* a request is being answered */
  bool closing; /* close once writes are done */
  bool hijacked;
  bool eof;
  size_t header_bytes;
  size_t queued;
  struct tls_conn *tls;
  bool dispatch_pending; /* a request is ready for its handler */
  bool streaming;        /* its body is being handed to the handler as it comes */
};

void conn_write (struct http_conn *c, const void *data, size_t len);
void raw_write (struct http_conn *c, const void *data, size_t len);
void conn_close (struct http_conn *c);
void req_finish (struct http_req *r);
const char *status_text (int s);

#endif

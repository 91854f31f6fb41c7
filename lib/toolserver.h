/* A warm fork server for a tool (docs/toolserver.md): `dk-X serve` reads
   requests from a SOCK_SEQPACKET socket on its stdin, and runs each one as
   a forked copy of itself, with the caller's three fds as stdin, stdout
   and stderr and the request's argv, exactly as if the caller had started
   `dk-X ARGS...`, without paying for exec and the dynamic loader.

   Request (one datagram, three fds in SCM_RIGHTS):
     {"id":N,"argv":["dk-X","--opt",...]}
   Replies (one datagram each):
     {"type":"started","id":N,"pid":P}
     {"type":"exit","id":N,"pid":P,"status":S}   S: 0-255, or 128+signal
     {"type":"error","id":N,"message":"..."}      the request was not run */
#ifndef DK_TOOLSERVER_H
#define DK_TOOLSERVER_H

typedef int (*dk_tool_main) (int argc, char **argv);

/* Serves requests on ctl until the other end closes it; returns the exit
   status for the server itself (0, or 1 when ctl is not a seqpacket
   socket, with the tool contract's error object on stdout).  server_argv: main's argv, whose memory
   each child overwrites with its own command line for ps. */
int dk_toolserver_run (int ctl, char **server_argv, dk_tool_main tool_main);

/* The largest request datagram accepted. */
#define DK_TOOLSERVER_MAX (256 * 1024)

#endif

/* Passing fds over a unix socket (SCM_RIGHTS): one message, its fds. */
#ifndef DK_FDPASS_H
#define DK_FDPASS_H

#include <sys/types.h>

#define DK_FDS_MAX 8

/* Sends len bytes with nfds (at most DK_FDS_MAX) fds attached; flags as
   sendmsg's (MSG_NOSIGNAL is added).  sendmsg's result; EINVAL for too
   many fds. */
ssize_t dk_send_fds (int sock, const void *data, size_t len, const int *fds, int nfds, int flags);

/* Receives one message into buf and its fds (close-on-exec) into fds: at
   most max (<= DK_FDS_MAX) are kept, in order, the others closed; *nfds
   says how many.  *mflags (when not NULL) gets the message's flags
   (MSG_TRUNC; MSG_CTRUNC also when fds beyond max were closed).
   recvmsg's result. */
ssize_t dk_recv_fds (int sock, void *buf, size_t len, int *fds, int max, int *nfds, int *mflags);

#endif

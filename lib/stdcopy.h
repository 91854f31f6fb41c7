/* Docker's stdcopy framing for attach/exec/log streams without a tty:
   an 8-byte header [STREAM, 0, 0, 0, SIZE as uint32 big-endian], then SIZE
   bytes.  STREAM 0 stdin, 1 stdout, 2 stderr, 3 a control message (dk-shim
   sends a JSON object there, see docs/shim-protocol.md). */
#ifndef DK_STDCOPY_H
#define DK_STDCOPY_H

#include <stddef.h>
#include <stdint.h>

#include "buf.h"
#include "error.h"

#define DK_STDCOPY_HEADER_LEN 8

enum
{
  DK_STDCOPY_STDIN = 0,
  DK_STDCOPY_STDOUT = 1,
  DK_STDCOPY_STDERR = 2,
  DK_STDCOPY_SYSTEM = 3,
};

void dk_stdcopy_header (unsigned char hdr[DK_STDCOPY_HEADER_LEN], int stream, uint32_t len);
/* Appends one frame (header + data) to b. */
void dk_stdcopy_frame (struct dk_buf *b, int stream, const void *data, size_t len);

/* Incremental decoder: feed any chunks, the callback gets each payload
   piece with its stream (a frame may arrive in several pieces; end_of_frame
   tells when one is complete). */
typedef void (*dk_stdcopy_cb) (int stream, const char *data, size_t len, int end_of_frame,
                               void *arg);
struct dk_stdcopy_decoder
{
  unsigned char hdr[DK_STDCOPY_HEADER_LEN];
  size_t hdr_len;
  uint32_t remaining;
  int stream;
};
#define DK_STDCOPY_DECODER_INIT                                                                    \
  {                                                                                                \
    { 0 }, 0, 0, -1                                                                                \
  }
/* Returns 0, or -1 with *err on a header that is not a stdcopy header. */
int dk_stdcopy_decode (struct dk_stdcopy_decoder *d, const char *data, size_t len, dk_stdcopy_cb cb,
                       void *arg, dk_err_t *err);

#endif

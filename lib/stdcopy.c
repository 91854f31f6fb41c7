#include "stdcopy.h"

void
dk_stdcopy_header (unsigned char hdr[DK_STDCOPY_HEADER_LEN], int stream, uint32_t len)
{
  hdr[0] = (unsigned char)stream;
  hdr[1] = hdr[2] = hdr[3] = 0;
  hdr[4] = (unsigned char)(len >> 24);
  hdr[5] = (unsigned char)(len >> 16);
  hdr[6] = (unsigned char)(len >> 8);
  hdr[7] = (unsigned char)len;
}

void
dk_stdcopy_frame (struct dk_buf *b, int stream, const void *data, size_t len)
{
  unsigned char hdr[DK_STDCOPY_HEADER_LEN];
  dk_stdcopy_header (hdr, stream, (uint32_t)len);
  dk_buf_add (b, hdr, sizeof hdr);
  dk_buf_add (b, data, len);
}

int
dk_stdcopy_decode (struct dk_stdcopy_decoder *d, const char *data, size_t len, dk_stdcopy_cb cb,
                   void *arg, dk_err_t *err)
{
  while (len > 0)
    {
      if (d->stream < 0)
        {
          size_t take = DK_STDCOPY_HEADER_LEN - d->hdr_len;
          if (take > len)
            take = len;
          for (size_t i = 0; i < take; i++)
            d->hdr[d->hdr_len + i] = (unsigned char)data[i];
          d->hdr_len += take;
          data += take;
          len -= take;
          if (d->hdr_len < DK_STDCOPY_HEADER_LEN)
            return 0;
          if (d->hdr[0] > DK_STDCOPY_SYSTEM || d->hdr[1] || d->hdr[2] || d->hdr[3])
            return dk_make_error_code (err, DK_ECODE_INVALID, 0,
                                       "stdcopy: bad frame header (stream byte %u)",
                                       (unsigned)d->hdr[0]);
          d->stream = d->hdr[0];
          d->remaining = ((uint32_t)d->hdr[4] << 24) | ((uint32_t)d->hdr[5] << 16)
                         | ((uint32_t)d->hdr[6] << 8) | (uint32_t)d->hdr[7];
          d->hdr_len = 0;
          if (d->remaining == 0)
            {
              cb (d->stream, data, 0, 1, arg);
              d->stream = -1;
            }
          continue;
        }
      size_t take = d->remaining < len ? d->remaining : len;
      d->remaining -= (uint32_t)take;
      cb (d->stream, data, take, d->remaining == 0, arg);
      data += take;
      len -= take;
      if (d->remaining == 0)
        d->stream = -1;
    }
  return 0;
}

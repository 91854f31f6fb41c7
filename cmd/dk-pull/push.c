#include "push.h"

int
push_image (const struct push_opts *o, const char *refstr, jv *result, dk_err_t *err)
{
  return dk_make_error_code (err, DK_ECODE_INTERNAL, 0, "push: not implemented yet");
}

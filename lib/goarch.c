#include "goarch.h"

#include <string.h>

const struct utsname *
dk_uname (void)
{
  static struct utsname u;
  if (u.machine[0] == 0)
    uname (&u);
  return &u;
}

const char *
dk_go_arch (void)
{
  const char *m = dk_uname ()->machine;
  if (!strcmp (m, "x86_64"))
    return "amd64";
  if (!strcmp (m, "aarch64"))
    return "arm64";
  if (!strncmp (m, "arm", 3))
    return "arm";
  return m;
}

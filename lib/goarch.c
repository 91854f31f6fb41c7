#include "goarch.h"

#include <string.h>
#include <sys/utsname.h>

const char *
dk_go_arch (void)
{
  static struct utsname u;
  if (u.machine[0] == 0)
    uname (&u);
  if (!strcmp (u.machine, "x86_64"))
    return "amd64";
  if (!strcmp (u.machine, "aarch64"))
    return "arm64";
  if (!strncmp (u.machine, "arm", 3))
    return "arm";
  return u.machine;
}

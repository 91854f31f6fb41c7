#include "netsetup.h"
int
proxy_add (struct ctx *c, const char *id, const char *net, uint32_t ip, jv ports, const int *fds,
           dk_err_t *err)
{
  return 0;
}
int
proxy_remove (struct ctx *c, const char *id, const char *net, dk_err_t *err)
{
  return 0;
}
int
cmd_proxy (struct ctx *c, int argc, char **argv, dk_err_t *err)
{
  return 0;
}
int
proxy_stop (struct ctx *c)
{
  return 0;
}

#include <arpa/inet.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "cleanup.h"
#include "netsetup.h"

int
parse_ip4 (const char *s, uint32_t *out)
{
  struct in_addr a;
  if (s == NULL || inet_pton (AF_INET, s, &a) != 1)
    return -1;
  *out = ntohl (a.s_addr);
  return 0;
}

int
parse_cidr4 (const char *s, uint32_t *addr, int *plen)
{
  const char *slash = s ? strchr (s, '/') : NULL;
  if (slash == NULL || slash - s > 15)
    return -1;
  char ip[16];
  memcpy (ip, s, slash - s);
  ip[slash - s] = '\0';
  char *end;
  errno = 0;
  long l = strtol (slash + 1, &end, 10);
  if (errno || *end || end == slash + 1 || l < 0 || l > 32)
    return -1;
  if (parse_ip4 (ip, addr) < 0)
    return -1;
  *plen = (int)l;
  return 0;
}

char *
fmt_ip4 (uint32_t a)
{
  return xasprintf ("%u.%u.%u.%u", a >> 24, (a >> 16) & 255, (a >> 8) & 255, a & 255);
}

uint32_t
mask4 (int plen)
{
  return plen <= 0 ? 0 : plen >= 32 ? 0xffffffffu : ~0u << (32 - plen);
}

bool
in_subnet (uint32_t a, uint32_t net, int plen)
{
  return (a & mask4 (plen)) == (net & mask4 (plen));
}

bool
overlaps (uint32_t a, int alen, uint32_t b, int blen)
{
  int l = alen < blen ? alen : blen;
  return in_subnet (a, b, l);
}

int
parse_bool (const char *s, bool *out)
{
  if (s == NULL)
    return -1;
  if (!strcmp (s, "true") || !strcmp (s, "1") || !strcmp (s, "yes"))
    *out = true;
  else if (!strcmp (s, "false") || !strcmp (s, "0") || !strcmp (s, "no"))
    *out = false;
  else
    return -1;
  return 0;
}

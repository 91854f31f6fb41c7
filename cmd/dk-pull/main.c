#include <stdio.h>
#include <string.h>

static const char usage[] = "Usage: dk-pull [OPTIONS] COMMAND\n\nSee docs/tools.md.\n";

int
main (int argc, char **argv)
{
  if (argc > 1 && strcmp (argv[1], "--version") == 0)
    {
      printf ("dk-pull version %s\n", DK_VERSION);
      return 0;
    }
  if (argc > 1 && (strcmp (argv[1], "--help") == 0 || strcmp (argv[1], "-h") == 0))
    {
      fputs (usage, stdout);
      return 0;
    }
  fputs (usage, stderr);
  return 2;
}

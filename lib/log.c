#include "log.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

static const char *log_prog = "dk";
static enum dk_log_level log_level = DK_LOG_INFO;
static const char *const names[] = { "debug", "info", "warn", "error", "fatal" };

void
dk_log_init (const char *prog, enum dk_log_level level)
{
  const char *slash = strrchr (prog, '/');
  log_prog = slash ? slash + 1 : prog;
  log_level = level;
}

int
dk_log_parse_level (const char *s)
{
  for (int i = 0; i < 5; i++)
    if (strcmp (s, names[i]) == 0)
      return i;
  if (strcmp (s, "warning") == 0)
    return DK_LOG_WARN;
  return -1;
}

void
dk_log_set_level (enum dk_log_level level)
{
  log_level = level;
}

enum dk_log_level
dk_log_get_level (void)
{
  return log_level;
}

const char *
dk_log_prog (void)
{
  return log_prog;
}

void
dk_log (enum dk_log_level level, const char *fmt, ...)
{
  if (level < log_level)
    return;
  char buf[4096];
  va_list ap;
  va_start (ap, fmt);
  vsnprintf (buf, sizeof buf, fmt, ap);
  va_end (ap);
  fprintf (stderr, "%s: %s: %s\n", log_prog, names[level], buf);
}

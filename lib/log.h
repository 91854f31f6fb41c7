/* Logging for people, on stderr: "prog: level: message". */
#ifndef DK_LOG_H
#define DK_LOG_H

enum dk_log_level
{
  DK_LOG_DEBUG,
  DK_LOG_INFO,
  DK_LOG_WARN,
  DK_LOG_ERROR,
  DK_LOG_FATAL
};

void dk_log_init (const char *prog, enum dk_log_level level);
/* Parses "debug", "info", "warn", "error", "fatal"; -1 when unknown. */
int dk_log_parse_level (const char *s);
void dk_log_set_level (enum dk_log_level level);
enum dk_log_level dk_log_get_level (void);
const char *dk_log_prog (void);
void dk_log (enum dk_log_level level, const char *fmt, ...) __attribute__ ((format (printf, 2, 3)));

#define dk_debug(...) dk_log (DK_LOG_DEBUG, __VA_ARGS__)
#define dk_info(...) dk_log (DK_LOG_INFO, __VA_ARGS__)
#define dk_warn(...) dk_log (DK_LOG_WARN, __VA_ARGS__)
#define dk_errorf(...) dk_log (DK_LOG_ERROR, __VA_ARGS__)

#endif

/* Minimal TAP producer for the unit tests. */
#ifndef DK_TAP_H
#define DK_TAP_H

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int tap_n, tap_failed;

#define ok(cond, ...)                                                                              \
  do                                                                                               \
    {                                                                                              \
      int tap_c_ = (cond) ? 1 : 0;                                                                 \
      printf ("%sok %d - ", tap_c_ ? "" : "not ", ++tap_n);                                        \
      printf (__VA_ARGS__);                                                                        \
      printf ("\n");                                                                               \
      if (!tap_c_)                                                                                 \
        {                                                                                          \
          tap_failed++;                                                                            \
          printf ("#   failed at %s:%d: %s\n", __FILE__, __LINE__, #cond);                         \
        }                                                                                          \
      fflush (stdout);                                                                             \
    }                                                                                              \
  while (0)

#define is_str(got, want, ...)                                                                     \
  do                                                                                               \
    {                                                                                              \
      const char *tap_g_ = (got), *tap_w_ = (want);                                                \
      int tap_e_ = (tap_g_ == NULL && tap_w_ == NULL)                                              \
                   || (tap_g_ && tap_w_ && strcmp (tap_g_, tap_w_) == 0);                          \
      ok (tap_e_, __VA_ARGS__);                                                                    \
      if (!tap_e_)                                                                                 \
        printf ("#   got: '%s'\n#   want: '%s'\n", tap_g_ ? tap_g_ : "(null)",                     \
                tap_w_ ? tap_w_ : "(null)");                                                       \
    }                                                                                              \
  while (0)

#define skip(why, ...)                                                                             \
  do                                                                                               \
    {                                                                                              \
      printf ("ok %d - ", ++tap_n);                                                                \
      printf (__VA_ARGS__);                                                                        \
      printf (" # SKIP %s\n", why);                                                                \
    }                                                                                              \
  while (0)

static inline int
tap_done (void)
{
  printf ("1..%d\n", tap_n);
  return tap_failed ? 1 : 0;
}

#endif

/* detach keys of attach: parsing and the stdin matcher */
#include "tap.h"
#include "detachkeys.h"

static char *
feed (struct dk_detach *d, const char *in, size_t n, bool *detached)
{
  struct dk_buf out = DK_BUF_INIT;
  *detached = dk_detach_feed (d, in, n, &out);
  return dk_buf_steal (&out);
}

int
main (void)
{
  struct dk_detach d;
  ok (dk_detach_parse (NULL, &d) == 0 && d.len == 2 && d.keys[0] == 16 && d.keys[1] == 17,
      "parse: the default is ctrl-p,ctrl-q");
  ok (dk_detach_parse ("ctrl-x", &d) == 0 && d.len == 1 && d.keys[0] == 24, "parse: ctrl-x");
  ok (dk_detach_parse ("a,ctrl-@,ctrl-[,ctrl-_", &d) == 0 && d.len == 4 && d.keys[0] == 'a'
          && d.keys[1] == 0 && d.keys[2] == 27 && d.keys[3] == 31,
      "parse: letters and the ctrl symbols");
  ok (dk_detach_parse ("ctrl-zz", &d) < 0, "parse: ctrl-zz is refused");
  ok (dk_detach_parse ("shift-a", &d) < 0, "parse: shift-a is refused");
  ok (dk_detach_parse (",", &d) < 0, "parse: no key is refused");

  bool det;
  dk_detach_parse (NULL, &d);
  char *o = feed (&d, "hello\n", 6, &det);
  ok (!det && strcmp (o, "hello\n") == 0, "feed: plain input passes");
  free (o);
  o = feed (&d, "ab\x10", 3, &det);
  ok (!det && strcmp (o, "ab") == 0, "feed: a partial sequence is held back");
  free (o);
  o = feed (&d, "\x11tail", 5, &det);
  ok (det && strcmp (o, "") == 0, "feed: the sequence across two reads detaches, the rest dropped");
  free (o);
  o = feed (&d, "\x10x", 2, &det);
  ok (!det && strcmp (o, "\x10x") == 0, "feed: a broken sequence is passed on");
  free (o);
  o = feed (&d, "\x10\x10\x11", 3, &det);
  ok (det && strcmp (o, "\x10") == 0, "feed: a repeated first key restarts the match");
  free (o);
  dk_detach_parse ("ctrl-x", &d);
  o = feed (&d,
            "ab\x18"
            "cd",
            5, &det);
  ok (det && strcmp (o, "ab") == 0, "feed: a one-key sequence");
  free (o);
  return tap_done ();
}

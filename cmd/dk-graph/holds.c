/* Layers an import or a load needs until its image is added, held the way
   dk-pull holds a pull's (docs/store.md): their chain IDs in `holds` of a
   tmp/ entry whose lock stays taken, which rm, prune and layer-release
   count as held (imageindex.c). */
#include "store.h"
#include "buf.h"
#include "cleanup.h"
#include "scratchfile.h"

int
holds_new (struct store *s, struct holds *h, dk_err_t *err)
{
  h->chains = jv_array ();
  return tmpdir_new (s, &h->t, err);
}

int
holds_add (struct holds *h, const char *chain, dk_err_t *err)
{
  h->chains = jv_array_append (h->chains, jv_string (chain));
  struct dk_buf b = DK_BUF_INIT;
  jv_array_foreach (h->chains, i, c)
  {
    dk_buf_printf (&b, "%s\n", jv_string_value (c));
    jv_free (c);
  }
  cleanup_free char *p = xasprintf ("%s/holds", h->t.path);
  int r = dk_scratch_write (p, b.data, b.len, 0600, err);
  dk_buf_free (&b);
  return r;
}

void
holds_done (struct holds *h)
{
  tmpdir_done (&h->t);
  jv_free (h->chains);
  h->chains = jv_invalid ();
}

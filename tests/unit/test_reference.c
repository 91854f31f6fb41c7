#include "tap.h"
#include "reference.h"
#include "cleanup.h"

#define D64 "sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
#define H64 "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"

struct good
{
  const char *in, *full, *familiar, *domain, *path, *tag, *digest;
};

static const struct good goods[] = {
  { "busybox", "docker.io/library/busybox:latest", "busybox:latest", "docker.io", "library/busybox",
    "latest", NULL },
  { "busybox:1.36", "docker.io/library/busybox:1.36", "busybox:1.36", "docker.io",
    "library/busybox", "1.36", NULL },
  { "library/busybox", "docker.io/library/busybox:latest", "busybox:latest", "docker.io",
    "library/busybox", "latest", NULL },
  { "docker.io/busybox", "docker.io/library/busybox:latest", "busybox:latest", "docker.io",
    "library/busybox", "latest", NULL },
  { "index.docker.io/library/busybox:x", "docker.io/library/busybox:x", "busybox:x", "docker.io",
    "library/busybox", "x", NULL },
  { "user/repo", "docker.io/user/repo:latest", "user/repo:latest", "docker.io", "user/repo",
    "latest", NULL },
  { "user/repo/sub:t", "docker.io/user/repo/sub:t", "user/repo/sub:t", "docker.io", "user/repo/sub",
    "t", NULL },
  { "localhost/foo", "localhost/foo:latest", "localhost/foo:latest", "localhost", "foo", "latest",
    NULL },
  { "localhost:5000/a/b@" D64, "localhost:5000/a/b@" D64, "localhost:5000/a/b@" D64,
    "localhost:5000", "a/b", NULL, D64 },
  { "127.0.0.1:5000/x:1", "127.0.0.1:5000/x:1", "127.0.0.1:5000/x:1", "127.0.0.1:5000", "x", "1",
    NULL },
  { "busybox@" D64, "docker.io/library/busybox@" D64, "busybox@" D64, "docker.io",
    "library/busybox", NULL, D64 },
  { "busybox:1@" D64, "docker.io/library/busybox:1@" D64, "busybox:1@" D64, "docker.io",
    "library/busybox", "1", D64 },
  { "example.com/a_b/c__d/e-f/g--h/i.j:V1.0-rc_1", "example.com/a_b/c__d/e-f/g--h/i.j:V1.0-rc_1",
    "example.com/a_b/c__d/e-f/g--h/i.j:V1.0-rc_1", "example.com", "a_b/c__d/e-f/g--h/i.j",
    "V1.0-rc_1", NULL },
  { "Example.COM:443/x", "Example.COM:443/x:latest", "Example.COM:443/x:latest", "Example.COM:443",
    "x", "latest", NULL },
  /* upper case in the first element makes it a domain, as in Docker */
  { "FOO/bar", "FOO/bar:latest", "FOO/bar:latest", "FOO", "bar", "latest", NULL },
  { "[::1]:5000/x", "[::1]:5000/x:latest", "[::1]:5000/x:latest", "[::1]:5000", "x", "latest",
    NULL },
  { "localhost:5000", "docker.io/library/localhost:5000", "localhost:5000", "docker.io",
    "library/localhost", "5000", NULL },
  { "a:_x", "docker.io/library/a:_x", "a:_x", "docker.io", "library/a", "_x", NULL },
};

struct badref
{
  const char *in, *msg;
};

static const struct badref bads[] = {
  { "", "invalid reference format" },
  { ":", "invalid reference format" },
  { ":tag", "invalid reference format" },
  { "busybox:", "invalid reference format" },
  { "Busybox", "invalid reference format: repository name (library/Busybox) must be lowercase" },
  { "localhost:5000/Foo", "invalid reference format: repository name (Foo) must be lowercase" },
  { "a//b", "invalid reference format" },
  { "/a", "invalid reference format" },
  { "a/", "invalid reference format" },
  { "busybox@sha256:abc", "invalid reference format" },
  { "busybox@sha256:E3B0C44298FC1C149AFBF4C8996FB92427AE41E4649B934CA495991B7852B855",
    "invalid reference format" },
  { "busybox@md5:d41d8cd98f00b204e9800998ecf8427e", "invalid reference format" },
  { "busybox@" D64 "0", "invalid reference format" },
  { "busybox@", "invalid reference format" },
  { "a b", "invalid reference format" },
  { "-a", "invalid reference format" },
  { "a-", "invalid reference format" },
  { "a..b", "invalid reference format" },
  { "a___b", "invalid reference format" },
  { "busybox:.x", "invalid reference format" },
  { "busybox:-x", "invalid reference format" },
  { "busybox:a/b", "invalid reference format" },
  { "host:port/x", "invalid reference format" },
  { "-host.com/x", "invalid reference format" },
  { "host.com:/x", "invalid reference format" },
  { H64, "invalid repository name (" H64 "), cannot specify 64-byte hexadecimal strings" },
  { "caf\xc3\xa9", "invalid reference format" },
};

static void
test_good (void)
{
  for (size_t i = 0; i < sizeof goods / sizeof goods[0]; i++)
    {
      const struct good *g = &goods[i];
      struct dk_ref r;
      dk_err_t err = NULL;
      int rc = dk_ref_parse (g->in, &r, &err);
      ok (rc == 0, "reference: `%s` parses%s%s", g->in, err ? ": " : "", err ? err->msg : "");
      if (rc < 0)
        {
          dk_error_release (&err);
          continue;
        }
      cleanup_free char *full = dk_ref_string (&r);
      cleanup_free char *fam = dk_ref_familiar (&r);
      int same
          = strcmp (full, g->full) == 0 && strcmp (fam, g->familiar) == 0
            && strcmp (r.domain, g->domain) == 0 && strcmp (r.path, g->path) == 0
            && ((r.tag == NULL && g->tag == NULL) || (r.tag && g->tag && !strcmp (r.tag, g->tag)))
            && ((r.digest == NULL && g->digest == NULL)
                || (r.digest && g->digest && !strcmp (r.digest, g->digest)));
      ok (same, "reference: `%s` -> `%s` (familiar `%s`)", g->in, g->full, g->familiar);
      if (!same)
        printf ("#   got full '%s' familiar '%s' domain '%s' path '%s' tag '%s' digest '%s'\n",
                full, fam, r.domain, r.path, r.tag ? r.tag : "(null)",
                r.digest ? r.digest : "(null)");
      dk_ref_free (&r);
    }
}

static void
test_bad (void)
{
  for (size_t i = 0; i < sizeof bads / sizeof bads[0]; i++)
    {
      struct dk_ref r;
      dk_err_t err = NULL;
      int rc = dk_ref_parse (bads[i].in, &r, &err);
      ok (rc < 0 && err && strcmp (err->code, "invalid") == 0
              && strcmp (err->msg, bads[i].msg) == 0,
          "reference: `%s` is rejected with `%s`", bads[i].in, bads[i].msg);
      if (rc < 0 && err && strcmp (err->msg, bads[i].msg) != 0)
        printf ("#   got '%s'\n", err->msg);
      if (rc == 0)
        dk_ref_free (&r);
      dk_error_release (&err);
    }
}

static void
test_lengths (void)
{
  /* docker.io/library/ is 18 bytes: the name may be at most 255 in all */
  char name[300];
  memset (name, 'a', sizeof name);
  name[255 - 18] = '\0';
  struct dk_ref r;
  dk_err_t err = NULL;
  ok (dk_ref_parse (name, &r, &err) == 0, "reference: a 255-byte name is accepted");
  dk_ref_free (&r);
  dk_error_release (&err);
  name[255 - 18] = 'a';
  name[256 - 18] = '\0';
  ok (dk_ref_parse (name, &r, &err) < 0 && err
          && strcmp (err->msg,
                     "invalid reference format: repository name must not be more than 255 "
                     "characters")
                 == 0,
      "reference: a 256-byte name is too long");
  dk_error_release (&err);

  char tag[200] = "busybox:";
  memset (tag + 8, 't', 128);
  tag[8 + 128] = '\0';
  ok (dk_ref_parse (tag, &r, &err) == 0, "reference: a 128-byte tag is accepted");
  dk_ref_free (&r);
  tag[8 + 128] = 't';
  tag[8 + 129] = '\0';
  ok (dk_ref_parse (tag, &r, &err) < 0, "reference: a 129-byte tag is rejected");
  dk_error_release (&err);
}

static void
test_helpers (void)
{
  struct dk_ref r;
  dk_err_t err = NULL;
  ok (dk_ref_parse ("busybox", &r, &err) == 0, "reference: parse busybox");
  cleanup_free char *name = dk_ref_name (&r);
  is_str (name, "docker.io/library/busybox", "reference: name of busybox");
  cleanup_free char *fname = dk_ref_familiar_name (&r);
  is_str (fname, "busybox", "reference: familiar name of busybox");
  is_str (dk_ref_registry_host (&r), "registry-1.docker.io",
          "reference: docker.io is reached at its registry host");
  dk_ref_free (&r);
  ok (dk_ref_parse ("docker.io/library/a/b", &r, &err) == 0, "reference: parse library/a/b");
  cleanup_free char *fam2 = dk_ref_familiar_name (&r);
  is_str (fam2, "library/a/b", "reference: library/ stays when the path is deeper");
  dk_ref_free (&r);
  ok (dk_ref_parse ("127.0.0.1:5000/x", &r, &err) == 0, "reference: parse a local registry");
  is_str (dk_ref_registry_host (&r), "127.0.0.1:5000", "reference: registry host is the domain");
  dk_ref_free (&r);
  ok (dk_ref_valid_tag ("v1.0_rc-2"), "reference: valid tag");
  ok (!dk_ref_valid_tag (""), "reference: empty tag is invalid");
  ok (!dk_ref_valid_tag (NULL), "reference: NULL tag is invalid");
  ok (!dk_ref_valid_tag ("a:b"), "reference: tag with a colon is invalid");
}

int
main (void)
{
  test_good ();
  test_bad ();
  test_lengths ();
  test_helpers ();
  return tap_done ();
}

/* Malformed input to the JSON and digest helpers: clear errors, no abort. */
#include "tap.h"
#include "json.h"
#include "digest.h"
#include "cleanup.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <unistd.h>

static void
bad_json (const char *label, const char *s, size_t len)
{
  jv v = jv_invalid ();
  dk_err_t err = NULL;
  int rc = dk_json_parse (s, len, &v, &err);
  ok (rc < 0 && err && strcmp (err->code, "invalid") == 0
          && strncmp (err->msg, "invalid JSON", 12) == 0,
      "json: %s is rejected%s%s", label, err ? ": " : "", err ? err->msg : "");
  if (rc == 0)
    jv_free (v);
  dk_error_release (&err);
}

static void
test_parse (void)
{
  bad_json ("empty input", "", 0);
  bad_json ("truncated object", "{\"a\":", 5);
  bad_json ("two values", "{} {}", 5);
  bad_json ("trailing garbage", "[1]x", 4);
  bad_json ("a bare word", "nope", 4);
  bad_json ("a NUL inside", "{\"a\":\0}", 7);
  bad_json ("invalid escape", "\"\\q\"", 4);
  char deep[2100];
  memset (deep, '[', 1000);
  memset (deep + 1000, ']', 1000);
  deep[2000] = '\0';
  jv v;
  dk_err_t err = NULL;
  int rc = dk_json_parse (deep, 2000, &v, &err);
  ok (rc < 0 || jv_get_kind (v) == JV_KIND_ARRAY, "json: 1000 nested arrays do not crash");
  if (rc == 0)
    jv_free (v);
  dk_error_release (&err);

  struct dk_jsonl_reader *r = dk_jsonl_reader_new ();
  dk_jsonl_feed (r, "{\"a\":\0}\n{}\n", 11);
  ok (dk_jsonl_next (r, false, &v, &err) == -1 && err,
      "jsonl: a line with a NUL byte is malformed");
  dk_error_release (&err);
  ok (dk_jsonl_next (r, false, &v, &err) == 1 && jv_get_kind (v) == JV_KIND_OBJECT,
      "jsonl: the next line still reads");
  jv_free (v);
  dk_jsonl_reader_free (r);

  ok (dk_json_read_file ("/nonexistent/x.json", &v, &err) < 0
          && strcmp (err->code, "not_found") == 0,
      "json: reading a missing file is not_found");
  dk_error_release (&err);
}

static void
test_getters (void)
{
  jv o = jv_parse ("{\"big\":1e300,\"neg\":-5,\"frac\":0.5,\"max\":9223372036854775807,"
                   "\"s\":\"x\",\"n\":null,\"arr\":[1],\"b\":\"true\"}");
  int64_t n = 7;
  ok (!dk_json_int (o, "big", &n) && n == 7, "json: 1e300 is not an int64 and leaves out alone");
  ok (dk_json_int (o, "neg", &n) && n == -5, "json: negative int");
  ok (!dk_json_int (o, "frac", &n), "json: 0.5 is not an int");
  ok (!dk_json_int (o, "max", &n), "json: 2^63 (rounded double) is out of range");
  ok (!dk_json_int (o, "n", &n), "json: null is not an int");
  bool b = false;
  ok (!dk_json_bool (o, "b", &b), "json: the string \"true\" is not a bool");
  ok (dk_json_str (o, "arr") == NULL, "json: array is not a string");
  jv a = dk_json_get (o, "arr");
  jv e = dk_json_at (a, 5);
  ok (!jv_is_valid (e), "json: index out of range is invalid");
  jv_free (e);
  e = dk_json_at (a, -1);
  ok (!jv_is_valid (e), "json: negative index is invalid");
  jv_free (e);
  jv_free (a);
  ok (dk_json_len (o) == -1, "json: length of an object is -1");
  jv s = jv_string ("x");
  ok (dk_json_str (s, "a") == NULL && !dk_json_int (s, "a", &n), "json: getters on a string");
  e = dk_json_at (s, 0);
  ok (!jv_is_valid (e), "json: indexing a string is invalid, not an abort");
  jv_free (e);
  jv_free (s);
  jv_free (o);

  cleanup_free char *d = dk_json_dump (jv_parse ("[-9007199254740993,1.5,-0,1e17]"));
  ok (d && strstr (d, "e+") == NULL, "json: no exponent in %s", d);
}

static void
test_write_fd (void)
{
  int p[2];
  if (pipe (p) < 0)
    abort ();
  close (p[0]);
  signal (SIGPIPE, SIG_IGN);
  dk_err_t err = NULL;
  ok (dk_jsonl_write_fd (p[1], jv_object (), &err) < 0 && err && err->status == EPIPE,
      "jsonl: writing to a closed pipe is EPIPE, not a crash");
  dk_error_release (&err);
  close (p[1]);
  ok (dk_jsonl_write_fd (-1, jv_null (), &err) < 0 && err, "jsonl: a bad fd is an error");
  dk_error_release (&err);
}

static void
test_digest (void)
{
  const char *bad[] = {
    "sha256:",
    "sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b85",   /* 63 */
    "sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b8555", /* 65 */
    "sha256:g3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
    "SHA256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
    ":e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
    "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
    "sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855\n",
  };
  for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
    {
      dk_err_t err = NULL;
      ok (dk_digest_validate (bad[i], &err) < 0 && err && strcmp (err->code, "invalid") == 0,
          "digest: bad digest %zu is invalid", i);
      dk_error_release (&err);
    }
  ok (!dk_is_sha256_hex ("xyz"), "digest: short hex is no sha256");
  char out[DK_DIGEST_STR_LEN];
  dk_err_t err = NULL;
  ok (dk_sha256_file ("/nonexistent", out, &err) < 0 && err && err->status == ENOENT,
      "digest: missing file is ENOENT");
  dk_error_release (&err);
}

int
main (void)
{
  test_parse ();
  test_getters ();
  test_write_fd ();
  test_digest ();
  return tap_done ();
}

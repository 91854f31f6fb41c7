#include "tap.h"
#include "json.h"
#include "digest.h"
#include "cleanup.h"

static void
test_getters (void)
{
  jv o = jv_parse ("{\"a\":\"x\",\"n\":42,\"f\":1.5,\"b\":true,\"arr\":[1,2]}");
  is_str (dk_json_str (o, "a"), "x", "json: string member");
  ok (dk_json_str (o, "n") == NULL, "json: number is not a string");
  ok (dk_json_str (o, "zz") == NULL, "json: absent member is NULL");
  int64_t n = 0;
  ok (dk_json_int (o, "n", &n) && n == 42, "json: int member");
  ok (!dk_json_int (o, "f", &n), "json: 1.5 is not an int");
  ok (!dk_json_int (o, "a", &n), "json: string is not an int");
  bool b = false;
  ok (dk_json_bool (o, "b", &b) && b, "json: bool member");
  jv arr = dk_json_get_kind (o, "arr", JV_KIND_ARRAY);
  ok (dk_json_len (arr) == 2, "json: array has 2 elements");
  jv_free (arr);
  jv notobj = jv_parse ("[1]");
  ok (dk_json_str (notobj, "a") == NULL, "json: getter on an array does not abort");
  jv_free (notobj);
  jv_free (o);
}

static void
test_dump (void)
{
  jv o = jv_object ();
  o = jv_object_set (o, jv_string ("size"), dk_json_int64 (100000000000000000LL));
  o = jv_object_set (o, jv_string ("s"), jv_string ("q\"\n\x01"));
  cleanup_free char *s = dk_json_dump (o);
  is_str (s, "{\"size\":100000000000000000,\"s\":\"q\\\"\\n\\u0001\"}",
          "json: integers never print with an exponent");
}

static void
test_reader (void)
{
  struct dk_jsonl_reader *r = dk_jsonl_reader_new ();
  dk_err_t err = NULL;
  jv v;
  dk_jsonl_feed (r, "{\"a\":1}\n{\"b\"", 12);
  int64_t a = 0;
  ok (dk_jsonl_next (r, false, &v, &err) == 1 && dk_json_int (v, "a", &a) && a == 1,
      "jsonl: first value complete");
  jv_free (v);
  ok (dk_jsonl_next (r, false, &v, &err) == 0, "jsonl: half a line waits for more");
  dk_jsonl_feed (r, ":2}\n\nnot json\n", 14);
  ok (dk_jsonl_next (r, false, &v, &err) == 1, "jsonl: second value after more input");
  int64_t b = 0;
  ok (dk_json_int (v, "b", &b) && b == 2, "jsonl: second value content");
  jv_free (v);
  ok (dk_jsonl_next (r, false, &v, &err) == -1 && err != NULL, "jsonl: malformed line is an error");
  dk_error_release (&err);
  ok (dk_jsonl_next (r, true, &v, &err) == 0, "jsonl: nothing left");
  dk_jsonl_reader_free (r);
}

static void
test_digest (void)
{
  char d[DK_DIGEST_STR_LEN];
  dk_sha256_buf ("", 0, d);
  is_str (d, "sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
          "digest: sha256 of nothing");
  struct dk_sha256 *h = dk_sha256_new ();
  dk_sha256_update (h, "ab", 2);
  dk_sha256_update (h, "c", 1);
  dk_sha256_final (h, d);
  dk_sha256_free (h);
  is_str (d, "sha256:ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad",
          "digest: streaming sha256 of abc");
  ok (dk_digest_is_valid (d), "digest: valid digest accepted");
  dk_err_t err = NULL;
  ok (dk_digest_validate ("sha256:ABC", &err) < 0 && err && strstr (err->msg, "invalid digest"),
      "digest: short upper-case digest rejected with a message");
  dk_error_release (&err);
  ok (!dk_digest_is_valid ("md5:abcd"), "digest: unknown algorithm rejected");
  ok (!dk_digest_is_valid ("sha256"), "digest: no colon rejected");
  ok (!dk_digest_is_valid (""), "digest: empty rejected");
}

int
main (void)
{
  test_getters ();
  test_dump ();
  test_reader ();
  test_digest ();
  return tap_done ();
}

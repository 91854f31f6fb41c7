/* TLS for tcp listeners (--tls, --tlsverify): OpenSSL over memory BIOs, so
   the loop moves the ciphertext and OpenSSL never touches a socket. */
#include "dockerd.h"
#include "cleanup.h"
#include "log.h"

#include <openssl/err.h>
#include <openssl/ssl.h>
#include <stdlib.h>
#include <string.h>

struct tls_conn
{
  SSL *ssl;
  BIO *rbio, *wbio; /* owned by ssl */
};

static SSL_CTX *ctx;

static char *
expand (const char *p)
{
  const char *home = getenv ("HOME");
  if (p[0] == '~' && p[1] == '/' && home)
    return xasprintf ("%s%s", home, p + 1);
  return xstrdup (p);
}

static int
ssl_error (dk_err_t *err, const char *what, const char *path)
{
  char buf[256] = "";
  unsigned long e = ERR_get_error ();
  if (e)
    ERR_error_string_n (e, buf, sizeof buf);
  return dk_make_error (err, 0, "%s `%s`: %s", what, path, buf);
}

int
tls_init (dk_err_t *err)
{
  bool verify = cfg_bool ("tlsverify");
  cleanup_free char *cert = expand (cfg_str ("tlscert"));
  cleanup_free char *key = expand (cfg_str ("tlskey"));
  cleanup_free char *ca = expand (cfg_str ("tlscacert"));
  ctx = SSL_CTX_new (TLS_server_method ());
  if (ctx == NULL)
    return dk_make_error (err, 0, "cannot create a TLS context");
  /* Docker's floor: TLS 1.2 */
  SSL_CTX_set_min_proto_version (ctx, TLS1_2_VERSION);
  if (SSL_CTX_use_certificate_chain_file (ctx, cert) != 1)
    return ssl_error (err, "could not load TLS certificate", cert);
  if (SSL_CTX_use_PrivateKey_file (ctx, key, SSL_FILETYPE_PEM) != 1)
    return ssl_error (err, "could not load TLS key", key);
  if (SSL_CTX_check_private_key (ctx) != 1)
    return ssl_error (err, "TLS key does not match the certificate", key);
  if (verify)
    {
      if (SSL_CTX_load_verify_locations (ctx, ca, NULL) != 1)
        return ssl_error (err, "could not read CA certificate", ca);
      SSL_CTX_set_client_CA_list (ctx, SSL_load_client_CA_file (ca));
      /* --tlsverify: a client without a certificate signed by the CA is refused */
      SSL_CTX_set_verify (ctx, SSL_VERIFY_PEER | SSL_VERIFY_FAIL_IF_NO_PEER_CERT, NULL);
    }
  return 0;
}

struct tls_conn *
tls_conn_new (void)
{
  if (ctx == NULL)
    return NULL;
  struct tls_conn *t = xzalloc (sizeof *t);
  t->ssl = SSL_new (ctx);
  t->rbio = BIO_new (BIO_s_mem ());
  t->wbio = BIO_new (BIO_s_mem ());
  SSL_set_bio (t->ssl, t->rbio, t->wbio);
  SSL_set_accept_state (t->ssl);
  return t;
}

void
tls_conn_free (struct tls_conn *t)
{
  if (t == NULL)
    return;
  SSL_free (t->ssl);
  free (t);
}

static void
drain (struct tls_conn *t, struct dk_buf *out)
{
  char buf[16384];
  int n;
  while ((n = BIO_read (t->wbio, buf, sizeof buf)) > 0)
    dk_buf_add (out, buf, n);
}

/* Ciphertext in; plaintext and ciphertext to send out.  -1: the session is
   broken (bad handshake, no client certificate). */
int
tls_feed (struct tls_conn *t, const char *data, size_t n, struct dk_buf *plain, struct dk_buf *out)
{
  if (n && BIO_write (t->rbio, data, (int)n) != (int)n)
    return -1;
  int ret = 0;
  for (;;)
    {
      char buf[16384];
      int r = SSL_read (t->ssl, buf, sizeof buf);
      if (r > 0)
        {
          dk_buf_add (plain, buf, r);
          continue;
        }
      int e = SSL_get_error (t->ssl, r);
      if (e == SSL_ERROR_WANT_READ || e == SSL_ERROR_WANT_WRITE)
        break;
      if (e == SSL_ERROR_ZERO_RETURN)
        {
          ret = 1; /* close_notify: EOF */
          break;
        }
      char eb[256] = "";
      ERR_error_string_n (ERR_get_error (), eb, sizeof eb);
      dk_debug ("tls: %s", eb);
      ret = -1;
      break;
    }
  drain (t, out);
  ERR_clear_error ();
  return ret;
}

int
tls_encrypt (struct tls_conn *t, const void *data, size_t n, struct dk_buf *out)
{
  while (n > 0)
    {
      int w = SSL_write (t->ssl, data, n > 65536 ? 65536 : (int)n);
      if (w <= 0)
        {
          ERR_clear_error ();
          return -1;
        }
      data = (const char *)data + w;
      n -= (size_t)w;
    }
  drain (t, out);
  return 0;
}

void
tls_close_notify (struct tls_conn *t, struct dk_buf *out)
{
  SSL_shutdown (t->ssl);
  drain (t, out);
  ERR_clear_error ();
}

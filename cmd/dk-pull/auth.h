/* Registry authentication: credentials, challenges, Bearer tokens per scope. */
#ifndef DK_PULL_AUTH_H
#define DK_PULL_AUTH_H

#include "registry.h"

/* Takes the credentials of an auth config object (borrowed). */
int reg_auth_configure (struct reg_client *c, jv auth, dk_err_t *err);
/* Records the scheme (and realm, service) of a WWW-Authenticate header. */
void reg_auth_learn (struct reg_client *c, const char *www_auth);
/* After a 401: learns the challenge and fetches a fresh token for scope. */
int reg_auth_challenge (struct reg_client *c, const char *www_auth, const char *scope,
                        dk_err_t *err);
/* The "Authorization: ..." header for a request in scope, or NULL. */
int reg_auth_header (struct reg_client *c, const char *scope, char **out, dk_err_t *err);

/* base64 of data (malloc'd); base64 or base64url decoding (NULL when invalid). */
char *reg_base64 (const void *data, size_t len);
char *reg_unbase64 (const char *s, size_t *len);

void reg_curl_setup (struct reg_client *c, CURL *h);
int reg_transport_error (struct reg_client *c, const char *method, const char *url, CURLcode rc,
                         const char *detail, dk_err_t *err);

#endif

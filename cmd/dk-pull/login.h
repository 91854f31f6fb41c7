/* dk-pull login: checks credentials against a registry. */
#ifndef DK_PULL_LOGIN_H
#define DK_PULL_LOGIN_H

#include "registry.h"

int login (const struct reg_opts *o, const char *server, jv *result, dk_err_t *err);

#endif

/* SPDX-License-Identifier: MIT */
/*
 * Identities.  Every party is a (role, name) pair.  Certificates carry it as
 * the URI subject alternative name "netport://ROLE/NAME", which every role
 * checks after chain verification; the text form in logs is "ROLE/NAME".
 *
 * Names use a fixed character set so that they are safe in file names, log
 * lines, URIs and policy files without quoting: 1 to 63 characters from
 * [a-z0-9._-], starting and ending with a letter or digit.
 */
#ifndef NETPORT_CORE_IDENTITY_H
#define NETPORT_CORE_IDENTITY_H

#include <stddef.h>

#define NP_NAME_MAX		63
/* "relay/" + name + NUL: the longest text form. */
#define NP_IDENTITY_STR_MAX	(6 + 1 + NP_NAME_MAX + 1)
#define NP_IDENTITY_URI_PREFIX	"netport://"

enum np_role {
	NP_ROLE_NONE = 0,
	NP_ROLE_PORTAL,
	NP_ROLE_SERVER,
	NP_ROLE_RELAY,
};

/* Role masks, for "which peer roles may connect". */
#define NP_ROLE_BIT(r)	(1u << (r))

struct np_identity {
	enum np_role	role;
	char		name[NP_NAME_MAX + 1];
};

/* 0 when name is valid, NP_ENAME otherwise. */
int		 identity_name_check(const char *name);
/* "portal", "server", "relay"; "none" for NP_ROLE_NONE. */
const char	*identity_role_name(enum np_role role);
/* 0 or NP_ENAME for an unknown role word. */
int		 identity_role_parse(const char *s, enum np_role *out);
/* Builds an identity after checking role and name; 0 or NP_ENAME. */
int		 identity_set(struct np_identity *id, enum np_role role,
		    const char *name);

/*
 * Parses "netport://ROLE/NAME" (exactly len bytes, no NUL needed).  Returns
 * 0, or NP_EIDENTITY when the URI is not a netport identity or its role or
 * name is invalid.
 */
int		 identity_from_uri(const char *uri, size_t len,
		    struct np_identity *out);
/* Writes "netport://ROLE/NAME"; NP_ETOOBIG if size is too small. */
int		 identity_to_uri(const struct np_identity *id, char *out,
		    size_t size);
/* Writes "ROLE/NAME" into out (at least NP_IDENTITY_STR_MAX bytes). */
void		 identity_format(const struct np_identity *id,
		    char out[static NP_IDENTITY_STR_MAX]);
int		 identity_equal(const struct np_identity *a,
		    const struct np_identity *b);

#endif

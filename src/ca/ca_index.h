/* SPDX-License-Identifier: MIT */
/*
 * The CA's database of issued certificates, DIR/index, as a pure codec:
 * text in, entries out, and back.  One line per certificate, seven fields
 * separated by single tabs:
 *
 *	SERIAL ROLE NAME NOT_BEFORE NOT_AFTER STATUS REVOKED
 *
 * SERIAL is the serial number in upper-case hex, ROLE and NAME the identity,
 * NOT_BEFORE and NOT_AFTER the validity in unix seconds (UTC), STATUS "V"
 * (valid) or "R" (revoked) and REVOKED the unix time of the revocation, or
 * "-" while the certificate is valid.  Expiry is not recorded: it follows
 * from NOT_AFTER.
 */
#ifndef NETPORT_CA_INDEX_H
#define NETPORT_CA_INDEX_H

#include <stddef.h>
#include <stdint.h>

#include "core/identity.h"

/* RFC 5280 caps serial numbers at 20 octets. */
#define CA_SERIAL_HEX_MAX	40
/*
 * The longest valid line is about 190 bytes (40 + 6 + 63 + 3 * 20 + 1 and
 * the tabs); anything much longer is corruption, not data.
 */
#define CA_INDEX_LINE_MAX	256
/*
 * At most this many certificates: a bound on memory and on the CRL, which
 * lists every revoked one.  Far above any fleet one CA should serve.
 */
#define CA_INDEX_MAX_ENTRIES	1000000

enum ca_status {
	CA_STATUS_VALID,
	CA_STATUS_REVOKED,
};

struct ca_entry {
	char		serial[CA_SERIAL_HEX_MAX + 1];
	enum np_role	role;
	char		name[NP_NAME_MAX + 1];
	int64_t		not_before;
	int64_t		not_after;
	enum ca_status	status;
	int64_t		revoked_at;	/* 0 while valid */
};

struct ca_index {
	struct ca_entry	*v;	/* owned */
	size_t		 n;
	size_t		 cap;
};

void	ca_index_init(struct ca_index *idx);
/* Frees the entries; idx is empty and reusable afterwards. */
void	ca_index_free(struct ca_index *idx);

/*
 * Parses len bytes of index text into idx, which must be empty.  Returns 0,
 * -ENOMEM, or NP_ECONFIG with "PATH:LINE: what is wrong" in err (path is
 * only used for that message); idx is left empty on error.
 */
int	ca_index_parse(struct ca_index *idx, const char *text, size_t len,
	    const char *path, char *err, size_t errsize)
	    __attribute__((warn_unused_result));

/*
 * Checks one entry as the parser would; 0 or NP_ECONFIG with the reason
 * in err.
 */
int	ca_index_entry_check(const struct ca_entry *e, char *err,
	    size_t errsize);

/* Appends a copy of e.  0, -ENOMEM, or NP_ETOOBIG past the entry cap. */
int	ca_index_add(struct ca_index *idx, const struct ca_entry *e)
	    __attribute__((warn_unused_result));

/* Index of the entry with this serial, or -1. */
long	ca_index_find_serial(const struct ca_index *idx, const char *serial);

/*
 * Formats the whole index as text into a new buffer, *out (free()),
 * *outlen bytes, NUL-terminated.  0 or -ENOMEM.
 */
int	ca_index_format(const struct ca_index *idx, char **out,
	    size_t *outlen) __attribute__((warn_unused_result));

#endif

/* SPDX-License-Identifier: MIT */
/*
 * The CA directory:
 *
 *	DIR/ca.key	CA private key, PEM, mode 0600
 *	DIR/ca.crt	CA certificate, PEM, 0644: what every role's tls.ca is
 *	DIR/index	issued certificates, see ca_index.h, 0644
 *	DIR/crlnumber	number of the last CRL, decimal, 0644
 *	DIR/crl.pem	current CRL, PEM, 0644: what every role's tls.crl is
 *	DIR/certs/	issued keys and certificates, 0700
 *
 * An open store holds an flock on the directory, exclusive for commands
 * that change it, so two `netport ca` runs never interleave their updates
 * of the index.  Lower layer: errors go to err, nothing is printed.
 */
#ifndef NETPORT_CA_STORE_H
#define NETPORT_CA_STORE_H

#include <stddef.h>
#include <stdint.h>

#include <openssl/evp.h>
#include <openssl/x509.h>

#include "ca/ca_index.h"

#define CA_STORE_KEY		"ca.key"
#define CA_STORE_CERT		"ca.crt"
#define CA_STORE_INDEX		"index"
#define CA_STORE_CRLNUMBER	"crlnumber"
#define CA_STORE_CRL		"crl.pem"
#define CA_STORE_CERTS		"certs"

/* Flags of ca_store_open(). */
#define CA_STORE_WRITE	(1u << 0)	/* exclusive lock */
#define CA_STORE_SIGN	(1u << 1)	/* load ca.key and ca.crt */

struct ca_store {
	char		*dir;	/* owned copy */
	int		 dirfd;	/* holds the lock */
	X509		*cert;	/* with CA_STORE_SIGN, else NULL */
	EVP_PKEY	*key;	/* with CA_STORE_SIGN, else NULL */
	struct ca_index	 index;
};

/*
 * Opens an initialised CA directory and reads its index.  Returns 0 and the
 * store in *out, or -errno, NP_ECONFIG (corrupt file), NP_ECRYPTO (key or
 * certificate unreadable) or NP_ENOTFOUND (no CA there) with the reason in
 * err.
 */
int	ca_store_open(const char *dir, unsigned flags, struct ca_store **out,
	    char *err, size_t errsize) __attribute__((warn_unused_result));

/*
 * Prepares dir for a new CA: creates it (0700) and DIR/certs if missing and
 * locks it.  Refuses with NP_EEXIST when DIR/ca.key exists, unless force.
 * The store comes back with an empty index and no key or certificate.
 */
int	ca_store_create(const char *dir, int force, struct ca_store **out,
	    char *err, size_t errsize) __attribute__((warn_unused_result));

/* Unlocks and frees; NULL is a no-op. */
void	ca_store_free(struct ca_store *st);

/* Writes "DIR/file" into out; 0 or -ENAMETOOLONG. */
int	ca_store_path(const struct ca_store *st, const char *file, char *out,
	    size_t size) __attribute__((warn_unused_result));

/* Writes the index back (atomically).  0 or an error with err set. */
int	ca_store_save_index(const struct ca_store *st, char *err,
	    size_t errsize) __attribute__((warn_unused_result));

/*
 * Reads DIR/crlnumber (missing: 0), and stores and returns the next number
 * in *out.  0 or an error with err set.
 */
int	ca_store_next_crl_number(const struct ca_store *st, uint64_t *out,
	    char *err, size_t errsize) __attribute__((warn_unused_result));

/* Writes a private key, PEM, mode 0600.  0 or -errno / NP_ECRYPTO. */
int	ca_store_write_key(const char *path, EVP_PKEY *key, int replace)
	    __attribute__((warn_unused_result));
/* Writes a certificate, PEM, mode 0644.  0 or -errno / NP_ECRYPTO. */
int	ca_store_write_cert(const char *path, X509 *cert, int replace)
	    __attribute__((warn_unused_result));

#endif

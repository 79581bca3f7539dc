/* SPDX-License-Identifier: MIT */
/*
 * The certificate revocation list.  It is rebuilt from the index every
 * time, so it always lists exactly the certificates marked revoked there,
 * and is signed by the CA key.  Roles load it through tls.crl; since
 * OpenSSL refuses peers once a CRL is past its next update, it must be
 * regenerated and redistributed before then.
 */
#ifndef NETPORT_CA_CRL_H
#define NETPORT_CA_CRL_H

#include <stddef.h>
#include <stdint.h>

#include <openssl/evp.h>
#include <openssl/x509.h>

#include "ca/ca_index.h"
#include "ca/ca_store.h"

/* Default and maximum lifetime of a CRL, in days. */
#define CA_CRL_DAYS_DEFAULT	30
#define CA_CRL_DAYS_MAX		3650

/*
 * A v2 CRL of the revoked entries of idx, with the given number,
 * lastUpdate and nextUpdate (unix seconds), AKI and CRL number extensions,
 * signed by key.  0, or NP_ECRYPTO / NP_ECONFIG / -ENOMEM with err set.
 */
int	ca_crl_make(X509 *ca, EVP_PKEY *key, const struct ca_index *idx,
	    uint64_t number, int64_t last_update, int64_t next_update,
	    X509_CRL **out, char *err, size_t errsize)
	    __attribute__((warn_unused_result));

/*
 * Regenerates DIR/crl.pem of a store opened with CA_STORE_SIGN and
 * CA_STORE_WRITE, valid for days, with the next CRL number.  The path
 * written goes to path (may be NULL).  0 or an error with err set.
 */
int	ca_crl_update(const struct ca_store *st, int days, char *path,
	    size_t pathsize, char *err, size_t errsize)
	    __attribute__((warn_unused_result));

#endif

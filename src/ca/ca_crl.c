/* SPDX-License-Identifier: MIT */
/* Building and writing the CRL; see ca_crl.h. */
#include <errno.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include <openssl/bio.h>
#include <openssl/bn.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include "ca/ca_crl.h"
#include "ca/ca_file.h"
#include "ca/ca_index.h"
#include "ca/ca_store.h"
#include "core/err.h"

/* Adds one revoked entry. */
static int
ca_crl_add_revoked(X509_CRL *crl, const struct ca_entry *e)
{
	X509_REVOKED *rev = NULL;
	ASN1_INTEGER *serial = NULL;
	ASN1_TIME *when = NULL;
	BIGNUM *bn = NULL;
	int rc = NP_ECRYPTO;

	if (BN_hex2bn(&bn, e->serial) == 0 ||
	    (serial = BN_to_ASN1_INTEGER(bn, NULL)) == NULL ||
	    (when = ASN1_TIME_set(NULL, (time_t)e->revoked_at)) == NULL ||
	    (rev = X509_REVOKED_new()) == NULL ||
	    !X509_REVOKED_set_serialNumber(rev, serial) ||
	    !X509_REVOKED_set_revocationDate(rev, when) ||
	    !X509_CRL_add0_revoked(crl, rev))
		goto out;
	rev = NULL;
	rc = 0;
out:
	X509_REVOKED_free(rev);
	ASN1_TIME_free(when);
	ASN1_INTEGER_free(serial);
	BN_free(bn);
	return rc;
}

/* The CRL number and the key identifier of the CA that signs it. */
static int
ca_crl_add_extensions(X509_CRL *crl, X509 *ca, uint64_t number)
{
	X509_EXTENSION *ext = NULL;
	ASN1_INTEGER *num = NULL;
	X509V3_CTX v3;
	int rc = NP_ECRYPTO;

	if ((num = ASN1_INTEGER_new()) == NULL ||
	    !ASN1_INTEGER_set_uint64(num, number) ||
	    X509_CRL_add1_ext_i2d(crl, NID_crl_number, num, 0, 0) != 1)
		goto out;
	X509V3_set_ctx(&v3, ca, NULL, NULL, crl, 0);
	if ((ext = X509V3_EXT_nconf_nid(NULL, &v3,
	    NID_authority_key_identifier, "keyid:always")) == NULL ||
	    X509_CRL_add_ext(crl, ext, -1) != 1)
		goto out;
	rc = 0;
out:
	X509_EXTENSION_free(ext);
	ASN1_INTEGER_free(num);
	return rc;
}

int
ca_crl_make(X509 *ca, EVP_PKEY *key, const struct ca_index *idx,
    uint64_t number, int64_t last_update, int64_t next_update,
    X509_CRL **out, char *err, size_t errsize)
{
	ASN1_TIME *last = NULL, *next = NULL;
	X509_CRL *crl = NULL;
	size_t i;
	int rc = NP_ECRYPTO;

	*out = NULL;
	ERR_clear_error();
	if ((crl = X509_CRL_new()) == NULL) {
		rc = -ENOMEM;
		np_errf(err, errsize, "%s", strerror(ENOMEM));
		goto out;
	}
	if (!X509_CRL_set_version(crl, X509_CRL_VERSION_2) ||
	    !X509_CRL_set_issuer_name(crl, X509_get_subject_name(ca)) ||
	    (last = ASN1_TIME_set(NULL, (time_t)last_update)) == NULL ||
	    (next = ASN1_TIME_set(NULL, (time_t)next_update)) == NULL ||
	    !X509_CRL_set1_lastUpdate(crl, last) ||
	    !X509_CRL_set1_nextUpdate(crl, next)) {
		np_errf(err, errsize, "cannot build the CRL");
		goto out;
	}
	/* Expired certificates stay listed: harmless, and simpler to audit. */
	for (i = 0; i < idx->n; i++) {
		if (idx->v[i].status != CA_STATUS_REVOKED)
			continue;
		if (ca_crl_add_revoked(crl, &idx->v[i]) != 0) {
			np_errf(err, errsize, "cannot add serial %s to the "
			    "CRL", idx->v[i].serial);
			goto out;
		}
	}
	if (ca_crl_add_extensions(crl, ca, number) != 0) {
		np_errf(err, errsize, "cannot add the CRL extensions");
		goto out;
	}
	if (!X509_CRL_sort(crl) || X509_CRL_sign(crl, key, EVP_sha256()) <= 0) {
		np_errf(err, errsize, "cannot sign the CRL");
		goto out;
	}
	*out = crl;
	crl = NULL;
	rc = 0;
out:
	ASN1_TIME_free(last);
	ASN1_TIME_free(next);
	X509_CRL_free(crl);
	return rc;
}

int
ca_crl_update(const struct ca_store *st, int days, char *path,
    size_t pathsize, char *err, size_t errsize)
{
	char crlpath[PATH_MAX];
	X509_CRL *crl = NULL;
	BIO *bio = NULL;
	uint64_t number;
	int64_t now;
	char *pem;
	long len;
	int rc;

	if (path != NULL && pathsize > 0)
		path[0] = '\0';
	if (days < 1 || days > CA_CRL_DAYS_MAX || st->key == NULL ||
	    st->cert == NULL) {
		rc = -EINVAL;
		np_errf(err, errsize, "invalid CRL request");
		goto out;
	}
	if ((rc = ca_store_path(st, CA_STORE_CRL, crlpath,
	    sizeof(crlpath))) != 0) {
		np_errf(err, errsize, "%s: path too long", st->dir);
		goto out;
	}
	if ((rc = ca_store_next_crl_number(st, &number, err, errsize)) != 0)
		goto out;
	now = (int64_t)time(NULL);
	if ((rc = ca_crl_make(st->cert, st->key, &st->index, number, now,
	    now + (int64_t)days * 86400, &crl, err, errsize)) != 0)
		goto out;
	ERR_clear_error();
	if ((bio = BIO_new(BIO_s_mem())) == NULL ||
	    !PEM_write_bio_X509_CRL(bio, crl) ||
	    (len = BIO_get_mem_data(bio, &pem)) <= 0) {
		rc = NP_ECRYPTO;
		np_errf(err, errsize, "cannot encode the CRL");
		goto out;
	}
	if ((rc = ca_file_write(crlpath, pem, (size_t)len, 0644, 1)) != 0) {
		np_errf(err, errsize, "%s: %s", crlpath, strerror(-rc));
		goto out;
	}
	if (path != NULL)
		snprintf(path, pathsize, "%s", crlpath);
	rc = 0;
out:
	BIO_free(bio);
	X509_CRL_free(crl);
	return rc;
}

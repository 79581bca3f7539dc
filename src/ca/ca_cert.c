/* SPDX-License-Identifier: MIT */
/* Keys, the CA certificate and leaf certificates; see ca_cert.h. */
#include <arpa/inet.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include <openssl/bn.h>
#include <openssl/err.h>
#include <openssl/rand.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include "ca/ca_cert.h"
#include "ca/ca_index.h"
#include "core/err.h"
#include "core/identity.h"

/* Random bits of a serial: RFC 5280 asks for at least 64 unpredictable. */
#define CA_CERT_SERIAL_BYTES	16
/* Redraws of a colliding serial before giving up (one is already absurd). */
#define CA_CERT_SERIAL_TRIES	8

int
ca_cert_keygen(EVP_PKEY **out)
{
	*out = EVP_EC_gen("P-256");
	if (*out == NULL) {
		ERR_clear_error();
		return NP_ECRYPTO;
	}
	return 0;
}

int
ca_cert_cn_check(const char *cn)
{
	size_t i, n = strnlen(cn, CA_CERT_CN_MAX + 1);

	if (n == 0 || n > CA_CERT_CN_MAX || cn[0] == ' ' || cn[n - 1] == ' ')
		return NP_ENAME;
	for (i = 0; i < n; i++)
		if (cn[i] < 0x20 || cn[i] > 0x7e)
			return NP_ENAME;
	return 0;
}

int
ca_cert_dns_check(const char *name)
{
	size_t n = strnlen(name, CA_CERT_DNS_MAX + 1), i, label = 0;
	char c;

	if (n == 0 || n > CA_CERT_DNS_MAX)
		return NP_ENAME;
	for (i = 0; i < n; i++) {
		c = name[i];
		if (c == '.') {
			if (label == 0 || name[i - 1] == '-')
				return NP_ENAME;
			label = 0;
			continue;
		}
		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
		    (c >= '0' && c <= '9') || c == '-'))
			return NP_ENAME;
		if (c == '-' && label == 0)
			return NP_ENAME;
		if (++label > 63)
			return NP_ENAME;
	}
	if (label == 0 || name[n - 1] == '-')
		return NP_ENAME;
	return 0;
}

/* Parses an address into its 4 or 16 bytes; 0 or NP_ENAME. */
static int
ca_cert_ip_parse(const char *s, unsigned char out[static 16], int *len)
{
	if (inet_pton(AF_INET, s, out) == 1) {
		*len = 4;
		return 0;
	}
	if (inet_pton(AF_INET6, s, out) == 1) {
		*len = 16;
		return 0;
	}
	return NP_ENAME;
}

int
ca_cert_ip_check(const char *s)
{
	unsigned char b[16];
	int len;

	return ca_cert_ip_parse(s, b, &len);
}

int
ca_cert_serial_hex(const X509 *cert, char out[static CA_SERIAL_HEX_MAX + 1])
{
	BIGNUM *bn;
	char *hex = NULL;
	int rc = -1;

	out[0] = '\0';
	bn = ASN1_INTEGER_to_BN(X509_get0_serialNumber(cert), NULL);
	if (bn == NULL || (hex = BN_bn2hex(bn)) == NULL ||
	    strlen(hex) > CA_SERIAL_HEX_MAX || hex[0] == '-')
		goto out;
	snprintf(out, CA_SERIAL_HEX_MAX + 1, "%s", hex);
	rc = 0;
out:
	ERR_clear_error();
	OPENSSL_free(hex);
	BN_free(bn);
	return rc;
}

/* Adds "FIELD=value" entries to a name, in order. */
static int
ca_cert_name_add(X509_NAME *name, const char *field, const char *value)
{
	return X509_NAME_add_entry_by_txt(name, field, MBSTRING_UTF8,
	    (const unsigned char *)value, -1, -1, 0) == 1 ? 0 : NP_ECRYPTO;
}

/* Adds an extension given in the openssl.cnf syntax ("critical,CA:TRUE"). */
static int
ca_cert_ext_add(X509 *cert, X509 *issuer, int nid, const char *value)
{
	X509_EXTENSION *ext;
	X509V3_CTX v3;
	int rc;

	X509V3_set_ctx(&v3, issuer, cert, NULL, NULL, 0);
	if ((ext = X509V3_EXT_nconf_nid(NULL, &v3, nid, value)) == NULL)
		return NP_ECRYPTO;
	rc = X509_add_ext(cert, ext, -1) == 1 ? 0 : NP_ECRYPTO;
	X509_EXTENSION_free(ext);
	return rc;
}

static int
ca_cert_set_validity(X509 *cert, int64_t not_before, int64_t not_after)
{
	if (ASN1_TIME_set(X509_getm_notBefore(cert), (time_t)not_before) ==
	    NULL || ASN1_TIME_set(X509_getm_notAfter(cert),
	    (time_t)not_after) == NULL)
		return NP_ECRYPTO;
	return 0;
}

/* Random positive serial of CA_CERT_SERIAL_BYTES bytes, not in taken. */
static int
ca_cert_set_serial(X509 *cert, const struct ca_index *taken)
{
	unsigned char raw[CA_CERT_SERIAL_BYTES];
	char hex[CA_SERIAL_HEX_MAX + 1];
	ASN1_INTEGER *ai = NULL;
	BIGNUM *bn = NULL;
	int tries, rc = NP_ECRYPTO;

	for (tries = 0; tries < CA_CERT_SERIAL_TRIES; tries++) {
		if (RAND_bytes(raw, sizeof(raw)) != 1 ||
		    (bn = BN_bin2bn(raw, sizeof(raw), bn)) == NULL)
			goto out;
		if (BN_is_zero(bn))
			continue;
		ASN1_INTEGER_free(ai);
		if ((ai = BN_to_ASN1_INTEGER(bn, NULL)) == NULL ||
		    !X509_set_serialNumber(cert, ai) ||
		    ca_cert_serial_hex(cert, hex) != 0)
			goto out;
		if (taken == NULL || ca_index_find_serial(taken, hex) < 0) {
			rc = 0;
			goto out;
		}
	}
out:
	ASN1_INTEGER_free(ai);
	BN_free(bn);
	return rc;
}

int
ca_cert_make_ca(EVP_PKEY *key, const char *cn, int64_t not_before,
    int64_t not_after, X509 **out, char *err, size_t errsize)
{
	X509_NAME *name;
	X509 *cert = NULL;
	int rc = NP_ECRYPTO;

	*out = NULL;
	ERR_clear_error();
	if ((cert = X509_new()) == NULL) {
		rc = -ENOMEM;
		np_errf(err, errsize, "%s", strerror(ENOMEM));
		goto out;
	}
	name = X509_get_subject_name(cert);
	if (!X509_set_version(cert, X509_VERSION_3) ||
	    ca_cert_set_serial(cert, NULL) != 0 ||
	    ca_cert_name_add(name, "O", "netport") != 0 ||
	    ca_cert_name_add(name, "CN", cn) != 0 ||
	    !X509_set_issuer_name(cert, name) ||
	    ca_cert_set_validity(cert, not_before, not_after) != 0 ||
	    !X509_set_pubkey(cert, key)) {
		np_errf(err, errsize, "cannot build the CA certificate");
		goto out;
	}
	/*
	 * pathlen:0: this CA signs leaves only, so a leaf key can never be
	 * turned into a CA by mistake or by an attacker.
	 */
	if (ca_cert_ext_add(cert, cert, NID_basic_constraints,
	    "critical,CA:TRUE,pathlen:0") != 0 ||
	    ca_cert_ext_add(cert, cert, NID_key_usage,
	    "critical,keyCertSign,cRLSign") != 0 ||
	    ca_cert_ext_add(cert, cert, NID_subject_key_identifier,
	    "hash") != 0 ||
	    ca_cert_ext_add(cert, cert, NID_authority_key_identifier,
	    "keyid:always") != 0) {
		np_errf(err, errsize, "cannot add the CA extensions");
		goto out;
	}
	if (X509_sign(cert, key, EVP_sha256()) <= 0) {
		np_errf(err, errsize, "cannot sign the CA certificate");
		goto out;
	}
	*out = cert;
	cert = NULL;
	rc = 0;
out:
	X509_free(cert);
	return rc;
}

/* Appends one IA5 string (URI or DNS name) general name. */
static int
ca_cert_san_push_str(GENERAL_NAMES *gens, int type, const char *s)
{
	GENERAL_NAME *gn = NULL;
	ASN1_IA5STRING *str = NULL;
	int rc = NP_ECRYPTO;

	if ((gn = GENERAL_NAME_new()) == NULL ||
	    (str = ASN1_IA5STRING_new()) == NULL ||
	    !ASN1_STRING_set(str, s, (int)strlen(s)))
		goto out;
	GENERAL_NAME_set0_value(gn, type, str);
	str = NULL;
	if (!sk_GENERAL_NAME_push(gens, gn))
		goto out;
	gn = NULL;
	rc = 0;
out:
	ASN1_IA5STRING_free(str);
	GENERAL_NAME_free(gn);
	return rc;
}

static int
ca_cert_san_push_ip(GENERAL_NAMES *gens, const char *s)
{
	unsigned char addr[16];
	GENERAL_NAME *gn = NULL;
	ASN1_OCTET_STRING *os = NULL;
	int len, rc = NP_ECRYPTO;

	if (ca_cert_ip_parse(s, addr, &len) != 0) {
		rc = NP_ENAME;
		goto out;
	}
	if ((gn = GENERAL_NAME_new()) == NULL ||
	    (os = ASN1_OCTET_STRING_new()) == NULL ||
	    !ASN1_OCTET_STRING_set(os, addr, len))
		goto out;
	GENERAL_NAME_set0_value(gn, GEN_IPADD, os);
	os = NULL;
	if (!sk_GENERAL_NAME_push(gens, gn))
		goto out;
	gn = NULL;
	rc = 0;
out:
	ASN1_OCTET_STRING_free(os);
	GENERAL_NAME_free(gn);
	return rc;
}

/* The identity URI first, then DNS names and addresses. */
static int
ca_cert_add_san(X509 *cert, const struct ca_cert_req *req)
{
	char uri[sizeof(NP_IDENTITY_URI_PREFIX) + NP_IDENTITY_STR_MAX];
	GENERAL_NAMES *gens;
	size_t i;
	int rc = NP_ECRYPTO;

	if ((gens = sk_GENERAL_NAME_new_null()) == NULL)
		return -ENOMEM;
	if ((rc = identity_to_uri(&req->id, uri, sizeof(uri))) != 0 ||
	    (rc = ca_cert_san_push_str(gens, GEN_URI, uri)) != 0)
		goto out;
	for (i = 0; i < req->ndns; i++) {
		if (ca_cert_dns_check(req->dns[i]) != 0) {
			rc = NP_ENAME;
			goto out;
		}
		if ((rc = ca_cert_san_push_str(gens, GEN_DNS,
		    req->dns[i])) != 0)
			goto out;
	}
	for (i = 0; i < req->nip; i++)
		if ((rc = ca_cert_san_push_ip(gens, req->ip[i])) != 0)
			goto out;
	rc = X509_add1_ext_i2d(cert, NID_subject_alt_name, gens, 0,
	    X509V3_ADD_DEFAULT) == 1 ? 0 : NP_ECRYPTO;
out:
	GENERAL_NAMES_free(gens);
	return rc;
}

int
ca_cert_issue(X509 *ca, EVP_PKEY *ca_key, const struct ca_cert_req *req,
    EVP_PKEY *key, const struct ca_index *taken, X509 **out, char *err,
    size_t errsize)
{
	X509_NAME *name;
	X509 *cert = NULL;
	int rc = NP_ECRYPTO;

	*out = NULL;
	ERR_clear_error();
	if (req->id.role == NP_ROLE_NONE ||
	    identity_name_check(req->id.name) != 0 ||
	    req->ndns > CA_CERT_SAN_MAX || req->nip > CA_CERT_SAN_MAX ||
	    req->not_after <= req->not_before) {
		rc = NP_ENAME;
		np_errf(err, errsize, "invalid certificate request");
		goto out;
	}
	if ((cert = X509_new()) == NULL) {
		rc = -ENOMEM;
		np_errf(err, errsize, "%s", strerror(ENOMEM));
		goto out;
	}
	name = X509_get_subject_name(cert);
	if (!X509_set_version(cert, X509_VERSION_3) ||
	    ca_cert_set_serial(cert, taken) != 0 ||
	    ca_cert_name_add(name, "O", "netport") != 0 ||
	    ca_cert_name_add(name, "OU",
	    identity_role_name(req->id.role)) != 0 ||
	    ca_cert_name_add(name, "CN", req->id.name) != 0 ||
	    !X509_set_issuer_name(cert, X509_get_subject_name(ca)) ||
	    ca_cert_set_validity(cert, req->not_before, req->not_after) != 0 ||
	    !X509_set_pubkey(cert, key)) {
		np_errf(err, errsize, "cannot build the certificate");
		goto out;
	}
	if ((rc = ca_cert_add_san(cert, req)) != 0) {
		np_errf(err, errsize, "cannot add the subject "
		    "alternative names");
		goto out;
	}
	/*
	 * Both purposes: a portal is a TLS client towards the server and
	 * the relay, and either end of a portal-to-portal tunnel.
	 */
	if (ca_cert_ext_add(cert, ca, NID_basic_constraints,
	    "critical,CA:FALSE") != 0 ||
	    ca_cert_ext_add(cert, ca, NID_key_usage,
	    "critical,digitalSignature") != 0 ||
	    ca_cert_ext_add(cert, ca, NID_ext_key_usage,
	    "serverAuth,clientAuth") != 0 ||
	    ca_cert_ext_add(cert, ca, NID_subject_key_identifier,
	    "hash") != 0 ||
	    ca_cert_ext_add(cert, ca, NID_authority_key_identifier,
	    "keyid:always") != 0) {
		rc = NP_ECRYPTO;
		np_errf(err, errsize, "cannot add the extensions");
		goto out;
	}
	if (X509_sign(cert, ca_key, EVP_sha256()) <= 0) {
		rc = NP_ECRYPTO;
		np_errf(err, errsize, "cannot sign the certificate");
		goto out;
	}
	*out = cert;
	cert = NULL;
	rc = 0;
out:
	X509_free(cert);
	return rc;
}

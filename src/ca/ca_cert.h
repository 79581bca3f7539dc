/* SPDX-License-Identifier: MIT */
/*
 * Keys and certificates made by the CA: EC P-256 keys, the self-signed CA
 * certificate, and leaf certificates that carry a netport identity as their
 * URI SAN (see identity.h).  Lower layer: errors go to err.
 */
#ifndef NETPORT_CA_CERT_H
#define NETPORT_CA_CERT_H

#include <stddef.h>
#include <stdint.h>

#include <openssl/evp.h>
#include <openssl/x509.h>

#include "ca/ca_index.h"
#include "core/identity.h"

/* X.520 caps a common name at 64 characters. */
#define CA_CERT_CN_MAX		64
/* At most this many DNS and this many IP SANs per certificate. */
#define CA_CERT_SAN_MAX		32
/* A DNS name is at most 253 characters (RFC 1035, without the dot). */
#define CA_CERT_DNS_MAX		253

/* What a leaf certificate is issued for. */
struct ca_cert_req {
	struct np_identity	 id;
	int64_t			 not_before;	/* unix seconds */
	int64_t			 not_after;
	char *const		*dns;		/* borrowed, ndns entries */
	size_t			 ndns;
	char *const		*ip;		/* borrowed, nip entries */
	size_t			 nip;
};

/* A new EC P-256 key in *out.  0 or NP_ECRYPTO. */
int	ca_cert_keygen(EVP_PKEY **out) __attribute__((warn_unused_result));

/*
 * The self-signed CA certificate for key, subject "CN=cn, O=netport".
 * 0, or NP_ECRYPTO / -ENOMEM with the reason in err.
 */
int	ca_cert_make_ca(EVP_PKEY *key, const char *cn, int64_t not_before,
	    int64_t not_after, X509 **out, char *err, size_t errsize)
	    __attribute__((warn_unused_result));

/*
 * A certificate for key, signed by ca/ca_key, with a random 128-bit
 * serial not yet in taken.  The DNS names and addresses must have passed
 * ca_cert_dns_check() and ca_cert_ip_check().  0, or NP_ECRYPTO /
 * NP_ENAME / -ENOMEM with the reason in err.
 */
int	ca_cert_issue(X509 *ca, EVP_PKEY *ca_key, const struct ca_cert_req *req,
	    EVP_PKEY *key, const struct ca_index *taken, X509 **out, char *err,
	    size_t errsize) __attribute__((warn_unused_result));

/* The serial of cert as upper-case hex, as the index stores it. 0 or -1. */
int	ca_cert_serial_hex(const X509 *cert,
	    char out[static CA_SERIAL_HEX_MAX + 1]);

/* 0 if the CA's common name is acceptable (printable ASCII), or NP_ENAME. */
int	ca_cert_cn_check(const char *cn);
/* 0 if name is a DNS host name (letters, digits, '-', dots), or NP_ENAME. */
int	ca_cert_dns_check(const char *name);
/* 0 if s is an IPv4 or IPv6 address, or NP_ENAME. */
int	ca_cert_ip_check(const char *s);

#endif

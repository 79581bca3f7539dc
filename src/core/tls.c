/* SPDX-License-Identifier: MIT */
/*
 * TLS contexts for the roles, and the identity check that runs on top of
 * chain verification; see tls.h.
 *
 * Per-context state (accepted peer roles, the trust anchors) and
 * per-connection state (expected peer, why verification failed) live in
 * OpenSSL ex_data, so the verify callback can reach both from the
 * X509_STORE_CTX it is given and both are freed with their owner.
 */
#include <errno.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include "core/err.h"
#include "core/identity.h"
#include "core/tls.h"

/*
 * AES-GCM first for hardware that accelerates it; ChaCha20 for the small
 * devices a portal often runs on.  All three are the TLS 1.3 suites every
 * implementation offers; CCM suites are left out on purpose.
 */
#define TLS_CIPHERSUITES						\
	"TLS_AES_128_GCM_SHA256:TLS_AES_256_GCM_SHA384:"		\
	"TLS_CHACHA20_POLY1305_SHA256"
#define TLS_GROUPS		"X25519:P-256"

/* Longest failure reason kept per connection; one log line's worth. */
#define TLS_REASON_MAX		256

/* Every role bit a context may accept. */
#define TLS_ROLES_ALL							\
	(NP_ROLE_BIT(NP_ROLE_PORTAL) | NP_ROLE_BIT(NP_ROLE_SERVER) |	\
	    NP_ROLE_BIT(NP_ROLE_RELAY))

struct tls_ctx_data {
	unsigned	 peer_roles;
	enum tls_side	 side;
	/* The trust anchors, kept to rebuild the store on CRL reload. */
	STACK_OF(X509)	*cas;
};

struct tls_conn_data {
	int			has_expected;
	struct np_identity	expected;
	char			reason[TLS_REASON_MAX];	/* "" when none */
};

static CRYPTO_ONCE	tls_once = CRYPTO_ONCE_STATIC_INIT;
static int		tls_ctx_idx = -1;
static int		tls_conn_idx = -1;

static void
tls_ctx_data_free_cb(void *parent, void *ptr, CRYPTO_EX_DATA *ad, int idx,
    long argl, void *argp)
{
	struct tls_ctx_data *d = ptr;

	if (d == NULL)
		return;
	sk_X509_pop_free(d->cas, X509_free);
	free(d);
}

static void
tls_conn_data_free_cb(void *parent, void *ptr, CRYPTO_EX_DATA *ad, int idx,
    long argl, void *argp)
{
	free(ptr);
}

static void
tls_init_once(void)
{
	tls_ctx_idx = SSL_CTX_get_ex_new_index(0, NULL, NULL, NULL,
	    tls_ctx_data_free_cb);
	tls_conn_idx = SSL_get_ex_new_index(0, NULL, NULL, NULL,
	    tls_conn_data_free_cb);
}

static int
tls_init(void)
{
	if (!CRYPTO_THREAD_run_once(&tls_once, tls_init_once) ||
	    tls_ctx_idx < 0 || tls_conn_idx < 0)
		return -ENOMEM;
	return 0;
}

/* Appends ": " and the drained error queue to the message already in err. */
static void
tls_errq_append(char *err, size_t errsize)
{
	char q[TLS_REASON_MAX];
	size_t len;

	tls_drain_errors(q, sizeof(q));
	len = strnlen(err, errsize);
	if (errsize > 0 && len < errsize - 1)
		snprintf(err + len, errsize - len, ": %s", q);
}

void
tls_drain_errors(char *err, size_t errsize)
{
	unsigned long e, prev = 0;
	const char *data, *reason;
	char fallback[128];
	size_t off = 0;
	int flags, n;

	if (errsize == 0) {
		ERR_clear_error();
		return;
	}
	err[0] = '\0';
	while ((e = ERR_get_error_all(NULL, NULL, NULL, &data, &flags)) != 0) {
		/* The same error is often queued by several layers. */
		if (e == prev || off >= errsize - 1)
			continue;
		prev = e;
		reason = ERR_reason_error_string(e);
		if (reason == NULL) {
			ERR_error_string_n(e, fallback, sizeof(fallback));
			reason = fallback;
		}
		if (!(flags & ERR_TXT_STRING) || data == NULL)
			data = "";
		n = snprintf(err + off, errsize - off, "%s%s%s%s%s",
		    off > 0 ? "; " : "", reason, *data ? " (" : "", data,
		    *data ? ")" : "");
		off = n < 0 ? errsize - 1 : off + (size_t)n;
		if (off > errsize - 1)
			off = errsize - 1;
	}
	if (err[0] == '\0')
		snprintf(err, errsize, "no detail from the TLS library");
}

int
tls_cert_identity(X509 *cert, struct np_identity *out)
{
	const size_t plen = sizeof(NP_IDENTITY_URI_PREFIX) - 1;
	GENERAL_NAMES *sans = NULL;
	const GENERAL_NAME *gn;
	struct np_identity id;
	const char *uri;
	int crit = -1, found = 0, i, len, rc = NP_EIDENTITY;

	memset(out, 0, sizeof(*out));
	if (cert == NULL)
		goto out;
	/* crit is -2 when the extension appears twice: refuse, not guess. */
	sans = X509_get_ext_d2i(cert, NID_subject_alt_name, &crit, NULL);
	if (sans == NULL)
		goto out;
	for (i = 0; i < sk_GENERAL_NAME_num(sans); i++) {
		gn = sk_GENERAL_NAME_value(sans, i);
		if (gn->type != GEN_URI)
			continue;
		uri = (const char *)ASN1_STRING_get0_data(
		    gn->d.uniformResourceIdentifier);
		len = ASN1_STRING_length(gn->d.uniformResourceIdentifier);
		/*
		 * Other URIs (a SPIFFE ID, say) may share the certificate.
		 * The scheme is compared without case so that "NETPORT://"
		 * counts as a netport URI and is then rejected as malformed,
		 * rather than silently ignored.
		 */
		if (len < 0 || (size_t)len < plen ||
		    strncasecmp(uri, NP_IDENTITY_URI_PREFIX, plen) != 0)
			continue;
		if (++found > 1 ||
		    identity_from_uri(uri, (size_t)len, &id) != 0)
			goto out;
	}
	if (found != 1)
		goto out;
	*out = id;
	rc = 0;
out:
	GENERAL_NAMES_free(sans);
	return rc;
}

/* The connection's state, created on first use; NULL when out of memory. */
static struct tls_conn_data *
tls_conn_data_get(SSL *ssl)
{
	struct tls_conn_data *cd = NULL;

	if (tls_init() != 0)
		goto out;
	if ((cd = SSL_get_ex_data(ssl, tls_conn_idx)) != NULL)
		goto out;
	if ((cd = calloc(1, sizeof(*cd))) == NULL)
		goto out;
	if (!SSL_set_ex_data(ssl, tls_conn_idx, cd)) {
		free(cd);
		cd = NULL;
	}
out:
	return cd;
}

/* "portal", "portal or relay", "portal, server or relay". */
static void
tls_roles_format(unsigned mask, char *out, size_t size)
{
	const char *names[3];
	size_t n = 0, i;
	unsigned r;

	for (r = NP_ROLE_PORTAL; r <= NP_ROLE_RELAY; r++)
		if (mask & NP_ROLE_BIT(r))
			names[n++] = identity_role_name((enum np_role)r);
	out[0] = '\0';
	for (i = 0; i < n; i++)
		snprintf(out + strlen(out), size - strlen(out), "%s%s",
		    i == 0 ? "" : i + 1 == n ? " or " : ", ", names[i]);
	if (n == 0)
		snprintf(out, size, "no role");
}

/*
 * Runs for every certificate of the peer's chain.  OpenSSL has already
 * judged the chain (preverify_ok); only the leaf, and only when the chain
 * is good, is checked here for its netport identity.  A rejection is
 * reported as an application verification failure, which fails the
 * handshake with an alert, and the precise reason is kept for
 * tls_failure_reason().
 */
/*
 * The netport part of judging a peer whose chain verified: its leaf must
 * carry one identity, of a role this context accepts, and be exactly
 * expected when that is set.  0, or -1 with reason filled.  Shared by the
 * OpenSSL handshake (tls_verify_cb) and by paths whose TLS is another
 * library's (tls_verify_chain_der), so that every path applies one rule.
 */
static int
tls_check_identity(const struct tls_ctx_data *d,
    const struct np_identity *expected, X509 *leaf, char *reason,
    size_t reasonsize)
{
	char got[NP_IDENTITY_STR_MAX], want[NP_IDENTITY_STR_MAX];
	struct np_identity id;
	char roles[64];

	if (tls_cert_identity(leaf, &id) != 0) {
		snprintf(reason, reasonsize, "peer certificate "
		    "has no valid identity (exactly one URI SAN "
		    NP_IDENTITY_URI_PREFIX "ROLE/NAME)");
		return -1;
	}
	identity_format(&id, got);
	if (!(d->peer_roles & NP_ROLE_BIT(id.role))) {
		tls_roles_format(d->peer_roles, roles, sizeof(roles));
		snprintf(reason, reasonsize,
		    "peer %s has role %s; this %s accepts %s", got,
		    identity_role_name(id.role),
		    d->side == TLS_SIDE_SERVER ? "listener" : "connection",
		    roles);
		return -1;
	}
	if (expected != NULL && !identity_equal(&id, expected)) {
		identity_format(expected, want);
		snprintf(reason, reasonsize, "peer is %s, expected %s", got,
		    want);
		return -1;
	}
	return 0;
}

/*
 * Runs for every certificate of the peer's chain.  OpenSSL has already
 * judged the chain (preverify_ok); only the leaf, and only when the chain
 * is good, is checked here for its netport identity.  A rejection is
 * reported as an application verification failure, which fails the
 * handshake with an alert, and the precise reason is kept for
 * tls_failure_reason().
 */
static int
tls_verify_cb(int preverify_ok, X509_STORE_CTX *xctx)
{
	const struct tls_ctx_data *d;
	struct tls_conn_data *cd;
	SSL *ssl;

	if (!preverify_ok || X509_STORE_CTX_get_error_depth(xctx) != 0)
		return preverify_ok;
	ssl = X509_STORE_CTX_get_ex_data(xctx,
	    SSL_get_ex_data_X509_STORE_CTX_idx());
	if (ssl == NULL)
		goto reject;
	d = SSL_CTX_get_ex_data(SSL_get_SSL_CTX(ssl), tls_ctx_idx);
	cd = tls_conn_data_get(ssl);
	if (d == NULL || cd == NULL)
		goto reject;
	if (tls_check_identity(d, cd->has_expected ? &cd->expected : NULL,
	    X509_STORE_CTX_get_current_cert(xctx), cd->reason,
	    sizeof(cd->reason)) != 0)
		goto reject;
	return 1;
reject:
	X509_STORE_CTX_set_error(xctx, X509_V_ERR_APPLICATION_VERIFICATION);
	return 0;
}

int
tls_verify_chain_der(SSL_CTX *ctx, const struct np_identity *expected,
    const uint8_t *const *der, const size_t *len, size_t n, char *why,
    size_t whysize)
{
	const struct tls_ctx_data *d;
	STACK_OF(X509) *chain = NULL;
	X509_STORE_CTX *xctx = NULL;
	X509 *leaf = NULL, *x = NULL;
	const unsigned char *q;
	size_t i;
	int rc = -1;

	why[0] = '\0';
	if (tls_init() != 0 || (d = SSL_CTX_get_ex_data(ctx,
	    tls_ctx_idx)) == NULL) {
		snprintf(why, whysize, "not a netport TLS context");
		return -1;
	}
	if (n == 0) {
		snprintf(why, whysize, "peer sent no certificate");
		return -1;
	}
	if ((chain = sk_X509_new_null()) == NULL)
		goto nomem;
	for (i = 0; i < n; i++) {
		q = der[i];
		x = NULL;
		if (len[i] > LONG_MAX || (x = d2i_X509(NULL, &q,
		    (long)len[i])) == NULL || q != der[i] + len[i]) {
			X509_free(x);
			snprintf(why, whysize, "peer certificate %zu is not "
			    "valid DER X.509", i);
			goto out;
		}
		if (i == 0)
			leaf = x;
		else if (!sk_X509_push(chain, x)) {
			X509_free(x);
			goto nomem;
		}
	}
	if ((xctx = X509_STORE_CTX_new()) == NULL ||
	    !X509_STORE_CTX_init(xctx, SSL_CTX_get_cert_store(ctx), leaf,
	    chain))
		goto nomem;
	/* The purpose and flags a handshake of this context would use. */
	X509_STORE_CTX_set_default(xctx, d->side == TLS_SIDE_SERVER ?
	    "ssl_client" : "ssl_server");
	X509_VERIFY_PARAM_set1(X509_STORE_CTX_get0_param(xctx),
	    SSL_CTX_get0_param(ctx));
	if (X509_verify_cert(xctx) != 1) {
		snprintf(why, whysize, "peer certificate: %s",
		    X509_verify_cert_error_string(
		    X509_STORE_CTX_get_error(xctx)));
		goto out;
	}
	rc = tls_check_identity(d, expected, leaf, why, whysize);
	goto out;
nomem:
	snprintf(why, whysize, "out of memory");
out:
	ERR_clear_error();
	X509_STORE_CTX_free(xctx);
	X509_free(leaf);
	sk_X509_pop_free(chain, X509_free);
	return rc;
}

static int
tls_no_passphrase_cb(char *buf, int size, int rwflag, void *u)
{
	return 0;
}

/* Reads every PEM certificate of a file; at least one is required. */
static int
tls_read_certs(const char *what, const char *path, STACK_OF(X509) **out,
    char *err, size_t errsize)
{
	STACK_OF(X509) *sk = NULL;
	FILE *fp = NULL;
	X509 *x;
	int rc;

	*out = NULL;
	if ((fp = fopen(path, "r")) == NULL) {
		rc = -errno;
		np_errf(err, errsize, "%s %s: %s", what, path, strerror(-rc));
		goto out;
	}
	if ((sk = sk_X509_new_null()) == NULL) {
		rc = -ENOMEM;
		goto out;
	}
	ERR_clear_error();
	while ((x = PEM_read_X509(fp, NULL, NULL, NULL)) != NULL) {
		if (!sk_X509_push(sk, x)) {
			X509_free(x);
			rc = -ENOMEM;
			goto out;
		}
	}
	/* The loop ends on end of file, which OpenSSL queues as an error. */
	if (sk_X509_num(sk) == 0 || ferror(fp) ||
	    ERR_GET_REASON(ERR_peek_last_error()) != PEM_R_NO_START_LINE) {
		rc = NP_ETLS;
		np_errf(err, errsize, "%s %s: %s", what, path,
		    sk_X509_num(sk) == 0 ? "no PEM certificate in the file" :
		    "cannot parse the PEM certificates");
		if (sk_X509_num(sk) != 0)
			tls_errq_append(err, errsize);
		goto out;
	}
	ERR_clear_error();
	*out = sk;
	sk = NULL;
	rc = 0;
out:
	sk_X509_pop_free(sk, X509_free);
	if (fp != NULL)
		fclose(fp);
	return rc;
}

/* The CA of cas that issued a CRL, if its signature verifies. */
static X509 *
tls_crl_issuer(STACK_OF(X509) *cas, X509_CRL *crl)
{
	X509 *ca;
	int i;

	for (i = 0; i < sk_X509_num(cas); i++) {
		ca = sk_X509_value(cas, i);
		if (X509_NAME_cmp(X509_get_subject_name(ca),
		    X509_CRL_get_issuer(crl)) == 0 &&
		    X509_CRL_verify(crl, X509_get0_pubkey(ca)) == 1)
			return ca;
	}
	return NULL;
}

/*
 * Loads a CRL file into store.  The checks OpenSSL would otherwise only
 * make at handshake time, failing every peer with a vague error, are made
 * here with the file named: each CRL must be signed by one of the CAs and
 * still current, and every CA needs a CRL, since with CRL checking on a
 * certificate whose issuer has no CRL is refused.
 */
static int
tls_store_add_crl(X509_STORE *store, STACK_OF(X509) *cas, const char *path,
    char *err, size_t errsize)
{
	STACK_OF(X509_CRL) *crls = NULL;
	const ASN1_TIME *next;
	X509_CRL *crl;
	FILE *fp = NULL;
	int i, j, rc;
	X509 *ca;

	if ((fp = fopen(path, "r")) == NULL) {
		rc = -errno;
		np_errf(err, errsize, "tls.crl %s: %s", path, strerror(-rc));
		goto out;
	}
	if ((crls = sk_X509_CRL_new_null()) == NULL) {
		rc = -ENOMEM;
		goto out;
	}
	ERR_clear_error();
	while ((crl = PEM_read_X509_CRL(fp, NULL, NULL, NULL)) != NULL) {
		if (!sk_X509_CRL_push(crls, crl)) {
			X509_CRL_free(crl);
			rc = -ENOMEM;
			goto out;
		}
	}
	if (sk_X509_CRL_num(crls) == 0 || ferror(fp) ||
	    ERR_GET_REASON(ERR_peek_last_error()) != PEM_R_NO_START_LINE) {
		rc = NP_ETLS;
		np_errf(err, errsize, "tls.crl %s: %s", path,
		    sk_X509_CRL_num(crls) == 0 ? "no PEM CRL in the file" :
		    "cannot parse the PEM CRLs");
		goto out;
	}
	ERR_clear_error();
	for (i = 0; i < sk_X509_CRL_num(crls); i++) {
		crl = sk_X509_CRL_value(crls, i);
		if (tls_crl_issuer(cas, crl) == NULL) {
			rc = NP_ETLS;
			np_errf(err, errsize, "tls.crl %s: CRL %d is not "
			    "signed by a CA of tls.ca", path, i + 1);
			goto out;
		}
		next = X509_CRL_get0_nextUpdate(crl);
		if (next != NULL && X509_cmp_current_time(next) <= 0) {
			rc = NP_ETLS;
			np_errf(err, errsize, "tls.crl %s: the CRL has "
			    "expired (its next update was due); regenerate "
			    "it with 'netport ca crl'", path);
			goto out;
		}
	}
	for (i = 0; i < sk_X509_num(cas); i++) {
		ca = sk_X509_value(cas, i);
		for (j = 0; j < sk_X509_CRL_num(crls); j++)
			if (X509_NAME_cmp(X509_get_subject_name(ca),
			    X509_CRL_get_issuer(sk_X509_CRL_value(crls,
			    j))) == 0)
				break;
		if (j == sk_X509_CRL_num(crls)) {
			rc = NP_ETLS;
			np_errf(err, errsize, "tls.crl %s: no CRL for CA %d "
			    "of tls.ca; with revocation checking on, every "
			    "CA needs its CRL in this file", path, i + 1);
			goto out;
		}
	}
	for (i = 0; i < sk_X509_CRL_num(crls); i++) {
		if (!X509_STORE_add_crl(store, sk_X509_CRL_value(crls, i))) {
			rc = NP_ETLS;
			np_errf(err, errsize, "tls.crl %s", path);
			tls_errq_append(err, errsize);
			goto out;
		}
	}
	rc = 0;
out:
	sk_X509_CRL_pop_free(crls, X509_CRL_free);
	if (fp != NULL)
		fclose(fp);
	return rc;
}

/* A new verify store with the trust anchors and, if given, the CRL. */
static int
tls_store_new(STACK_OF(X509) *cas, const char *crl_path, X509_STORE **out,
    char *err, size_t errsize)
{
	X509_STORE *store = NULL;
	int i, rc;

	*out = NULL;
	if ((store = X509_STORE_new()) == NULL) {
		rc = -ENOMEM;
		goto out;
	}
	for (i = 0; i < sk_X509_num(cas); i++) {
		if (!X509_STORE_add_cert(store, sk_X509_value(cas, i))) {
			rc = NP_ETLS;
			np_errf(err, errsize, "tls.ca: cannot add CA %d", i);
			tls_errq_append(err, errsize);
			goto out;
		}
	}
	if (crl_path != NULL) {
		if ((rc = tls_store_add_crl(store, cas, crl_path, err,
		    errsize)) != 0)
			goto out;
		/*
		 * The leaf only: netport CAs sign leaves directly, and a
		 * self-signed root cannot be revoked by its own CRL anyway.
		 */
		X509_STORE_set_flags(store, X509_V_FLAG_CRL_CHECK);
	}
	*out = store;
	store = NULL;
	rc = 0;
out:
	X509_STORE_free(store);
	return rc;
}

/*
 * Loads the own certificate (and any chain after it) and the key, and
 * checks that they belong together.
 */
static int
tls_load_own(SSL_CTX *ctx, const struct tls_files *files, char *err,
    size_t errsize)
{
	STACK_OF(X509) *chain = NULL;
	EVP_PKEY *key = NULL;
	FILE *fp = NULL;
	int i, rc;

	if ((rc = tls_read_certs("tls.cert", files->cert, &chain, err,
	    errsize)) != 0)
		goto out;
	ERR_clear_error();
	if (!SSL_CTX_use_certificate(ctx, sk_X509_value(chain, 0))) {
		rc = NP_ETLS;
		np_errf(err, errsize, "tls.cert %s", files->cert);
		tls_errq_append(err, errsize);
		goto out;
	}
	for (i = 1; i < sk_X509_num(chain); i++) {
		if (!SSL_CTX_add1_chain_cert(ctx, sk_X509_value(chain, i))) {
			rc = NP_ETLS;
			np_errf(err, errsize, "tls.cert %s", files->cert);
			tls_errq_append(err, errsize);
			goto out;
		}
	}
	if ((fp = fopen(files->key, "r")) == NULL) {
		rc = -errno;
		np_errf(err, errsize, "tls.key %s: %s", files->key,
		    strerror(-rc));
		goto out;
	}
	/* Keys are stored unencrypted; a passphrase prompt would hang. */
	key = PEM_read_PrivateKey(fp, NULL, tls_no_passphrase_cb, NULL);
	if (key == NULL) {
		rc = NP_ETLS;
		np_errf(err, errsize, "tls.key %s: cannot read an "
		    "unencrypted PEM private key", files->key);
		tls_errq_append(err, errsize);
		goto out;
	}
	if (X509_check_private_key(sk_X509_value(chain, 0), key) != 1) {
		rc = NP_ETLS;
		ERR_clear_error();
		np_errf(err, errsize, "tls.key %s does not match the "
		    "certificate tls.cert %s", files->key, files->cert);
		goto out;
	}
	if (!SSL_CTX_use_PrivateKey(ctx, key) ||
	    !SSL_CTX_check_private_key(ctx)) {
		rc = NP_ETLS;
		np_errf(err, errsize, "tls.key %s", files->key);
		tls_errq_append(err, errsize);
		goto out;
	}
	rc = 0;
out:
	EVP_PKEY_free(key);
	if (fp != NULL)
		fclose(fp);
	sk_X509_pop_free(chain, X509_free);
	return rc;
}

/*
 * Verifies the own certificate against the own trust store, so that a
 * certificate from another CA, an expired or a revoked one is reported at
 * start-up with the file named, instead of as handshake failures on the
 * peers.
 */
static int
tls_check_own(SSL_CTX *ctx, const struct tls_files *files, char *err,
    size_t errsize)
{
	X509_STORE_CTX *xctx = NULL;
	STACK_OF(X509) *chain = NULL;
	int rc;

	if ((xctx = X509_STORE_CTX_new()) == NULL) {
		rc = -ENOMEM;
		goto out;
	}
	ERR_clear_error();
	if (!SSL_CTX_get0_chain_certs(ctx, &chain) ||
	    !X509_STORE_CTX_init(xctx, SSL_CTX_get_cert_store(ctx),
	    SSL_CTX_get0_certificate(ctx), chain)) {
		rc = NP_ETLS;
		np_errf(err, errsize, "tls.cert %s", files->cert);
		tls_errq_append(err, errsize);
		goto out;
	}
	if (X509_verify_cert(xctx) != 1) {
		rc = NP_ETLS;
		ERR_clear_error();
		np_errf(err, errsize, "tls.cert %s does not verify against "
		    "tls.ca %s%s%s: %s", files->cert, files->ca,
		    files->crl ? " and tls.crl " : "",
		    files->crl ? files->crl : "",
		    X509_verify_cert_error_string(
		    X509_STORE_CTX_get_error(xctx)));
		goto out;
	}
	rc = 0;
out:
	X509_STORE_CTX_free(xctx);
	return rc;
}

int
tls_ctx_new(const struct tls_files *files, enum np_role self,
    enum tls_side side, unsigned peer_roles, SSL_CTX **out, char *err,
    size_t errsize)
{
	char got[NP_IDENTITY_STR_MAX];
	struct tls_ctx_data *d = NULL, *data;
	X509_STORE *store = NULL;
	struct np_identity id;
	SSL_CTX *ctx = NULL;
	int rc;

	*out = NULL;
	if (errsize > 0)
		err[0] = '\0';
	if (files == NULL || files->ca == NULL || files->cert == NULL ||
	    files->key == NULL || self == NP_ROLE_NONE ||
	    (unsigned)self > NP_ROLE_RELAY || peer_roles == 0 ||
	    (peer_roles & ~TLS_ROLES_ALL) != 0) {
		rc = -EINVAL;
		np_errf(err, errsize, "tls: invalid arguments");
		goto out;
	}
	if ((rc = tls_init()) != 0)
		goto out;
	if ((d = calloc(1, sizeof(*d))) == NULL) {
		rc = -ENOMEM;
		goto out;
	}
	d->peer_roles = peer_roles;
	d->side = side;
	ERR_clear_error();
	ctx = SSL_CTX_new(side == TLS_SIDE_SERVER ? TLS_server_method() :
	    TLS_client_method());
	if (ctx == NULL) {
		rc = -ENOMEM;
		goto out;
	}
	if (!SSL_CTX_set_ex_data(ctx, tls_ctx_idx, d)) {
		rc = -ENOMEM;
		goto out;
	}
	data = d;	/* borrowed: freed with ctx from here on */
	d = NULL;

	/*
	 * No resumption of any kind: a resumed session skips certificate
	 * verification, so it would outlive a revocation and bypass the
	 * identity check.  With TLS 1.3, SSL_OP_NO_TICKET alone would only
	 * switch to stateful tickets; the ticket count and the cache close
	 * that door too.  Renegotiation and compression do not exist in
	 * TLS 1.3 but are switched off in case the floor is ever lowered.
	 */
	SSL_CTX_set_options(ctx, SSL_OP_NO_RENEGOTIATION |
	    SSL_OP_NO_COMPRESSION | SSL_OP_NO_TICKET);
	SSL_CTX_set_session_cache_mode(ctx, SSL_SESS_CACHE_OFF);
	/*
	 * Peers hold the CA already; sending it would only cost bytes.  A
	 * chain given in tls.cert after the leaf is still sent.
	 */
	SSL_CTX_set_mode(ctx, SSL_MODE_NO_AUTO_CHAIN);
	if (!SSL_CTX_set_min_proto_version(ctx, TLS1_3_VERSION) ||
	    !SSL_CTX_set_max_proto_version(ctx, TLS1_3_VERSION) ||
	    !SSL_CTX_set_num_tickets(ctx, 0) ||
	    !SSL_CTX_set_ciphersuites(ctx, TLS_CIPHERSUITES) ||
	    !SSL_CTX_set1_groups_list(ctx, TLS_GROUPS)) {
		rc = NP_ETLS;
		np_errf(err, errsize, "tls: cannot configure TLS 1.3");
		tls_errq_append(err, errsize);
		goto out;
	}
	SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER |
	    SSL_VERIFY_FAIL_IF_NO_PEER_CERT, tls_verify_cb);

	if ((rc = tls_read_certs("tls.ca", files->ca, &data->cas, err,
	    errsize)) != 0)
		goto out;
	if ((rc = tls_store_new(data->cas, files->crl, &store, err,
	    errsize)) != 0)
		goto out;
	SSL_CTX_set_cert_store(ctx, store);
	store = NULL;

	if ((rc = tls_load_own(ctx, files, err, errsize)) != 0)
		goto out;
	if (tls_cert_identity(SSL_CTX_get0_certificate(ctx), &id) != 0) {
		rc = NP_EIDENTITY;
		np_errf(err, errsize, "tls.cert %s: the certificate has no "
		    "valid netport identity (exactly one URI SAN "
		    NP_IDENTITY_URI_PREFIX "ROLE/NAME); issue it with "
		    "'netport ca issue'", files->cert);
		goto out;
	}
	if (id.role != self) {
		rc = NP_EROLE;
		identity_format(&id, got);
		np_errf(err, errsize, "tls.cert %s: the certificate is for "
		    "%s, but this process is a %s; use a certificate issued "
		    "with 'netport ca issue --role %s'", files->cert, got,
		    identity_role_name(self), identity_role_name(self));
		goto out;
	}
	if ((rc = tls_check_own(ctx, files, err, errsize)) != 0)
		goto out;
	*out = ctx;
	ctx = NULL;
	rc = 0;
out:
	X509_STORE_free(store);
	SSL_CTX_free(ctx);
	free(d);
	if (rc == -ENOMEM)
		np_errf(err, errsize, "tls: %s", strerror(ENOMEM));
	return rc;
}

/*
 * XXX: SSL_CTX_set_cert_store frees the old store, which a handshake
 * running in another thread at that moment may still be using; call this
 * from the thread that owns the context, or while no handshake runs.
 */
int
tls_ctx_reload_crl(SSL_CTX *ctx, const char *crl_path, char *err,
    size_t errsize)
{
	const struct tls_ctx_data *d;
	X509_STORE *store = NULL;
	int rc;

	if (errsize > 0)
		err[0] = '\0';
	if ((rc = tls_init()) != 0)
		goto out;
	d = SSL_CTX_get_ex_data(ctx, tls_ctx_idx);
	if (d == NULL) {
		rc = -EINVAL;
		np_errf(err, errsize, "tls: not a context of tls_ctx_new()");
		goto out;
	}
	if ((rc = tls_store_new(d->cas, crl_path, &store, err,
	    errsize)) != 0)
		goto out;
	SSL_CTX_set_cert_store(ctx, store);
	store = NULL;
	rc = 0;
out:
	X509_STORE_free(store);
	if (rc == -ENOMEM)
		np_errf(err, errsize, "tls: %s", strerror(ENOMEM));
	return rc;
}

int
tls_ctx_identity(SSL_CTX *ctx, struct np_identity *out)
{
	return tls_cert_identity(SSL_CTX_get0_certificate(ctx), out);
}

int
tls_expect_peer(SSL *ssl, const struct np_identity *expected)
{
	struct tls_conn_data *cd;

	if ((cd = tls_conn_data_get(ssl)) == NULL)
		return -ENOMEM;
	cd->expected = *expected;
	cd->has_expected = 1;
	return 0;
}

int
tls_peer_identity(SSL *ssl, struct np_identity *out)
{
	memset(out, 0, sizeof(*out));
	if (SSL_get_verify_result(ssl) != X509_V_OK)
		return NP_EIDENTITY;
	return tls_cert_identity(SSL_get0_peer_certificate(ssl), out);
}

void
tls_failure_reason(SSL *ssl, char *err, size_t errsize)
{
	const struct tls_conn_data *cd = NULL;
	long vr;

	if (errsize == 0) {
		ERR_clear_error();
		return;
	}
	if (tls_init() == 0 && ssl != NULL)
		cd = SSL_get_ex_data(ssl, tls_conn_idx);
	vr = ssl != NULL ? SSL_get_verify_result(ssl) : X509_V_OK;
	if (cd != NULL && cd->reason[0] != '\0') {
		snprintf(err, errsize, "%s", cd->reason);
		ERR_clear_error();
	} else if (vr != X509_V_OK) {
		snprintf(err, errsize, "peer certificate: %s",
		    X509_verify_cert_error_string(vr));
		ERR_clear_error();
	} else
		tls_drain_errors(err, errsize);
}

/* Server side: select the one protocol we speak, or refuse. */
static int
tls_alpn_select_cb(SSL *ssl, const unsigned char **out, unsigned char *outlen,
    const unsigned char *in, unsigned int inlen, void *arg)
{
	const char *proto = arg;
	size_t n = strlen(proto), i = 0;

	while (i < inlen) {
		size_t len = in[i];

		if (len > inlen - i - 1)
			break;
		if (len == n && memcmp(in + i + 1, proto, n) == 0) {
			*out = in + i + 1;
			*outlen = (unsigned char)len;
			return SSL_TLSEXT_ERR_OK;
		}
		i += 1 + len;
	}
	return SSL_TLSEXT_ERR_ALERT_FATAL;
}

int
tls_ctx_set_alpn(SSL_CTX *ctx, int server, const char *proto)
{
	unsigned char wire[256];
	size_t n = strlen(proto);

	if (n == 0 || n > 255)
		return NP_ETLS;
	if (server) {
		SSL_CTX_set_alpn_select_cb(ctx, tls_alpn_select_cb,
		    (void *)(uintptr_t)proto);
		return 0;
	}
	wire[0] = (unsigned char)n;
	memcpy(wire + 1, proto, n);
	/* Unlike most of OpenSSL, 0 is success here. */
	return SSL_CTX_set_alpn_protos(ctx, wire, (unsigned)(n + 1)) == 0 ? 0 :
	    NP_ETLS;
}

int
tls_alpn_is(SSL *ssl, const char *proto)
{
	const unsigned char *sel = NULL;
	unsigned int len = 0;

	SSL_get0_alpn_selected(ssl, &sel, &len);
	return sel != NULL && len == strlen(proto) &&
	    memcmp(sel, proto, len) == 0;
}

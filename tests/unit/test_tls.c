/* SPDX-License-Identifier: MIT */
/*
 * TLS contexts and real handshakes.  Fixtures come from the CA tooling
 * itself (ca_main, run in-process into a scratch directory): one CA with a
 * server, portals, a relay and a revoked portal, and a second CA.  Expired
 * and identity-less certificates, which `netport ca` refuses to make, are
 * built with the OpenSSL API and signed by the same CA key.
 *
 * Each handshake runs both ends in this process over a socketpair, with
 * non-blocking SSL_do_handshake() calls pumped in turn: no network, no
 * threads, and the failure reason of each end is read right where it
 * failed.
 */
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>

#include "ca/ca.h"
#include "ca/ca_cert.h"
#include "ca/ca_crl.h"
#include "ca/ca_store.h"
#include "core/err.h"
#include "core/identity.h"
#include "core/tls.h"
#include "t.h"

#define T_PORTAL	NP_ROLE_BIT(NP_ROLE_PORTAL)
#define T_SERVER	NP_ROLE_BIT(NP_ROLE_SERVER)
#define T_RELAY		NP_ROLE_BIT(NP_ROLE_RELAY)
/* Rounds of the handshake pump; a TLS 1.3 handshake needs a handful. */
#define T_PUMP_ROUNDS	100

static char t_dir[256];

/* Leaf certificates made with the OpenSSL API (see t_fixtures). */
static X509	*t_expired_cert, *t_noid_cert;
static EVP_PKEY	*t_leaf_key;

/* "DIR/rel" in a rotating set of buffers, so a call may use several. */
static char	*t_path(const char *fmt, ...)
		    __attribute__((format(printf, 1, 2)));

static char *
t_path(const char *fmt, ...)
{
	static char bufs[8][PATH_MAX];
	static unsigned next;
	char rel[1024];
	char *b = bufs[next++ % 8];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(rel, sizeof(rel), fmt, ap);
	va_end(ap);
	snprintf(b, PATH_MAX, "%s/%s", t_dir, rel);
	return b;
}

/* Runs `netport ca ARGS...` in-process, with stdout silenced. */
#define T_CA(...)	t_ca((char *[]){ "ca", __VA_ARGS__, NULL })

static int
t_ca(char **argv)
{
	int argc = 0, saved, devnull, rc;

	while (argv[argc] != NULL)
		argc++;
	fflush(stdout);
	saved = dup(1);
	devnull = open("/dev/null", O_WRONLY);
	dup2(devnull, 1);
	close(devnull);
	rc = ca_main(argc, argv);
	fflush(stdout);
	dup2(saved, 1);
	close(saved);
	return rc;
}

/* Reads a NUL-terminated copy of a small file; NULL on failure. */
static char *
t_slurp(const char *path)
{
	char *buf = NULL;
	size_t len = 0;
	FILE *fp;

	if ((fp = fopen(path, "r")) == NULL)
		return NULL;
	buf = calloc(1, 65536);
	if (buf != NULL)
		len = fread(buf, 1, 65535, fp);
	fclose(fp);
	if (buf != NULL)
		buf[len] = '\0';
	return buf;
}

static int
t_concat(const char *out, const char *a, const char *b)
{
	char *x = t_slurp(a), *y = t_slurp(b);
	FILE *fp;
	int rc = -1;

	if (x != NULL && y != NULL && (fp = fopen(out, "w")) != NULL) {
		fputs(x, fp);
		fputs(y, fp);
		rc = fclose(fp) == 0 ? 0 : -1;
	}
	free(x);
	free(y);
	return rc;
}

/*
 * A leaf certificate for key, signed by issuer (self-signed when issuer is
 * NULL), valid from nb to na seconds from now, with the SAN given in
 * openssl.cnf syntax ("URI:netport://portal/a,DNS:x") or none.
 */
static X509 *
t_cert_make(X509 *issuer, EVP_PKEY *issuer_key, EVP_PKEY *key,
    const char *san, long nb, long na)
{
	X509_EXTENSION *ext;
	X509V3_CTX v3;
	X509 *x;

	if ((x = X509_new()) == NULL)
		return NULL;
	X509_set_version(x, X509_VERSION_3);
	ASN1_INTEGER_set(X509_get_serialNumber(x), (long)time(NULL) ^ na);
	X509_NAME_add_entry_by_txt(X509_get_subject_name(x), "CN",
	    MBSTRING_UTF8, (const unsigned char *)"test", -1, -1, 0);
	X509_set_issuer_name(x, X509_get_subject_name(issuer ? issuer : x));
	X509_gmtime_adj(X509_getm_notBefore(x), nb);
	X509_gmtime_adj(X509_getm_notAfter(x), na);
	X509_set_pubkey(x, key);
	X509V3_set_ctx(&v3, issuer ? issuer : x, x, NULL, NULL, 0);
	if (san != NULL) {
		ext = X509V3_EXT_nconf_nid(NULL, &v3, NID_subject_alt_name,
		    san);
		if (ext == NULL) {
			X509_free(x);
			return NULL;
		}
		X509_add_ext(x, ext, -1);
		X509_EXTENSION_free(ext);
	}
	if (X509_sign(x, issuer_key ? issuer_key : key, EVP_sha256()) <= 0) {
		X509_free(x);
		return NULL;
	}
	return x;
}

static int
t_rm_cb(const char *path, const struct stat *sb, int flag, struct FTW *ftw)
{
	return remove(path);
}

static int
t_fixtures(void)
{
	char err[256];
	struct ca_store *st = NULL;
	int rc = -1;

	snprintf(t_dir, sizeof(t_dir), "%s/netport-test-tls.XXXXXX",
	    getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp");
	if (mkdtemp(t_dir) == NULL)
		return -1;
	if (T_CA("init", "--dir", t_path("ca")) != 0 ||
	    T_CA("issue", "--dir", t_path("ca"), "--role", "server",
	    "--name", "hub") != 0 ||
	    T_CA("issue", "--dir", t_path("ca"), "--role", "portal",
	    "--name", "a") != 0 ||
	    T_CA("issue", "--dir", t_path("ca"), "--role", "portal",
	    "--name", "b") != 0 ||
	    T_CA("issue", "--dir", t_path("ca"), "--role", "relay",
	    "--name", "r1") != 0 ||
	    T_CA("issue", "--dir", t_path("ca"), "--role", "portal",
	    "--name", "gone") != 0 ||
	    T_CA("init", "--dir", t_path("other"), "--name",
	    "Other CA") != 0 ||
	    T_CA("issue", "--dir", t_path("other"), "--role",
	    "portal", "--name", "a") != 0)
		goto out;
	/* The CRL from before the revocation, for the reload case. */
	if (t_concat(t_path("crl-before.pem"), t_path("ca/crl.pem"),
	    "/dev/null") != 0 ||
	    T_CA("revoke", "--dir", t_path("ca"), "gone") != 0)
		goto out;
	/* A bundle that trusts both CAs: lets a foreign portal start. */
	if (t_concat(t_path("both.pem"), t_path("other/ca.crt"),
	    t_path("ca/ca.crt")) != 0)
		goto out;
	if (ca_store_open(t_path("ca"), CA_STORE_SIGN, &st, err,
	    sizeof(err)) != 0) {
		fprintf(stderr, "%s\n", err);
		goto out;
	}
	if (ca_cert_keygen(&t_leaf_key) != 0)
		goto out;
	t_expired_cert = t_cert_make(st->cert, st->key, t_leaf_key,
	    "URI:netport://portal/old", -10 * 86400L, -86400L);
	t_noid_cert = t_cert_make(st->cert, st->key, t_leaf_key,
	    "DNS:portal.example", -300, 86400L);
	if (t_expired_cert == NULL || t_noid_cert == NULL)
		goto out;
	rc = 0;
out:
	ca_store_free(st);
	return rc;
}

static void
t_fixtures_free(void)
{
	X509_free(t_expired_cert);
	X509_free(t_noid_cert);
	EVP_PKEY_free(t_leaf_key);
	if (t_dir[0] != '\0')
		nftw(t_dir, t_rm_cb, 16, FTW_DEPTH | FTW_PHYS);
}

/*
 * A context from the fixture CA "ca" (or cadir) for the certificate
 * certs/NAME.{crt,key}; crl is a path relative to the scratch directory.
 */
static int
t_ctx_new(const char *cafile, const char *name, const char *crl,
    enum np_role self, enum tls_side side, unsigned peers, SSL_CTX **out,
    char *err, size_t errsize)
{
	struct tls_files f;
	char cert[PATH_MAX], key[PATH_MAX], ca[PATH_MAX], crlp[PATH_MAX];

	snprintf(ca, sizeof(ca), "%s", t_path("%s", cafile));
	snprintf(cert, sizeof(cert), "%s", t_path("%s.crt", name));
	snprintf(key, sizeof(key), "%s", t_path("%s.key", name));
	if (crl != NULL)
		snprintf(crlp, sizeof(crlp), "%s", t_path("%s", crl));
	f.ca = ca;
	f.cert = cert;
	f.key = key;
	f.crl = crl ? crlp : NULL;
	return tls_ctx_new(&f, self, side, peers, out, err, errsize);
}

/* The listener of most cases: server/hub, accepting portals, with CRL. */
static SSL_CTX *
t_server_ctx(unsigned peers, const char *crl)
{
	char err[256];
	SSL_CTX *ctx = NULL;

	if (t_ctx_new("ca/ca.crt", "ca/certs/server-hub", crl, NP_ROLE_SERVER,
	    TLS_SIDE_SERVER, peers, &ctx, err, sizeof(err)) != 0)
		fprintf(stderr, "server ctx: %s\n", err);
	return ctx;
}

/* A client context outside tls_ctx_new, for certificates it refuses. */
static SSL_CTX *
t_raw_client_ctx(X509 *cert, EVP_PKEY *key, int max_version)
{
	SSL_CTX *ctx;

	if ((ctx = SSL_CTX_new(TLS_client_method())) == NULL)
		return NULL;
	SSL_CTX_set_max_proto_version(ctx, max_version);
	if ((cert != NULL && (!SSL_CTX_use_certificate(ctx, cert) ||
	    !SSL_CTX_use_PrivateKey(ctx, key))) ||
	    !SSL_CTX_load_verify_locations(ctx, t_path("ca/ca.crt"), NULL)) {
		SSL_CTX_free(ctx);
		return NULL;
	}
	SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER, NULL);
	return ctx;
}

struct t_end {
	SSL	*ssl;
	int	 state;		/* 0 running, 1 done, -1 failed */
	char	 why[256];	/* tls_failure_reason() when failed */
};

struct t_conn {
	struct t_end	c;	/* client */
	struct t_end	s;	/* server */
	int		fds[2];
};

static int
t_conn_new(SSL_CTX *cctx, SSL_CTX *sctx, struct t_conn *tc)
{
	memset(tc, 0, sizeof(*tc));
	tc->fds[0] = tc->fds[1] = -1;
	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0,
	    tc->fds) != 0)
		return -1;
	if ((tc->c.ssl = SSL_new(cctx)) == NULL ||
	    (tc->s.ssl = SSL_new(sctx)) == NULL ||
	    !SSL_set_fd(tc->c.ssl, tc->fds[0]) ||
	    !SSL_set_fd(tc->s.ssl, tc->fds[1]))
		return -1;
	SSL_set_connect_state(tc->c.ssl);
	SSL_set_accept_state(tc->s.ssl);
	return 0;
}

static void
t_conn_free(struct t_conn *tc)
{
	SSL_free(tc->c.ssl);
	SSL_free(tc->s.ssl);
	if (tc->fds[0] != -1)
		close(tc->fds[0]);
	if (tc->fds[1] != -1)
		close(tc->fds[1]);
}

/* One step of one end; records the reason where it fails. */
static int
t_step(struct t_end *e, int handshake)
{
	char byte;
	int r, err;

	if (e->state != (handshake ? 0 : 1))
		return 0;
	ERR_clear_error();
	r = handshake ? SSL_do_handshake(e->ssl) :
	    SSL_read(e->ssl, &byte, 1);
	if (r == 1 && handshake) {
		e->state = 1;
		return 1;
	}
	err = SSL_get_error(e->ssl, r);
	if (err == SSL_ERROR_WANT_READ || err == SSL_ERROR_WANT_WRITE)
		return 0;
	e->state = -1;
	tls_failure_reason(e->ssl, e->why, sizeof(e->why));
	return 1;
}

/*
 * Pumps both handshakes until each end is done or failed.  With TLS 1.3 a
 * client completes before the server has checked the client certificate,
 * so when one end failed, the other reads once to receive the alert.
 */
static void
t_handshake(struct t_conn *tc)
{
	int i;

	for (i = 0; i < T_PUMP_ROUNDS; i++) {
		t_step(&tc->c, 1);
		t_step(&tc->s, 1);
		if (tc->c.state != 0 && tc->s.state != 0)
			break;
		if ((tc->c.state == -1 && tc->s.state == 1) ||
		    (tc->s.state == -1 && tc->c.state == 1))
			break;
	}
	if (tc->s.state == -1)
		t_step(&tc->c, 0);
	if (tc->c.state == -1)
		t_step(&tc->s, 0);
}

/* Runs a handshake between two contexts; frees nothing. */
#define T_HANDSHAKE(tc, cctx, sctx) do {				\
	T_ASSERT((cctx) != NULL && (sctx) != NULL);			\
	T_EQ_INT(t_conn_new((cctx), (sctx), (tc)), 0);			\
	t_handshake(tc);						\
} while (0)

#define T_CONTAINS(hay, needle) do {					\
	if (strstr((hay), (needle)) == NULL)				\
		T_FAIL("\"%s\" does not contain \"%s\"", (hay), (needle)); \
} while (0)

T_CASE(portal_server_handshake_ok)
{
	char err[256], s[NP_IDENTITY_STR_MAX];
	SSL_CTX *cctx = NULL, *sctx = t_server_ctx(T_PORTAL, "ca/crl.pem");
	struct np_identity id;
	struct t_conn tc;

	T_EQ_INT(t_ctx_new("ca/ca.crt", "ca/certs/portal-a", "ca/crl.pem",
	    NP_ROLE_PORTAL, TLS_SIDE_CLIENT, T_SERVER, &cctx, err,
	    sizeof(err)), 0);
	T_HANDSHAKE(&tc, cctx, sctx);
	T_EQ_INT(tc.c.state, 1);
	T_EQ_INT(tc.s.state, 1);
	T_EQ_INT(SSL_version(tc.c.ssl), TLS1_3_VERSION);
	T_EQ_INT(tls_peer_identity(tc.c.ssl, &id), 0);
	identity_format(&id, s);
	T_EQ_STR(s, "server/hub");
	T_EQ_INT(tls_peer_identity(tc.s.ssl, &id), 0);
	identity_format(&id, s);
	T_EQ_STR(s, "portal/a");
	T_EQ_INT(tls_ctx_identity(cctx, &id), 0);
	identity_format(&id, s);
	T_EQ_STR(s, "portal/a");
	T_EQ_INT(tls_ctx_identity(sctx, &id), 0);
	T_EQ_INT(id.role, NP_ROLE_SERVER);
	t_conn_free(&tc);
	SSL_CTX_free(cctx);
	SSL_CTX_free(sctx);
}

T_CASE(data_flows_after_handshake)
{
	char err[256], buf[8];
	SSL_CTX *cctx = NULL, *sctx = t_server_ctx(T_PORTAL, NULL);
	struct t_conn tc;

	T_EQ_INT(t_ctx_new("ca/ca.crt", "ca/certs/portal-b", NULL,
	    NP_ROLE_PORTAL, TLS_SIDE_CLIENT, T_SERVER, &cctx, err,
	    sizeof(err)), 0);
	T_HANDSHAKE(&tc, cctx, sctx);
	T_EQ_INT(tc.s.state, 1);
	ERR_clear_error();
	T_EQ_INT(SSL_write(tc.c.ssl, "ping", 4), 4);
	ERR_clear_error();
	T_EQ_INT(SSL_read(tc.s.ssl, buf, sizeof(buf)), 4);
	T_ASSERT(memcmp(buf, "ping", 4) == 0);
	t_conn_free(&tc);
	SSL_CTX_free(cctx);
	SSL_CTX_free(sctx);
}

/*
 * The tunnel's read BIO: one recv() takes what the socket holds, OpenSSL's
 * small reads are served from it, and after a short recv() the next read
 * waits for tls_rx_readable() instead of calling recv() again.
 */
T_CASE(rx_bio_reads_socket_once)
{
	struct tls_rx rx;
	char big[300], out[300];
	int fds[2];
	BIO *b;

	memset(big, 'x', sizeof(big));
	T_EQ_INT(socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0, fds), 0);
	tls_rx_init(&rx, fds[1], 128);
	T_ASSERT((b = tls_bio_from_rx(&rx)) != NULL);
	/* Nothing there: retry, and the socket counts as drained. */
	T_EQ_INT(BIO_read(b, out, 5), -1);
	T_ASSERT(BIO_should_retry(b));
	T_EQ_INT(write(fds[0], "hello world", 11), 11);
	T_EQ_INT(BIO_read(b, out, 5), -1);
	tls_rx_readable(&rx);
	T_EQ_INT(BIO_read(b, out, 5), 5);
	T_EQ_INT(tls_rx_pending(&rx), 6);
	T_EQ_INT(BIO_read(b, out + 5, 100), 6);
	T_ASSERT(memcmp(out, "hello world", 11) == 0);
	/* That recv() was short: no other until the next read event. */
	T_EQ_INT(write(fds[0], big, sizeof(big)), (int)sizeof(big));
	T_EQ_INT(BIO_read(b, out, 1), -1);
	T_ASSERT(BIO_should_retry(b));
	/* A full one (the cap, 128) may have left more behind. */
	tls_rx_readable(&rx);
	T_EQ_INT(BIO_read(b, out, 200), 128);
	T_EQ_INT(BIO_read(b, out, 200), 128);
	T_EQ_INT(BIO_read(b, out, 200), 44);
	T_ASSERT(!BIO_eof(b));
	/* The peer's close is an EOF, not a retry. */
	close(fds[0]);
	T_EQ_INT(BIO_read(b, out, 1), -1);
	tls_rx_readable(&rx);
	T_EQ_INT(BIO_read(b, out, 1), 0);
	T_ASSERT(!BIO_should_retry(b));
	T_ASSERT(BIO_eof(b));
	BIO_free(b);
	buf_release(&rx.buf);
	close(fds[1]);
}

/* Records of several sizes, read through the rx BIO with read-ahead off. */
T_CASE(rx_bio_carries_records)
{
	char err[256], *msg, *got;
	SSL_CTX *cctx = NULL, *sctx = t_server_ctx(T_PORTAL, NULL);
	size_t len = 100000, have = 0;
	struct t_conn tc;
	struct tls_rx rx;
	BIO *b;
	int n, i;

	T_EQ_INT(t_ctx_new("ca/ca.crt", "ca/certs/portal-b", NULL,
	    NP_ROLE_PORTAL, TLS_SIDE_CLIENT, T_SERVER, &cctx, err,
	    sizeof(err)), 0);
	T_HANDSHAKE(&tc, cctx, sctx);
	T_EQ_INT(tc.s.state, 1);
	tls_rx_init(&rx, tc.fds[1], 64 * 1024);
	T_ASSERT((b = tls_bio_from_rx(&rx)) != NULL);
	SSL_set0_rbio(tc.s.ssl, b);
	T_ASSERT((msg = malloc(len)) != NULL && (got = malloc(len)) != NULL);
	for (i = 0; i < (int)len; i++)
		msg[i] = (char)(i * 7);
	ERR_clear_error();
	T_EQ_INT(SSL_write(tc.c.ssl, msg, 1), 1);
	T_EQ_INT(SSL_write(tc.c.ssl, msg + 1, (int)len - 1), (int)len - 1);
	/* A retry is only ever "wait for the socket": mark it readable. */
	for (i = 0; i < 1000 && have < len; i++) {
		n = SSL_read(tc.s.ssl, got + have, (int)(len - have));
		if (n > 0) {
			have += (size_t)n;
			continue;
		}
		T_EQ_INT(SSL_get_error(tc.s.ssl, n), SSL_ERROR_WANT_READ);
		tls_rx_readable(&rx);
	}
	T_EQ_INT(have, len);
	T_ASSERT(memcmp(msg, got, len) == 0);
	T_EQ_INT(tls_rx_pending(&rx), 0);
	free(msg);
	free(got);
	t_conn_free(&tc);
	buf_release(&rx.buf);
	SSL_CTX_free(cctx);
	SSL_CTX_free(sctx);
}

T_CASE(listener_refuses_wrong_role)
{
	char err[256];
	SSL_CTX *cctx = NULL, *sctx = t_server_ctx(T_PORTAL, "ca/crl.pem");
	struct t_conn tc;

	T_EQ_INT(t_ctx_new("ca/ca.crt", "ca/certs/relay-r1", NULL,
	    NP_ROLE_RELAY, TLS_SIDE_CLIENT, T_SERVER, &cctx, err,
	    sizeof(err)), 0);
	T_HANDSHAKE(&tc, cctx, sctx);
	T_EQ_INT(tc.s.state, -1);
	T_EQ_STR(tc.s.why, "peer relay/r1 has role relay; this listener "
	    "accepts portal");
	T_EQ_INT(tc.c.state, -1);
	T_CONTAINS(tc.c.why, "alert");
	t_conn_free(&tc);
	SSL_CTX_free(cctx);
	SSL_CTX_free(sctx);
}

T_CASE(client_refuses_wrong_role)
{
	char err[256];
	SSL_CTX *cctx = NULL, *sctx = NULL;
	struct t_conn tc;

	/* A relay certificate answering where the server was dialled. */
	T_EQ_INT(t_ctx_new("ca/ca.crt", "ca/certs/relay-r1", NULL,
	    NP_ROLE_RELAY, TLS_SIDE_SERVER, T_PORTAL, &sctx, err,
	    sizeof(err)), 0);
	T_EQ_INT(t_ctx_new("ca/ca.crt", "ca/certs/portal-a", NULL,
	    NP_ROLE_PORTAL, TLS_SIDE_CLIENT, T_SERVER, &cctx, err,
	    sizeof(err)), 0);
	T_HANDSHAKE(&tc, cctx, sctx);
	T_EQ_INT(tc.c.state, -1);
	T_EQ_STR(tc.c.why, "peer relay/r1 has role relay; this connection "
	    "accepts server");
	T_EQ_INT(tc.s.state, -1);
	t_conn_free(&tc);
	SSL_CTX_free(cctx);
	SSL_CTX_free(sctx);
}

T_CASE(several_roles_listed_in_reason)
{
	char err[256];
	SSL_CTX *cctx = NULL, *sctx = t_server_ctx(T_PORTAL | T_SERVER, NULL);
	struct t_conn tc;

	T_EQ_INT(t_ctx_new("ca/ca.crt", "ca/certs/relay-r1", NULL,
	    NP_ROLE_RELAY, TLS_SIDE_CLIENT, T_SERVER, &cctx, err,
	    sizeof(err)), 0);
	T_HANDSHAKE(&tc, cctx, sctx);
	T_EQ_INT(tc.s.state, -1);
	T_CONTAINS(tc.s.why, "this listener accepts portal or server");
	t_conn_free(&tc);
	SSL_CTX_free(cctx);
	SSL_CTX_free(sctx);
}

T_CASE(other_ca_refused)
{
	char err[256];
	SSL_CTX *cctx = NULL, *sctx = t_server_ctx(T_PORTAL, "ca/crl.pem");
	struct t_conn tc;

	/* Trusts both CAs itself, so that only the server's check acts. */
	T_EQ_INT(t_ctx_new("both.pem", "other/certs/portal-a", NULL,
	    NP_ROLE_PORTAL, TLS_SIDE_CLIENT, T_SERVER, &cctx, err,
	    sizeof(err)), 0);
	T_HANDSHAKE(&tc, cctx, sctx);
	T_EQ_INT(tc.s.state, -1);
	T_EQ_STR(tc.s.why, "peer certificate: unable to get local issuer "
	    "certificate");
	T_EQ_INT(tc.c.state, -1);
	T_CONTAINS(tc.c.why, "unknown ca");
	T_ASSERT(tls_peer_identity(tc.s.ssl, &(struct np_identity){ 0 }) ==
	    NP_EIDENTITY);
	t_conn_free(&tc);
	SSL_CTX_free(cctx);
	SSL_CTX_free(sctx);
}

T_CASE(revoked_refused_with_crl)
{
	char err[256];
	SSL_CTX *cctx = NULL, *sctx = t_server_ctx(T_PORTAL, "ca/crl.pem");
	struct t_conn tc;

	T_EQ_INT(t_ctx_new("ca/ca.crt", "ca/certs/portal-gone", NULL,
	    NP_ROLE_PORTAL, TLS_SIDE_CLIENT, T_SERVER, &cctx, err,
	    sizeof(err)), 0);
	T_HANDSHAKE(&tc, cctx, sctx);
	T_EQ_INT(tc.s.state, -1);
	T_EQ_STR(tc.s.why, "peer certificate: certificate revoked");
	T_EQ_INT(tc.c.state, -1);
	T_CONTAINS(tc.c.why, "revoked");
	t_conn_free(&tc);
	SSL_CTX_free(cctx);
	SSL_CTX_free(sctx);
}

T_CASE(crl_reload_applies_to_new_handshakes)
{
	char err[256];
	SSL_CTX *cctx = NULL, *sctx = t_server_ctx(T_PORTAL,
	    "crl-before.pem");
	struct t_conn tc;

	T_EQ_INT(t_ctx_new("ca/ca.crt", "ca/certs/portal-gone", NULL,
	    NP_ROLE_PORTAL, TLS_SIDE_CLIENT, T_SERVER, &cctx, err,
	    sizeof(err)), 0);
	T_HANDSHAKE(&tc, cctx, sctx);
	T_EQ_INT(tc.s.state, 1);
	t_conn_free(&tc);

	T_EQ_INT(tls_ctx_reload_crl(sctx, t_path("ca/crl.pem"), err,
	    sizeof(err)), 0);
	T_HANDSHAKE(&tc, cctx, sctx);
	T_EQ_INT(tc.s.state, -1);
	T_EQ_STR(tc.s.why, "peer certificate: certificate revoked");
	t_conn_free(&tc);

	/* A failed reload keeps the CRL in force. */
	T_EQ_INT(tls_ctx_reload_crl(sctx, t_path("missing.pem"), err,
	    sizeof(err)), -ENOENT);
	T_CONTAINS(err, "missing.pem");
	T_HANDSHAKE(&tc, cctx, sctx);
	T_EQ_INT(tc.s.state, -1);
	t_conn_free(&tc);
	SSL_CTX_free(cctx);
	SSL_CTX_free(sctx);
}

T_CASE(expired_refused)
{
	SSL_CTX *cctx = t_raw_client_ctx(t_expired_cert, t_leaf_key,
	    TLS1_3_VERSION);
	SSL_CTX *sctx = t_server_ctx(T_PORTAL, "ca/crl.pem");
	struct t_conn tc;

	T_HANDSHAKE(&tc, cctx, sctx);
	T_EQ_INT(tc.s.state, -1);
	T_EQ_STR(tc.s.why, "peer certificate: certificate has expired");
	t_conn_free(&tc);
	SSL_CTX_free(cctx);
	SSL_CTX_free(sctx);
}

T_CASE(peer_without_identity_refused)
{
	SSL_CTX *cctx = t_raw_client_ctx(t_noid_cert, t_leaf_key,
	    TLS1_3_VERSION);
	SSL_CTX *sctx = t_server_ctx(T_PORTAL, NULL);
	struct t_conn tc;

	T_HANDSHAKE(&tc, cctx, sctx);
	T_EQ_INT(tc.s.state, -1);
	T_CONTAINS(tc.s.why, "peer certificate has no valid identity");
	t_conn_free(&tc);
	SSL_CTX_free(cctx);
	SSL_CTX_free(sctx);
}

T_CASE(client_without_certificate_refused)
{
	SSL_CTX *cctx = t_raw_client_ctx(NULL, NULL, TLS1_3_VERSION);
	SSL_CTX *sctx = t_server_ctx(T_PORTAL, NULL);
	struct t_conn tc;

	T_HANDSHAKE(&tc, cctx, sctx);
	T_EQ_INT(tc.s.state, -1);
	T_CONTAINS(tc.s.why, "peer did not return a certificate");
	t_conn_free(&tc);
	SSL_CTX_free(cctx);
	SSL_CTX_free(sctx);
}

T_CASE(tls12_refused)
{
	SSL_CTX *cctx = t_raw_client_ctx(NULL, NULL, TLS1_2_VERSION);
	SSL_CTX *sctx = t_server_ctx(T_PORTAL, NULL);
	struct t_conn tc;

	T_HANDSHAKE(&tc, cctx, sctx);
	T_EQ_INT(tc.s.state, -1);
	T_EQ_INT(tc.c.state, -1);
	T_CONTAINS(tc.s.why, "unsupported protocol");
	t_conn_free(&tc);
	SSL_CTX_free(cctx);
	SSL_CTX_free(sctx);
}

/* The portal-to-portal tunnel: each end expects the peer the server named. */
static SSL_CTX *
t_portal_ctx(const char *name, enum tls_side side)
{
	char err[256], path[64];
	SSL_CTX *ctx = NULL;

	snprintf(path, sizeof(path), "ca/certs/portal-%s", name);
	if (t_ctx_new("ca/ca.crt", path, "ca/crl.pem", NP_ROLE_PORTAL, side,
	    T_PORTAL, &ctx, err, sizeof(err)) != 0)
		fprintf(stderr, "portal ctx: %s\n", err);
	return ctx;
}

T_CASE(expect_peer_match_ok)
{
	SSL_CTX *cctx = t_portal_ctx("a", TLS_SIDE_CLIENT);
	SSL_CTX *sctx = t_portal_ctx("b", TLS_SIDE_SERVER);
	struct np_identity want_b, want_a;
	struct t_conn tc;

	T_EQ_INT(identity_set(&want_b, NP_ROLE_PORTAL, "b"), 0);
	T_EQ_INT(identity_set(&want_a, NP_ROLE_PORTAL, "a"), 0);
	T_ASSERT(cctx != NULL && sctx != NULL);
	T_EQ_INT(t_conn_new(cctx, sctx, &tc), 0);
	T_EQ_INT(tls_expect_peer(tc.c.ssl, &want_b), 0);
	T_EQ_INT(tls_expect_peer(tc.s.ssl, &want_a), 0);
	t_handshake(&tc);
	T_EQ_INT(tc.c.state, 1);
	T_EQ_INT(tc.s.state, 1);
	t_conn_free(&tc);
	SSL_CTX_free(cctx);
	SSL_CTX_free(sctx);
}

T_CASE(expect_peer_mismatch_refused_by_client)
{
	SSL_CTX *cctx = t_portal_ctx("a", TLS_SIDE_CLIENT);
	SSL_CTX *sctx = t_portal_ctx("b", TLS_SIDE_SERVER);
	struct np_identity want;
	struct t_conn tc;

	T_EQ_INT(identity_set(&want, NP_ROLE_PORTAL, "c"), 0);
	T_ASSERT(cctx != NULL && sctx != NULL);
	T_EQ_INT(t_conn_new(cctx, sctx, &tc), 0);
	T_EQ_INT(tls_expect_peer(tc.c.ssl, &want), 0);
	t_handshake(&tc);
	T_EQ_INT(tc.c.state, -1);
	T_EQ_STR(tc.c.why, "peer is portal/b, expected portal/c");
	T_EQ_INT(tc.s.state, -1);
	t_conn_free(&tc);
	SSL_CTX_free(cctx);
	SSL_CTX_free(sctx);
}

T_CASE(expect_peer_mismatch_refused_by_server)
{
	SSL_CTX *cctx = t_portal_ctx("a", TLS_SIDE_CLIENT);
	SSL_CTX *sctx = t_portal_ctx("b", TLS_SIDE_SERVER);
	struct np_identity want;
	struct t_conn tc;

	T_EQ_INT(identity_set(&want, NP_ROLE_PORTAL, "c"), 0);
	T_ASSERT(cctx != NULL && sctx != NULL);
	T_EQ_INT(t_conn_new(cctx, sctx, &tc), 0);
	T_EQ_INT(tls_expect_peer(tc.s.ssl, &want), 0);
	t_handshake(&tc);
	T_EQ_INT(tc.s.state, -1);
	T_EQ_STR(tc.s.why, "peer is portal/a, expected portal/c");
	T_EQ_INT(tc.c.state, -1);
	t_conn_free(&tc);
	SSL_CTX_free(cctx);
	SSL_CTX_free(sctx);
}

T_CASE(ctx_refuses_cert_of_other_role)
{
	char err[256];
	SSL_CTX *ctx = NULL;

	T_EQ_INT(t_ctx_new("ca/ca.crt", "ca/certs/portal-a", NULL,
	    NP_ROLE_SERVER, TLS_SIDE_SERVER, T_PORTAL, &ctx, err,
	    sizeof(err)), NP_EROLE);
	T_ASSERT(ctx == NULL);
	T_CONTAINS(err, "ca/certs/portal-a.crt");
	T_CONTAINS(err, "is for portal/a, but this process is a server");
}

T_CASE(ctx_refuses_key_of_other_cert)
{
	struct tls_files f;
	char err[256], ca[PATH_MAX], cert[PATH_MAX], key[PATH_MAX];
	SSL_CTX *ctx = NULL;

	snprintf(ca, sizeof(ca), "%s", t_path("ca/ca.crt"));
	snprintf(cert, sizeof(cert), "%s", t_path("ca/certs/portal-a.crt"));
	snprintf(key, sizeof(key), "%s", t_path("ca/certs/portal-b.key"));
	f.ca = ca;
	f.cert = cert;
	f.key = key;
	f.crl = NULL;
	T_EQ_INT(tls_ctx_new(&f, NP_ROLE_PORTAL, TLS_SIDE_CLIENT, T_SERVER,
	    &ctx, err, sizeof(err)), NP_ETLS);
	T_ASSERT(ctx == NULL);
	T_CONTAINS(err, "portal-b.key does not match");
}

T_CASE(ctx_reports_missing_files)
{
	char err[256];
	SSL_CTX *ctx = NULL;

	T_EQ_INT(t_ctx_new("nope/ca.crt", "ca/certs/portal-a", NULL,
	    NP_ROLE_PORTAL, TLS_SIDE_CLIENT, T_SERVER, &ctx, err,
	    sizeof(err)), -ENOENT);
	T_CONTAINS(err, "tls.ca ");
	T_CONTAINS(err, "nope/ca.crt");
	T_EQ_INT(t_ctx_new("ca/ca.crt", "ca/certs/portal-zz", NULL,
	    NP_ROLE_PORTAL, TLS_SIDE_CLIENT, T_SERVER, &ctx, err,
	    sizeof(err)), -ENOENT);
	T_CONTAINS(err, "tls.cert ");
	T_EQ_INT(t_ctx_new("ca/ca.crt", "ca/certs/portal-a", "nope.pem",
	    NP_ROLE_PORTAL, TLS_SIDE_CLIENT, T_SERVER, &ctx, err,
	    sizeof(err)), -ENOENT);
	T_CONTAINS(err, "tls.crl ");
	/* A file that is not PEM at all. */
	T_EQ_INT(t_ctx_new("ca/index", "ca/certs/portal-a", NULL,
	    NP_ROLE_PORTAL, TLS_SIDE_CLIENT, T_SERVER, &ctx, err,
	    sizeof(err)), NP_ETLS);
	T_CONTAINS(err, "no PEM certificate");
	T_ASSERT(ctx == NULL);
}

T_CASE(ctx_refuses_own_cert_it_would_reject)
{
	char err[256];
	SSL_CTX *ctx = NULL;

	/* Issued by another CA. */
	T_EQ_INT(t_ctx_new("ca/ca.crt", "other/certs/portal-a", NULL,
	    NP_ROLE_PORTAL, TLS_SIDE_CLIENT, T_SERVER, &ctx, err,
	    sizeof(err)), NP_ETLS);
	T_CONTAINS(err, "does not verify against tls.ca");
	/* Revoked, with the CRL loaded. */
	T_EQ_INT(t_ctx_new("ca/ca.crt", "ca/certs/portal-gone", "ca/crl.pem",
	    NP_ROLE_PORTAL, TLS_SIDE_CLIENT, T_SERVER, &ctx, err,
	    sizeof(err)), NP_ETLS);
	T_CONTAINS(err, "certificate revoked");
	T_ASSERT(ctx == NULL);
}

T_CASE(ctx_checks_crl_issuer)
{
	char err[256];
	SSL_CTX *ctx = NULL;

	T_EQ_INT(t_ctx_new("ca/ca.crt", "ca/certs/portal-a", "other/crl.pem",
	    NP_ROLE_PORTAL, TLS_SIDE_CLIENT, T_SERVER, &ctx, err,
	    sizeof(err)), NP_ETLS);
	T_CONTAINS(err, "not signed by a CA of tls.ca");
	/* Two CAs trusted, the CRL of one only. */
	T_EQ_INT(t_ctx_new("both.pem", "ca/certs/portal-a", "ca/crl.pem",
	    NP_ROLE_PORTAL, TLS_SIDE_CLIENT, T_SERVER, &ctx, err,
	    sizeof(err)), NP_ETLS);
	T_CONTAINS(err, "no CRL for CA 1");
	T_ASSERT(ctx == NULL);
}

T_CASE(ctx_refuses_expired_crl)
{
	char err[256];
	struct ca_store *st = NULL;
	X509_CRL *crl = NULL;
	SSL_CTX *ctx = NULL;
	int64_t now = (int64_t)time(NULL);
	FILE *fp;

	T_EQ_INT(ca_store_open(t_path("ca"), CA_STORE_SIGN, &st, err,
	    sizeof(err)), 0);
	T_EQ_INT(ca_crl_make(st->cert, st->key, &st->index, 99,
	    now - 2 * 86400, now - 86400, &crl, err, sizeof(err)), 0);
	T_ASSERT((fp = fopen(t_path("crl-expired.pem"), "w")) != NULL);
	T_EQ_INT(PEM_write_X509_CRL(fp, crl), 1);
	T_EQ_INT(fclose(fp), 0);
	X509_CRL_free(crl);
	ca_store_free(st);
	T_EQ_INT(t_ctx_new("ca/ca.crt", "ca/certs/portal-a", "crl-expired.pem",
	    NP_ROLE_PORTAL, TLS_SIDE_CLIENT, T_SERVER, &ctx, err,
	    sizeof(err)), NP_ETLS);
	T_CONTAINS(err, "the CRL has expired");
	T_CONTAINS(err, "netport ca crl");
	T_ASSERT(ctx == NULL);
}

T_CASE(ctx_rejects_bad_arguments)
{
	struct tls_files f = { "a", "b", "c", NULL };
	char err[64];
	SSL_CTX *ctx = NULL;

	T_EQ_INT(tls_ctx_new(&f, NP_ROLE_NONE, TLS_SIDE_CLIENT, T_SERVER,
	    &ctx, err, sizeof(err)), -EINVAL);
	T_EQ_INT(tls_ctx_new(&f, NP_ROLE_PORTAL, TLS_SIDE_CLIENT, 0,
	    &ctx, err, sizeof(err)), -EINVAL);
	T_EQ_INT(tls_ctx_new(&f, NP_ROLE_PORTAL, TLS_SIDE_CLIENT, 1u << 9,
	    &ctx, err, sizeof(err)), -EINVAL);
	T_ASSERT(ctx == NULL);
}

/* tls_cert_identity() on a self-signed certificate with the given SAN. */
static int
t_identity_of(const char *san, struct np_identity *id)
{
	X509 *x = t_cert_make(NULL, NULL, t_leaf_key, san, -60, 60);
	int rc;

	if (x == NULL)
		T_FAIL("cannot make a certificate with SAN \"%s\"",
		    san ? san : "(none)");
	rc = tls_cert_identity(x, id);
	X509_free(x);
	return rc;
}

T_CASE(cert_identity_needs_exactly_one_uri)
{
	struct np_identity id;

	T_EQ_INT(t_identity_of("URI:netport://relay/r9", &id), 0);
	T_EQ_INT(id.role, NP_ROLE_RELAY);
	T_EQ_STR(id.name, "r9");
	T_EQ_INT(t_identity_of("DNS:x.example,URI:spiffe://td/w,"
	    "URI:netport://server/hub,IP:10.0.0.1", &id), 0);
	T_EQ_STR(id.name, "hub");
	T_EQ_INT(t_identity_of(NULL, &id), NP_EIDENTITY);
	T_EQ_INT(id.role, NP_ROLE_NONE);
	T_EQ_INT(t_identity_of("DNS:portal.example", &id), NP_EIDENTITY);
	T_EQ_INT(t_identity_of("URI:spiffe://td/w", &id), NP_EIDENTITY);
	T_EQ_INT(t_identity_of("URI:netport://portal/a,"
	    "URI:netport://portal/b", &id), NP_EIDENTITY);
	T_EQ_INT(t_identity_of("URI:netport://portal/a,"
	    "URI:netport://portal/a", &id), NP_EIDENTITY);
	T_EQ_INT(t_identity_of("URI:netport://portal/Bad", &id),
	    NP_EIDENTITY);
	T_EQ_INT(t_identity_of("URI:NETPORT://portal/a", &id), NP_EIDENTITY);
	T_EQ_INT(t_identity_of("URI:netport://admin/a", &id), NP_EIDENTITY);
	T_EQ_INT(tls_cert_identity(NULL, &id), NP_EIDENTITY);
}

/* The DER form of a certificate file's first certificate (malloc'd). */
static uint8_t *
t_der_of_file(const char *rel, size_t *len)
{
	X509 *x = NULL;
	uint8_t *der = NULL;
	FILE *fp;
	int n;

	if ((fp = fopen(t_path("%s", rel), "r")) == NULL)
		T_FAIL("cannot open %s", rel);
	x = PEM_read_X509(fp, NULL, NULL, NULL);
	fclose(fp);
	if (x == NULL || (n = i2d_X509(x, &der)) <= 0)
		T_FAIL("cannot read a certificate from %s", rel);
	X509_free(x);
	*len = (size_t)n;
	return der;
}

static uint8_t *
t_der_of(X509 *x, size_t *len)
{
	uint8_t *der = NULL;
	int n = i2d_X509(x, &der);

	if (n <= 0)
		T_FAIL("i2d_X509");
	*len = (size_t)n;
	return der;
}

/* The QUIC path's check of a chain that GnuTLS received: same verdicts. */
T_CASE(verify_chain_der_matches_handshake_rules)
{
	SSL_CTX *sctx = t_portal_ctx("b", TLS_SIDE_SERVER);
	SSL_CTX *cctx = t_portal_ctx("b", TLS_SIDE_CLIENT);
	struct np_identity want_a, want_b;
	const uint8_t *der[2];
	size_t len[2];
	uint8_t *a, *gone, *other, *old, *noid, *r1;
	size_t alen, gonelen, otherlen, oldlen, noidlen, r1len;
	uint8_t junk[] = { 0x30, 0x03, 0x02, 0x01, 0x01 };
	char why[256];

	T_ASSERT(sctx != NULL && cctx != NULL);
	T_EQ_INT(identity_set(&want_a, NP_ROLE_PORTAL, "a"), 0);
	T_EQ_INT(identity_set(&want_b, NP_ROLE_PORTAL, "b"), 0);
	a = t_der_of_file("ca/certs/portal-a.crt", &alen);
	gone = t_der_of_file("ca/certs/portal-gone.crt", &gonelen);
	other = t_der_of_file("other/certs/portal-a.crt", &otherlen);
	r1 = t_der_of_file("ca/certs/relay-r1.crt", &r1len);
	old = t_der_of(t_expired_cert, &oldlen);
	noid = t_der_of(t_noid_cert, &noidlen);

	der[0] = a, len[0] = alen;
	T_EQ_INT(tls_verify_chain_der(sctx, &want_a, der, len, 1, why,
	    sizeof(why)), 0);
	T_EQ_INT(tls_verify_chain_der(cctx, &want_a, der, len, 1, why,
	    sizeof(why)), 0);
	T_EQ_INT(tls_verify_chain_der(sctx, NULL, der, len, 1, why,
	    sizeof(why)), 0);
	T_EQ_INT(tls_verify_chain_der(sctx, &want_b, der, len, 1, why,
	    sizeof(why)), -1);
	T_EQ_STR(why, "peer is portal/a, expected portal/b");
	T_EQ_INT(tls_verify_chain_der(sctx, &want_a, der, len, 0, why,
	    sizeof(why)), -1);
	T_EQ_STR(why, "peer sent no certificate");

	der[0] = gone, len[0] = gonelen;
	T_EQ_INT(tls_verify_chain_der(sctx, NULL, der, len, 1, why,
	    sizeof(why)), -1);
	T_EQ_STR(why, "peer certificate: certificate revoked");
	der[0] = other, len[0] = otherlen;
	T_EQ_INT(tls_verify_chain_der(sctx, &want_a, der, len, 1, why,
	    sizeof(why)), -1);
	T_CONTAINS(why, "peer certificate: unable to get local issuer");
	der[0] = old, len[0] = oldlen;
	T_EQ_INT(tls_verify_chain_der(sctx, NULL, der, len, 1, why,
	    sizeof(why)), -1);
	T_EQ_STR(why, "peer certificate: certificate has expired");
	der[0] = noid, len[0] = noidlen;
	T_EQ_INT(tls_verify_chain_der(sctx, NULL, der, len, 1, why,
	    sizeof(why)), -1);
	T_CONTAINS(why, "no valid identity");
	der[0] = r1, len[0] = r1len;
	T_EQ_INT(tls_verify_chain_der(sctx, NULL, der, len, 1, why,
	    sizeof(why)), -1);
	T_CONTAINS(why, "has role relay");
	/* Bytes that are not a certificate, alone or after a good leaf. */
	der[0] = junk, len[0] = sizeof(junk);
	T_EQ_INT(tls_verify_chain_der(sctx, NULL, der, len, 1, why,
	    sizeof(why)), -1);
	T_EQ_STR(why, "peer certificate 0 is not valid DER X.509");
	der[0] = a, len[0] = alen - 1;
	T_EQ_INT(tls_verify_chain_der(sctx, NULL, der, len, 1, why,
	    sizeof(why)), -1);
	der[0] = a, len[0] = alen, der[1] = junk, len[1] = sizeof(junk);
	T_EQ_INT(tls_verify_chain_der(sctx, NULL, der, len, 2, why,
	    sizeof(why)), -1);
	T_EQ_STR(why, "peer certificate 1 is not valid DER X.509");

	OPENSSL_free(a);
	OPENSSL_free(gone);
	OPENSSL_free(other);
	OPENSSL_free(r1);
	OPENSSL_free(old);
	OPENSSL_free(noid);
	SSL_CTX_free(sctx);
	SSL_CTX_free(cctx);
}

T_CASE(drain_errors_is_one_line)
{
	char err[256];

	ERR_clear_error();
	tls_drain_errors(err, sizeof(err));
	T_EQ_STR(err, "no detail from the TLS library");
	ERR_raise(ERR_LIB_SSL, SSL_R_CERTIFICATE_VERIFY_FAILED);
	ERR_raise(ERR_LIB_SSL, SSL_R_NO_SHARED_CIPHER);
	tls_drain_errors(err, sizeof(err));
	T_EQ_STR(err, "certificate verify failed; no shared cipher");
	T_EQ_INT(ERR_peek_error(), 0);
	ERR_raise(ERR_LIB_SSL, SSL_R_NO_SHARED_CIPHER);
	tls_drain_errors(err, 8);
	T_EQ_INT(strlen(err), 7);
	T_EQ_INT(ERR_peek_error(), 0);
}

int
main(void)
{
	if (t_fixtures() != 0) {
		fprintf(stderr, "cannot create the fixtures in %s\n", t_dir);
		t_fixtures_free();
		return 1;
	}
	T_RUN(portal_server_handshake_ok);
	T_RUN(data_flows_after_handshake);
	T_RUN(rx_bio_reads_socket_once);
	T_RUN(rx_bio_carries_records);
	T_RUN(listener_refuses_wrong_role);
	T_RUN(client_refuses_wrong_role);
	T_RUN(several_roles_listed_in_reason);
	T_RUN(other_ca_refused);
	T_RUN(revoked_refused_with_crl);
	T_RUN(crl_reload_applies_to_new_handshakes);
	T_RUN(expired_refused);
	T_RUN(peer_without_identity_refused);
	T_RUN(client_without_certificate_refused);
	T_RUN(tls12_refused);
	T_RUN(expect_peer_match_ok);
	T_RUN(expect_peer_mismatch_refused_by_client);
	T_RUN(expect_peer_mismatch_refused_by_server);
	T_RUN(ctx_refuses_cert_of_other_role);
	T_RUN(ctx_refuses_key_of_other_cert);
	T_RUN(ctx_reports_missing_files);
	T_RUN(ctx_refuses_own_cert_it_would_reject);
	T_RUN(ctx_checks_crl_issuer);
	T_RUN(ctx_refuses_expired_crl);
	T_RUN(ctx_rejects_bad_arguments);
	T_RUN(cert_identity_needs_exactly_one_uri);
	T_RUN(verify_chain_der_matches_handshake_rules);
	T_RUN(drain_errors_is_one_line);
	t_fixtures_free();
	return t_done();
}

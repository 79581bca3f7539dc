/* SPDX-License-Identifier: MIT */
/*
 * TLS contexts and peer identities.
 *
 * Every netport connection that carries TLS is TLS 1.3 only with mutual
 * authentication: both ends present a certificate issued by the netport CA,
 * verified against that CA and, when a CRL is configured, against the CRL.
 * On top of chain verification, the verify callback checks the leaf's
 * identity (URI SAN "netport://ROLE/NAME", see identity.h): its role must
 * be one of the roles the context accepts, and when an exact peer is expected
 * (the portal-to-portal tunnel, where the server named the peer) its name
 * must match too.  A mismatch fails the handshake with an alert, so a wrong
 * peer never gets to send application data.
 */
#ifndef NETPORT_CORE_TLS_H
#define NETPORT_CORE_TLS_H

#include <stddef.h>
#include <stdint.h>

#include <openssl/ssl.h>

#include "core/buf.h"
#include "core/identity.h"

/* The files a role's TLS context is built from (config keys tls.*). */
struct tls_files {
	const char	*ca;		/* CA certificate(s), PEM */
	const char	*cert;		/* own certificate, PEM */
	const char	*key;		/* own private key, PEM */
	const char	*crl;		/* CRL, PEM; NULL: no revocation check */
};

enum tls_side {
	TLS_SIDE_CLIENT,
	TLS_SIDE_SERVER,
};

/*
 * Builds a context for a process of role `self` that acts as the TLS
 * `side`, and accepts only peers whose role bit is set in peer_roles
 * (NP_ROLE_BIT(NP_ROLE_PORTAL) | ...).  Checks that the own certificate
 * carries role `self` and matches the key.  Returns 0 and the context in
 * *out, or NP_ETLS / NP_EIDENTITY / NP_EROLE / -errno with a one-line
 * reason in err (which names the file at fault).
 */
int	tls_ctx_new(const struct tls_files *files, enum np_role self,
	    enum tls_side side, unsigned peer_roles, SSL_CTX **out,
	    char *err, size_t errsize) __attribute__((warn_unused_result));

/*
 * Re-reads the CRL into a live context (SIGHUP); new handshakes use it.
 * Returns 0, or an error with the reason in err; the old CRL stays on error.
 */
int	tls_ctx_reload_crl(SSL_CTX *ctx, const char *crl_path, char *err,
	    size_t errsize) __attribute__((warn_unused_result));

/* Own identity, read from the context's certificate. */
int	tls_ctx_identity(SSL_CTX *ctx, struct np_identity *out);

/*
 * Requires that the peer of this connection is exactly `expected`, in
 * addition to the context's role check.  Call before the handshake.
 * Returns 0 or -ENOMEM.
 */
int	tls_expect_peer(SSL *ssl, const struct np_identity *expected)
	    __attribute__((warn_unused_result));

/*
 * After a completed handshake: the verified peer's identity.  Returns 0, or
 * NP_EIDENTITY when there is no verified peer certificate.
 */
int	tls_peer_identity(SSL *ssl, struct np_identity *out);

/*
 * Judges a peer's certificate chain received by a TLS library other than
 * OpenSSL (the QUIC path's): der[0] is the leaf, the rest intermediates.
 * The same checks as a handshake on ctx: the chain against ctx's CA and
 * CRL, the purpose for ctx's side, then the identity (a role ctx accepts,
 * and exactly expected unless NULL).  0, or -1 with why set to the reason
 * a handshake would give.
 */
int	tls_verify_chain_der(SSL_CTX *ctx, const struct np_identity *expected,
	    const uint8_t *const *der, const size_t *len, size_t n,
	    char *why, size_t whysize);

/*
 * Why the last handshake on ssl failed, as one line: the verify result
 * ("certificate revoked", "peer role relay not accepted") or the OpenSSL
 * error queue, which this drains.  Always NUL-terminates err.
 */
void	tls_failure_reason(SSL *ssl, char *err, size_t errsize);

/*
 * The tunnel protocol between two portals, named in ALPN so that portals
 * of incompatible versions fail the handshake with a clear reason instead
 * of a protocol error later.  Version 2: acknowledgements and resumption;
 * 3: RESUME numbers the initiator's paths.
 */
#define TLS_ALPN_TUNNEL		"netport-tunnel/3"

/*
 * Offers (client) or requires (server) the ALPN protocol proto, a string
 * of static storage.  A server whose client does not offer it fails the
 * handshake (alert no_application_protocol).  0 or NP_ETLS.
 */
int	tls_ctx_set_alpn(SSL_CTX *ctx, int server, const char *proto);
/* 1 when the handshake agreed on proto. */
int	tls_alpn_is(SSL *ssl, const char *proto);

/* Drains the OpenSSL error queue into err as one line. */
void	tls_drain_errors(char *err, size_t errsize);

/*
 * Reads the identity of a certificate (the URI SAN).  0 or NP_EIDENTITY.
 * Exposed for the CA tooling and tests.
 */
int	tls_cert_identity(X509 *cert, struct np_identity *out);

/*
 * A write BIO that appends every TLS record to out (borrowed; it must
 * outlive the BIO), so that the owner can send many records with one
 * syscall.  A write that would pass out's cap fails, which fails the TLS
 * session: keep SSL_write() calls within the room left.  NULL when out of
 * memory.
 */
BIO	*tls_bio_to_buf(struct buf *out);

/*
 * The receiving side of a tunnel's TLS, for an SSL with read-ahead off:
 * one recv(2) fills buf with as much ciphertext as the socket holds (up to
 * buf's cap), and OpenSSL takes it from there a record header and a record
 * body at a time, one memcpy each.  OpenSSL's own read-ahead reads as much
 * per syscall, but slides the unread rest of its buffer to the front before
 * every record, which copies each byte several times.
 *
 * After a recv() that came back short the socket is known to be empty, so
 * the next read with buf empty reports "retry" without the recv() that
 * would fail with EAGAIN; the owner calls tls_rx_readable() on each read
 * event.  That relies on a level-triggered read event staying registered
 * while the SSL is in use: bytes that arrive after the short recv() raise
 * it again.
 */
struct tls_rx {
	struct buf	 buf;		/* received, not yet taken by OpenSSL */
	int		 fd;		/* borrowed */
	int		 drained;	/* the last recv() came back short */
	int		 eof;		/* recv() returned 0 */
};

/* An empty tls_rx on fd (borrowed) that reads up to max bytes at once. */
void	tls_rx_init(struct tls_rx *rx, int fd, size_t max);

/* The socket became readable: the next read may call recv() again. */
static inline void
tls_rx_readable(struct tls_rx *rx)
{
	rx->drained = 0;
}

/* Bytes received that OpenSSL has not taken yet (no socket event will
 * announce them again). */
static inline size_t
tls_rx_pending(const struct tls_rx *rx)
{
	return buf_len(&rx->buf);
}

/* A read BIO over rx (borrowed; it must outlive the BIO); NULL when out of
 * memory. */
BIO	*tls_bio_from_rx(struct tls_rx *rx);

#endif

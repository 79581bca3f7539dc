/* SPDX-License-Identifier: MIT */
/*
 * netpunch's wire format (netpunch.h).  The ascii85 encoder is written
 * here because the signature must be byte for byte what Go's
 * encoding/ascii85 writes (its "z" for zero groups, no delimiters), and
 * OpenSSL has no ascii85 at all; the digests come from OpenSSL.
 */
#include <errno.h>
#include <string.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>

#include "core/err.h"
#include "core/netpunch.h"

size_t
netpunch_sig_len(enum netpunch_scheme scheme)
{
	return scheme == NETPUNCH_HMAC ? 40 : 35;
}

const char *
netpunch_scheme_name(enum netpunch_scheme scheme)
{
	return scheme == NETPUNCH_HMAC ? "hmac" : "seed";
}

size_t
netpunch_ascii85(const uint8_t *in, size_t n, char *out)
{
	size_t i, k, len = 0, take;
	uint32_t v;
	char digits[5];

	for (i = 0; i < n; i += 4) {
		take = n - i < 4 ? n - i : 4;
		v = 0;
		for (k = 0; k < 4; k++)
			v = v << 8 | (k < take ? in[i + k] : 0);
		if (v == 0 && take == 4) {
			out[len++] = 'z';
			continue;
		}
		for (k = 5; k-- > 0;) {
			digits[k] = (char)('!' + v % 85);
			v /= 85;
		}
		/* A partial group of m bytes gives m + 1 characters. */
		memcpy(out + len, digits, take + 1);
		len += take + 1;
	}
	return len;
}

/* The signature text of payload, zero-padded to its full length. */
static int
netpunch_sign(enum netpunch_scheme scheme, const uint8_t *secret,
    size_t secret_len, const uint8_t *payload, size_t payload_len,
    char sig[NETPUNCH_SIG_MAX])
{
	uint8_t md[EVP_MAX_MD_SIZE];
	unsigned int mdlen = 0;
	EVP_MD_CTX *ctx;
	int ok;

	if (scheme == NETPUNCH_HMAC) {
		if (HMAC(EVP_sha256(), secret, (int)secret_len, payload,
		    payload_len, md, &mdlen) == NULL || mdlen != 32)
			return NP_ETLS;
	} else {
		if ((ctx = EVP_MD_CTX_new()) == NULL)
			return -ENOMEM;
		ok = EVP_DigestInit_ex(ctx, EVP_sha224(), NULL) == 1 &&
		    EVP_DigestUpdate(ctx, secret, secret_len) == 1 &&
		    EVP_DigestUpdate(ctx, payload, payload_len) == 1 &&
		    EVP_DigestFinal_ex(ctx, md, &mdlen) == 1 && mdlen == 28;
		EVP_MD_CTX_free(ctx);
		if (!ok)
			return NP_ETLS;
	}
	memset(sig, 0, NETPUNCH_SIG_MAX);
	(void)netpunch_ascii85(md, mdlen, sig);
	OPENSSL_cleanse(md, sizeof(md));
	return 0;
}

int
netpunch_seal(enum netpunch_scheme scheme, const uint8_t *secret,
    size_t secret_len, const uint8_t *payload, size_t payload_len,
    uint8_t *out, size_t cap, size_t *len)
{
	size_t slen = netpunch_sig_len(scheme);
	char sig[NETPUNCH_SIG_MAX];
	int r;

	*len = 0;
	if (payload_len == 0 || payload_len > NETPUNCH_PAYLOAD_MAX)
		return -EINVAL;
	if (cap < slen + 1 + payload_len)
		return NP_ETOOBIG;
	if ((r = netpunch_sign(scheme, secret, secret_len, payload,
	    payload_len, sig)) != 0)
		return r;
	memcpy(out, sig, slen);
	out[slen] = ' ';
	memcpy(out + slen + 1, payload, payload_len);
	*len = slen + 1 + payload_len;
	return 0;
}

/* 1 when dgram carries a valid signature of scheme (its shape fits). */
static int
netpunch_check(enum netpunch_scheme scheme, const uint8_t *dgram, size_t n,
    const uint8_t *secret, size_t secret_len)
{
	size_t slen = netpunch_sig_len(scheme);
	char sig[NETPUNCH_SIG_MAX];

	/* Too short: netpunch wants a byte of payload at least. */
	if (n < slen + 2 || dgram[slen] != ' ')
		return 0;
	if (netpunch_sign(scheme, secret, secret_len, dgram + slen + 1,
	    n - slen - 1, sig) != 0)
		return 0;
	return CRYPTO_memcmp(sig, dgram, slen) == 0;
}

int
netpunch_open(const uint8_t *dgram, size_t n, const uint8_t *secret,
    size_t secret_len, enum netpunch_scheme *scheme,
    const uint8_t **payload, size_t *payload_len, const char **why)
{
	static const enum netpunch_scheme schemes[] = {
		NETPUNCH_SEED, NETPUNCH_HMAC,
	};
	size_t i, slen;

	*payload = NULL;
	*payload_len = 0;
	if (n < netpunch_sig_len(NETPUNCH_SEED) + 2) {
		*why = "too short";
		return NP_EPROTO;
	}
	if (n > NETPUNCH_DGRAM_MAX) {
		*why = "too long";
		return NP_EPROTO;
	}
	for (i = 0; i < sizeof(schemes) / sizeof(schemes[0]); i++) {
		if (!netpunch_check(schemes[i], dgram, n, secret, secret_len))
			continue;
		slen = netpunch_sig_len(schemes[i]);
		*scheme = schemes[i];
		*payload = dgram + slen + 1;
		*payload_len = n - slen - 1;
		return 0;
	}
	*why = "bad signature";
	return NP_EPROTO;
}

int
netpunch_parse_slot(const uint8_t *p, size_t n)
{
	if (n != 1 || p[0] < 'a' || p[0] > 'z')
		return -1;
	return p[0];
}

int
netpunch_parse_peer(const uint8_t *p, size_t n, struct netpunch_msg *out,
    const char **why)
{
	const uint8_t *bar1, *bar2;
	size_t alen;

	memset(out, 0, sizeof(*out));
	if (n == 0) {
		*why = "empty";
		return NP_EPROTO;
	}
	switch (p[0]) {
	case 'x':
		out->kind = NETPUNCH_PING;
		return 0;
	case 'y':
		out->kind = NETPUNCH_PONG;
		return 0;
	case 'z':
		out->kind = NETPUNCH_CLOSE;
		return 0;
	case 'i':
		break;
	default:
		*why = "unknown label";
		return NP_EPROTO;
	}
	/* Exactly three fields: "i", the slot, the address. */
	if ((bar1 = memchr(p, '|', n)) == NULL || bar1 != p + 1 ||
	    (bar2 = memchr(bar1 + 1, '|', n - 2)) == NULL ||
	    memchr(bar2 + 1, '|', (size_t)(p + n - bar2 - 1)) != NULL) {
		*why = "peer info without three fields";
		return NP_EPROTO;
	}
	if (bar2 - bar1 != 2 || bar1[1] < 'a' || bar1[1] > 'z') {
		*why = "peer info with a bad slot";
		return NP_EPROTO;
	}
	alen = (size_t)(p + n - bar2 - 1);
	if (alen == 0 || alen >= sizeof(out->addr) ||
	    memchr(bar2 + 1, '\0', alen) != NULL) {
		*why = "peer info with a bad address";
		return NP_EPROTO;
	}
	out->kind = NETPUNCH_PEER_INFO;
	out->slot = (char)bar1[1];
	memcpy(out->addr, bar2 + 1, alen);
	return 0;
}

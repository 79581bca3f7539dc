/* SPDX-License-Identifier: MIT */
/* Relay tickets: codec, Ed25519 signing and verification; see ticket.h. */
#include <string.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/err.h>

#include "core/err.h"
#include "core/ticket.h"

/*
 * Clocks of server and relay differ a little; a ticket "issued" a few
 * seconds in the relay's future is still fine.
 */
#define TICKET_CLOCK_SKEW	60

static int
ticket_key_fill_id(struct ticket_key *key)
{
	uint8_t digest[32];
	unsigned int dlen = 0;

	if (!EVP_Digest(key->pub, sizeof(key->pub), digest, &dlen,
	    EVP_sha256(), NULL))
		return NP_ECRYPTO;
	memcpy(key->id, digest, sizeof(key->id));
	return 0;
}

int
ticket_key_generate(struct ticket_key *key)
{
	size_t len = TICKET_PUB_LEN;

	memset(key, 0, sizeof(*key));
	if ((key->pkey = EVP_PKEY_Q_keygen(NULL, NULL, "ED25519")) == NULL)
		goto fail;
	if (!EVP_PKEY_get_raw_public_key(key->pkey, key->pub, &len) ||
	    len != TICKET_PUB_LEN || ticket_key_fill_id(key) != 0)
		goto fail;
	key->can_sign = 1;
	return 0;
fail:
	ticket_key_free(key);
	return NP_ECRYPTO;
}

int
ticket_key_from_public(struct ticket_key *key,
    const uint8_t pub[TICKET_PUB_LEN])
{
	memset(key, 0, sizeof(*key));
	key->pkey = EVP_PKEY_new_raw_public_key(EVP_PKEY_ED25519, NULL, pub,
	    TICKET_PUB_LEN);
	if (key->pkey == NULL)
		return NP_ECRYPTO;
	memcpy(key->pub, pub, TICKET_PUB_LEN);
	if (ticket_key_fill_id(key) != 0) {
		ticket_key_free(key);
		return NP_ECRYPTO;
	}
	return 0;
}

void
ticket_key_free(struct ticket_key *key)
{
	EVP_PKEY_free(key->pkey);
	OPENSSL_cleanse(key, sizeof(*key));
}

static int
ticket_put_name(struct buf *out, const char *name)
{
	size_t len = strlen(name);
	int r;

	if (identity_name_check(name) != 0)
		return NP_ENAME;
	if ((r = buf_put_u8(out, (uint8_t)len)) != 0)
		return r;
	return buf_append(out, name, len);
}

static int
ticket_get_name(struct buf_reader *r, char out[NP_NAME_MAX + 1])
{
	uint8_t len;

	if (buf_get_u8(r, &len) != 0 || len == 0 || len > NP_NAME_MAX ||
	    buf_get_bytes(r, out, len) != 0)
		return NP_EPROTO;
	out[len] = '\0';
	if (strlen(out) != len || identity_name_check(out) != 0)
		return NP_EPROTO;
	return 0;
}

int
ticket_sign(struct ticket *t, const struct ticket_key *key, struct buf *out)
{
	EVP_MD_CTX *md = NULL;
	size_t start = buf_len(out), siglen = TICKET_SIG_LEN;
	uint8_t *sig;
	int r;

	if (!key->can_sign)
		return NP_ECRYPTO;
	memcpy(t->key_id, key->id, sizeof(t->key_id));
	if ((r = buf_put_u8(out, TICKET_VERSION)) != 0 ||
	    (r = buf_append(out, t->key_id, sizeof(t->key_id))) != 0 ||
	    (r = buf_append(out, t->tunnel_id, sizeof(t->tunnel_id))) != 0 ||
	    (r = buf_put_u64(out, t->issued)) != 0 ||
	    (r = buf_put_u64(out, t->expires)) != 0 ||
	    (r = ticket_put_name(out, t->relay)) != 0 ||
	    (r = ticket_put_name(out, t->initiator)) != 0 ||
	    (r = ticket_put_name(out, t->acceptor)) != 0)
		goto fail;
	if ((r = buf_reserve(out, TICKET_SIG_LEN, &sig)) != 0)
		goto fail;
	r = NP_ECRYPTO;
	if ((md = EVP_MD_CTX_new()) == NULL ||
	    !EVP_DigestSignInit(md, NULL, NULL, NULL, key->pkey) ||
	    !EVP_DigestSign(md, sig, &siglen, buf_data(out) + start,
	    buf_len(out) - start) || siglen != TICKET_SIG_LEN)
		goto fail;
	buf_commit(out, TICKET_SIG_LEN);
	EVP_MD_CTX_free(md);
	return 0;
fail:
	EVP_MD_CTX_free(md);
	buf_truncate(out, start);
	return r;
}

int
ticket_decode(const uint8_t *p, size_t n, struct ticket *out)
{
	struct buf_reader r;
	uint8_t version;

	memset(out, 0, sizeof(*out));
	if (n < TICKET_SIG_LEN || n > TICKET_MAX_LEN)
		return NP_EPROTO;
	buf_reader_init(&r, p, n - TICKET_SIG_LEN);
	if (buf_get_u8(&r, &version) != 0 || version != TICKET_VERSION ||
	    buf_get_bytes(&r, out->key_id, sizeof(out->key_id)) != 0 ||
	    buf_get_bytes(&r, out->tunnel_id, sizeof(out->tunnel_id)) != 0 ||
	    buf_get_u64(&r, &out->issued) != 0 ||
	    buf_get_u64(&r, &out->expires) != 0 ||
	    ticket_get_name(&r, out->relay) != 0 ||
	    ticket_get_name(&r, out->initiator) != 0 ||
	    ticket_get_name(&r, out->acceptor) != 0 ||
	    buf_reader_left(&r) != 0)
		return NP_EPROTO;
	return 0;
}

int
ticket_verify(const uint8_t *p, size_t n, const struct ticket_key *key,
    uint64_t now, struct ticket *out)
{
	EVP_MD_CTX *md = NULL;
	int r;

	if ((r = ticket_decode(p, n, out)) != 0)
		return r;
	if (memcmp(out->key_id, key->id, sizeof(key->id)) != 0)
		return NP_ESIGNATURE;
	r = NP_ESIGNATURE;
	if ((md = EVP_MD_CTX_new()) == NULL ||
	    !EVP_DigestVerifyInit(md, NULL, NULL, NULL, key->pkey))
		goto out;
	if (EVP_DigestVerify(md, p + n - TICKET_SIG_LEN, TICKET_SIG_LEN, p,
	    n - TICKET_SIG_LEN) != 1)
		goto out;
	if (now + TICKET_CLOCK_SKEW < out->issued || now >= out->expires) {
		r = NP_EEXPIRED;
		goto out;
	}
	r = 0;
out:
	EVP_MD_CTX_free(md);
	ERR_clear_error();
	return r;
}

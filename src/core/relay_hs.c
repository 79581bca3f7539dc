/* SPDX-License-Identifier: MIT */
/*
 * The relay handshake codec (relay_hs.h): the one place that knows its
 * bytes, for the relay that reads requests and the portals that send them.
 */
#include <errno.h>
#include <string.h>
#include <sys/socket.h>

#include "core/err.h"
#include "core/proto.h"
#include "core/relay_hs.h"

static const char *const relay_status_texts[] = {
#define RELAY_STATUS_TEXT(name, value, text) [value] = text,
	RELAY_STATUSES(RELAY_STATUS_TEXT)
#undef RELAY_STATUS_TEXT
};

const char *
relay_status_text(unsigned status)
{
	if (status < sizeof(relay_status_texts) / sizeof(relay_status_texts[0]) &&
	    relay_status_texts[status] != NULL)
		return relay_status_texts[status];
	return "unknown status";
}

/* Checks the header bytes that are there (n may be short of the header). */
static int
relay_hs_check_hdr(const uint8_t *p, size_t n, const char **why)
{
	size_t m = n < 3 ? n : 3;

	if (memcmp(p, RELAY_MAGIC, m) != 0) {
		*why = "bad magic";
		return NP_EPROTO;
	}
	if (n > 3 && p[3] != RELAY_VERSION && p[3] != RELAY_VERSION_PUNCH) {
		*why = "unsupported version";
		return NP_EPROTO;
	}
	if (n > 4 && p[4] != PROTO_SIDE_CLIENT && p[4] != PROTO_SIDE_SERVICE) {
		*why = "bad side";
		return NP_EPROTO;
	}
	if (n >= RELAY_HS_HDR_LEN) {
		size_t tlen = (size_t)p[5] << 8 | p[6];

		if (tlen == 0 || tlen > TICKET_MAX_LEN) {
			*why = "ticket length out of range";
			return NP_EPROTO;
		}
	}
	return 0;
}

int
relay_hs_need(const uint8_t *p, size_t n, size_t *need, const char **why)
{
	size_t total;
	int rc;

	*need = 0;
	*why = NULL;
	if ((rc = relay_hs_check_hdr(p, n, why)) != 0)
		return rc;
	if (n < RELAY_HS_HDR_LEN) {
		*need = RELAY_HS_HDR_LEN - n;
		return 0;
	}
	total = RELAY_HS_HDR_LEN + ((size_t)p[5] << 8 | p[6]);
	if (n > total) {
		*why = "bytes beyond the handshake";
		return NP_EPROTO;
	}
	*need = total - n;
	return 0;
}

int
relay_hs_decode(const uint8_t *p, size_t n, struct relay_hs *out,
    const char **why)
{
	size_t need;
	int rc;

	memset(out, 0, sizeof(*out));
	if ((rc = relay_hs_need(p, n, &need, why)) != 0)
		return rc;
	if (need > 0) {
		*why = "truncated handshake";
		return NP_ESHORT;
	}
	out->side = p[4];
	out->punch = p[3] == RELAY_VERSION_PUNCH;
	out->ticket = p + RELAY_HS_HDR_LEN;
	out->ticket_len = n - RELAY_HS_HDR_LEN;
	return 0;
}

static int
relay_hs_encode_version(uint8_t version, uint8_t side, const uint8_t *ticket,
    size_t ticket_len, uint8_t *out, size_t cap, size_t *len)
{
	*len = 0;
	if ((side != PROTO_SIDE_CLIENT && side != PROTO_SIDE_SERVICE) ||
	    ticket_len == 0 || ticket_len > TICKET_MAX_LEN)
		return -EINVAL;
	if (cap < RELAY_HS_HDR_LEN + ticket_len)
		return NP_ETOOBIG;
	memcpy(out, RELAY_MAGIC, 3);
	out[3] = version;
	out[4] = side;
	out[5] = (uint8_t)(ticket_len >> 8);
	out[6] = (uint8_t)ticket_len;
	memcpy(out + RELAY_HS_HDR_LEN, ticket, ticket_len);
	*len = RELAY_HS_HDR_LEN + ticket_len;
	return 0;
}

int
relay_hs_encode(uint8_t side, const uint8_t *ticket, size_t ticket_len,
    uint8_t *out, size_t cap, size_t *len)
{
	return relay_hs_encode_version(RELAY_VERSION, side, ticket,
	    ticket_len, out, cap, len);
}

int
relay_hs_encode_punch(uint8_t side, const uint8_t *ticket, size_t ticket_len,
    uint8_t *out, size_t cap, size_t *len)
{
	return relay_hs_encode_version(RELAY_VERSION_PUNCH, side, ticket,
	    ticket_len, out, cap, len);
}

int
relay_hs_is_reply(const uint8_t p[RELAY_REPLY_LEN])
{
	return memcmp(p, RELAY_MAGIC, 3) == 0 && (p[3] & 0x80) == 0;
}

void
relay_hs_encode_reply(uint8_t out[RELAY_REPLY_LEN], enum relay_status status)
{
	memcpy(out, RELAY_MAGIC, 3);
	out[3] = (uint8_t)status;
}

int
relay_hs_decode_reply(const uint8_t p[RELAY_REPLY_LEN], unsigned *status)
{
	*status = 0;
	if (memcmp(p, RELAY_MAGIC, 3) != 0)
		return NP_EPROTO;
	*status = p[3];
	return 0;
}

int
relay_hs_read(int fd, uint8_t *p, size_t *n, const char **why)
{
	size_t want;
	ssize_t got;

	if (relay_hs_need(p, *n, &want, why) != 0)
		return -1;
	if (want == 0)
		return 1;
	got = recv(fd, p + *n, want, 0);
	if (got < 0 && (errno == EAGAIN || errno == EINTR))
		return 0;
	if (got <= 0) {
		*why = got == 0 ? "closed during the handshake" :
		    strerror(errno);
		return -1;
	}
	*n += (size_t)got;
	/* Junk is refused as soon as its first bytes show it. */
	if (relay_hs_need(p, *n, &want, why) != 0)
		return -1;
	return want == 0;
}

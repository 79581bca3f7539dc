/* SPDX-License-Identifier: MIT */
/* The server's configuration keys; docs/CONFIG.md is generated from them. */
#ifndef NETPORT_SERVER_CONF_H
#define NETPORT_SERVER_CONF_H

#include "core/conf.h"
#include "core/conf_common.h"

/*
 * The caps on unauthenticated connections.  A pending TLS handshake costs
 * some 60 KiB (OpenSSL's handshake and record buffers, the SSL object,
 * the bufferevent), so max_unauth at 1024 bounds what a flood from many
 * addresses can hold to about 60 MiB, while a handshake lasts a round
 * trip or two: 1024 at once still admit thousands of handshakes a second,
 * more than one core can compute, when every portal reconnects after a
 * restart.  max_unauth_per_source at 64, as the relay's per-source cap,
 * lets a NAT with many portals reconnect together and keeps one host's
 * share to a few MiB.
 */
#define SERVER_CONF_KEYS(X)						\
	CONF_COMMON_KEYS(X)						\
	X(listen, ENDPOINT, "listen", "0.0.0.0:443", 0, 65535, NULL,	\
	    "address and TCP port of the mutual-TLS control listener; port 0 picks a free port") \
	X(policy, PATH, "policy", NULL, 0, 0, NULL,			\
	    "access policy file (YAML), see docs/POLICY.md; reloaded on SIGHUP and when it changes") \
	X(policy_poll, DURATION, "policy_poll", "2s", 0, 3600000, NULL,	\
	    "how often the policy and CRL files are checked for changes; 0 disables the check") \
	X(keepalive, DURATION, "keepalive", "15s", 100, 3600000, NULL,	\
	    "interval of PING messages on control sessions, both ways") \
	X(dead_timeout, DURATION, "dead_timeout", "45s", 300, 86400000, NULL, \
	    "a control session that is silent this long is closed") \
	X(handshake_timeout, DURATION, "handshake_timeout", "10s", 100, 600000, NULL, \
	    "a TLS handshake must finish within this") \
	X(ticket_lifetime, DURATION, "ticket_lifetime", "30s", 1000, 3600000, NULL, \
	    "how long a relay ticket stays valid after it is issued") \
	X(max_sessions, INT, "max_sessions", "100000", 1, 10000000, NULL, \
	    "most control connections (portals, relays, handshakes) at once") \
	X(max_unauth, INT, "max_unauth", "1024", 1, 1000000, NULL,	\
	    "most connections that have not finished the TLS handshake and HELLO, in total; at the cap the oldest is closed") \
	X(max_unauth_per_source, INT, "max_unauth_per_source", "64", 1, 1000000, NULL, \
	    "most such connections from one IPv4 address or IPv6 /64; at the cap the oldest from it is closed") \
	X(seccomp, ENUM, "seccomp", "on", 0, 0, "on|off",		\
	    "on: once up, a seccomp filter allows only the system calls this daemon uses; any other kills it (SIGSYS), so that a flaw cannot go on to run programs or trace processes; off: no filter (for debuggers and valgrind)") \
	X(stun_mode, ENUM, "stun.mode", "on", 0, 0, "on|off",		\
	    "on: answer STUN Binding requests (RFC 5389) on stun.listen, so that portals learn their reflexive UDP address; the port is told to portals in WELCOME") \
	X(stun_listen, ENDPOINT, "stun.listen", "[::]:3478", 0, 65535, NULL, \
	    "address and UDP port of the STUN responder ([::] takes IPv4 too; port 0 picks a free port); if it cannot be bound, the server runs without it and says so")

/* Values of stun.mode. */
#define SERVER_STUN_ON		0
#define SERVER_STUN_OFF		1

CONF_STRUCT(server_conf, SERVER_CONF_KEYS);

extern const struct conf_schema server_conf_schema;

#endif

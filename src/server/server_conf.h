/* SPDX-License-Identifier: MIT */
/* The server's configuration keys; docs/CONFIG.md is generated from them. */
#ifndef NETPORT_SERVER_CONF_H
#define NETPORT_SERVER_CONF_H

#include "core/conf.h"
#include "core/conf_common.h"

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
	    "most control connections (portals, relays, handshakes) at once")

CONF_STRUCT(server_conf, SERVER_CONF_KEYS);

extern const struct conf_schema server_conf_schema;

#endif

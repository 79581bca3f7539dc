/* SPDX-License-Identifier: MIT */
/* The server's configuration keys; docs/CONFIG.md is generated from them. */
#ifndef NETPORT_SERVER_CONF_H
#define NETPORT_SERVER_CONF_H

#include "core/conf.h"
#include "core/conf_common.h"
#include "core/policy.h"

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
 *
 * The other caps are sized for 100,000 portals on one server: max_portals
 * half as many again as headroom (a reconnecting portal replaces its old
 * session, so reconnects need no room of their own), the policy's limits
 * a rule per portal and a group of them all twice over, and
 * listen_backlog the somaxconn of current kernels, so that a reconnect
 * wave waits in the kernel's queue instead of retrying SYNs.  What each
 * costs is in docs/OPERATIONS.md, measured.
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
	    "interval of PING messages on control sessions: portals and relays send one this often (told in WELCOME); the server pings only a peer quiet this long, and otherwise every fourth interval for the round trip") \
	X(dead_timeout, DURATION, "dead_timeout", "45s", 300, 86400000, NULL, \
	    "a control session that is silent this long is closed") \
	X(handshake_timeout, DURATION, "handshake_timeout", "10s", 100, 600000, NULL, \
	    "a TLS handshake must finish within this") \
	X(ticket_lifetime, DURATION, "ticket_lifetime", "30s", 1000, 3600000, NULL, \
	    "how long a relay ticket stays valid after it is issued") \
	X(max_portals, INT, "max_portals", "150000", 1, 10000000, NULL,	\
	    "most portals registered at once (an idle session holds some 31 KiB of memory); a portal counts from its HELLO, a reconnecting one takes its old session's place, and one more is refused at HELLO") \
	X(max_relays, INT, "max_relays", "1000", 1, 100000, NULL,	\
	    "most relays registered at once; a relay counts from its HELLO, a reconnecting one takes its old session's place, and one more is refused at HELLO") \
	X(listen_backlog, INT, "listen_backlog", "4096", 1, 1000000, NULL, \
	    "connections the kernel queues on the control listener before the server accepts them (a wave of reconnecting portals waits there; some 2.3 KiB of kernel memory each, plus the data they sent); the kernel caps it at net.core.somaxconn, and the server warns at start when that is lower") \
	X(max_unauth, INT, "max_unauth", "1024", 1, 1000000, NULL,	\
	    "most connections that have not finished the TLS handshake and HELLO, in total; at the cap the oldest is closed") \
	X(max_unauth_per_source, INT, "max_unauth_per_source", "64", 1, 1000000, NULL, \
	    "most such connections from one IPv4 address or IPv6 /64; at the cap the oldest from it is closed") \
	X(reconnect_rate, INT, "reconnect_rate", "500", 0, 1000000, NULL, \
	    "registrations per second the server is sized to take when every portal reconnects at once (after a restart): portals spread their first attempt after a lost session over (portals registered / reconnect_rate) seconds, at most 10 minutes, none while fewer portals than the rate are registered; the server tells them in WELCOME and when it shuts down; 0: no spread beyond the portals' own jitter") \
	X(policy_limits_max_rules, INT, POLICY_KEY_MAX_RULES,		\
	    CONF_NUM(POLICY_DEFAULT_MAX_RULES), 1, 100000000, NULL,	\
	    "most rules in the policy file; a rule holds some 1.5 KiB, and 2.4 KiB at the peak of a load (docs/OPERATIONS.md)") \
	X(policy_limits_max_group_members, INT, POLICY_KEY_MAX_MEMBERS,	\
	    CONF_NUM(POLICY_DEFAULT_MAX_MEMBERS), 1, 100000000, NULL,	\
	    "most portals in one group of the policy file; a member holds some 130 bytes in each rule that names the group, and its portal's index entry some 150") \
	X(policy_limits_max_yaml_nodes, INT, POLICY_KEY_MAX_NODES,	\
	    CONF_NUM(POLICY_DEFAULT_MAX_NODES), 1, 1000000000, NULL,	\
	    "most YAML nodes (keys, values, lists, mappings) in the policy file; while it is read, each holds 85 to 110 bytes") \
	X(policy_limits_max_groups, INT, POLICY_KEY_MAX_GROUPS,		\
	    CONF_NUM(POLICY_DEFAULT_MAX_GROUPS), 1, 10000000, NULL,	\
	    "most groups in the policy file; a group holds 80 bytes and 64 per member, only while the file is read (rules keep their clients expanded)") \
	X(policy_limits_max_bindings, INT, POLICY_KEY_MAX_BINDINGS,	\
	    CONF_NUM(POLICY_DEFAULT_MAX_BINDINGS), 1, 1000000000, NULL, \
	    "most clients of all rules together, groups expanded (a rule that names a group of N portals counts N); each holds some 130 bytes in its rule") \
	X(policy_limits_max_file_size, SIZE, POLICY_KEY_MAX_FILE,	\
	    CONF_NUM(POLICY_DEFAULT_MAX_FILE_MIB) "MiB", 1024, 4294967296LL, NULL, \
	    "largest policy file; it is held whole while it is read (100,000 rules in block style are some 12 MB)") \
	X(seccomp, ENUM, "seccomp", "on", 0, 0, "on|off",		\
	    "on: once up, a seccomp filter allows only the system calls this daemon uses; any other kills it (SIGSYS), so that a flaw cannot go on to run programs or trace processes; off: no filter (for debuggers and valgrind)") \
	X(stun_mode, ENUM, "stun.mode", "on", 0, 0, "on|off",		\
	    "on: answer STUN Binding requests (RFC 5389) on stun.listen, so that portals learn their reflexive UDP address; the port is told to portals in WELCOME") \
	X(stun_listen, ENDPOINT, "stun.listen", "[::]:3478", 0, 65535, NULL, \
	    "address and UDP port of the STUN responder ([::] takes IPv4 too; port 0 picks a free port); if it cannot be bound, the server runs without it and says so") \
	X(stun_rate_per_source, INT, "stun.rate_per_source", "100", 1, 1000000, NULL, \
	    "STUN answers per second to one source (an IPv4 address or IPv6 /64, whatever the port), after a burst of twice as many; requests over it get no answer and are counted (netport status). A portal asks when its session comes up and every 5 minutes, so 100 a second covers some 30,000 portals behind one NAT address") \
	X(stun_rate_total, INT, "stun.rate_total", "20000", 1, 100000000, NULL, \
	    "STUN answers per second to all sources together; bounds what a flood, or requests forged with a victim's address, get out of the responder")

/* Values of stun.mode. */
#define SERVER_STUN_ON		0
#define SERVER_STUN_OFF		1

CONF_STRUCT(server_conf, SERVER_CONF_KEYS);

extern const struct conf_schema server_conf_schema;

/*
 * The policy_limits.* keys of the server configuration this process has
 * loaded (the defaults before one is), as the policy loader takes them.
 * A process runs one server, whose configuration is loaded once; the
 * schema's check records them, so that the start, -n and every reload
 * load the policy with the same limits.
 */
const struct policy_limits *server_conf_policy_limits(void);

#endif

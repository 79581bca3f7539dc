/* SPDX-License-Identifier: MIT */
/* The relay's configuration keys; docs/CONFIG.md is generated from them. */
#ifndef NETPORT_RELAY_CONF_H
#define NETPORT_RELAY_CONF_H

#include "core/conf.h"
#include "core/conf_common.h"

#define RELAY_CONF_KEYS(X)						\
	CONF_COMMON_KEYS(X)						\
	X(server, ENDPOINT, "server", NULL, 1, 65535, NULL,		\
	    "address of the netport server's control port") \
	X(listen, ENDPOINT, "listen", "0.0.0.0:8443", 0, 65535, NULL,	\
	    "address and TCP port where portals connect to be paired; port 0 picks a free port") \
	X(advertise, STRLIST, "advertise", "", 0, 8, NULL,		\
	    "host:port addresses portals dial to reach this relay; default: the listen address, which must then not be a wildcard") \
	X(capacity, INT, "capacity", "1000", 1, 1000000, NULL,		\
	    "most tunnels this relay carries at once; the server picks the least loaded relay") \
	X(handshake_timeout, DURATION, "handshake_timeout", "5s", 100, 600000, NULL, \
	    "a portal must present its ticket within this after connecting") \
	X(pairing_timeout, DURATION, "pairing_timeout", "15s", 100, 600000, NULL, \
	    "how long the first half of a tunnel waits for the second") \
	X(listen_backlog, INT, "listen_backlog", "4096", 1, 1000000, NULL, \
	    "connections the kernel queues on the relay's listener before it accepts them (every tunnel's two portals dial in at once, and all of them again when a relay restarts); the kernel caps it at net.core.somaxconn, and the relay warns at start when that is lower") \
	X(max_pending, INT, "max_pending", "10000", 1, 10000000, NULL,	\
	    "most connections not yet paired (presenting a ticket or waiting), in total") \
	X(max_pending_per_source, INT, "max_pending_per_source", "64", 1, 1000000, NULL, \
	    "most connections not yet paired from one source address") \
	X(load_interval, DURATION, "load_interval", "5s", 100, 3600000, NULL, \
	    "how often the relay reports its load to the server") \
	X(fast_path, ENUM, "fast_path", "splice", 0, 0, "splice|sockmap|auto", \
	    "how paired connections are forwarded: splice (the relay process moves the bytes with splice(2)), sockmap (experimental: an eBPF program moves them inside the kernel; needs CAP_BPF and CAP_NET_ADMIN; see docs/OPERATIONS.md for its known fault), or auto (sockmap when the kernel allows it, else splice)") \
	X(reconnect_min, DURATION, "reconnect.min", "1s", 100, 3600000, NULL, \
	    "first delay before reconnecting to the server") \
	X(reconnect_max, DURATION, "reconnect.max", "60s", 1000, 86400000, NULL, \
	    "longest delay between reconnection attempts") \
	X(seccomp, ENUM, "seccomp", "on", 0, 0, "on|off",		\
	    "on: once up, a seccomp filter allows only the system calls this daemon uses; any other kills it (SIGSYS), so that a flaw cannot go on to run programs or trace processes; off: no filter (for debuggers and valgrind)") \
	CONF_REFUSED_KEYS(X)

CONF_STRUCT(relay_conf, RELAY_CONF_KEYS);

/* Values of fast_path, in the order of its choices. */
enum relay_fast_path {
	RELAY_FAST_SPLICE = 0,
	RELAY_FAST_SOCKMAP = 1,
	RELAY_FAST_AUTO = 2,
};

extern const struct conf_schema relay_conf_schema;

#endif

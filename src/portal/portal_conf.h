/* SPDX-License-Identifier: MIT */
/* The portal's configuration keys; docs/CONFIG.md is generated from them. */
#ifndef NETPORT_PORTAL_CONF_H
#define NETPORT_PORTAL_CONF_H

#include "core/conf.h"
#include "core/conf_common.h"

#define PORTAL_CONF_KEYS(X)						\
	CONF_COMMON_KEYS(X)						\
	X(server, ENDPOINT, "server", NULL, 1, 65535, NULL,		\
	    "address of the netport server's control port") \
	X(allow, STRLIST, "allow", "", 0, 1000, NULL,			\
	    "local allow-list of targets this portal may connect to (HOST:PORT, HOST:LOW-HIGH, CIDR:PORT, HOST:*); empty: whatever the server's rules name") \
	X(tunnel_keepalive, DURATION, "tunnel.keepalive", "10s", 100, 3600000, NULL, \
	    "interval of keepalive pings inside a tunnel; their round trip is the tunnel's RTT") \
	X(tunnel_dead_timeout, DURATION, "tunnel.dead_timeout", "30s", 300, 86400000, NULL, \
	    "a tunnel's path that receives nothing for this long is given up (the tunnel then looks for a new path)") \
	X(tunnel_resume_timeout, DURATION, "tunnel.resume_timeout", "30s", 0, 3600000, NULL, \
	    "how long a tunnel whose path died waits for a new one, its streams kept open; then they are reset (0: at once)") \
	X(tunnel_idle_timeout, DURATION, "tunnel.idle_timeout", "5m", 1000, 604800000, NULL, \
	    "a tunnel without streams for this long is closed") \
	X(tunnel_setup_timeout, DURATION, "tunnel.setup_timeout", "15s", 100, 600000, NULL, \
	    "a tunnel must be up (granted, paired, TLS done) within this") \
	X(max_waiting, INT, "tunnel.max_waiting", "256", 1, 100000, NULL, \
	    "most accepted connections waiting for a tunnel to come up, per tunnel") \
	X(max_streams, INT, "tunnel.max_streams", "10000", 1, 1000000, NULL, \
	    "most streams in one tunnel; more are reset") \
	X(udp_flow_idle, DURATION, "udp.flow_idle", "60s", 1000, 86400000, NULL, \
	    "a UDP flow (one client address of a udp rule) that has carried more than one exchange ends after this long without a datagram") \
	X(udp_flow_idle_new, DURATION, "udp.flow_idle_new", "30s", 1000, 86400000, NULL, \
	    "a UDP flow that has carried at most one exchange (a request and its reply, such as a DNS query) ends after this long without a datagram; at most udp.flow_idle") \
	X(udp_max_flows, INT, "udp.max_flows", "1024", 1, 1000000, NULL, \
	    "most UDP flows per udp rule (client side) or per tunnel (service side); when full, a new client ends the flow whose single exchange finished longest ago, and without such a flow its datagrams are dropped and counted") \
	X(udp_queue, INT, "udp.queue", "128", 1, 100000, NULL, \
	    "datagrams a flow queues each way while the tunnel or socket is busy; the oldest are dropped beyond") \
	X(connect_timeout, DURATION, "connect_timeout", "10s", 100, 600000, NULL, \
	    "service side: connecting to a rule's target must succeed within this") \
	X(drain_timeout, DURATION, "drain_timeout", "5s", 0, 600000, NULL, \
	    "on SIGTERM/SIGINT, how long live streams may finish before they are reset") \
	X(reconnect_min, DURATION, "reconnect.min", "1s", 100, 3600000, NULL, \
	    "first delay before reconnecting to the server") \
	X(reconnect_max, DURATION, "reconnect.max", "60s", 1000, 86400000, NULL, \
	    "longest delay between reconnection attempts") \
	X(direct_mode, ENUM, "direct.mode", "auto", 0, 0, "auto|off",	\
	    "auto: tunnels move from the relay to a direct connection between the portals when one side can reach the other; off: always through a relay, and no listener") \
	X(direct_listen, ENDPOINT, "direct.listen", "[::]:0", 0, 65535, NULL, \
	    "where this portal accepts direct connections from peers (port 0: any free port; [::] is IPv6 and IPv4 both, or IPv4 alone on a host without IPv6); only a peer holding a ticket of a tunnel the server just granted gets past the first bytes") \
	X(direct_addresses, STRLIST, "direct.addresses", "", 0, 8, NULL, \
	    "IP addresses to tell peers for direct paths (the listener's port is added); empty: every address of the interfaces that are up") \
	X(direct_retry, DURATION, "direct.retry", "30s", 1000, 3600000, NULL, \
	    "after every direct attempt of a tunnel failed, the wait before it tries again with a fresh grant; it doubles at each failure, up to 30 min") \
	X(direct_portmap, ENUM, "direct.portmap", "auto", 0, 0, "auto|natpmp|upnp|off", \
	    "ask the home router to forward a public port to the direct listener, so that peers elsewhere can dial in: auto tries NAT-PMP, then UPnP-IGD; the mapping is renewed while the portal runs and removed when it stops") \
	X(direct_portmap_lease, DURATION, "direct.portmap_lease", "1h", 120000, 86400000, NULL, \
	    "the lease asked for a port mapping; it is renewed at half of it") \
	X(direct_quic, ENUM, "direct.quic", "off", 0, 0, "off|on|prefer", \
	    "on: besides direct TCP, try a direct QUIC path over UDP (probes punch both NATs, then QUIC with TLS 1.3 and the same peer checks); across NATs it ranks above direct TCP, on a LAN below; prefer: above direct TCP on a LAN too (as the tunnel's initiator decides)") \
	X(direct_quic_cc, ENUM, "direct.quic_cc", "bbr", 0, 0, "bbr|bbr2|cubic|reno", \
	    "congestion control of QUIC paths: bbr and bbr2 pace by the measured bottleneck rate and round-trip time and do not read loss as congestion; cubic and reno are loss-based") \
	X(direct_birthday, ENUM, "direct.birthday", "off", 0, 0, "off|on", \
	    "with direct.quic on, between a NAT that keeps ports and one that picks a new port per destination (MASQUERADE --random-fully): the first probes 1024 random ports of the other, which probes from 128 sockets, so that a pair of them likely meets (a birthday attack on the NAT); looks like a port scan, hence off by default") \
	X(direct_max_pending, INT, "direct.max_pending", "256", 1, 100000, NULL, \
	    "direct connections that have not yet presented a ticket, in all; beyond it the oldest is closed") \
	X(direct_max_pending_per_source, INT, "direct.max_pending_per_source", "16", 1, 100000, NULL, \
	    "the same, per source address (IPv4, or IPv6 /64)") \
	X(capture_mode, ENUM, "capture.mode", "off", 0, 0, "off|auto|print", \
	    "capture rules (transparent mode, Linux): off ignores them (a server cannot make a portal intercept traffic unless its owner allows it here); auto installs them in the nftables table inet netport (needs CAP_NET_ADMIN; without it they are printed); print logs the nftables rules and policy routes for an administrator to install") \
	X(capture_backend, ENUM, "capture.backend", "auto", 0, 0, "auto|nftables|iptables", \
	    "how capture rules are installed: nftables (netport's own table inet netport); iptables (chains NETPORT_PREROUTING and NETPORT_OUTPUT through iptables-restore, for a kernel whose nftables lacks redirect or tproxy but has the xtables targets); auto: nftables, and iptables when nftables refuses the table") \
	X(capture_port, INT, "capture.port", "0", 0, 65535, NULL, \
	    "port of the capture sockets that redirected TCP and TPROXY'd UDP arrive at (0: any free port; fix it with capture.mode print)") \
	X(capture_mark, INT, "capture.mark", "28272", 1, 2147483646, NULL, \
	    "firewall mark of netport's own sockets, which the capture rules skip (0x6e70); mark + 1 routes captured UDP to the local TPROXY socket") \
	X(capture_route_table, INT, "capture.route_table", "28273", 1, 2147483647, NULL, \
	    "routing table that delivers captured UDP locally (ip rule fwmark capture.mark+1 lookup TABLE; local default dev lo table TABLE)") \
	CONF_REFUSED_KEYS(X)

/* Values of capture.mode. */
#define PORTAL_CAPTURE_OFF	0
#define PORTAL_CAPTURE_AUTO	1
#define PORTAL_CAPTURE_PRINT	2
/* Values of capture.backend. */
#define PORTAL_CAPTURE_BACKEND_AUTO	0
#define PORTAL_CAPTURE_BACKEND_NFT	1
#define PORTAL_CAPTURE_BACKEND_IPT	2
/* Values of direct.mode, in the order of its choices. */
#define PORTAL_DIRECT_AUTO	0
#define PORTAL_DIRECT_OFF	1
/* Values of direct.quic. */
#define PORTAL_QUIC_OFF		0
#define PORTAL_QUIC_ON		1
#define PORTAL_QUIC_PREFER	2
/* Values of direct.birthday. */
#define PORTAL_BIRTHDAY_OFF	0
#define PORTAL_BIRTHDAY_ON	1
/* Values of direct.portmap. */
#define PORTAL_PORTMAP_AUTO	0
#define PORTAL_PORTMAP_NATPMP	1
#define PORTAL_PORTMAP_UPNP	2
#define PORTAL_PORTMAP_OFF	3

CONF_STRUCT(portal_conf, PORTAL_CONF_KEYS);

extern const struct conf_schema portal_conf_schema;

#endif

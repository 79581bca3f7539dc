/* SPDX-License-Identifier: MIT */
/*
 * Config keys shared by the daemons (portal, server, relay): their TLS
 * identity, their logging and their local control socket.  Each role's
 * key list starts with these, and each role's schema check starts with
 * conf_common_check().
 */
#ifndef NETPORT_CORE_CONF_COMMON_H
#define NETPORT_CORE_CONF_COMMON_H

#include "core/conf.h"

/* The order of log.level's choices is that of enum log_level. */
#define CONF_COMMON_KEYS(X)						\
	X(tls_ca, PATH, "tls.ca", NULL, 0, 0, NULL,			\
	    "CA certificate (PEM) that every peer certificate must chain to") \
	X(tls_cert, PATH, "tls.cert", NULL, 0, 0, NULL,			\
	    "this process's certificate (PEM), issued by `netport ca issue`") \
	X(tls_key, PATH, "tls.key", NULL, 0, 0, NULL,			\
	    "private key (PEM) of tls.cert; refused when group or others have access to it (keep it mode 0600)") \
	X(tls_key_permissions, ENUM, "tls.key_permissions", "strict", 0, 0, \
	    "strict|ignore",						\
	    "strict: refuse a tls.key that group or others may read, write or execute; ignore: accept any mode, for keys mounted by a platform (a container's secret volume) with modes of its own") \
	X(tls_crl, PATH, "tls.crl", "", 0, 0, NULL,			\
	    "certificate revocation list (PEM) from `netport ca crl`; unset: no revocation check") \
	X(log_level, ENUM, "log.level", "info", 0, 0,			\
	    "debug|info|warn|error", "least severe level that is logged") \
	X(log_format, ENUM, "log.format", "text", 0, 0, "text|json",	\
	    "log line format: text, or one JSON object per line")	\
	X(control_socket, PATH, "control.socket", "", 0, 0, NULL,	\
	    "Unix socket (mode 0600) that `netport status` asks; unset: /run/netport/ROLE-NAME.sock as root, else $XDG_RUNTIME_DIR/netport/ROLE-NAME.sock or /tmp/netport-UID/ROLE-NAME.sock") \
	X(user, STRING, "user", "", 0, 0, NULL,				\
	    "started as root, run as this user (and its groups) once the listening sockets are bound; a capturing portal keeps CAP_NET_ADMIN; unset: stay as started (systemd units set User= instead)") \
	X(metrics, STRING, "metrics", "", 0, 0, NULL,			\
	    "HOST:PORT where GET /metrics answers in the Prometheus text format (plain HTTP: keep it on loopback or a management network); unset: no metrics endpoint")

/* Values of the server's and relay's seccomp key. */
#define CONF_SECCOMP_ON		0
#define CONF_SECCOMP_OFF	1

/* Values of tls.key_permissions, in the order of its choices. */
enum conf_key_permissions {
	CONF_KEY_PERMISSIONS_STRICT = 0,
	CONF_KEY_PERMISSIONS_IGNORE = 1,
};

/*
 * The checks of the common keys that their types cannot express (tls.key's
 * file mode); each role's schema check calls it first.  Returns 0,
 * NP_ECONFIG (messages added to c->errs) or -ENOMEM.
 */
int	conf_common_check(const struct conf_check *c)
	    __attribute__((warn_unused_result));

/*
 * What a daemon with a control session to the server (portal, relay) does
 * when the server refuses its certificate; see ctl_client.h.  The choices
 * of reconnect.refused are in the order of CONF_REFUSED_*.
 */
#define CONF_REFUSED_RETRY	0
#define CONF_REFUSED_EXIT	1
#define CONF_REFUSED_KEYS(X)						\
	X(reconnect_refused, ENUM, "reconnect.refused", "retry", 0, 0,	\
	    "retry|exit",						\
	    "when the server refuses this daemon's certificate (revoked, or not issued by a CA it trusts): retry after reconnect.refused_delay, or exit with status 3") \
	X(reconnect_refused_delay, DURATION, "reconnect.refused_delay", "1h", \
	    1000, 604800000, NULL,					\
	    "after the server refused this daemon's certificate, the next attempt comes after a random delay between half of this and this; other failures retry within reconnect.min..reconnect.max")

#endif

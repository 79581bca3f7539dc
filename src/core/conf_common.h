/* SPDX-License-Identifier: MIT */
/*
 * Config keys shared by the daemons (portal, server, relay): their TLS
 * identity and their logging.  Each role's key list starts with these.
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
	    "private key (PEM) of tls.cert; keep it mode 0600")	\
	X(tls_crl, PATH, "tls.crl", "", 0, 0, NULL,			\
	    "certificate revocation list (PEM) from `netport ca crl`; unset: no revocation check") \
	X(log_level, ENUM, "log.level", "info", 0, 0,			\
	    "debug|info|warn|error", "least severe level that is logged") \
	X(log_format, ENUM, "log.format", "text", 0, 0, "text|json",	\
	    "log line format: text, or one JSON object per line")

#endif

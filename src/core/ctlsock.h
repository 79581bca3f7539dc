/* SPDX-License-Identifier: MIT */
/*
 * A daemon's local control socket: a Unix stream socket, owner-only
 * (mode 0600, in a directory of mode 0700 when netport makes it), that
 * `netport status` asks.  A client sends one request line, "status", and
 * reads one JSON document, which the role's callback builds; then the
 * connection closes.  Requests are capped in size, time and number of
 * clients at once: the socket is local and owner-only, but a stuck client
 * must not hold the daemon's memory.
 */
#ifndef NETPORT_CORE_CTLSOCK_H
#define NETPORT_CORE_CTLSOCK_H

#include <stddef.h>

struct ctlsock;
struct loop;

/* The protocol's one request. */
#define CTLSOCK_REQ_STATUS	"status"

/* Builds the answer to "status": JSON text (malloc'd, the caller frees),
 * or NULL when out of memory. */
typedef char *ctlsock_status_cb(void *arg);

/*
 * The default socket of a daemon ROLE named NAME: /run/netport/ROLE-NAME.sock
 * as root, else $XDG_RUNTIME_DIR/netport/ROLE-NAME.sock, else
 * /tmp/netport-UID/ROLE-NAME.sock.  0, or -ENAMETOOLONG.
 */
int	ctlsock_default_path(const char *role, const char *name, char *out,
	    size_t size);

/*
 * Opens the socket at path (the default directory is made, mode 0700, if
 * it is the default path's; a stale socket of a dead daemon is replaced,
 * a live one is an error).  Returns the socket, or NULL with *err set
 * (-errno or NP_E*).
 */
struct ctlsock *ctlsock_open(struct loop *loop, const char *path,
	    ctlsock_status_cb *cb, void *arg, int *err);
/*
 * What a daemon does at start: opens its socket at configured (or, when
 * empty, the default path of role and name) and logs where; a socket that
 * cannot be opened (another daemon of the same identity, a directory of
 * someone else's) is logged as a warning and the daemon goes on without
 * one.  NULL then.
 */
struct ctlsock *ctlsock_start(struct loop *loop, const char *configured,
	    const char *role, const char *name, ctlsock_status_cb *cb,
	    void *arg);
/* Closes the socket and its clients and removes the file; NULL-safe. */
void	ctlsock_close(struct ctlsock *cs);
const char *ctlsock_path(const struct ctlsock *cs);

/*
 * Client side: sends "status" to the daemon at path and returns its
 * answer (malloc'd, NUL-terminated) in *out, waiting at most timeout_ms.
 * 0, or -errno (-ENOENT: no daemon there; -ECONNREFUSED: a stale socket).
 */
int	ctlsock_query(const char *path, int timeout_ms, char **out);

#endif

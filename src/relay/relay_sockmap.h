/* SPDX-License-Identifier: MIT */
/*
 * The relay's in-kernel fast path (src/bpf/relay_sockmap.bpf.c): once both
 * halves of a tunnel are in the sockhash, the kernel forwards every byte
 * between them without waking the relay.
 */
#ifndef NETPORT_RELAY_SOCKMAP_H
#define NETPORT_RELAY_SOCKMAP_H

#include <stddef.h>
#include <stdint.h>

struct relay_sockmap;

/*
 * Loads the program and its hash, sized for max_tunnels pairs, and attaches
 * it.  Returns 0, or -errno with a sentence in why (no eBPF support in this
 * build, missing privileges, a kernel without sockmap).
 */
int	relay_sockmap_open(uint32_t max_tunnels, struct relay_sockmap **out,
	    char *why, size_t whylen);
void	relay_sockmap_close(struct relay_sockmap *m);

/*
 * Puts two connected TCP sockets in the hash, each under its peer's
 * cookie; from then on what either receives is sent out of the other.
 * Bytes already queued on a socket stay there (the caller makes sure there
 * are none).  Fills cookies for relay_sockmap_remove; 0 or -errno, and on
 * failure neither socket is left in the hash.
 */
int	relay_sockmap_add(struct relay_sockmap *m, int fd_a, int fd_b,
	    uint64_t cookies[2]);
/* Takes both out of the hash (closing a socket does too). */
void	relay_sockmap_remove(struct relay_sockmap *m,
	    const uint64_t cookies[2]);

#endif

/* SPDX-License-Identifier: MIT */
/*
 * The relay's in-kernel fast path: a stream verdict program on a sockhash.
 *
 * Every paired portal connection is in the hash under the socket cookie of
 * the *other* half, so the program finds where a segment goes with one
 * lookup of its own socket's cookie and hands it to that socket's send
 * path: the payload never reaches user space and the relay process is not
 * woken.  A connection whose peer is not in the hash keeps its data in its
 * own receive queue (SK_PASS), where the relay would see it.
 *
 * Compiled with clang -target bpf and embedded in the netport binary
 * (relay_sockmap.c loads it).
 */
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>

struct {
	__uint(type, BPF_MAP_TYPE_SOCKHASH);
	__uint(max_entries, 2048);	/* set by the loader from capacity */
	__type(key, __u64);		/* the socket cookie of the peer */
	__type(value, __u64);		/* the socket (as an fd from user space) */
} relay_peers SEC(".maps");

SEC("sk_skb/stream_verdict")
int
relay_verdict(struct __sk_buff *skb)
{
	__u64 cookie = bpf_get_socket_cookie(skb);

	/*
	 * A segment without payload (a bare FIN) has nothing to forward; a
	 * redirected empty buffer would make the kernel's sender report a
	 * broken pipe on the peer and stop sending to it.  The relay passes
	 * the EOF on itself once the bytes before it are through.
	 */
	if (skb->len == 0)
		return SK_DROP;
	/*
	 * On a hit the helper marks the segment for redirection and SK_PASS
	 * sends it there; on a miss (the peer is being closed) SK_PASS keeps
	 * it on this socket instead of dropping it.
	 */
	bpf_sk_redirect_hash(skb, &relay_peers, &cookie, 0);
	return SK_PASS;
}

char LICENSE[] SEC("license") = "Dual MIT/GPL";

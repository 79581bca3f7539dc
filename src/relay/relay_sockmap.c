/* SPDX-License-Identifier: MIT */
/*
 * Loading and feeding the relay's sockmap program with libbpf.  The object
 * file is compiled from src/bpf/relay_sockmap.bpf.c at build time and
 * embedded in the binary, so a relay needs no file besides its own.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "core/log.h"
#include "relay/relay_sockmap.h"

#ifdef NETPORT_HAVE_BPF

#include <bpf/bpf.h>
#include <bpf/libbpf.h>

/* Generated from the compiled program (cmake/bin2c.cmake). */
extern const unsigned char relay_sockmap_obj[];
extern const size_t relay_sockmap_obj_len;

struct relay_sockmap {
	struct bpf_object	*obj;	/* owns the program and the hash */
	int			 map_fd;	/* borrowed from obj */
	int			 prog_fd;	/* borrowed from obj */
};

/* The last thing libbpf said, for the error sentence of a failed load. */
static char sockmap_libbpf_msg[256];

static int sockmap_libbpf_print(enum libbpf_print_level level,
    const char *fmt, va_list ap) __attribute__((format(printf, 2, 0)));

static int
sockmap_libbpf_print(enum libbpf_print_level level, const char *fmt,
    va_list ap)
{
	char line[256];
	size_t n;

	if (level == LIBBPF_DEBUG)
		return 0;
	vsnprintf(line, sizeof(line), fmt, ap);
	n = strlen(line);
	while (n > 0 && (line[n - 1] == '\n' || line[n - 1] == ' '))
		line[--n] = '\0';
	snprintf(sockmap_libbpf_msg, sizeof(sockmap_libbpf_msg), "%s", line);
	log_debug(NULL, "libbpf: %s", line);
	return 0;
}

static int
sockmap_fail(struct relay_sockmap *m, int rc, const char *what, char *why,
    size_t whylen)
{
	if (rc > 0)
		rc = -rc;
	if (rc == 0)
		rc = -EINVAL;
	snprintf(why, whylen, "%s: %s%s%s", what, strerror(-rc),
	    sockmap_libbpf_msg[0] ? " (libbpf: " : "",
	    sockmap_libbpf_msg[0] ? sockmap_libbpf_msg : "");
	if (sockmap_libbpf_msg[0])
		snprintf(why + strlen(why), whylen - strlen(why), ")");
	relay_sockmap_close(m);
	return rc;
}

int
relay_sockmap_open(uint32_t max_tunnels, struct relay_sockmap **out,
    char *why, size_t whylen)
{
	LIBBPF_OPTS(bpf_object_open_opts, opts,
	    .object_name = "relay_sockmap");
	struct relay_sockmap *m;
	struct bpf_program *prog;
	struct bpf_map *map;
	int rc;

	*out = NULL;
	sockmap_libbpf_msg[0] = '\0';
	libbpf_set_print(sockmap_libbpf_print);
	if ((m = calloc(1, sizeof(*m))) == NULL)
		return sockmap_fail(NULL, -ENOMEM, "out of memory", why, whylen);
	m->obj = bpf_object__open_mem(relay_sockmap_obj, relay_sockmap_obj_len,
	    &opts);
	if ((rc = libbpf_get_error(m->obj)) != 0) {
		m->obj = NULL;
		return sockmap_fail(m, rc, "cannot open the program", why,
		    whylen);
	}
	map = bpf_object__find_map_by_name(m->obj, "relay_peers");
	prog = bpf_object__find_program_by_name(m->obj, "relay_verdict");
	if (map == NULL || prog == NULL)
		return sockmap_fail(m, -ENOENT, "program is incomplete", why,
		    whylen);
	if ((rc = bpf_map__set_max_entries(map, 2 * max_tunnels)) != 0)
		return sockmap_fail(m, rc, "cannot size the hash", why, whylen);
	if ((rc = bpf_object__load(m->obj)) != 0)
		return sockmap_fail(m, rc, "cannot load the program", why,
		    whylen);
	m->map_fd = bpf_map__fd(map);
	m->prog_fd = bpf_program__fd(prog);
	if (bpf_prog_attach(m->prog_fd, m->map_fd,
	    BPF_SK_SKB_STREAM_VERDICT, 0) != 0)
		return sockmap_fail(m, -errno, "cannot attach the program",
		    why, whylen);
	*out = m;
	return 0;
}

void
relay_sockmap_close(struct relay_sockmap *m)
{
	if (m == NULL)
		return;
	/* Closing the hash releases the sockets still in it. */
	bpf_object__close(m->obj);
	free(m);
}

static int
sockmap_cookie(int fd, uint64_t *cookie)
{
	socklen_t len = sizeof(*cookie);

	return getsockopt(fd, SOL_SOCKET, SO_COOKIE, cookie, &len) == 0 ?
	    0 : -errno;
}

int
relay_sockmap_add(struct relay_sockmap *m, int fd_a, int fd_b,
    uint64_t cookies[2])
{
	uint64_t value;
	int rc;

	if ((rc = sockmap_cookie(fd_a, &cookies[0])) != 0 ||
	    (rc = sockmap_cookie(fd_b, &cookies[1])) != 0)
		return rc;
	/* b is found by a's cookie, and the other way round. */
	value = (uint64_t)fd_b;
	if (bpf_map_update_elem(m->map_fd, &cookies[0], &value,
	    BPF_NOEXIST) != 0)
		return -errno;
	value = (uint64_t)fd_a;
	if (bpf_map_update_elem(m->map_fd, &cookies[1], &value,
	    BPF_NOEXIST) != 0) {
		rc = -errno;
		(void)bpf_map_delete_elem(m->map_fd, &cookies[0]);
		return rc;
	}
	return 0;
}

void
relay_sockmap_remove(struct relay_sockmap *m, const uint64_t cookies[2])
{
	(void)bpf_map_delete_elem(m->map_fd, &cookies[0]);
	(void)bpf_map_delete_elem(m->map_fd, &cookies[1]);
}

#else /* !NETPORT_HAVE_BPF */

/* Built without libbpf or clang: the relay forwards with splice only. */
int
relay_sockmap_open(uint32_t max_tunnels, struct relay_sockmap **out,
    char *why, size_t whylen)
{
	*out = NULL;
	snprintf(why, whylen, "this netport was built without eBPF support "
	    "(libbpf and clang were not found)");
	return -ENOTSUP;
}

void
relay_sockmap_close(struct relay_sockmap *m)
{
}

int
relay_sockmap_add(struct relay_sockmap *m, int fd_a, int fd_b,
    uint64_t cookies[2])
{
	return -ENOTSUP;
}

void
relay_sockmap_remove(struct relay_sockmap *m, const uint64_t cookies[2])
{
}

#endif

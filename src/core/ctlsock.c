/* SPDX-License-Identifier: MIT */
/*
 * The local control socket (ctlsock.h): a listener on the daemon's loop,
 * one bufferevent per client, answered once and closed.
 */
#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>

#include "core/ctlsock.h"
#include "core/err.h"
#include "core/listener.h"
#include "core/log.h"
#include "core/loop.h"
#include "core/net.h"
#include "core/queue.h"

/* Clients served at once; more are closed at once. */
#define CTLSOCK_MAX_CLIENTS	8
/* A request line is a word; anything longer is not ours. */
#define CTLSOCK_REQ_MAX		64
/* A client has this long to ask and to take the answer. */
#define CTLSOCK_CLIENT_SECS	5
/* Largest answer a client reads (a portal with many tunnels). */
#define CTLSOCK_ANSWER_MAX	(16 * 1024 * 1024)

struct ctlsock_client {
	TAILQ_ENTRY(ctlsock_client) entry;
	struct ctlsock		*cs;		/* borrowed */
	struct bufferevent	*bev;
	int			 answered;
};

TAILQ_HEAD(ctlsock_client_list, ctlsock_client);

struct ctlsock {
	struct loop		*loop;		/* borrowed */
	struct listener		*listener;
	char			 path[CONF_UNIX_PATH_MAX + 1];
	dev_t			 dev;
	ino_t			 ino;
	ctlsock_status_cb	*cb;
	void			*arg;
	struct ctlsock_client_list clients;
	size_t			 nclients;
};

static int
ctlsock_default_dir(char *out, size_t size)
{
	const char *xdg = getenv("XDG_RUNTIME_DIR");
	int n;

	if (geteuid() == 0)
		n = snprintf(out, size, "/run/netport");
	else if (xdg != NULL && xdg[0] == '/')
		n = snprintf(out, size, "%s/netport", xdg);
	else
		n = snprintf(out, size, "/tmp/netport-%lu",
		    (unsigned long)geteuid());
	return n < 0 || (size_t)n >= size ? -ENAMETOOLONG : 0;
}

int
ctlsock_default_path(const char *role, const char *name, char *out,
    size_t size)
{
	char dir[CONF_UNIX_PATH_MAX + 1];
	int n;

	if (ctlsock_default_dir(dir, sizeof(dir)) != 0)
		return -ENAMETOOLONG;
	n = snprintf(out, size, "%s/%s-%s.sock", dir, role, name);
	return n < 0 || (size_t)n >= size || (size_t)n > CONF_UNIX_PATH_MAX ?
	    -ENAMETOOLONG : 0;
}

/*
 * The default directory is ours: made mode 0700, and when it exists it
 * must be ours and closed to others (in /tmp someone else could have made
 * it first).  Paths set by hand are the administrator's business.
 */
static int
ctlsock_prepare_dir(const char *path)
{
	char dir[CONF_UNIX_PATH_MAX + 1];
	struct stat st;

	if (ctlsock_default_dir(dir, sizeof(dir)) != 0 ||
	    strncmp(path, dir, strlen(dir)) != 0 || path[strlen(dir)] != '/' ||
	    strchr(path + strlen(dir) + 1, '/') != NULL)
		return 0;
	if (mkdir(dir, 0700) != 0 && errno != EEXIST)
		return -errno;
	if (lstat(dir, &st) != 0)
		return -errno;
	if (!S_ISDIR(st.st_mode) || st.st_uid != geteuid() ||
	    (st.st_mode & 077) != 0)
		return -EPERM;
	return 0;
}

static void
ctlsock_client_free(struct ctlsock_client *c)
{
	TAILQ_REMOVE(&c->cs->clients, c, entry);
	c->cs->nclients--;
	bufferevent_free(c->bev);
	free(c);
}

static void
ctlsock_write_cb(struct bufferevent *bev, void *arg)
{
	struct ctlsock_client *c = arg;

	if (c->answered)
		ctlsock_client_free(c);
}

static void
ctlsock_event_cb(struct bufferevent *bev, short what, void *arg)
{
	ctlsock_client_free(arg);
}

static void
ctlsock_read_cb(struct bufferevent *bev, void *arg)
{
	struct ctlsock_client *c = arg;
	struct evbuffer *in = bufferevent_get_input(bev);
	char *line, *answer;
	size_t n;

	if (c->answered)
		return;
	line = evbuffer_readln(in, &n, EVBUFFER_EOL_CRLF);
	if (line == NULL) {
		if (evbuffer_get_length(in) > CTLSOCK_REQ_MAX)
			ctlsock_client_free(c);
		return;
	}
	c->answered = 1;
	if (strcmp(line, CTLSOCK_REQ_STATUS) == 0 &&
	    (answer = c->cs->cb(c->cs->arg)) != NULL) {
		bufferevent_write(bev, answer, strlen(answer));
		free(answer);
	} else
		bufferevent_write(bev, "{\"error\":\"unknown request\"}",
		    strlen("{\"error\":\"unknown request\"}"));
	bufferevent_write(bev, "\n", 1);
	free(line);
	bufferevent_disable(bev, EV_READ);
}

static void
ctlsock_accept_cb(int fd, const struct sockaddr *sa, void *arg)
{
	struct ctlsock *cs = arg;
	struct ctlsock_client *c;
	struct timeval tv = { CTLSOCK_CLIENT_SECS, 0 };

	if (cs->nclients >= CTLSOCK_MAX_CLIENTS ||
	    (c = calloc(1, sizeof(*c))) == NULL) {
		close(fd);
		return;
	}
	c->cs = cs;
	c->bev = bufferevent_socket_new(loop_base(cs->loop), fd,
	    BEV_OPT_CLOSE_ON_FREE);
	if (c->bev == NULL) {
		close(fd);
		free(c);
		return;
	}
	TAILQ_INSERT_TAIL(&cs->clients, c, entry);
	cs->nclients++;
	bufferevent_setcb(c->bev, ctlsock_read_cb, ctlsock_write_cb,
	    ctlsock_event_cb, c);
	bufferevent_set_timeouts(c->bev, &tv, &tv);
	bufferevent_setwatermark(c->bev, EV_READ, 0, CTLSOCK_REQ_MAX + 2);
	bufferevent_enable(c->bev, EV_READ | EV_WRITE);
}

struct ctlsock *
ctlsock_open(struct loop *loop, const char *path, ctlsock_status_cb *cb,
    void *arg, int *err)
{
	struct ctlsock *cs;
	int fd, r;

	*err = 0;
	if (strlen(path) > CONF_UNIX_PATH_MAX) {
		*err = -ENAMETOOLONG;
		return NULL;
	}
	if ((r = ctlsock_prepare_dir(path)) != 0) {
		*err = r;
		return NULL;
	}
	if ((cs = calloc(1, sizeof(*cs))) == NULL) {
		*err = -ENOMEM;
		return NULL;
	}
	snprintf(cs->path, sizeof(cs->path), "%s", path);
	cs->loop = loop;
	cs->cb = cb;
	cs->arg = arg;
	TAILQ_INIT(&cs->clients);
	if ((fd = net_listen_unix(path, 0600, 16, &cs->dev, &cs->ino)) < 0) {
		*err = fd;
		free(cs);
		return NULL;
	}
	if ((cs->listener = listener_new(loop, fd, "control socket",
	    ctlsock_accept_cb, cs)) == NULL) {
		net_unlink_unix(cs->path, cs->dev, cs->ino);
		free(cs);
		*err = -ENOMEM;
		return NULL;
	}
	return cs;
}

struct ctlsock *
ctlsock_start(struct loop *loop, const char *configured, const char *role,
    const char *name, ctlsock_status_cb *cb, void *arg)
{
	char path[CONF_UNIX_PATH_MAX + 1];
	struct ctlsock *cs;
	int err;

	if (configured != NULL && configured[0] != '\0')
		snprintf(path, sizeof(path), "%s", configured);
	else if (ctlsock_default_path(role, name, path, sizeof(path)) != 0) {
		log_warn(NULL, "no control socket: the default path for %s-%s "
		    "is too long; set control.socket (netport status will not "
		    "reach this daemon)", role, name);
		return NULL;
	}
	if ((cs = ctlsock_open(loop, path, cb, arg, &err)) == NULL) {
		log_warn(NULL, "no control socket at %s: %s (netport status "
		    "will not reach this daemon)", path, err == -EADDRINUSE ?
		    "another daemon answers there" : err == -EPERM ?
		    "its directory is not this user's alone" :
		    np_strerror(err));
		return NULL;
	}
	log_info(NULL, "control socket %s (netport status)", path);
	return cs;
}

void
ctlsock_close(struct ctlsock *cs)
{
	struct ctlsock_client *c;

	if (cs == NULL)
		return;
	while ((c = TAILQ_FIRST(&cs->clients)) != NULL)
		ctlsock_client_free(c);
	listener_free(cs->listener);
	net_unlink_unix(cs->path, cs->dev, cs->ino);
	free(cs);
}

const char *
ctlsock_path(const struct ctlsock *cs)
{
	return cs->path;
}

static uint64_t
ctlsock_now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

int
ctlsock_query(const char *path, int timeout_ms, char **out)
{
	struct sockaddr_storage ss;
	struct pollfd pfd;
	socklen_t len;
	uint64_t deadline = ctlsock_now_ms() + (uint64_t)timeout_ms, now;
	size_t got = 0, cap = 0;
	char *buf = NULL, *nb;
	const char req[] = CTLSOCK_REQ_STATUS "\n";
	ssize_t n;
	int fd, r;

	*out = NULL;
	if ((r = net_unix_addr(path, &ss, &len)) != 0)
		return r;
	if ((fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0)) < 0)
		return -errno;
	if (connect(fd, (struct sockaddr *)&ss, len) != 0 ||
	    send(fd, req, sizeof(req) - 1, MSG_NOSIGNAL) !=
	    (ssize_t)(sizeof(req) - 1)) {
		r = -errno;
		goto out;
	}
	for (;;) {
		now = ctlsock_now_ms();
		if (now >= deadline) {
			r = -ETIMEDOUT;
			goto out;
		}
		pfd.fd = fd;
		pfd.events = POLLIN;
		if (poll(&pfd, 1, (int)(deadline - now)) < 0 &&
		    errno != EINTR) {
			r = -errno;
			goto out;
		}
		if (got + 65536 + 1 > cap) {
			if (cap >= CTLSOCK_ANSWER_MAX) {
				r = NP_ETOOBIG;
				goto out;
			}
			cap = cap ? cap * 2 : 65536 * 2;
			if ((nb = realloc(buf, cap)) == NULL) {
				r = -ENOMEM;
				goto out;
			}
			buf = nb;
		}
		n = recv(fd, buf + got, cap - got - 1, MSG_DONTWAIT);
		if (n < 0 && (errno == EAGAIN || errno == EINTR))
			continue;
		if (n < 0) {
			r = -errno;
			goto out;
		}
		if (n == 0)
			break;
		got += (size_t)n;
	}
	if (buf == NULL && (buf = malloc(1)) == NULL) {
		r = -ENOMEM;
		goto out;
	}
	buf[got] = '\0';
	*out = buf;
	buf = NULL;
	r = 0;
out:
	free(buf);
	close(fd);
	return r;
}

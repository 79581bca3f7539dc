/* SPDX-License-Identifier: MIT */
/* The /metrics endpoint, on libevent's evhttp; see metrics_http.h. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <event2/buffer.h>
#include <event2/http.h>

#include "core/buf.h"
#include "core/log.h"
#include "core/loop.h"
#include "core/metrics.h"
#include "core/metrics_http.h"

/* A scrape's largest answer: far above what bounded families produce. */
#define METRICS_HTTP_MAX	(8 * 1024 * 1024)
/* A client gets this long to send its request and read the answer. */
#define METRICS_HTTP_TIMEOUT_S	10

struct metrics_http {
	struct evhttp	*http;
};

static void
metrics_http_cb(struct evhttp_request *req, void *arg)
{
	struct evbuffer *body;
	struct buf text;
	const char *path = evhttp_uri_get_path(evhttp_request_get_evhttp_uri(
	    req));

	(void)arg;
	if (path == NULL || strcmp(path, "/metrics") != 0) {
		evhttp_send_error(req, HTTP_NOTFOUND, "only /metrics is here");
		return;
	}
	if (evhttp_request_get_command(req) != EVHTTP_REQ_GET &&
	    evhttp_request_get_command(req) != EVHTTP_REQ_HEAD) {
		evhttp_send_error(req, HTTP_BADMETHOD, "GET only");
		return;
	}
	buf_init(&text, METRICS_HTTP_MAX);
	if (metrics_render(&text) != 0 || (body = evbuffer_new()) == NULL) {
		buf_release(&text);
		evhttp_send_error(req, HTTP_INTERNAL, "out of memory");
		return;
	}
	evbuffer_add(body, buf_data(&text), buf_len(&text));
	buf_release(&text);
	evhttp_add_header(evhttp_request_get_output_headers(req),
	    "Content-Type", "text/plain; version=0.0.4; charset=utf-8");
	evhttp_send_reply(req, HTTP_OK, "OK", body);
	evbuffer_free(body);
}

struct metrics_http *
metrics_http_start(struct loop *loop, const struct conf_endpoint *ep,
    char *why, size_t whylen)
{
	struct metrics_http *m;

	if ((m = calloc(1, sizeof(*m))) == NULL ||
	    (m->http = evhttp_new(loop_base(loop))) == NULL) {
		free(m);
		snprintf(why, whylen, "out of memory");
		return NULL;
	}
	evhttp_set_timeout(m->http, METRICS_HTTP_TIMEOUT_S);
	evhttp_set_max_headers_size(m->http, 16384);
	evhttp_set_max_body_size(m->http, 0);
	evhttp_set_allowed_methods(m->http, EVHTTP_REQ_GET | EVHTTP_REQ_HEAD);
	evhttp_set_gencb(m->http, metrics_http_cb, m);
	if (evhttp_bind_socket(m->http, ep->host, ep->port) != 0) {
		snprintf(why, whylen, "cannot listen on %s:%u: %s", ep->host,
		    ep->port, strerror(errno));
		metrics_http_stop(m);
		return NULL;
	}
	return m;
}

void
metrics_http_stop(struct metrics_http *m)
{
	if (m == NULL)
		return;
	if (m->http)
		evhttp_free(m->http);
	free(m);
}

int
metrics_http_from_conf(struct loop *loop, const char *metrics,
    struct metrics_http **out)
{
	struct conf_endpoint ep;
	char why[256];

	*out = NULL;
	if (metrics == NULL || metrics[0] == '\0')
		return 0;
	if (conf_endpoint_parse(metrics, 1, 65535, &ep, why,
	    sizeof(why)) != 0 ||
	    (*out = metrics_http_start(loop, &ep, why, sizeof(why))) == NULL) {
		log_error(NULL, "metrics: %s", why);
		return -1;
	}
	log_info(NULL, "metrics: serving http://%s%s%s:%u/metrics",
	    strchr(ep.host, ':') ? "[" : "", ep.host,
	    strchr(ep.host, ':') ? "]" : "", ep.port);
	return 0;
}

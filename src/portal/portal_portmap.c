/* SPDX-License-Identifier: MIT */
/*
 * Port mappings on the home router (direct.portmap): a port of the
 * router's public address forwarded to this portal's direct listener, so
 * that a peer elsewhere can dial in although this portal sits behind NAT.
 * The mapping is asked for with NAT-PMP (RFC 6886, libnatpmp) or UPnP-IGD
 * (libminiupnpc), renewed at half its lease while the portal runs, and
 * removed when it stops.  Once mapped, the public address and port are
 * one more candidate ("natpmp" or "upnp") the server hands to peers.
 *
 * miniupnpc is blocking by design (SSDP discovery waits for answers, its
 * SOAP calls are HTTP round trips), so the whole exchange with the router
 * runs in one worker thread.  The worker shares nothing with the loop: it
 * reads its settings, copied before it starts, and talks to the loop over
 * two pipes.  Closing the command pipe tells it to stop; each outcome is
 * one fixed-size record on the result pipe (a pipe write under PIPE_BUF is
 * atomic).  It does not log: the loop logs what it reports.
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>
#include <unistd.h>
#include <arpa/inet.h>

#include <event2/event.h>
#include <jansson.h>
#include <miniupnpc/miniupnpc.h>
#include <miniupnpc/upnpcommands.h>
#include <miniupnpc/upnperrors.h>
/* libnatpmp exports strnatpmperr() but declares it only on request. */
#define ENABLE_STRNATPMPERR 1
#include <natpmp.h>

#include "core/candidate.h"
#include "core/err.h"
#include "core/log.h"
#include "portal/portal_impl.h"

/* The first try of each protocol; then waits of PORTMAP_RETRY_MIN_MS,
 * doubling up to PORTMAP_RETRY_MAX_MS, for a router that comes later. */
#define PORTMAP_RETRY_MIN_MS	60000u
#define PORTMAP_RETRY_MAX_MS	1800000u
/* A renewal that fails is retried this soon, while the lease runs. */
#define PORTMAP_RENEW_RETRY_MS	10000u
/* NAT-PMP: the gateway answers at once or not at all (RFC 6886 waits
 * 250 ms and doubles; three sends are enough on a LAN). */
#define NATPMP_WAIT_MS		1750
/* UPnP: how long SSDP discovery waits for devices to answer. */
#define UPNP_DISCOVER_MS	2000
/* UPnP error codes of the WANIPConnection service. */
#define UPNP_E_CONFLICT		718
#define UPNP_E_PERMANENT_ONLY	725

enum portmap_event {
	PORTMAP_MAPPED = 1,		/* mapped, or renewed */
	PORTMAP_FAILED,			/* no mapping (any more) */
};

/* One report of the worker. */
struct portmap_report {
	uint8_t		event;		/* enum portmap_event */
	uint8_t		kind;		/* CAND_NATPMP or CAND_UPNP */
	uint16_t	ext_port;
	uint32_t	lease_s;	/* 0: permanent (removed on exit) */
	char		ext_addr[INET6_ADDRSTRLEN];
	char		why[192];
};

/* The worker's state of its mapping. */
struct portmap_work {
	int			 mapped;
	enum candidate_kind	 kind;
	uint16_t		 ext_port;
	uint32_t		 lease_s;
	natpmp_t		 natpmp;
	int			 natpmp_open;
	struct UPNPUrls		 urls;
	struct IGDdatas		 igd;
	int			 upnp_open;
	char			 lanaddr[64];
	char			 ext_addr[INET6_ADDRSTRLEN];
};

struct portal_portmap {
	struct portal		*p;		/* borrowed */
	pthread_t		 thread;
	int			 cmd_rd, cmd_wr;	/* loop -> worker */
	int			 res_rd, res_wr;	/* worker -> loop */
	struct event		*ev;

	/* Settings, fixed before the worker starts. */
	int			 use_natpmp, use_upnp;
	uint16_t		 port;		/* the direct listener's */
	uint32_t		 lease_s;
	char			 desc[NP_NAME_MAX + 16];

	/* What the worker reported last (loop thread only). */
	int			 mapped;
	struct candidate	 cand;
	uint32_t		 lease_s_got;
	uint64_t		 since_ms;	/* of the mapping or failure */
	unsigned		 failures;
	char			 why[192];

	/* The worker's last words, read after it is joined. */
	char			 removed[192];
};

/* ---- worker ---- */

static void
portmap_report(struct portal_portmap *pm, const struct portmap_report *r)
{
	ssize_t n;

	do
		n = write(pm->res_wr, r, sizeof(*r));
	while (n < 0 && errno == EINTR);
	/* A full pipe means the loop is not reading: it is stopping. */
}

/* Waits up to ms for the command pipe; 1 when the loop says stop. */
static int
portmap_wait_stop(struct portal_portmap *pm, int ms)
{
	struct pollfd pfd = { .fd = pm->cmd_rd, .events = POLLIN };
	int r;

	do
		r = poll(&pfd, 1, ms);
	while (r < 0 && errno == EINTR);
	return r != 0;
}

/*
 * Waits for the answer to the NAT-PMP request just sent, resending as
 * libnatpmp says, for at most NATPMP_WAIT_MS, or until the loop says stop
 * when stoppable.  Returns libnatpmp's code.
 */
static int
natpmp_answer(struct portal_portmap *pm, natpmp_t *n, natpmpresp_t *resp,
    int stoppable)
{
	struct timespec start, now;
	struct timeval tv;
	struct pollfd pfd[2];
	int r, ms, waited;

	clock_gettime(CLOCK_MONOTONIC, &start);
	for (;;) {
		r = readnatpmpresponseorretry(n, resp);
		if (r != NATPMP_TRYAGAIN)
			return r;
		clock_gettime(CLOCK_MONOTONIC, &now);
		waited = (int)((now.tv_sec - start.tv_sec) * 1000 +
		    (now.tv_nsec - start.tv_nsec) / 1000000);
		if (waited >= NATPMP_WAIT_MS)
			return NATPMP_ERR_NOGATEWAYSUPPORT;
		if (getnatpmprequesttimeout(n, &tv) < 0)
			return NATPMP_ERR_GETTIMEOFDAYERR;
		ms = (int)(tv.tv_sec * 1000 + tv.tv_usec / 1000) + 1;
		if (ms > NATPMP_WAIT_MS - waited)
			ms = NATPMP_WAIT_MS - waited;
		pfd[0] = (struct pollfd){ .fd = n->s, .events = POLLIN };
		pfd[1] = (struct pollfd){ .fd = pm->cmd_rd, .events = POLLIN };
		if (poll(pfd, stoppable ? 2 : 1, ms) > 0 && stoppable &&
		    pfd[1].revents != 0)
			return NATPMP_ERR_NETWORKFAILURE;	/* stopping */
	}
}

static const char *
natpmp_why(int r)
{
	if (r == NATPMP_ERR_NOGATEWAYSUPPORT || r == NATPMP_ERR_RECVFROM)
		return "the gateway does not answer NAT-PMP";
	return strnatpmperr(r);
}

/* Maps (or renews) the listener's port with NAT-PMP; 0 or -1 with why. */
static int
portmap_natpmp(struct portal_portmap *pm, struct portmap_work *w,
    char *why, size_t whylen)
{
	natpmpresp_t resp;
	int r;

	if (!w->natpmp_open) {
		if ((r = initnatpmp(&w->natpmp, 0, 0)) < 0) {
			snprintf(why, whylen, "NAT-PMP: %s", strnatpmperr(r));
			return -1;
		}
		w->natpmp_open = 1;
	}
	if ((r = sendpublicaddressrequest(&w->natpmp)) < 0 ||
	    (r = natpmp_answer(pm, &w->natpmp, &resp, 1)) < 0) {
		snprintf(why, whylen, "NAT-PMP: %s", natpmp_why(r));
		return -1;
	}
	if (!inet_ntop(AF_INET, &resp.pnu.publicaddress.addr, w->ext_addr,
	    sizeof(w->ext_addr)) || resp.pnu.publicaddress.addr.s_addr == 0) {
		snprintf(why, whylen, "NAT-PMP: the gateway has no public "
		    "address");
		return -1;
	}
	/* Ask for the same public port as before, or as the listener's. */
	if ((r = sendnewportmappingrequest(&w->natpmp, NATPMP_PROTOCOL_TCP,
	    pm->port, w->mapped ? w->ext_port : pm->port, pm->lease_s)) < 0 ||
	    (r = natpmp_answer(pm, &w->natpmp, &resp, 1)) < 0) {
		snprintf(why, whylen, "NAT-PMP: mapping port %u: %s", pm->port,
		    natpmp_why(r));
		return -1;
	}
	if (resp.type != NATPMP_RESPTYPE_TCPPORTMAPPING ||
	    resp.pnu.newportmapping.mappedpublicport == 0) {
		snprintf(why, whylen, "NAT-PMP: the gateway mapped no port");
		return -1;
	}
	w->kind = CAND_NATPMP;
	w->ext_port = resp.pnu.newportmapping.mappedpublicport;
	w->lease_s = resp.pnu.newportmapping.lifetime;
	return 0;
}

static void
portmap_upnp_close(struct portmap_work *w)
{
	if (w->upnp_open)
		FreeUPNPUrls(&w->urls);
	w->upnp_open = 0;
}

/* Finds the router's IGD service; 0 or -1 with why. */
static int
portmap_upnp_find(struct portmap_work *w, char *why, size_t whylen)
{
	struct UPNPDev *devs;
	int err = 0, r;

	devs = upnpDiscover(UPNP_DISCOVER_MS, NULL, NULL, UPNP_LOCAL_PORT_ANY,
	    0, 2, &err);
	if (devs == NULL) {
		snprintf(why, whylen, "UPnP: no device answered discovery%s",
		    err != UPNPDISCOVER_SUCCESS ? " (socket error)" : "");
		return -1;
	}
	memset(&w->urls, 0, sizeof(w->urls));
	r = UPNP_GetValidIGD(devs, &w->urls, &w->igd, w->lanaddr,
	    sizeof(w->lanaddr));
	freeUPNPDevlist(devs);
	/*
	 * 1: a connected IGD; 2: an IGD that calls itself not connected,
	 * which is also what miniupnpc makes of a router whose own WAN
	 * address is private (double NAT): the mapping may still help a
	 * peer on that outer network, so it is tried.  3: no IGD at all.
	 */
	if (r != 1 && r != 2) {
		if (r != 0)
			FreeUPNPUrls(&w->urls);
		snprintf(why, whylen, "UPnP: %s", r == 0 ? "no device "
		    "answered" : "no Internet gateway device among the UPnP "
		    "devices");
		return -1;
	}
	w->upnp_open = 1;
	return 0;
}

/* Maps (or renews) the listener's port with UPnP-IGD; 0 or -1 with why. */
static int
portmap_upnp(struct portal_portmap *pm, struct portmap_work *w,
    char *why, size_t whylen)
{
	char ext[8], in[8], lease[16], ext_ip[40];
	const char *svc;
	uint16_t want;
	int r, tries;

	if (!w->upnp_open && portmap_upnp_find(w, why, whylen) != 0)
		return -1;
	svc = w->igd.first.servicetype;
	ext_ip[0] = '\0';
	r = UPNP_GetExternalIPAddress(w->urls.controlURL, svc, ext_ip);
	if (r != UPNPCOMMAND_SUCCESS || ext_ip[0] == '\0' ||
	    strcmp(ext_ip, "0.0.0.0") == 0) {
		snprintf(why, whylen, "UPnP: the gateway has no external "
		    "address (%s)", r != UPNPCOMMAND_SUCCESS ?
		    strupnperror(r) : "empty");
		portmap_upnp_close(w);
		return -1;
	}
	snprintf(in, sizeof(in), "%u", pm->port);
	snprintf(lease, sizeof(lease), "%u", pm->lease_s);
	want = w->mapped ? w->ext_port : pm->port;
	/* Another host may hold that public port: then try others. */
	for (tries = 0; tries < 4; tries++) {
		snprintf(ext, sizeof(ext), "%u", want);
		r = UPNP_AddPortMapping(w->urls.controlURL, svc, ext, in,
		    w->lanaddr, pm->desc, "TCP", NULL, lease);
		if (r == UPNP_E_PERMANENT_ONLY && strcmp(lease, "0") != 0) {
			/* Removed on exit all the same. */
			snprintf(lease, sizeof(lease), "0");
			tries--;
			continue;
		}
		if (r != UPNP_E_CONFLICT)
			break;
		if (getrandom(&want, sizeof(want), 0) != sizeof(want))
			want = (uint16_t)(pm->port + 1000u * (tries + 1));
		want = (uint16_t)(20000u + want % 40000u);
	}
	if (r != UPNPCOMMAND_SUCCESS) {
		snprintf(why, whylen, "UPnP: mapping port %s to %s:%u: %s",
		    ext, w->lanaddr, pm->port, strupnperror(r));
		/* Look for the gateway afresh next time. */
		portmap_upnp_close(w);
		return -1;
	}
	w->kind = CAND_UPNP;
	w->ext_port = want;
	w->lease_s = (uint32_t)strtoul(lease, NULL, 10);
	snprintf(w->ext_addr, sizeof(w->ext_addr), "%s", ext_ip);
	return 0;
}

/* Asks for a mapping, or renews the one held; 0 or -1 with why. */
static int
portmap_map(struct portal_portmap *pm, struct portmap_work *w,
    char *why, size_t whylen)
{
	char why_natpmp[96] = "";

	if (w->mapped)
		return w->kind == CAND_NATPMP ?
		    portmap_natpmp(pm, w, why, whylen) :
		    portmap_upnp(pm, w, why, whylen);
	if (pm->use_natpmp && portmap_natpmp(pm, w, why_natpmp,
	    sizeof(why_natpmp)) == 0)
		return 0;
	if (pm->use_upnp && portmap_upnp(pm, w, why, whylen) == 0)
		return 0;
	if (pm->use_natpmp && pm->use_upnp) {
		char upnp[96];

		snprintf(upnp, sizeof(upnp), "%.95s", why);
		snprintf(why, whylen, "%s; %s", why_natpmp, upnp);
	} else if (pm->use_natpmp) {
		snprintf(why, whylen, "%s", why_natpmp);
	}
	return -1;
}

/* Removes the mapping; says how it went in pm->removed. */
static void
portmap_unmap(struct portal_portmap *pm, struct portmap_work *w)
{
	natpmpresp_t resp;
	char ext[8];
	int r;

	if (w->kind == CAND_NATPMP) {
		/* Lifetime 0 deletes (RFC 6886, 3.4). */
		r = sendnewportmappingrequest(&w->natpmp, NATPMP_PROTOCOL_TCP,
		    pm->port, 0, 0);
		if (r >= 0)
			r = natpmp_answer(pm, &w->natpmp, &resp, 0);
		snprintf(pm->removed, sizeof(pm->removed), "NAT-PMP mapping "
		    "%s:%u %s", w->ext_addr, w->ext_port, r >= 0 ? "removed" :
		    natpmp_why(r));
		return;
	}
	snprintf(ext, sizeof(ext), "%u", w->ext_port);
	r = UPNP_DeletePortMapping(w->urls.controlURL,
	    w->igd.first.servicetype, ext, "TCP", NULL);
	snprintf(pm->removed, sizeof(pm->removed), "UPnP mapping %s:%u %s",
	    w->ext_addr, w->ext_port, r == UPNPCOMMAND_SUCCESS ? "removed" :
	    strupnperror(r));
}

static void *
portmap_worker(void *arg)
{
	struct portal_portmap *pm = arg;
	struct portmap_work w;
	struct portmap_report rep;
	uint32_t retry_ms = PORTMAP_RETRY_MIN_MS, wait_ms;

	memset(&w, 0, sizeof(w));
	for (;;) {
		memset(&rep, 0, sizeof(rep));
		if (portmap_map(pm, &w, rep.why, sizeof(rep.why)) == 0) {
			w.mapped = 1;
			rep.event = PORTMAP_MAPPED;
			rep.kind = (uint8_t)w.kind;
			rep.ext_port = w.ext_port;
			rep.lease_s = w.lease_s;
			snprintf(rep.ext_addr, sizeof(rep.ext_addr), "%s",
			    w.ext_addr);
			retry_ms = PORTMAP_RETRY_MIN_MS;
			/* Renew at half the lease; a permanent one is looked
			 * at hourly (the router may have rebooted). */
			wait_ms = w.lease_s ? w.lease_s * 500u : 3600000u;
		} else if (w.mapped) {
			/* A renewal failed: the lease still runs a while. */
			rep.event = PORTMAP_FAILED;
			w.mapped = 0;
			wait_ms = PORTMAP_RENEW_RETRY_MS;
		} else {
			rep.event = PORTMAP_FAILED;
			wait_ms = retry_ms;
			retry_ms = retry_ms * 2 > PORTMAP_RETRY_MAX_MS ?
			    PORTMAP_RETRY_MAX_MS : retry_ms * 2;
		}
		portmap_report(pm, &rep);
		if (portmap_wait_stop(pm, (int)wait_ms))
			break;
	}
	if (w.mapped)
		portmap_unmap(pm, &w);
	if (w.natpmp_open)
		closenatpmp(&w.natpmp);
	portmap_upnp_close(&w);
	return NULL;
}

/* ---- loop side ---- */

static void
portmap_on_report(evutil_socket_t fd, short what, void *arg)
{
	struct portal_portmap *pm = arg;
	struct portmap_report rep;
	struct candidate c;
	ssize_t n;
	int changed;

	while ((n = read(fd, &rep, sizeof(rep))) == (ssize_t)sizeof(rep)) {
		rep.ext_addr[sizeof(rep.ext_addr) - 1] = '\0';
		rep.why[sizeof(rep.why) - 1] = '\0';
		if (rep.event == PORTMAP_MAPPED) {
			memset(&c, 0, sizeof(c));
			c.kind = rep.kind == CAND_UPNP ? CAND_UPNP :
			    CAND_NATPMP;
			snprintf(c.ep.host, sizeof(c.ep.host), "%s",
			    rep.ext_addr);
			c.ep.port = rep.ext_port;
			changed = !pm->mapped || c.kind != pm->cand.kind ||
			    c.ep.port != pm->cand.ep.port ||
			    strcmp(c.ep.host, pm->cand.ep.host) != 0;
			if (changed) {
				log_info(NULL, "port mapping by %s: %s:%u "
				    "forwards to the direct listener's port "
				    "%u (lease %s%u s)",
				    candidate_kind_name(c.kind), c.ep.host,
				    c.ep.port, pm->port, rep.lease_s ? "" :
				    "permanent, ", rep.lease_s);
				pm->since_ms = loop_now_ms();
			} else {
				log_debug(NULL, "port mapping %s:%u renewed",
				    c.ep.host, c.ep.port);
			}
			pm->cand = c;
			pm->mapped = 1;
			pm->lease_s_got = rep.lease_s;
			pm->failures = 0;
			pm->why[0] = '\0';
			if (changed)
				portal_ctl_candidates_changed(pm->p);
			continue;
		}
		/* The first failure is news; the retries are not. */
		if (pm->mapped)
			log_warn(NULL, "port mapping %s:%u lost: %s",
			    pm->cand.ep.host, pm->cand.ep.port, rep.why);
		else if (pm->failures == 0)
			log_info(NULL, "no port mapping on the router: %s "
			    "(tried again later)", rep.why);
		else
			log_debug(NULL, "no port mapping: %s", rep.why);
		snprintf(pm->why, sizeof(pm->why), "%s", rep.why);
		pm->failures++;
		pm->since_ms = loop_now_ms();
		if (pm->mapped) {
			pm->mapped = 0;
			portal_ctl_candidates_changed(pm->p);
		}
	}
}

static void
portmap_close_fds(struct portal_portmap *pm)
{
	int *fds[] = { &pm->cmd_rd, &pm->cmd_wr, &pm->res_rd, &pm->res_wr };
	size_t i;

	for (i = 0; i < sizeof(fds) / sizeof(fds[0]); i++) {
		if (*fds[i] >= 0)
			close(*fds[i]);
		*fds[i] = -1;
	}
}

int
portal_portmap_start(struct portal *p, uint16_t port)
{
	struct portal_portmap *pm;
	sigset_t all, old;
	int cmd[2], res[2], r;

	if (p->conf->direct_portmap == PORTAL_PORTMAP_OFF || port == 0)
		return 0;
	if ((pm = calloc(1, sizeof(*pm))) == NULL)
		return -ENOMEM;
	pm->p = p;
	pm->cmd_rd = pm->cmd_wr = pm->res_rd = pm->res_wr = -1;
	pm->port = port;
	pm->lease_s = (uint32_t)(p->conf->direct_portmap_lease / 1000);
	pm->use_natpmp = p->conf->direct_portmap != PORTAL_PORTMAP_UPNP;
	pm->use_upnp = p->conf->direct_portmap != PORTAL_PORTMAP_NATPMP;
	snprintf(pm->desc, sizeof(pm->desc), "netport %s", p->self.name);
	if (pipe2(cmd, O_CLOEXEC) != 0)
		goto fail_errno;
	pm->cmd_rd = cmd[0];
	pm->cmd_wr = cmd[1];
	if (pipe2(res, O_CLOEXEC | O_NONBLOCK) != 0)
		goto fail_errno;
	pm->res_rd = res[0];
	pm->res_wr = res[1];
	if ((pm->ev = event_new(loop_base(p->loop), pm->res_rd,
	    EV_READ | EV_PERSIST, portmap_on_report, pm)) == NULL ||
	    event_add(pm->ev, NULL) != 0) {
		r = -ENOMEM;
		goto fail;
	}
	/* Signals are the loop's: the worker blocks them all. */
	sigfillset(&all);
	pthread_sigmask(SIG_SETMASK, &all, &old);
	r = pthread_create(&pm->thread, NULL, portmap_worker, pm);
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	if (r != 0) {
		r = -r;
		goto fail;
	}
	p->portmap = pm;
	log_debug(NULL, "asking the router to forward a port to %u (%s)",
	    port, p->conf->direct_portmap == PORTAL_PORTMAP_AUTO ?
	    "NAT-PMP, then UPnP" : pm->use_natpmp ? "NAT-PMP" : "UPnP");
	return 0;
fail_errno:
	r = -errno;
fail:
	if (pm->ev)
		event_free(pm->ev);
	portmap_close_fds(pm);
	free(pm);
	return r;
}

void
portal_portmap_stop(struct portal *p)
{
	struct portal_portmap *pm = p->portmap;

	if (pm == NULL)
		return;
	if (pm->mapped)
		log_info(NULL, "removing the port mapping %s:%u",
		    pm->cand.ep.host, pm->cand.ep.port);
	/* EOF on the command pipe stops the worker; its router calls
	 * are bounded by their own timeouts. */
	close(pm->cmd_wr);
	pm->cmd_wr = -1;
	pthread_join(pm->thread, NULL);
	if (pm->removed[0] != '\0')
		log_info(NULL, "%s", pm->removed);
	event_free(pm->ev);
	portmap_close_fds(pm);
	free(pm);
	p->portmap = NULL;
}

size_t
portal_portmap_candidates(const struct portal *p, struct candidate *out,
    size_t max)
{
	if (p->portmap == NULL || !p->portmap->mapped || max == 0)
		return 0;
	out[0] = p->portmap->cand;
	return 1;
}

json_t *
portal_portmap_status(const struct portal *p)
{
	const struct portal_portmap *pm = p->portmap;
	char addr[PROTO_ADDR_MAX + 8];

	if (pm == NULL)
		return json_pack("{s:s}", "state", "off");
	if (pm->mapped) {
		snprintf(addr, sizeof(addr), "%s:%u", pm->cand.ep.host,
		    pm->cand.ep.port);
		return json_pack("{s:s, s:s, s:s, s:I, s:I}", "state",
		    "mapped", "method", candidate_kind_name(pm->cand.kind),
		    "address", addr, "lease_s", (json_int_t)pm->lease_s_got,
		    "age_ms", (json_int_t)(loop_now_ms() - pm->since_ms));
	}
	if (pm->failures == 0)
		return json_pack("{s:s}", "state", "trying");
	return json_pack("{s:s, s:s, s:I}", "state", "none", "why", pm->why,
	    "failures", (json_int_t)pm->failures);
}

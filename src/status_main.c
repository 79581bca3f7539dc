/* SPDX-License-Identifier: MIT */
/*
 * `netport status`: asks running daemons over their local control sockets
 * (core/ctlsock.h) and prints what they say: a portal's tunnels with peer,
 * rule, streams, path, round trip, bytes, age and why each is not direct;
 * a server's portals and relays; a relay's load.
 *
 *	netport status                 every daemon of this user (or root)
 *	netport status -c FILE         the daemon that runs with FILE
 *	netport status -s SOCKET       the daemon at SOCKET
 *	... --json                     the daemons' answers as they are
 */
#include <dirent.h>
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>
#include <openssl/pem.h>
#include <openssl/x509.h>

#include "core/conf.h"
#include "core/ctlsock.h"
#include "core/err.h"
#include "core/identity.h"
#include "core/proto.h"
#include "core/tls.h"
#include "portal/portal_conf.h"
#include "relay/relay_conf.h"
#include "server/server_conf.h"
#include "status.h"

/* How long a daemon has to answer. */
#define STATUS_TIMEOUT_MS	5000

static void
status_usage(FILE *fp)
{
	fprintf(fp,
	    "usage: netport status [-c FILE | -s SOCKET] [--json]\n\n"
	    "Asks running netport daemons what they are doing: a portal's\n"
	    "tunnels (peer, rules, streams, path, round trip, bytes, age, and\n"
	    "why a tunnel is not direct), a server's portals and relays, a\n"
	    "relay's load.\n\n"
	    "  -c, --config FILE   the daemon that runs with this configuration\n"
	    "                      (its control.socket, or the default for its\n"
	    "                      role and certificate name)\n"
	    "  -s, --socket PATH   the daemon whose control socket is PATH\n"
	    "      --json          print the answers as JSON, one per line\n"
	    "  -h, --help          this help\n\n"
	    "Without -c or -s: every socket in the default directory\n"
	    "(/run/netport as root, else $XDG_RUNTIME_DIR/netport or\n"
	    "/tmp/netport-UID).  Exit status: 0, or 1 when a daemon could not\n"
	    "be asked.\n");
}

/* The identity in the certificate at path; 0 or a negative code. */
static int
status_cert_identity(const char *path, struct np_identity *out)
{
	FILE *fp;
	X509 *cert;
	int r;

	if ((fp = fopen(path, "r")) == NULL)
		return -errno;
	cert = PEM_read_X509(fp, NULL, NULL, NULL);
	fclose(fp);
	if (cert == NULL)
		return NP_ETLS;
	r = tls_cert_identity(cert, out);
	X509_free(cert);
	return r;
}

/*
 * Finds the socket of the daemon that runs with the configuration at
 * config: the one role whose keys the file fits tells what it is, its
 * certificate who, and control.socket (or the default) where.
 */
static int
status_socket_of(const char *config, char *out, size_t size)
{
	struct portal_conf pc;
	struct relay_conf rc;
	struct server_conf sc;
	struct conf_errors errs = { 0, NULL };
	struct np_identity id;
	const char *role = NULL, *cert = NULL, *sock = NULL;
	int r;

	if (conf_load_file(&portal_conf_schema, config, &pc, &errs) == 0) {
		role = "portal";
		cert = pc.tls_cert;
		sock = pc.control_socket;
	} else if (conf_errors_free(&errs),
	    conf_load_file(&relay_conf_schema, config, &rc, &errs) == 0) {
		role = "relay";
		cert = rc.tls_cert;
		sock = rc.control_socket;
	} else if (conf_errors_free(&errs),
	    conf_load_file(&server_conf_schema, config, &sc, &errs) == 0) {
		role = "server";
		cert = sc.tls_cert;
		sock = sc.control_socket;
	}
	conf_errors_free(&errs);
	if (role == NULL) {
		fprintf(stderr, "netport status: %s is not a valid portal, "
		    "relay or server configuration (netport ROLE -c %s -n "
		    "says why)\n", config, config);
		return NP_ECONFIG;
	}
	if (sock[0] != '\0')
		r = snprintf(out, size, "%s", sock) < (int)size ? 0 :
		    -ENAMETOOLONG;
	else if ((r = status_cert_identity(cert, &id)) != 0)
		fprintf(stderr, "netport status: cannot read the identity in "
		    "%s: %s\n", cert, np_strerror(r));
	else
		r = ctlsock_default_path(role, id.name, out, size);
	if (strcmp(role, "portal") == 0)
		conf_free(&portal_conf_schema, &pc);
	else if (strcmp(role, "relay") == 0)
		conf_free(&relay_conf_schema, &rc);
	else
		conf_free(&server_conf_schema, &sc);
	return r;
}

static const char *
status_str(const json_t *o, const char *key)
{
	const char *s = json_string_value(json_object_get(o, key));

	return s ? s : "-";
}

static long long
status_int(const json_t *o, const char *key)
{
	return (long long)json_integer_value(json_object_get(o, key));
}

/* A byte count for people: B, KiB, MiB, GiB. */
static void
status_bytes(long long n, char *out, size_t size)
{
	static const char *const units[] = { "B", "KiB", "MiB", "GiB", "TiB" };
	double v = (double)n;
	int u = 0;

	while (v >= 1024 && u < 4) {
		v /= 1024;
		u++;
	}
	if (u == 0)
		snprintf(out, size, "%lld B", n);
	else
		snprintf(out, size, "%.1f %s", v, units[u]);
}

/* A duration for people: ms, s, m, h, d. */
static void
status_age(long long ms, char *out, size_t size)
{
	if (ms < 1000)
		snprintf(out, size, "%lld ms", ms);
	else if (ms < 120000)
		snprintf(out, size, "%lld s", ms / 1000);
	else if (ms < 7200000)
		snprintf(out, size, "%lld min", ms / 60000);
	else if (ms < 172800000)
		snprintf(out, size, "%lld h", ms / 3600000);
	else
		snprintf(out, size, "%lld d", ms / 86400000);
}

/* Capture (transparent mode), on one line when it is on. */
static void
status_print_portal_capture(const json_t *c)
{
	if (!json_is_object(c))
		return;
	printf("  capture: %s, %s, %s; tcp port %lld, udp port %lld; %lld UDP "
	    "flow(s); %lld refused for no rule, %lld new flow(s) dropped\n",
	    status_str(c, "mode"), status_str(c, "backend"),
	    json_is_true(json_object_get(c, "installed")) ? "installed" :
	    "not installed", status_int(c, "tcp_port"),
	    status_int(c, "udp_port"), status_int(c, "udp_flows"),
	    status_int(c, "no_rule"), status_int(c, "dropped_flows"));
}

/* The direct listener and the router's port mapping, on one line. */
static void
status_print_portal_direct(const json_t *d)
{
	const json_t *pm = json_object_get(d, "portmap"), *qp;
	const char *state = status_str(pm, "state");
	size_t i;

	if (d == NULL)
		return;
	if (strcmp(status_str(d, "mode"), "off") == 0) {
		printf("  direct paths: off\n");
		return;
	}
	if (status_int(d, "port") == 0) {
		printf("  direct listener: none (it could not be bound)\n");
		return;
	}
	printf("  direct listener: port %lld; port mapping: ",
	    status_int(d, "port"));
	if (strcmp(state, "mapped") == 0)
		printf("%s %s (lease %lld s)\n", status_str(pm, "method"),
		    status_str(pm, "address"), status_int(pm, "lease_s"));
	else if (strcmp(state, "none") == 0)
		printf("none: %s\n", status_str(pm, "why"));
	else
		printf("%s\n", state);
	pm = json_object_get(d, "udp");
	if (json_is_object(pm) && json_object_get(pm, "reflexive") != NULL)
		printf("  reflexive UDP address: %s (STUN, local port %lld)\n",
		    status_str(pm, "reflexive"), status_int(pm, "local_port"));
	else if (json_is_object(pm))
		printf("  reflexive UDP address: none: %s\n",
		    status_str(pm, "why"));
	pm = json_object_get(d, "quic");
	if (!json_is_object(pm)) {
		printf("  QUIC paths: off\n");
		return;
	}
	printf("  QUIC paths: on, UDP port %lld, congestion control %s; "
	    "probes %lld in (%lld refused), %lld out; %lld stray packet(s)\n",
	    status_int(pm, "udp_port"), status_str(pm, "congestion_control"),
	    status_int(pm, "probes_in"), status_int(pm, "bad_probes"),
	    status_int(pm, "probes_out"), status_int(pm, "stray_packets"));
	json_array_foreach(json_object_get(pm, "paths"), i, qp) {
		printf("    %s %s: %s", status_str(qp, "via"),
		    status_str(qp, "peer"), status_str(qp, "phase"));
		if (json_object_get(qp, "smoothed_rtt_us") != NULL)
			printf(", rtt %lld us, cwnd %lld bytes, %lld in flight; "
			    "datagrams %lld out, %lld in, %lld dropped",
			    status_int(qp, "smoothed_rtt_us"),
			    status_int(qp, "cwnd"),
			    status_int(qp, "bytes_in_flight"),
			    status_int(qp, "datagrams_out"),
			    status_int(qp, "datagrams_in"),
			    status_int(qp, "datagrams_dropped"));
		printf("\n");
	}
}

static void
status_print_portal(const json_t *o)
{
	const json_t *tunnels = json_object_get(o, "tunnels"), *t, *path, *d;
	char up[32], age[32], out[32], in[32], where[PROTO_ADDR_MAX + 80];
	size_t i;

	status_age(status_int(o, "uptime_ms"), up, sizeof(up));
	printf("portal %s (netport %s), up %s; server %s: session %s; "
	    "%lld rule(s)%s\n", status_str(o, "name"), status_str(o, "version"),
	    up, status_str(json_object_get(o, "server"), "address"),
	    status_str(json_object_get(o, "server"), "session"),
	    status_int(o, "rules"),
	    json_is_true(json_object_get(o, "stopping")) ? "; stopping" : "");
	status_print_portal_direct(json_object_get(o, "direct"));
	status_print_portal_capture(json_object_get(o, "capture"));
	if (json_array_size(tunnels) == 0) {
		printf("  no tunnels\n");
		return;
	}
	printf("  %-8s  %-14s %-7s %-12s %-10s %7s  %-36s %6s  %9s  %9s  %6s\n",
	    "TUNNEL", "PEER", "SIDE", "RULE", "STATE", "STREAMS", "PATH",
	    "RTT", "OUT", "IN", "AGE");
	json_array_foreach(tunnels, i, t) {
		path = json_object_get(t, "path");
		if (json_is_object(path))
			snprintf(where, sizeof(where), "%s %s at %s%s%s",
			    status_str(path, "kind"), status_str(path, "via"),
			    status_str(path, "address"),
			    strcmp(status_str(path, "phase"), "open") ? ": " : "",
			    strcmp(status_str(path, "phase"), "open") ?
			    status_str(path, "phase") : "");
		else
			snprintf(where, sizeof(where), "none");
		status_bytes(status_int(t, "bytes_out"), out, sizeof(out));
		status_bytes(status_int(t, "bytes_in"), in, sizeof(in));
		status_age(status_int(t, "age_ms"), age, sizeof(age));
		printf("  %-8.8s  %-14s %-7s %-12s %-10s %7lld  %-36s %3lld ms  "
		    "%9s  %9s  %6s\n", status_str(t, "id"),
		    status_str(t, "peer"), status_str(t, "side"),
		    status_str(t, "rule"), status_str(t, "state"),
		    status_int(t, "streams"), where, status_int(t, "rtt_ms"),
		    out, in, age);
		if ((d = json_object_get(t, "lost")) != NULL)
			printf("            lost its path %lld ms ago: %s\n",
			    status_int(d, "ms_ago"), status_str(d, "why"));
		if ((d = json_object_get(t, "direct")) != NULL &&
		    !json_is_true(json_object_get(d, "active"))) {
			const json_t *tr;
			size_t k;

			printf("            not direct: %s", status_str(d, "why"));
			if (json_object_get(d, "retry_in_ms") != NULL)
				printf("; next try in %lld s",
				    status_int(d, "retry_in_ms") / 1000);
			printf("\n");
			json_array_foreach(json_object_get(d, "tries"), k, tr)
				printf("              %s %s: %s\n",
				    status_str(tr, "how"),
				    status_str(tr, "address"),
				    status_str(tr, "result"));
		}
	}
}

static void
status_print_server(const json_t *o)
{
	const json_t *policy = json_object_get(o, "policy"), *list, *e, *a;
	char up[32], bytes[32];
	size_t i, j;

	status_age(status_int(o, "uptime_ms"), up, sizeof(up));
	printf("server %s (netport %s), up %s; policy %s: %lld rule(s), "
	    "generation %lld; %lld handshake(s) under way%s\n",
	    status_str(o, "name"), status_str(o, "version"), up,
	    status_str(policy, "file"), status_int(policy, "rules"),
	    status_int(policy, "generation"), status_int(o, "handshaking"),
	    json_is_true(json_object_get(o, "stopping")) ? "; stopping" : "");
	if ((a = json_object_get(o, "stun")) != NULL)
		printf("  STUN on UDP port %lld: %lld answered, %lld dropped, "
		    "%lld over the rate limits\n", status_int(a, "port"),
		    status_int(a, "answered"), status_int(a, "dropped"),
		    status_int(a, "limited"));
	list = json_object_get(o, "portals");
	printf("  portals (%zu):\n", json_array_size(list));
	json_array_foreach(list, i, e)
		printf("    %-20s from %s\n", status_str(e, "name"),
		    status_str(e, "from"));
	list = json_object_get(o, "relays");
	printf("  relays (%zu):\n", json_array_size(list));
	json_array_foreach(list, i, e) {
		status_bytes(status_int(e, "bytes"), bytes, sizeof(bytes));
		printf("    %-20s from %s, %lld of %lld tunnels, %s forwarded, "
		    "dial", status_str(e, "name"), status_str(e, "from"),
		    status_int(e, "tunnels"), status_int(e, "capacity"), bytes);
		json_array_foreach(json_object_get(e, "dial"), j, a)
			printf(" %s", json_string_value(a));
		printf("\n");
	}
}

static void
status_print_relay(const json_t *o)
{
	const json_t *server = json_object_get(o, "server"), *a;
	char up[32], bytes[32];
	size_t i;

	status_age(status_int(o, "uptime_ms"), up, sizeof(up));
	status_bytes(status_int(o, "bytes"), bytes, sizeof(bytes));
	printf("relay %s (netport %s), up %s; server %s: session %s%s%s\n",
	    status_str(o, "name"), status_str(o, "version"), up,
	    status_str(server, "address"), status_str(server, "session"),
	    json_is_true(json_object_get(server, "registered")) ?
	    ", registered" : ", not registered yet",
	    json_is_true(json_object_get(o, "stopping")) ? "; stopping" : "");
	printf("  portals dial");
	json_array_foreach(json_object_get(o, "dial"), i, a)
		printf(" %s", json_string_value(a));
	printf("; forwarding with %s; %lld of %lld tunnels, %lld unpaired; "
	    "%s forwarded\n", status_str(o, "forwarding"),
	    status_int(o, "tunnels"), status_int(o, "capacity"),
	    status_int(o, "pending"), bytes);
	a = json_object_get(o, "udp");
	if (!json_is_object(a)) {
		printf("  UDP: off\n");
		return;
	}
	status_bytes(status_int(a, "bytes"), bytes, sizeof(bytes));
	printf("  UDP on port %lld: %lld pair(s), %lld waiting; %lld datagrams "
	    "(%s) forwarded, %lld dropped, %lld registration(s) refused\n",
	    status_int(a, "port"), status_int(a, "pairs"),
	    status_int(a, "waiting"), status_int(a, "datagrams"), bytes,
	    status_int(a, "dropped"), status_int(a, "refused"));
}

/* Asks the daemon at path and prints its answer; 0, or 1 on failure. */
static int
status_one(const char *path, int json)
{
	json_error_t jerr;
	json_t *o;
	char *answer;
	const char *role;
	int r;

	if ((r = ctlsock_query(path, STATUS_TIMEOUT_MS, &answer)) != 0) {
		fprintf(stderr, "netport status: %s: %s\n", path,
		    r == -ENOENT ? "no daemon there (not running, or its "
		    "control.socket is elsewhere)" : r == -ECONNREFUSED ?
		    "no daemon answers (a socket left by one that is gone)" :
		    r == -EACCES ? "permission denied (the socket is its "
		    "owner's only)" : np_strerror(r));
		return 1;
	}
	if (json) {
		fputs(answer, stdout);
		free(answer);
		return 0;
	}
	o = json_loads(answer, 0, &jerr);
	free(answer);
	if (o == NULL || !json_is_object(o)) {
		fprintf(stderr, "netport status: %s: not an answer: %s\n", path,
		    o ? "not an object" : jerr.text);
		json_decref(o);
		return 1;
	}
	role = status_str(o, "role");
	if (strcmp(role, "portal") == 0)
		status_print_portal(o);
	else if (strcmp(role, "server") == 0)
		status_print_server(o);
	else if (strcmp(role, "relay") == 0)
		status_print_relay(o);
	else
		printf("%s: %s\n", path, status_str(o, "error"));
	json_decref(o);
	return 0;
}

/* Every socket in the default directory, in name order. */
static int
status_all(int json)
{
	char probe[CONF_UNIX_PATH_MAX + 1], dir[CONF_UNIX_PATH_MAX + 1], *slash;
	char path[CONF_UNIX_PATH_MAX + 1];
	struct dirent **names;
	int n, i, failed = 0, found = 0;

	if (ctlsock_default_path("x", "x", probe, sizeof(probe)) != 0 ||
	    (slash = strrchr(probe, '/')) == NULL)
		return 1;
	*slash = '\0';
	snprintf(dir, sizeof(dir), "%s", probe);
	if ((n = scandir(dir, &names, NULL, alphasort)) < 0) {
		fprintf(stderr, "netport status: no daemon of this user runs "
		    "with a default control socket (%s: %s); use -c FILE or "
		    "-s SOCKET\n", dir, strerror(errno));
		return 1;
	}
	for (i = 0; i < n; i++) {
		size_t len = strlen(names[i]->d_name);

		if (len > 5 && strcmp(names[i]->d_name + len - 5, ".sock") == 0 &&
		    snprintf(path, sizeof(path), "%s/%s", dir,
		    names[i]->d_name) < (int)sizeof(path)) {
			if (found++ && !json)
				printf("\n");
			failed |= status_one(path, json);
		}
		free(names[i]);
	}
	free(names);
	if (!found) {
		fprintf(stderr, "netport status: no daemon sockets in %s; use "
		    "-c FILE or -s SOCKET\n", dir);
		return 1;
	}
	return failed;
}

int
status_main(int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "config", required_argument, NULL, 'c' },
		{ "socket", required_argument, NULL, 's' },
		{ "json", no_argument, NULL, 'j' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	const char *config = NULL, *sock = NULL;
	char path[CONF_UNIX_PATH_MAX + 1];
	int c, json = 0;

	optind = 1;
	while ((c = getopt_long(argc, argv, "c:s:h", longopts, NULL)) != -1) {
		switch (c) {
		case 'c':
			config = optarg;
			break;
		case 's':
			sock = optarg;
			break;
		case 'j':
			json = 1;
			break;
		case 'h':
			status_usage(stdout);
			return 0;
		default:
			status_usage(stderr);
			return 2;
		}
	}
	if (optind != argc || (config && sock)) {
		status_usage(stderr);
		return 2;
	}
	if (sock)
		return status_one(sock, json);
	if (config) {
		if (status_socket_of(config, path, sizeof(path)) != 0)
			return 1;
		return status_one(path, json);
	}
	return status_all(json);
}

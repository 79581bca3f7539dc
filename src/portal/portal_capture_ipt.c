/* SPDX-License-Identifier: MIT */
/*
 * Capture's firewall through iptables, for a kernel whose nftables lacks
 * what the table inet netport needs (nft's redirect or tproxy
 * expressions) but has the xtables targets (REDIRECT, TPROXY, MARK) that
 * iptables-nft uses.  The same rules as portal_capture_fw.c, in chains of
 * netport's own (NETPORT_PREROUTING, NETPORT_OUTPUT in the nat and mangle
 * tables), each table's written whole by one iptables-restore --noflush
 * (which flushes a chain it declares), and one jump to each from the
 * built-in chain.  The commands are run, not linked: iptables has no
 * stable library interface.
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include "core/err.h"
#include "core/log.h"
#include "portal/portal_capture_fw.h"
#include "portal/portal_impl.h"

extern char **environ;

/* multiport takes at most 15 ports, a range counting as two. */
#define IPT_MULTIPORT_SLOTS	15
/* A command that has not finished by then is killed. */
#define IPT_TIMEOUT_MS		10000

static const char *const ipt_tables[] = { "nat", "mangle" };
static const char *const ipt_chains[][2] = {
	{ "PREROUTING", "NETPORT_PREROUTING" },
	{ "OUTPUT", "NETPORT_OUTPUT" },
};

static const char *
ipt_cmd(int family, int restore)
{
	if (family == AF_INET6)
		return restore ? "ip6tables-restore" : "ip6tables";
	return restore ? "iptables-restore" : "iptables";
}

/*
 * Runs argv with input on its stdin; its stderr (first line) goes to why.
 * Returns its exit status, or -1 when it could not run.
 */
static int
ipt_run(const char *const args[], const char *input, char *why,
    size_t whylen)
{
	char copies[12][48], *argv[13];
	posix_spawn_file_actions_t fa;
	int in[2] = { -1, -1 }, err[2] = { -1, -1 }, st = 0, r;
	size_t off = 0, len = input ? strlen(input) : 0, got = 0;
	struct pollfd pfd[2];
	char ebuf[512];
	pid_t pid;
	ssize_t n;
	int waited = 0;

	if (why && whylen)
		why[0] = '\0';
	/* posix_spawn wants writable strings. */
	for (r = 0; r < 12 && args[r]; r++) {
		snprintf(copies[r], sizeof(copies[r]), "%s", args[r]);
		argv[r] = copies[r];
	}
	argv[r] = NULL;
	if (pipe2(in, O_CLOEXEC) != 0 || pipe2(err, O_CLOEXEC) != 0) {
		snprintf(why, whylen, "pipe: %s", strerror(errno));
		goto fail;
	}
	posix_spawn_file_actions_init(&fa);
	posix_spawn_file_actions_adddup2(&fa, in[0], 0);
	posix_spawn_file_actions_adddup2(&fa, err[1], 2);
	posix_spawn_file_actions_addopen(&fa, 1, "/dev/null", O_WRONLY, 0);
	r = posix_spawnp(&pid, argv[0], &fa, NULL, argv, environ);
	posix_spawn_file_actions_destroy(&fa);
	if (r != 0) {
		snprintf(why, whylen, "%s: %s", argv[0], strerror(r));
		goto fail;
	}
	close(in[0]);
	close(err[1]);
	in[0] = err[1] = -1;
	/* Feed stdin and drain stderr together: neither may block the other. */
	while (waited < IPT_TIMEOUT_MS && (in[1] >= 0 || err[0] >= 0)) {
		pfd[0].fd = in[1];
		pfd[0].events = POLLOUT;
		pfd[1].fd = err[0];
		pfd[1].events = POLLIN;
		if (off == len && in[1] >= 0) {
			close(in[1]);
			in[1] = -1;
			continue;
		}
		if (poll(pfd, 2, 100) < 0 && errno != EINTR)
			break;
		waited += 100;
		if (in[1] >= 0 && (pfd[0].revents & (POLLOUT | POLLERR))) {
			n = write(in[1], input + off, len - off);
			if (n > 0)
				off += (size_t)n;
			else {
				close(in[1]);
				in[1] = -1;
			}
		}
		if (err[0] >= 0 && (pfd[1].revents & (POLLIN | POLLHUP))) {
			n = read(err[0], ebuf + got, sizeof(ebuf) - 1 - got);
			if (n > 0 && got + (size_t)n < sizeof(ebuf) - 1)
				got += (size_t)n;
			else if (n <= 0) {
				close(err[0]);
				err[0] = -1;
			}
		}
	}
	if (in[1] >= 0 || err[0] >= 0)
		kill(pid, SIGKILL);
	while (waitpid(pid, &st, 0) < 0 && errno == EINTR)
		;
	ebuf[got] = '\0';
	ebuf[strcspn(ebuf, "\n")] = '\0';
	if (why && whylen)
		snprintf(why, whylen, "%s: %s", argv[0], got ? ebuf :
		    WIFEXITED(st) ? "failed" : "killed");
	if (in[1] >= 0)
		close(in[1]);
	if (err[0] >= 0)
		close(err[0]);
	return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
fail:
	if (in[0] >= 0)
		close(in[0]);
	if (in[1] >= 0)
		close(in[1]);
	if (err[0] >= 0)
		close(err[0]);
	if (err[1] >= 0)
		close(err[1]);
	return -1;
}

int
capture_ipt_available(void)
{
	const char *argv[] = { "iptables-restore", "--version", NULL };

	return ipt_run(argv, NULL, NULL, 0) == 0;
}

/* Appends "-m multiport --dports ..." chunks: calls back for each. */
static int
ipt_rule_lines(const struct portal_rule *r, const char *chain,
    const char *target, struct buf *out)
{
	char range[PREFIX_TEXT_MAX], list[128];
	const struct prefix *seen = r->as.family ? &r->as : &r->to;
	const char *proto = r->ipproto == PROTO_UDP ? "udp" : "tcp";
	size_t i = 0, used, slots;
	int rc, n;

	prefix_format(seen, range, sizeof(range));
	if (r->ports.n == 1 && r->ports.r[0].lo == 1 &&
	    r->ports.r[0].hi == 65535)
		return buf_appendf(out, "-A %s -d %s -p %s -m comment "
		    "--comment \"rule %s\" -j %s\n", chain, range, proto,
		    r->name, target);
	while (i < r->ports.n) {
		used = 0;
		slots = 0;
		list[0] = '\0';
		for (; i < r->ports.n; i++) {
			const struct port_range *pr = &r->ports.r[i];
			size_t need = pr->lo == pr->hi ? 1 : 2;

			if (slots + need > IPT_MULTIPORT_SLOTS)
				break;
			n = pr->lo == pr->hi ?
			    snprintf(list + used, sizeof(list) - used, "%s%u",
			    used ? "," : "", pr->lo) :
			    snprintf(list + used, sizeof(list) - used,
			    "%s%u:%u", used ? "," : "", pr->lo, pr->hi);
			used += (size_t)n;
			slots += need;
		}
		if ((rc = buf_appendf(out, "-A %s -d %s -p %s -m multiport "
		    "--dports %s -m comment --comment \"rule %s\" -j %s\n",
		    chain, range, proto, list, r->name, target)) != 0)
			return rc;
	}
	return 0;
}

int
capture_ipt_script(const struct portal_rule *rules, size_t n, int family,
    const struct capture_ports *ports, const struct capture_self *self,
    int *udp, struct buf *out)
{
	char target[96], self_match[64];
	const struct portal_rule *r;
	uint16_t tcp = family == AF_INET6 ? ports->tcp6 : ports->tcp4;
	uint16_t uport = family == AF_INET6 ? ports->udp6 : ports->udp4;
	size_t i;
	int t, rc, count = 0, v6;

	if (self->by_uid)
		snprintf(self_match, sizeof(self_match), "-m owner "
		    "--uid-owner %u", self->uid);
	else
		snprintf(self_match, sizeof(self_match), "-m mark --mark 0x%x",
		    self->mark);
	for (t = 0; t < 2; t++) {
		if ((rc = buf_appendf(out, "*%s\n:NETPORT_PREROUTING - [0:0]\n"
		    ":NETPORT_OUTPUT - [0:0]\n-A NETPORT_OUTPUT %s -j RETURN\n",
		    ipt_tables[t], self_match)) != 0)
			return rc;
		for (i = 0; i < n; i++) {
			r = &rules[i];
			v6 = (r->as.family ? r->as.family : r->to.family) ==
			    AF_INET6;
			if (r->side != PROTO_SIDE_CLIENT || !r->capture ||
			    v6 != (family == AF_INET6))
				continue;
			/* nat: TCP redirected; mangle: UDP handed over. */
			if (t == 0 && (r->ipproto != PROTO_TCP || tcp == 0))
				continue;
			if (t == 1 && (r->ipproto != PROTO_UDP || uport == 0))
				continue;
			if (t == 0)
				snprintf(target, sizeof(target), "REDIRECT "
				    "--to-ports %u", tcp);
			else
				snprintf(target, sizeof(target), "TPROXY "
				    "--on-port %u --tproxy-mark 0x%x/0xffffffff",
				    uport, self->mark + 1);
			if ((rc = ipt_rule_lines(r, "NETPORT_PREROUTING",
			    target, out)) != 0)
				return rc;
			if (t == 0)
				rc = ipt_rule_lines(r, "NETPORT_OUTPUT", target,
				    out);
			else {
				snprintf(target, sizeof(target), "MARK "
				    "--set-mark 0x%x", self->mark + 1);
				rc = ipt_rule_lines(r, "NETPORT_OUTPUT", target,
				    out);
				*udp = 1;
			}
			if (rc != 0)
				return rc;
			count++;
		}
		if ((rc = buf_appendf(out, "-A PREROUTING -j NETPORT_PREROUTING\n"
		    "-A OUTPUT -j NETPORT_OUTPUT\nCOMMIT\n")) != 0)
			return rc;
	}
	return count;
}

/* Removes the jumps to our chains; 1 when there was one. */
static int
ipt_unjump(int family)
{
	const char *argv[] = { ipt_cmd(family, 0), "-w", "5", "-t", NULL, "-D",
	    NULL, "-j", NULL, NULL };
	int t, c, i, found = 0;

	for (t = 0; t < 2; t++)
		for (c = 0; c < 2; c++) {
			argv[4] = ipt_tables[t];
			argv[6] = ipt_chains[c][0];
			argv[8] = ipt_chains[c][1];
			/* Bounded: a jump added twice by hand goes twice. */
			for (i = 0; i < 8 && ipt_run(argv, NULL, NULL, 0) == 0;
			    i++)
				found = 1;
		}
	return found;
}

int
capture_ipt_apply(int family, const char *script, char *why, size_t whylen)
{
	const char *argv[] = { ipt_cmd(family, 1), "-w", "5", "--noflush",
	    NULL };

	/* The script adds the jumps again, after its chains. */
	(void)ipt_unjump(family);
	return ipt_run(argv, script, why, whylen) == 0 ? 0 : -1;
}

int
capture_ipt_clear(int family)
{
	const char *argv[] = { ipt_cmd(family, 0), "-w", "5", "-t", NULL, NULL,
	    NULL, NULL };
	int t, c, found = ipt_unjump(family);

	for (t = 0; t < 2; t++)
		for (c = 0; c < 2; c++) {
			argv[4] = ipt_tables[t];
			argv[5] = "-F";
			argv[6] = ipt_chains[c][1];
			if (ipt_run(argv, NULL, NULL, 0) != 0)
				continue;
			found = 1;
			argv[5] = "-X";
			(void)ipt_run(argv, NULL, NULL, 0);
		}
	return found;
}

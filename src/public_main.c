/* SPDX-License-Identifier: MIT */
/*
 * `netport public -s server.yaml -r relay.yaml`: a small deployment's
 * public host in one command.  It runs the server and a relay as two child
 * processes of this binary (each keeps its own loop, logs and failure
 * domain), passes SIGTERM, SIGINT and SIGHUP on to both, and when either
 * exits, stops the other and exits with the first failure's status.
 */
#include <errno.h>
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "public.h"
#include "relay/relay.h"
#include "server/server.h"

static volatile sig_atomic_t public_signal;

static void
public_on_signal(int signo)
{
	public_signal = signo;
}

static pid_t
public_spawn(int (*role_main)(int, char **), const char *role,
    const char *config, const char *level, const char *format)
{
	char *argv[8];
	int argc = 0;
	pid_t pid;

	if ((pid = fork()) != 0)
		return pid;
	/* Child: the role's own handlers replace ours. */
	signal(SIGTERM, SIG_DFL);
	signal(SIGINT, SIG_DFL);
	signal(SIGHUP, SIG_DFL);
	argv[argc++] = (char *)(uintptr_t)role;
	argv[argc++] = (char *)(uintptr_t)"-c";
	argv[argc++] = (char *)(uintptr_t)config;
	if (level) {
		argv[argc++] = (char *)(uintptr_t)"--log-level";
		argv[argc++] = (char *)(uintptr_t)level;
	}
	if (format) {
		argv[argc++] = (char *)(uintptr_t)"--log-format";
		argv[argc++] = (char *)(uintptr_t)format;
	}
	argv[argc] = NULL;
	_exit(role_main(argc, argv));
}

static void
public_usage(FILE *fp)
{
	fprintf(fp,
	    "usage: netport public -s SERVER.yaml -r RELAY.yaml [-n] "
	    "[--log-level L] [--log-format F]\n\n"
	    "Runs the server and a relay on one public host: two processes "
	    "of this binary,\nstopped together.  SIGTERM, SIGINT and SIGHUP "
	    "go to both.\n\n"
	    "  -s, --server FILE   the server's configuration\n"
	    "  -r, --relay FILE    the relay's configuration\n"
	    "  -n, --check         check both configurations and exit\n"
	    "  -h, --help          show this help\n");
}

int
public_main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "server", required_argument, NULL, 's' },
		{ "relay", required_argument, NULL, 'r' },
		{ "check", no_argument, NULL, 'n' },
		{ "log-level", required_argument, NULL, 'L' },
		{ "log-format", required_argument, NULL, 'F' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	const char *server_conf = NULL, *relay_conf = NULL;
	const char *level = NULL, *format = NULL;
	pid_t pids[2], pid;
	struct sigaction sa;
	int c, check = 0, status, result = 0, alive = 2, i;

	optind = 1;
	while ((c = getopt_long(argc, argv, "s:r:nh", opts, NULL)) != -1) {
		switch (c) {
		case 's':
			server_conf = optarg;
			break;
		case 'r':
			relay_conf = optarg;
			break;
		case 'n':
			check = 1;
			break;
		case 'L':
			level = optarg;
			break;
		case 'F':
			format = optarg;
			break;
		case 'h':
			public_usage(stdout);
			return 0;
		default:
			public_usage(stderr);
			return 2;
		}
	}
	if (server_conf == NULL || relay_conf == NULL || optind < argc) {
		public_usage(stderr);
		return 2;
	}
	if (check) {
		char *sargv[] = { (char *)(uintptr_t)"server",
		    (char *)(uintptr_t)"-n", (char *)(uintptr_t)"-c",
		    (char *)(uintptr_t)server_conf, NULL };
		char *rargv[] = { (char *)(uintptr_t)"relay",
		    (char *)(uintptr_t)"-n", (char *)(uintptr_t)"-c",
		    (char *)(uintptr_t)relay_conf, NULL };
		int s = server_main(4, sargv), r = relay_main(4, rargv);

		return s ? s : r;
	}

	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = public_on_signal;
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGHUP, &sa, NULL);
	fflush(NULL);
	pids[0] = public_spawn(server_main, "server", server_conf, level,
	    format);
	pids[1] = public_spawn(relay_main, "relay", relay_conf, level, format);
	if (pids[0] < 0 || pids[1] < 0) {
		fprintf(stderr, "netport public: fork: %s\n", strerror(errno));
		for (i = 0; i < 2; i++)
			if (pids[i] > 0)
				kill(pids[i], SIGTERM);
		result = 1;
	}
	while (alive > 0) {
		pid = waitpid(-1, &status, 0);
		if (pid < 0) {
			if (errno != EINTR)
				break;
			if (public_signal) {
				for (i = 0; i < 2; i++)
					if (pids[i] > 0)
						kill(pids[i], public_signal);
				public_signal = 0;
			}
			continue;
		}
		for (i = 0; i < 2; i++) {
			if (pid != pids[i])
				continue;
			pids[i] = 0;
			alive--;
			if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
				if (result == 0)
					result = WIFEXITED(status) ?
					    WEXITSTATUS(status) : 1;
			}
			/* One half gone: the public host is down; stop both. */
			if (pids[1 - i] > 0)
				kill(pids[1 - i], SIGTERM);
		}
	}
	return result;
}

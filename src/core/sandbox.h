/* SPDX-License-Identifier: MIT */
/*
 * A seccomp filter (libseccomp) for the server and the relay: once they
 * are up, only the system calls they use stay allowed, and any other kills
 * the process (SIGSYS), so that a flaw in a parser cannot go on to run a
 * program, trace another process, load a module, mount or change ids.
 * Not installed in sanitizer builds (their runtime traces the process to
 * report leaks).
 */
#ifndef NETPORT_CORE_SANDBOX_H
#define NETPORT_CORE_SANDBOX_H

struct loop;

enum sandbox_role {
	SANDBOX_SERVER,
	SANDBOX_RELAY,
};

/*
 * Installs the filter of role: 0, 1 when this build cannot have one (a
 * sanitizer build; logged), or -1 (logged).
 */
int	sandbox_seccomp(enum sandbox_role role);

/*
 * Test builds (NETPORT_TEST_HOOKS): SIGUSR2 makes the daemon call a
 * forbidden system call (execve), which the filter must answer by killing
 * it.  Elsewhere: nothing.
 */
int	sandbox_test_hook(struct loop *loop);

#endif

/* SPDX-License-Identifier: MIT */
/* The seccomp filter of the server and the relay; see sandbox.h. */
#include <errno.h>
#include <signal.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <unistd.h>

#include <seccomp.h>

#include "core/log.h"
#include "core/loop.h"
#include "core/sandbox.h"

/*
 * What both use once up: the event loop, sockets (accepted, and the
 * resolver's and a relay's control connection), files (policy and CRL
 * reloads, the log), memory, time, signals, and the exit.  The list was
 * taken from traces of the test suite, with the calls glibc and OpenSSL
 * use on rarer paths (fstat variants, clock and sleep calls, abort's
 * tgkill) added.
 */
static const char *const sandbox_common[] = {
	"read", "write", "readv", "writev", "pread64", "pwrite64", "close",
	"epoll_wait", "epoll_pwait", "epoll_ctl", "epoll_create1", "poll",
	"ppoll", "select", "pselect6",
	"accept", "accept4", "socket", "connect", "bind", "listen",
	"shutdown", "recvfrom", "recvmsg", "recvmmsg", "sendto", "sendmsg",
	"sendmmsg", "setsockopt", "getsockopt", "getsockname",
	"getpeername", "ioctl", "fcntl", "pipe2", "eventfd2",
	"openat", "open", "newfstatat", "fstat", "stat", "lstat", "statx",
	"lseek", "access", "faccessat", "faccessat2", "readlink",
	"readlinkat", "getdents64", "unlink", "unlinkat", "chmod",
	"fchmod", "umask", "fsync", "fdatasync", "dup", "dup2", "dup3",
	"mmap", "munmap", "mremap", "mprotect", "brk", "madvise",
	"futex", "sched_yield", "set_robust_list", "get_robust_list",
	"rseq", "set_tid_address",
	"getpid", "gettid", "getppid", "getuid", "geteuid", "getgid",
	"getegid", "getgroups", "getrandom", "uname", "sysinfo",
	"prlimit64", "getrlimit", "getrusage", "prctl",
	"clock_gettime", "clock_getres", "clock_nanosleep", "nanosleep",
	"gettimeofday", "time", "timerfd_create", "timerfd_settime",
	"timerfd_gettime",
	"rt_sigaction", "rt_sigprocmask", "rt_sigreturn", "rt_sigpending",
	"rt_sigtimedwait", "sigaltstack", "restart_syscall", "tgkill",
	"exit", "exit_group",
};

/* The relay moves bytes with splice(2), or in the kernel (sockmap). */
static const char *const sandbox_relay[] = {
	"splice", "tee", "vmsplice", "bpf",
};

static int
sandbox_allow(scmp_filter_ctx ctx, const char *const *names, size_t n)
{
	size_t i;
	int nr, r;

	for (i = 0; i < n; i++) {
		/* A call this architecture does not have is no hole. */
		if ((nr = seccomp_syscall_resolve_name(names[i])) ==
		    __NR_SCMP_ERROR)
			continue;
		if ((r = seccomp_rule_add(ctx, SCMP_ACT_ALLOW, nr, 0)) != 0 &&
		    r != -EEXIST) {
			log_error(NULL, "seccomp: cannot allow %s: %s", names[i],
			    strerror(-r));
			return -1;
		}
	}
	return 0;
}

#if defined(__SANITIZE_ADDRESS__)
#define SANDBOX_SANITIZED	1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define SANDBOX_SANITIZED	1
#endif
#endif

int
sandbox_seccomp(enum sandbox_role role)
{
	scmp_filter_ctx ctx;
	int r;

#ifdef SANDBOX_SANITIZED
	(void)role;
	log_info(NULL, "seccomp: not in a sanitizer build");
	return 1;
#endif
	if ((ctx = seccomp_init(SCMP_ACT_KILL_PROCESS)) == NULL) {
		log_error(NULL, "seccomp: cannot set up a filter");
		return -1;
	}
	if (sandbox_allow(ctx, sandbox_common, sizeof(sandbox_common) /
	    sizeof(sandbox_common[0])) != 0 || (role == SANDBOX_RELAY &&
	    sandbox_allow(ctx, sandbox_relay, sizeof(sandbox_relay) /
	    sizeof(sandbox_relay[0])) != 0)) {
		seccomp_release(ctx);
		return -1;
	}
	r = seccomp_load(ctx);
	seccomp_release(ctx);
	if (r != 0) {
		log_error(NULL, "seccomp: cannot load the filter: %s",
		    strerror(-r));
		return -1;
	}
	log_info(NULL, "seccomp: filter on; any system call outside the "
	    "allowed set kills the process");
	return 0;
}

#ifdef NETPORT_TEST_HOOKS
static void
sandbox_forbidden_cb(int signo, void *arg)
{
	char *const argv[] = { (char *)(uintptr_t)"/bin/true", NULL };

	(void)signo;
	(void)arg;
	log_info(NULL, "test hook: calling execve, which seccomp forbids");
	execve(argv[0], argv, NULL);
	log_error(NULL, "test hook: execve returned: %s", strerror(errno));
}
#endif

int
sandbox_test_hook(struct loop *loop)
{
#ifdef NETPORT_TEST_HOOKS
	return loop_on_signal(loop, SIGUSR2, sandbox_forbidden_cb, NULL);
#else
	(void)loop;
	return 0;
#endif
}

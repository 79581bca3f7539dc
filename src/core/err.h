/* SPDX-License-Identifier: MIT */
/*
 * Error codes.  Every fallible function returns 0 on success and a negative
 * value on failure: -errno for system errors, or one of the NP_E* codes below,
 * which all lie at or below -1000 so the two ranges never meet.  The table is
 * the single source of both the codes and their text.
 */
#ifndef NETPORT_CORE_ERR_H
#define NETPORT_CORE_ERR_H

#include <stddef.h>

#define NP_ERRORS(X)							\
	X(NP_EFAIL,	-1000, "unspecified failure")			\
	X(NP_ESHORT,	-1001, "need more data")			\
	X(NP_ETOOBIG,	-1002, "length exceeds limit")			\
	X(NP_EPROTO,	-1003, "protocol violation")			\
	X(NP_EVERSION,	-1004, "unsupported protocol version")		\
	X(NP_ECONFIG,	-1005, "invalid configuration")			\
	X(NP_ETLS,	-1006, "TLS failure")				\
	X(NP_EIDENTITY,	-1007, "certificate carries no valid netport identity") \
	X(NP_EROLE,	-1008, "peer has the wrong role")		\
	X(NP_ENAME,	-1009, "invalid name")				\
	X(NP_EREVOKED,	-1010, "certificate revoked")			\
	X(NP_EEXPIRED,	-1011, "expired")				\
	X(NP_EDENIED,	-1012, "denied by policy")			\
	X(NP_EEXIST,	-1013, "already exists")			\
	X(NP_ENOTFOUND,	-1014, "not found")				\
	X(NP_ESIGNATURE, -1015, "bad signature")			\
	X(NP_ETIMEOUT,	-1016, "timed out")				\
	X(NP_ECLOSED,	-1017, "connection closed")			\
	X(NP_EUSAGE,	-1018, "invalid usage")				\
	X(NP_ECRYPTO,	-1019, "cryptographic operation failed")		\
	X(NP_EUNTRUSTED, -1020, "certificate not issued by a trusted CA")

enum np_err {
#define NP_ERR_ENUM(name, value, text) name = (value),
	NP_ERRORS(NP_ERR_ENUM)
#undef NP_ERR_ENUM
};

/*
 * Returns a static description of any return code: 0, -errno or NP_E*.
 * Never returns NULL.  Thread-safe.
 */
const char *np_strerror(int code);

/*
 * Formats a one-line reason into a caller's buffer (err may be NULL when
 * errsize is 0): the "out-parameter" half of returning an error code.
 */
void	np_errf(char *err, size_t errsize, const char *fmt, ...)
	    __attribute__((format(printf, 3, 4)));

/* Returns the symbolic name ("NP_ESHORT", "ECONNRESET") of a code. */
const char *np_errname(int code);

#endif

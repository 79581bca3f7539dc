/* SPDX-License-Identifier: MIT */
/*
 * Private key files must stay private.  As OpenSSH does with its keys,
 * netport refuses a key file whose mode gives its group or others any
 * access: read would leak the identity; write would let them replace it;
 * execute means nothing for a key, and a mode that has it was not chosen
 * with care.  Used for tls.key of the daemons and for the CA's own key.
 */
#ifndef NETPORT_CORE_KEYFILE_H
#define NETPORT_CORE_KEYFILE_H

/* The permission bits a private key file must not have. */
#define KEYFILE_MODE_FORBIDDEN	0077

/*
 * Looks at the file a private key is read from (symbolic links followed,
 * as the read follows them).  Returns 0 when neither group nor others have
 * access to it; -EPERM when they have, with its permission bits in *mode;
 * -errno when it cannot be looked at (then the read of the key reports
 * the same problem).
 */
int	keyfile_check(const char *path, unsigned *mode)
	    __attribute__((warn_unused_result));

#endif

/* SPDX-License-Identifier: MIT */
/* Checks of the config keys every daemon has; see conf_common.h. */
#include <errno.h>
#include <string.h>

#include "core/conf_common.h"
#include "core/err.h"
#include "core/keyfile.h"

/*
 * A key file that group or others can reach is refused at load time, so
 * that `-n` reports it with the config line, like every other mistake.  A
 * key file that cannot be looked at is left to the TLS set-up, which names
 * the file when it fails to read it: the check of a configuration (-n)
 * needs no certificate files.
 */
static int
conf_common_check_key(const struct conf_check *c)
{
	const int *perm = conf_check_field(c, "tls.key_permissions");
	char *const *key = conf_check_field(c, "tls.key");
	unsigned mode;

	if (key == NULL || *key == NULL || perm == NULL ||
	    *perm == CONF_KEY_PERMISSIONS_IGNORE)
		return 0;
	if (keyfile_check(*key, &mode) != -EPERM)
		return 0;
	return conf_check_fail(c, "tls.key", "'%s' is open to group or "
	    "others (mode %04o); expected mode 0600 or 0400 (chmod 600 %s), "
	    "or tls.key_permissions: ignore where a platform mounts keys "
	    "with modes of its own", *key, mode, *key);
}

int
conf_common_check(const struct conf_check *c)
{
	return conf_common_check_key(c);
}

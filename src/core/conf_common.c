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

/* metrics: an address to listen on, when set. */
static int
conf_common_check_metrics(const struct conf_check *c)
{
	char *const *m = conf_check_field(c, "metrics");
	struct conf_endpoint ep;
	char why[200];

	if (m == NULL || *m == NULL || (*m)[0] == '\0' ||
	    conf_endpoint_parse(*m, 1, 65535, &ep, why, sizeof(why)) == 0)
		return 0;
	return conf_check_fail(c, "metrics", "%s; expected HOST:PORT, e.g. "
	    "127.0.0.1:9464", why);
}

int
conf_common_check(const struct conf_check *c)
{
	int r, m;

	if ((r = conf_common_check_key(c)) != 0 && r != NP_ECONFIG)
		return r;
	if ((m = conf_common_check_metrics(c)) != 0 && m != NP_ECONFIG)
		return m;
	return m ? m : r;
}

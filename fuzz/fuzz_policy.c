/* SPDX-License-Identifier: MIT */
/*
 * Policy parser: any bytes give a policy or a list of errors, never a
 * crash, a leak, or a rule that breaks the invariants the server relies on.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "core/policy.h"

int	LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct conf_errors errs = { 0, NULL };
	struct policy *p = NULL;
	size_t i;

	if (policy_parse("fuzz.yaml", (const char *)data, size, &p,
	    &errs) == 0) {
		for (i = 0; i < p->nrules; i++) {
			const struct policy_rule *r = &p->rules[i];

			if (identity_name_check(r->name) != 0 ||
			    identity_name_check(r->service) != 0 ||
			    r->nclients == 0 || r->protos == 0 ||
			    policy_rule_has_client(r, r->service) ||
			    policy_find(p, r->name) == NULL)
				abort();
			/* Each shape's own invariants. */
			if (r->capture) {
				if (r->to.family == 0 || !r->has_ports ||
				    r->ports.n == 0 || (r->as.family &&
				    (r->as.family != r->to.family ||
				    r->as.len != r->to.len)))
					abort();
			} else if (r->has_ports) {
				if (r->listen.port || r->target.port ||
				    r->ports.n == 0 || portset_count(&r->ports) >
				    POLICY_MAX_LISTEN_PORTS)
					abort();
			} else if ((!r->listen.is_unix && r->listen.port == 0) ||
			    (!r->target.is_unix && r->target.port == 0))
				abort();
		}
		policy_free(p);
	}
	conf_errors_free(&errs);
	return 0;
}

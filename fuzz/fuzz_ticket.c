/* SPDX-License-Identifier: MIT */
/*
 * Relay ticket parser and verifier: arbitrary bytes must never verify
 * under a key the fuzzer does not have, and must never crash the decoder.
 */
#include <stdint.h>
#include <stdlib.h>

#include "core/ticket.h"

int	LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static struct ticket_key fuzz_key;
static int fuzz_key_ready;

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct ticket t;

	if (!fuzz_key_ready) {
		if (ticket_key_generate(&fuzz_key) != 0)
			abort();
		fuzz_key_ready = 1;
	}
	(void)ticket_decode(data, size, &t);
	if (ticket_verify(data, size, &fuzz_key, 1000, &t) == 0)
		abort();	/* a forgery verified */
	return 0;
}

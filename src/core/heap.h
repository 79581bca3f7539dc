/* SPDX-License-Identifier: MIT */
/*
 * The allocator's knobs, in one place: daemons hold multi-MiB buffers for
 * a while (a bulk transfer, a flood of handshakes) and should give the
 * memory back once they are idle again.  With glibc these are mallopt()
 * and malloc_trim(); elsewhere they do nothing.
 */
#ifndef NETPORT_CORE_HEAP_H
#define NETPORT_CORE_HEAP_H

#include <stddef.h>

/*
 * Allocations from this size up get their own mapping, which free() hands
 * straight back to the kernel.  glibc's starting value; setting it pins
 * it: by default glibc raises it to the size of every mapped block freed
 * (up to 32 MiB), so after one bulk transfer multi-MiB buffers come from
 * the heap, and a heap keeps its peak once fragmented.
 */
#define HEAP_MMAP_THRESHOLD	(128 * 1024)

/* Pins the mmap threshold (HEAP_MMAP_THRESHOLD); once, at start-up. */
void	heap_pin_mmap_threshold(void);
/* Returns the heap's whole free pages to the kernel. */
void	heap_trim(void);

#endif

/* SPDX-License-Identifier: MIT */
/* The allocator's knobs (heap.h): glibc's, or nothing. */
#include <stdlib.h>		/* defines __GLIBC__ under glibc */

#include "core/heap.h"

#ifdef __GLIBC__
#include <malloc.h>

void
heap_pin_mmap_threshold(void)
{
	(void)mallopt(M_MMAP_THRESHOLD, HEAP_MMAP_THRESHOLD);
}

void
heap_trim(void)
{
	(void)malloc_trim(0);
}
#else
void
heap_pin_mmap_threshold(void)
{
}

void
heap_trim(void)
{
}
#endif

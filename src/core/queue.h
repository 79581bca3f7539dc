/* SPDX-License-Identifier: MIT */
/*
 * <sys/queue.h> plus the _SAFE iterators that the BSDs have and glibc's
 * copy lacks: they allow removing (and freeing) the current element.
 */
#ifndef NETPORT_CORE_QUEUE_H
#define NETPORT_CORE_QUEUE_H

#include <sys/queue.h>

#ifndef TAILQ_FOREACH_SAFE
#define TAILQ_FOREACH_SAFE(var, head, field, tvar)			\
	for ((var) = TAILQ_FIRST(head);					\
	    (var) && ((tvar) = TAILQ_NEXT(var, field), 1);		\
	    (var) = (tvar))
#endif
#ifndef TAILQ_FIRST
#define TAILQ_FIRST(head)	((head)->tqh_first)
#endif
#ifndef TAILQ_NEXT
#define TAILQ_NEXT(elm, field)	((elm)->field.tqe_next)
#endif

#endif

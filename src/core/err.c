/* SPDX-License-Identifier: MIT */
/* Text for the error codes declared in err.h. */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "core/err.h"

struct err_entry {
	int		 code;
	const char	*name;
	const char	*text;
};

static const struct err_entry err_table[] = {
#define NP_ERR_ROW(name, value, text) { (value), #name, (text) },
	NP_ERRORS(NP_ERR_ROW)
#undef NP_ERR_ROW
};

static const struct err_entry *
err_lookup(int code)
{
	size_t i;

	for (i = 0; i < sizeof(err_table) / sizeof(err_table[0]); i++)
		if (err_table[i].code == code)
			return &err_table[i];
	return NULL;
}

const char *
np_strerror(int code)
{
	const struct err_entry *e;

	if (code == 0)
		return "success";
	if (code < 0 && code > -1000)
		return strerrordesc_np(-code) ? strerrordesc_np(-code) :
		    "unknown system error";
	e = err_lookup(code);
	return e ? e->text : "unknown error";
}

const char *
np_errname(int code)
{
	const struct err_entry *e;

	if (code == 0)
		return "OK";
	if (code < 0 && code > -1000)
		return strerrorname_np(-code) ? strerrorname_np(-code) :
		    "E?";
	e = err_lookup(code);
	return e ? e->name : "NP_E?";
}

void
np_errf(char *err, size_t errsize, const char *fmt, ...)
{
	va_list ap;

	if (errsize == 0)
		return;
	va_start(ap, fmt);
	vsnprintf(err, errsize, fmt, ap);
	va_end(ap);
}

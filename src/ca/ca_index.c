/* SPDX-License-Identifier: MIT */
/* The CA's index of issued certificates: parser and writer; see ca_index.h. */
#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ca/ca_index.h"
#include "core/err.h"
#include "core/identity.h"

#define CA_INDEX_FIELDS		7
/* Digits of the largest int64_t; times are non-negative. */
#define CA_INDEX_TIME_DIGITS	19

/* What is wrong with a field, shared by the parser and the entry check. */
#define CA_INDEX_WHY_SERIAL						\
	"serial: expected 1 to 40 upper-case hex digits"
#define CA_INDEX_WHY_ROLE	"role: expected portal, server or relay"
#define CA_INDEX_WHY_NAME						\
	"name: expected 1 to 63 characters from a-z, 0-9, '.', '_' and "\
	"'-', starting and ending with a letter or digit"
#define CA_INDEX_WHY_ORDER	"not-after: must be later than not-before"

static const char *const ca_index_field_names[CA_INDEX_FIELDS] = {
	"serial", "role", "name", "not-before", "not-after", "status",
	"revocation time",
};

void
ca_index_init(struct ca_index *idx)
{
	memset(idx, 0, sizeof(*idx));
}

void
ca_index_free(struct ca_index *idx)
{
	free(idx->v);
	ca_index_init(idx);
}

int
ca_index_add(struct ca_index *idx, const struct ca_entry *e)
{
	struct ca_entry *v;
	size_t cap;

	if (idx->n >= CA_INDEX_MAX_ENTRIES)
		return NP_ETOOBIG;
	if (idx->n == idx->cap) {
		cap = idx->cap ? idx->cap * 2 : 64;
		if (cap > CA_INDEX_MAX_ENTRIES)
			cap = CA_INDEX_MAX_ENTRIES;
		if ((v = reallocarray(idx->v, cap, sizeof(*v))) == NULL)
			return -ENOMEM;
		idx->v = v;
		idx->cap = cap;
	}
	idx->v[idx->n++] = *e;
	return 0;
}

long
ca_index_find_serial(const struct ca_index *idx, const char *serial)
{
	size_t i;

	for (i = 0; i < idx->n; i++)
		if (strcmp(idx->v[i].serial, serial) == 0)
			return (long)i;
	return -1;
}

/* A decimal time of at most CA_INDEX_TIME_DIGITS digits, no sign. */
static int
ca_index_time_parse(const char *s, size_t n, int64_t *out)
{
	int64_t v = 0;
	size_t i;

	if (n == 0 || n > CA_INDEX_TIME_DIGITS || (n > 1 && s[0] == '0'))
		return NP_ECONFIG;
	for (i = 0; i < n; i++) {
		if (s[i] < '0' || s[i] > '9')
			return NP_ECONFIG;
		if (v > (INT64_MAX - (s[i] - '0')) / 10)
			return NP_ECONFIG;
		v = v * 10 + (s[i] - '0');
	}
	*out = v;
	return 0;
}

static int
ca_index_serial_check(const char *s)
{
	size_t i, n = strlen(s);

	if (n == 0 || n > CA_SERIAL_HEX_MAX)
		return NP_ECONFIG;
	for (i = 0; i < n; i++)
		if (!((s[i] >= '0' && s[i] <= '9') ||
		    (s[i] >= 'A' && s[i] <= 'F')))
			return NP_ECONFIG;
	return 0;
}

int
ca_index_entry_check(const struct ca_entry *e, char *err, size_t errsize)
{
	const char *why = NULL;

	if (ca_index_serial_check(e->serial) != 0)
		why = CA_INDEX_WHY_SERIAL;
	else if (e->role == NP_ROLE_NONE || (unsigned)e->role > NP_ROLE_RELAY)
		why = CA_INDEX_WHY_ROLE;
	else if (identity_name_check(e->name) != 0)
		why = CA_INDEX_WHY_NAME;
	else if (e->not_before < 0 || e->not_after <= e->not_before)
		why = CA_INDEX_WHY_ORDER;
	else if (!(e->status == CA_STATUS_VALID && e->revoked_at == 0) &&
	    !(e->status == CA_STATUS_REVOKED && e->revoked_at > 0))
		why = "status: V with revocation time '-', or R with a "
		    "revocation time";
	if (why != NULL)
		np_errf(err, errsize, "%s", why);
	return why ? NP_ECONFIG : 0;
}

/* Copies a field of n bytes into out (size bytes) if it fits. */
static int
ca_index_field_copy(const char *f, size_t n, char *out, size_t size)
{
	if (n >= size)
		return NP_ECONFIG;
	memcpy(out, f, n);
	out[n] = '\0';
	return 0;
}

/*
 * Parses one line (without its newline) into e.  On error, err says which
 * field is wrong and what it should be.
 */
static int
ca_index_line_parse(const char *line, size_t len, struct ca_entry *e,
    char *err, size_t errsize)
{
	const char *f[CA_INDEX_FIELDS];
	size_t flen[CA_INDEX_FIELDS];
	const char *p = line, *tab, *end = line + len, *why = NULL;
	char role[8];
	size_t i, nfields = 0;
	int rc = NP_ECONFIG;

	memset(e, 0, sizeof(*e));
	if (memchr(line, '\0', len) != NULL) {
		why = "NUL byte in the line";
		goto out;
	}
	/* p moves one past the end when the last field has been split. */
	while (p <= end && nfields <= CA_INDEX_FIELDS) {
		tab = memchr(p, '\t', (size_t)(end - p));
		if (tab == NULL)
			tab = end;
		if (nfields < CA_INDEX_FIELDS) {
			f[nfields] = p;
			flen[nfields] = (size_t)(tab - p);
		}
		nfields++;
		p = tab + 1;
	}
	if (len == 0) {
		why = "empty line";
		goto out;
	}
	if (nfields != CA_INDEX_FIELDS) {
		np_errf(err, errsize, "%s %zu fields; expected %d "
		    "separated by tabs", nfields > CA_INDEX_FIELDS ?
		    "more than" : "only", nfields > CA_INDEX_FIELDS ?
		    (size_t)CA_INDEX_FIELDS : nfields, CA_INDEX_FIELDS);
		goto out;
	}
	for (i = 0; i < CA_INDEX_FIELDS; i++) {
		if (flen[i] == 0) {
			np_errf(err, errsize, "%s: empty field",
			    ca_index_field_names[i]);
			goto out;
		}
	}
	if (ca_index_field_copy(f[0], flen[0], e->serial,
	    sizeof(e->serial)) != 0 || ca_index_serial_check(e->serial) != 0)
		why = CA_INDEX_WHY_SERIAL;
	else if (ca_index_field_copy(f[1], flen[1], role, sizeof(role)) != 0 ||
	    identity_role_parse(role, &e->role) != 0)
		why = CA_INDEX_WHY_ROLE;
	else if (ca_index_field_copy(f[2], flen[2], e->name,
	    sizeof(e->name)) != 0 || identity_name_check(e->name) != 0)
		why = CA_INDEX_WHY_NAME;
	else if (ca_index_time_parse(f[3], flen[3], &e->not_before) != 0)
		why = "not-before: expected unix seconds";
	else if (ca_index_time_parse(f[4], flen[4], &e->not_after) != 0)
		why = "not-after: expected unix seconds";
	else if (e->not_after <= e->not_before)
		why = CA_INDEX_WHY_ORDER;
	else if (flen[5] == 1 && f[5][0] == 'V') {
		e->status = CA_STATUS_VALID;
		if (flen[6] != 1 || f[6][0] != '-')
			why = "revocation time: expected '-' for a valid "
			    "certificate";
	} else if (flen[5] == 1 && f[5][0] == 'R') {
		e->status = CA_STATUS_REVOKED;
		if (ca_index_time_parse(f[6], flen[6], &e->revoked_at) != 0 ||
		    e->revoked_at == 0)
			why = "revocation time: expected unix seconds for a "
			    "revoked certificate";
	} else
		why = "status: expected V (valid) or R (revoked)";
	if (why == NULL)
		rc = 0;
out:
	if (why != NULL)
		np_errf(err, errsize, "%s", why);
	return rc;
}

int
ca_index_parse(struct ca_index *idx, const char *text, size_t len,
    const char *path, char *err, size_t errsize)
{
	const char *p = text, *nl, *end = text + len;
	char why[160];
	struct ca_entry e;
	size_t lineno = 0, llen;
	long dup;
	int rc;

	while (p < end) {
		lineno++;
		nl = memchr(p, '\n', (size_t)(end - p));
		llen = nl ? (size_t)(nl - p) : (size_t)(end - p);
		if (llen > CA_INDEX_LINE_MAX) {
			rc = NP_ECONFIG;
			np_errf(err, errsize, "%s:%zu: line longer than "
			    "%d bytes", path, lineno, CA_INDEX_LINE_MAX);
			goto out;
		}
		/* Every write ends lines; a missing newline is a cut file. */
		if (nl == NULL) {
			rc = NP_ECONFIG;
			np_errf(err, errsize, "%s:%zu: last line has no "
			    "newline (truncated file?)", path, lineno);
			goto out;
		}
		if (ca_index_line_parse(p, llen, &e, why, sizeof(why)) != 0) {
			rc = NP_ECONFIG;
			np_errf(err, errsize, "%s:%zu: %s", path, lineno,
			    why);
			goto out;
		}
		/*
		 * Linear search keeps this simple; serials are random, so a
		 * duplicate means a hand-edited or corrupt file.
		 */
		if ((dup = ca_index_find_serial(idx, e.serial)) >= 0) {
			rc = NP_ECONFIG;
			np_errf(err, errsize, "%s:%zu: serial %s already "
			    "appears on line %ld", path, lineno, e.serial,
			    dup + 1);
			goto out;
		}
		if ((rc = ca_index_add(idx, &e)) != 0) {
			if (rc == NP_ETOOBIG)
				np_errf(err, errsize, "%s:%zu: more than "
				    "%d certificates", path, lineno,
				    CA_INDEX_MAX_ENTRIES);
			else
				np_errf(err, errsize, "%s: %s", path,
				    strerror(ENOMEM));
			if (rc == NP_ETOOBIG)
				rc = NP_ECONFIG;
			goto out;
		}
		p = nl + 1;
	}
	rc = 0;
out:
	if (rc != 0)
		ca_index_free(idx);
	return rc;
}

int
ca_index_format(const struct ca_index *idx, char **out, size_t *outlen)
{
	const struct ca_entry *e;
	char revoked[24];
	FILE *fp;
	char *buf = NULL;
	size_t len = 0, i;
	int rc;

	*out = NULL;
	*outlen = 0;
	if ((fp = open_memstream(&buf, &len)) == NULL)
		return -ENOMEM;
	for (i = 0; i < idx->n; i++) {
		e = &idx->v[i];
		if (e->status == CA_STATUS_REVOKED)
			snprintf(revoked, sizeof(revoked), "%" PRId64,
			    e->revoked_at);
		else
			snprintf(revoked, sizeof(revoked), "-");
		fprintf(fp, "%s\t%s\t%s\t%" PRId64 "\t%" PRId64 "\t%c\t%s\n",
		    e->serial, identity_role_name(e->role), e->name,
		    e->not_before, e->not_after,
		    e->status == CA_STATUS_REVOKED ? 'R' : 'V', revoked);
	}
	rc = ferror(fp) ? -ENOMEM : 0;
	if (fclose(fp) != 0)
		rc = -ENOMEM;
	if (rc != 0) {
		free(buf);
		return rc;
	}
	*out = buf;
	*outlen = len;
	return 0;
}

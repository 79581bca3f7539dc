/* SPDX-License-Identifier: MIT */
/*
 * `netport ca`: the certificate authority tooling.  Each subcommand parses
 * its own options and drives the store (directory, index), cert (keys and
 * certificates) and crl modules; this file is the only one that prints.
 * Exit status: 0 success, 1 failure, 2 invalid command line.
 */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <openssl/asn1.h>
#include <openssl/evp.h>
#include <openssl/x509.h>

#include "ca/ca.h"
#include "ca/ca_cert.h"
#include "ca/ca_crl.h"
#include "ca/ca_file.h"
#include "ca/ca_index.h"
#include "ca/ca_store.h"
#include "core/err.h"
#include "core/identity.h"

#define CA_EXIT_OK		0
#define CA_EXIT_FAIL		1
#define CA_EXIT_USAGE		2

#define CA_DIR_ENV		"NETPORT_CA_DIR"
#define CA_DIR_DEFAULT		"netport-ca"
#define CA_NAME_DEFAULT		"netport CA"
#define CA_DAYS_CA_DEFAULT	3650
#define CA_DAYS_CERT_DEFAULT	365
/* A hundred years: beyond that a typo is likelier than a plan. */
#define CA_DAYS_MAX		36500
/*
 * Certificates start this many seconds in the past, so a peer whose clock
 * lags a little does not reject a certificate issued a moment ago.
 */
#define CA_BACKDATE		300
/* Width of the shortened serial in `list`; the index has the full one. */
#define CA_LIST_SERIAL_WIDTH	16

#define CA_ERR_MAX		512
#define CA_NAME_RULE							\
	"use 1 to 63 characters from a-z, 0-9, '.', '_' and '-', "	\
	"starting and ending with a letter or digit"

struct ca_cmd {
	const char	*name;
	int		(*run)(int argc, char **argv);
	const char	*summary;
};

static int	ca_main_init(int argc, char **argv);
static int	ca_main_issue(int argc, char **argv);
static int	ca_main_revoke(int argc, char **argv);
static int	ca_main_crl(int argc, char **argv);
static int	ca_main_list(int argc, char **argv);

static const struct ca_cmd ca_cmds[] = {
	{ "init", ca_main_init, "create a CA: key, certificate, index, CRL" },
	{ "issue", ca_main_issue, "issue a key and certificate for an "
	    "identity" },
	{ "revoke", ca_main_revoke, "revoke the certificates of a name and "
	    "update the CRL" },
	{ "crl", ca_main_crl, "regenerate the CRL" },
	{ "list", ca_main_list, "list the issued certificates" },
};

static const char ca_dir_help[] =
    "  --dir DIR     the CA directory (default: $" CA_DIR_ENV ", else ./"
    CA_DIR_DEFAULT ")\n"
    "  -h, --help    show this help\n";

static void	ca_main_errf(const char *fmt, ...)
		    __attribute__((format(printf, 1, 2)));

/* One line on stderr, prefixed like every CA error. */
static void
ca_main_errf(const char *fmt, ...)
{
	va_list ap;

	fprintf(stderr, "netport ca: ");
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fprintf(stderr, "\n");
}

static const char *
ca_main_dir(const char *opt)
{
	const char *env;

	if (opt != NULL)
		return opt;
	env = getenv(CA_DIR_ENV);
	return env != NULL && *env != '\0' ? env : CA_DIR_DEFAULT;
}

/* Reports a getopt_long failure (optstring starts with ':'). */
static int
ca_main_bad_option(const char *cmd, int c, char **argv)
{
	if (c == ':')
		ca_main_errf("%s: option '%s' needs a value (see 'netport ca "
		    "%s --help')", cmd, argv[optind - 1], cmd);
	else if (optopt != 0)
		ca_main_errf("%s: unknown option '-%c' (see 'netport ca %s "
		    "--help')", cmd, optopt, cmd);
	else
		ca_main_errf("%s: unknown option '%s' (see 'netport ca %s "
		    "--help')", cmd, argv[optind - 1], cmd);
	return CA_EXIT_USAGE;
}

/* Parses a day count in [1, max]; 0 or CA_EXIT_USAGE after a message. */
static int
ca_main_days(const char *cmd, const char *s, int max, int *out)
{
	char *end;
	long v;

	errno = 0;
	v = strtol(s, &end, 10);
	if (s[0] < '0' || s[0] > '9' || *end != '\0' || errno != 0 ||
	    v < 1 || v > max) {
		ca_main_errf("%s: --days '%s': expected a whole number of "
		    "days from 1 to %d", cmd, s, max);
		return CA_EXIT_USAGE;
	}
	*out = (int)v;
	return 0;
}

static int
ca_main_role(const char *cmd, const char *s, enum np_role *out)
{
	if (identity_role_parse(s, out) != 0) {
		ca_main_errf("%s: --role '%s': expected portal, server or "
		    "relay", cmd, s);
		return CA_EXIT_USAGE;
	}
	return 0;
}

static int
ca_main_name(const char *cmd, const char *s)
{
	if (identity_name_check(s) != 0) {
		ca_main_errf("%s: invalid name '%s': %s", cmd, s,
		    CA_NAME_RULE);
		return CA_EXIT_USAGE;
	}
	return 0;
}

static int
ca_main_no_args(const char *cmd, int argc, char **argv)
{
	if (optind < argc) {
		ca_main_errf("%s: unexpected argument '%s' (see 'netport ca "
		    "%s --help')", cmd, argv[optind], cmd);
		return CA_EXIT_USAGE;
	}
	return 0;
}

/* "YYYY-MM-DD" in UTC. */
static void
ca_main_date(int64_t t, char out[static 16])
{
	time_t tt = (time_t)t;
	struct tm tm;

	if (gmtime_r(&tt, &tm) == NULL ||
	    strftime(out, 16, "%Y-%m-%d", &tm) == 0)
		snprintf(out, 16, "?");
}

static void
ca_main_init_usage(FILE *fp)
{
	fprintf(fp, "usage: netport ca init [--dir DIR] [--name CN] "
	    "[--days N] [--force]\n\n"
	    "Creates a certificate authority in DIR: an EC P-256 key "
	    "(ca.key, mode 0600),\na self-signed CA certificate (ca.crt), an "
	    "empty index of issued certificates\n(index), an empty CRL "
	    "(crl.pem) and the directory certs/.\n\n"
	    "  --name CN     common name of the CA (default \"%s\")\n"
	    "  --days N      validity in days (default %d)\n"
	    "  --force       replace an existing CA; what it issued then "
	    "stops verifying\n%s", CA_NAME_DEFAULT, CA_DAYS_CA_DEFAULT,
	    ca_dir_help);
}

static int
ca_main_init(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "dir", required_argument, NULL, 'd' },
		{ "name", required_argument, NULL, 'n' },
		{ "days", required_argument, NULL, 'D' },
		{ "force", no_argument, NULL, 'f' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	char err[CA_ERR_MAX], kpath[PATH_MAX], cpath[PATH_MAX],
	    ipath[PATH_MAX], crlpath[PATH_MAX];
	const char *dir = NULL, *name = CA_NAME_DEFAULT;
	struct ca_store *st = NULL;
	EVP_PKEY *key = NULL;
	X509 *cert = NULL;
	int c, days = CA_DAYS_CA_DEFAULT, force = 0, status = CA_EXIT_FAIL;
	int rc;
	int64_t now;

	optind = 0;
	while ((c = getopt_long(argc, argv, ":h", opts, NULL)) != -1) {
		switch (c) {
		case 'd':
			dir = optarg;
			break;
		case 'n':
			name = optarg;
			break;
		case 'D':
			if (ca_main_days("init", optarg, CA_DAYS_MAX,
			    &days) != 0)
				return CA_EXIT_USAGE;
			break;
		case 'f':
			force = 1;
			break;
		case 'h':
			ca_main_init_usage(stdout);
			return CA_EXIT_OK;
		default:
			return ca_main_bad_option("init", c, argv);
		}
	}
	if (ca_main_no_args("init", argc, argv) != 0)
		return CA_EXIT_USAGE;
	if (ca_cert_cn_check(name) != 0) {
		ca_main_errf("init: --name '%s': expected 1 to %d printable "
		    "ASCII characters, not starting or ending with a space",
		    name, CA_CERT_CN_MAX);
		return CA_EXIT_USAGE;
	}
	dir = ca_main_dir(dir);

	if (ca_store_create(dir, force, &st, err, sizeof(err)) != 0) {
		ca_main_errf("%s", err);
		goto out;
	}
	if (ca_store_path(st, CA_STORE_KEY, kpath, sizeof(kpath)) != 0 ||
	    ca_store_path(st, CA_STORE_CERT, cpath, sizeof(cpath)) != 0 ||
	    ca_store_path(st, CA_STORE_INDEX, ipath, sizeof(ipath)) != 0) {
		ca_main_errf("%s: path too long", dir);
		goto out;
	}
	now = (int64_t)time(NULL);
	if (ca_cert_keygen(&key) != 0) {
		ca_main_errf("init: cannot generate the CA key");
		goto out;
	}
	if (ca_cert_make_ca(key, name, now - CA_BACKDATE,
	    now + (int64_t)days * 86400, &cert, err, sizeof(err)) != 0) {
		ca_main_errf("init: %s", err);
		goto out;
	}
	if ((rc = ca_store_write_key(kpath, key, force)) != 0) {
		ca_main_errf("%s: %s%s", kpath, np_strerror(rc), rc == -EEXIST ?
		    "; use --force to replace the CA" : "");
		goto out;
	}
	if ((rc = ca_store_write_cert(cpath, cert, 1)) != 0) {
		ca_main_errf("%s: %s", cpath, np_strerror(rc));
		goto out;
	}
	st->cert = cert;
	st->key = key;
	cert = NULL;
	key = NULL;
	/* The store's index is empty: a new CA, even with --force. */
	if (ca_store_save_index(st, err, sizeof(err)) != 0 ||
	    ca_crl_update(st, CA_CRL_DAYS_DEFAULT, crlpath, sizeof(crlpath),
	    err, sizeof(err)) != 0) {
		ca_main_errf("%s", err);
		goto out;
	}
	printf("%s\n%s\n%s\n%s\n", kpath, cpath, ipath, crlpath);
	status = CA_EXIT_OK;
out:
	X509_free(cert);
	EVP_PKEY_free(key);
	ca_store_free(st);
	return status;
}

static void
ca_main_issue_usage(FILE *fp)
{
	fprintf(fp, "usage: netport ca issue --role ROLE --name NAME "
	    "[--days N] [--dns NAME]...\n"
	    "                        [--ip ADDR]... [--out DIR] [--force] "
	    "[--dir DIR]\n\n"
	    "Issues an EC P-256 key (OUT/ROLE-NAME.key, mode 0600) and a "
	    "certificate\n(OUT/ROLE-NAME.crt) for the identity ROLE/NAME, "
	    "signed by the CA, and\nrecords it in the index.  Prints the "
	    "paths written.\n\n"
	    "  --role ROLE   portal, server or relay\n"
	    "  --name NAME   1 to 63 characters from a-z, 0-9, '.', '_' and "
	    "'-',\n                starting and ending with a letter or "
	    "digit\n"
	    "  --days N      validity in days (default %d)\n"
	    "  --dns NAME    add a DNS subject alternative name (repeatable)\n"
	    "  --ip ADDR     add an IP address subject alternative name "
	    "(repeatable)\n"
	    "  --out DIR     where to write the files (default DIR/%s)\n"
	    "  --force       replace existing files\n%s",
	    CA_DAYS_CERT_DEFAULT, CA_STORE_CERTS, ca_dir_help);
}

/* Checks that the CA can sign a certificate valid until not_after. */
static int
ca_main_ca_covers(X509 *ca, int64_t now, int64_t not_after)
{
	char date[16];
	struct tm tm;
	int64_t end;

	if (!ASN1_TIME_to_tm(X509_get0_notAfter(ca), &tm)) {
		ca_main_errf("issue: cannot read the validity of the CA "
		    "certificate");
		return -1;
	}
	end = (int64_t)timegm(&tm);
	ca_main_date(end, date);
	if (end <= now) {
		ca_main_errf("issue: the CA certificate expired on %s; "
		    "create a new CA", date);
		return -1;
	}
	if (not_after > end) {
		ca_main_errf("issue: the certificate would outlive the CA "
		    "certificate (valid until %s); use --days %" PRId64
		    " or less", date, (end - now) / 86400);
		return -1;
	}
	return 0;
}

static int
ca_main_issue(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "dir", required_argument, NULL, 'd' },
		{ "role", required_argument, NULL, 'r' },
		{ "name", required_argument, NULL, 'n' },
		{ "days", required_argument, NULL, 'D' },
		{ "dns", required_argument, NULL, 'N' },
		{ "ip", required_argument, NULL, 'i' },
		{ "out", required_argument, NULL, 'o' },
		{ "force", no_argument, NULL, 'f' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	char err[CA_ERR_MAX], outdir[PATH_MAX], kpath[PATH_MAX],
	    cpath[PATH_MAX];
	char *dns[CA_CERT_SAN_MAX], *ip[CA_CERT_SAN_MAX];
	const char *dir = NULL, *name = NULL, *out = NULL;
	struct ca_cert_req req;
	struct ca_store *st = NULL;
	struct ca_entry entry;
	enum np_role role = NP_ROLE_NONE;
	EVP_PKEY *key = NULL;
	X509 *cert = NULL;
	size_t ndns = 0, nip = 0;
	int c, n, rc, days = CA_DAYS_CERT_DEFAULT, force = 0;
	int status = CA_EXIT_FAIL, key_written = 0;
	int64_t now;

	optind = 0;
	while ((c = getopt_long(argc, argv, ":h", opts, NULL)) != -1) {
		switch (c) {
		case 'd':
			dir = optarg;
			break;
		case 'r':
			if (ca_main_role("issue", optarg, &role) != 0)
				return CA_EXIT_USAGE;
			break;
		case 'n':
			name = optarg;
			break;
		case 'D':
			if (ca_main_days("issue", optarg, CA_DAYS_MAX,
			    &days) != 0)
				return CA_EXIT_USAGE;
			break;
		case 'N':
			if (ca_cert_dns_check(optarg) != 0) {
				ca_main_errf("issue: --dns '%s': not a DNS "
				    "host name (letters, digits and '-' in "
				    "dot-separated labels)", optarg);
				return CA_EXIT_USAGE;
			}
			if (ndns == CA_CERT_SAN_MAX) {
				ca_main_errf("issue: at most %d --dns names",
				    CA_CERT_SAN_MAX);
				return CA_EXIT_USAGE;
			}
			dns[ndns++] = optarg;
			break;
		case 'i':
			if (ca_cert_ip_check(optarg) != 0) {
				ca_main_errf("issue: --ip '%s': not an IPv4 "
				    "or IPv6 address", optarg);
				return CA_EXIT_USAGE;
			}
			if (nip == CA_CERT_SAN_MAX) {
				ca_main_errf("issue: at most %d --ip "
				    "addresses", CA_CERT_SAN_MAX);
				return CA_EXIT_USAGE;
			}
			ip[nip++] = optarg;
			break;
		case 'o':
			out = optarg;
			break;
		case 'f':
			force = 1;
			break;
		case 'h':
			ca_main_issue_usage(stdout);
			return CA_EXIT_OK;
		default:
			return ca_main_bad_option("issue", c, argv);
		}
	}
	if (ca_main_no_args("issue", argc, argv) != 0)
		return CA_EXIT_USAGE;
	if (role == NP_ROLE_NONE || name == NULL) {
		ca_main_errf("issue: --role and --name are required (see "
		    "'netport ca issue --help')");
		return CA_EXIT_USAGE;
	}
	if (ca_main_name("issue", name) != 0)
		return CA_EXIT_USAGE;
	dir = ca_main_dir(dir);

	if (ca_store_open(dir, CA_STORE_WRITE | CA_STORE_SIGN, &st, err,
	    sizeof(err)) != 0) {
		ca_main_errf("%s", err);
		goto out;
	}
	if (out == NULL) {
		if (ca_store_path(st, CA_STORE_CERTS, outdir,
		    sizeof(outdir)) != 0) {
			ca_main_errf("%s: path too long", dir);
			goto out;
		}
		out = outdir;
	}
	n = snprintf(kpath, sizeof(kpath), "%s/%s-%s.key", out,
	    identity_role_name(role), name);
	if (n < 0 || (size_t)n >= sizeof(kpath) ||
	    (n = snprintf(cpath, sizeof(cpath), "%s/%s-%s.crt", out,
	    identity_role_name(role), name)) < 0 ||
	    (size_t)n >= sizeof(cpath)) {
		ca_main_errf("%s: path too long", out);
		goto out;
	}
	/* Checked up front so that a refusal leaves nothing behind. */
	if (!force && (ca_file_exists(kpath) || ca_file_exists(cpath))) {
		ca_main_errf("%s exists; use --force to replace it",
		    ca_file_exists(kpath) ? kpath : cpath);
		goto out;
	}

	now = (int64_t)time(NULL);
	memset(&req, 0, sizeof(req));
	if (identity_set(&req.id, role, name) != 0) {
		ca_main_errf("issue: invalid name '%s': %s", name,
		    CA_NAME_RULE);
		goto out;
	}
	req.not_before = now - CA_BACKDATE;
	req.not_after = now + (int64_t)days * 86400;
	req.dns = dns;
	req.ndns = ndns;
	req.ip = ip;
	req.nip = nip;
	if (ca_main_ca_covers(st->cert, now, req.not_after) != 0)
		goto out;
	if (ca_cert_keygen(&key) != 0) {
		ca_main_errf("issue: cannot generate a key");
		goto out;
	}
	if (ca_cert_issue(st->cert, st->key, &req, key, &st->index, &cert,
	    err, sizeof(err)) != 0) {
		ca_main_errf("issue: %s", err);
		goto out;
	}

	memset(&entry, 0, sizeof(entry));
	if (ca_cert_serial_hex(cert, entry.serial) != 0) {
		ca_main_errf("issue: cannot read the serial back");
		goto out;
	}
	entry.role = role;
	snprintf(entry.name, sizeof(entry.name), "%s", name);
	entry.not_before = req.not_before;
	entry.not_after = req.not_after;
	entry.status = CA_STATUS_VALID;
	if ((rc = ca_index_add(&st->index, &entry)) != 0) {
		ca_main_errf("issue: %s: %s", dir, np_strerror(rc));
		goto out;
	}

	if ((rc = ca_store_write_key(kpath, key, force)) != 0) {
		ca_main_errf("%s: %s%s", kpath, np_strerror(rc),
		    rc == -EEXIST ? "; use --force to replace it" : "");
		goto out;
	}
	key_written = 1;
	if ((rc = ca_store_write_cert(cpath, cert, force)) != 0) {
		ca_main_errf("%s: %s%s", cpath, np_strerror(rc),
		    rc == -EEXIST ? "; use --force to replace it" : "");
		goto out;
	}
	/*
	 * The index is written last: a certificate it lists exists.  If this
	 * fails, new files are removed again, since a certificate missing
	 * from the index could never be revoked.
	 */
	if (ca_store_save_index(st, err, sizeof(err)) != 0) {
		ca_main_errf("%s", err);
		if (!force)
			unlink(cpath);
		goto out;
	}
	key_written = 0;
	printf("%s\n%s\n", kpath, cpath);
	status = CA_EXIT_OK;
out:
	if (key_written && !force)
		unlink(kpath);
	X509_free(cert);
	EVP_PKEY_free(key);
	ca_store_free(st);
	return status;
}

static void
ca_main_revoke_usage(FILE *fp)
{
	fprintf(fp, "usage: netport ca revoke NAME [--role ROLE] "
	    "[--dir DIR]\n\n"
	    "Marks every valid certificate of NAME revoked in the index and "
	    "regenerates\nthe CRL (DIR/%s).  Copy the CRL to the tls.crl of "
	    "every role afterwards.\n\n"
	    "  --role ROLE   which identity, when NAME exists under several "
	    "roles\n%s", CA_STORE_CRL, ca_dir_help);
}

/* The roles under which name has (valid) certificates, as a role mask. */
static unsigned
ca_main_roles_of(const struct ca_index *idx, const char *name,
    int valid_only)
{
	unsigned mask = 0;
	size_t i;

	for (i = 0; i < idx->n; i++)
		if (strcmp(idx->v[i].name, name) == 0 && (!valid_only ||
		    idx->v[i].status == CA_STATUS_VALID))
			mask |= NP_ROLE_BIT(idx->v[i].role);
	return mask;
}

static int
ca_main_revoke(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "dir", required_argument, NULL, 'd' },
		{ "role", required_argument, NULL, 'r' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	char err[CA_ERR_MAX], crlpath[PATH_MAX], roles[32];
	const char *dir = NULL, *name;
	struct ca_store *st = NULL;
	struct ca_entry *e;
	enum np_role role = NP_ROLE_NONE;
	unsigned all, valid;
	size_t i;
	int c, status = CA_EXIT_FAIL;
	int64_t now;
	enum np_role r;

	optind = 0;
	while ((c = getopt_long(argc, argv, ":h", opts, NULL)) != -1) {
		switch (c) {
		case 'd':
			dir = optarg;
			break;
		case 'r':
			if (ca_main_role("revoke", optarg, &role) != 0)
				return CA_EXIT_USAGE;
			break;
		case 'h':
			ca_main_revoke_usage(stdout);
			return CA_EXIT_OK;
		default:
			return ca_main_bad_option("revoke", c, argv);
		}
	}
	if (optind >= argc) {
		ca_main_errf("revoke: which NAME? (see 'netport ca revoke "
		    "--help')");
		return CA_EXIT_USAGE;
	}
	name = argv[optind++];
	if (ca_main_no_args("revoke", argc, argv) != 0 ||
	    ca_main_name("revoke", name) != 0)
		return CA_EXIT_USAGE;
	dir = ca_main_dir(dir);

	if (ca_store_open(dir, CA_STORE_WRITE | CA_STORE_SIGN, &st, err,
	    sizeof(err)) != 0) {
		ca_main_errf("%s", err);
		goto out;
	}
	all = ca_main_roles_of(&st->index, name, 0);
	valid = ca_main_roles_of(&st->index, name, 1);
	if (role != NP_ROLE_NONE) {
		all &= NP_ROLE_BIT(role);
		valid &= NP_ROLE_BIT(role);
	}
	if (all == 0) {
		if (role != NP_ROLE_NONE)
			ca_main_errf("revoke: no certificate for %s/%s in "
			    "%s/%s", identity_role_name(role), name, dir,
			    CA_STORE_INDEX);
		else
			ca_main_errf("revoke: no certificate named '%s' in "
			    "%s/%s", name, dir, CA_STORE_INDEX);
		goto out;
	}
	if (valid == 0) {
		printf("%s%s%s: nothing to revoke: every certificate is "
		    "already revoked\n", role != NP_ROLE_NONE ?
		    identity_role_name(role) : "", role != NP_ROLE_NONE ?
		    "/" : "", name);
		status = CA_EXIT_OK;
		goto out;
	}
	/* A name may be a portal and a relay at once: never guess which. */
	if ((valid & (valid - 1)) != 0) {
		roles[0] = '\0';
		for (r = NP_ROLE_PORTAL; r <= NP_ROLE_RELAY; r++)
			if (valid & NP_ROLE_BIT(r))
				snprintf(roles + strlen(roles),
				    sizeof(roles) - strlen(roles), "%s%s",
				    roles[0] ? ", " : "",
				    identity_role_name(r));
		ca_main_errf("revoke: '%s' has valid certificates as %s; "
		    "choose one with --role", name, roles);
		goto out;
	}
	now = (int64_t)time(NULL);
	for (i = 0; i < st->index.n; i++) {
		e = &st->index.v[i];
		if (strcmp(e->name, name) != 0 ||
		    e->status != CA_STATUS_VALID ||
		    !(valid & NP_ROLE_BIT(e->role)))
			continue;
		e->status = CA_STATUS_REVOKED;
		e->revoked_at = now;
		printf("revoked %s/%s serial %s\n", identity_role_name(e->role),
		    e->name, e->serial);
	}
	if (ca_store_save_index(st, err, sizeof(err)) != 0 ||
	    ca_crl_update(st, CA_CRL_DAYS_DEFAULT, crlpath, sizeof(crlpath),
	    err, sizeof(err)) != 0) {
		ca_main_errf("%s", err);
		goto out;
	}
	printf("%s\n", crlpath);
	status = CA_EXIT_OK;
out:
	ca_store_free(st);
	return status;
}

static void
ca_main_crl_usage(FILE *fp)
{
	fprintf(fp, "usage: netport ca crl [--days N] [--dir DIR]\n\n"
	    "Regenerates the CRL (DIR/%s) from the index and prints its "
	    "path.  Roles\nrefuse every peer once their CRL is past its next "
	    "update, so run this, and\ndistribute the result, well within N "
	    "days.\n\n"
	    "  --days N      days until the next update (default %d)\n%s",
	    CA_STORE_CRL, CA_CRL_DAYS_DEFAULT, ca_dir_help);
}

static int
ca_main_crl(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "dir", required_argument, NULL, 'd' },
		{ "days", required_argument, NULL, 'D' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	char err[CA_ERR_MAX], crlpath[PATH_MAX];
	const char *dir = NULL;
	struct ca_store *st = NULL;
	int c, days = CA_CRL_DAYS_DEFAULT, status = CA_EXIT_FAIL;

	optind = 0;
	while ((c = getopt_long(argc, argv, ":h", opts, NULL)) != -1) {
		switch (c) {
		case 'd':
			dir = optarg;
			break;
		case 'D':
			if (ca_main_days("crl", optarg, CA_CRL_DAYS_MAX,
			    &days) != 0)
				return CA_EXIT_USAGE;
			break;
		case 'h':
			ca_main_crl_usage(stdout);
			return CA_EXIT_OK;
		default:
			return ca_main_bad_option("crl", c, argv);
		}
	}
	if (ca_main_no_args("crl", argc, argv) != 0)
		return CA_EXIT_USAGE;
	dir = ca_main_dir(dir);
	if (ca_store_open(dir, CA_STORE_WRITE | CA_STORE_SIGN, &st, err,
	    sizeof(err)) != 0 ||
	    ca_crl_update(st, days, crlpath, sizeof(crlpath), err,
	    sizeof(err)) != 0) {
		ca_main_errf("%s", err);
		goto out;
	}
	printf("%s\n", crlpath);
	status = CA_EXIT_OK;
out:
	ca_store_free(st);
	return status;
}

static void
ca_main_list_usage(FILE *fp)
{
	fprintf(fp, "usage: netport ca list [--dir DIR]\n\n"
	    "Lists the issued certificates: serial (shortened), role, name, "
	    "expiry date\n(UTC) and status (valid, revoked or expired).\n\n%s",
	    ca_dir_help);
}

static int
ca_main_list(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "dir", required_argument, NULL, 'd' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	char err[CA_ERR_MAX], date[16];
	const struct ca_entry *e;
	const char *dir = NULL, *state;
	struct ca_store *st = NULL;
	size_t i;
	int c, w = 4, status = CA_EXIT_FAIL;
	int64_t now;

	optind = 0;
	while ((c = getopt_long(argc, argv, ":h", opts, NULL)) != -1) {
		switch (c) {
		case 'd':
			dir = optarg;
			break;
		case 'h':
			ca_main_list_usage(stdout);
			return CA_EXIT_OK;
		default:
			return ca_main_bad_option("list", c, argv);
		}
	}
	if (ca_main_no_args("list", argc, argv) != 0)
		return CA_EXIT_USAGE;
	dir = ca_main_dir(dir);
	if (ca_store_open(dir, 0, &st, err, sizeof(err)) != 0) {
		ca_main_errf("%s", err);
		goto out;
	}
	for (i = 0; i < st->index.n; i++)
		if ((int)strlen(st->index.v[i].name) > w)
			w = (int)strlen(st->index.v[i].name);
	now = (int64_t)time(NULL);
	printf("%-*s  %-6s  %-*s  %-10s  %s\n", CA_LIST_SERIAL_WIDTH, "SERIAL",
	    "ROLE", w, "NAME", "EXPIRES", "STATUS");
	for (i = 0; i < st->index.n; i++) {
		e = &st->index.v[i];
		if (e->status == CA_STATUS_REVOKED)
			state = "revoked";
		else if (e->not_after <= now)
			state = "expired";
		else
			state = "valid";
		ca_main_date(e->not_after, date);
		printf("%-*.*s  %-6s  %-*s  %-10s  %s\n", CA_LIST_SERIAL_WIDTH,
		    CA_LIST_SERIAL_WIDTH, e->serial,
		    identity_role_name(e->role), w, e->name, date, state);
	}
	status = CA_EXIT_OK;
out:
	ca_store_free(st);
	return status;
}

static void
ca_main_usage(FILE *fp)
{
	size_t i;

	fprintf(fp, "usage: netport ca COMMAND [OPTIONS]\n\n"
	    "The netport certificate authority: issues the certificates that "
	    "carry each\nportal's, server's and relay's identity, and "
	    "revokes them.\n\ncommands:\n");
	for (i = 0; i < sizeof(ca_cmds) / sizeof(ca_cmds[0]); i++)
		fprintf(fp, "  %-8s %s\n", ca_cmds[i].name, ca_cmds[i].summary);
	fprintf(fp, "\nEvery command takes --dir DIR (default: $" CA_DIR_ENV
	    ", else ./" CA_DIR_DEFAULT ")\nand --help.\n");
}

int
ca_main(int argc, char **argv)
{
	size_t i;

	if (argc < 2) {
		ca_main_usage(stderr);
		return CA_EXIT_USAGE;
	}
	if (strcmp(argv[1], "-h") == 0 || strcmp(argv[1], "--help") == 0 ||
	    strcmp(argv[1], "help") == 0) {
		ca_main_usage(stdout);
		return CA_EXIT_OK;
	}
	for (i = 0; i < sizeof(ca_cmds) / sizeof(ca_cmds[0]); i++)
		if (strcmp(argv[1], ca_cmds[i].name) == 0)
			return ca_cmds[i].run(argc - 1, argv + 1);
	ca_main_errf("unknown command '%s' (see 'netport ca --help')",
	    argv[1]);
	return CA_EXIT_USAGE;
}

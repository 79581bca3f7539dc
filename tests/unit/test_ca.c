/* SPDX-License-Identifier: MIT */
/*
 * The CA's pure parts: the index codec (every field validated, corrupt
 * lines reported as PATH:LINE), the checks on names and SANs, and the CRL
 * built from an index.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/bn.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include "ca/ca_cert.h"
#include "ca/ca_crl.h"
#include "ca/ca_index.h"
#include "core/err.h"
#include "t.h"

#define T_LINE_A	"0A1B\tportal\tcam-17\t1700000000\t1731536000\tV\t-\n"
#define T_LINE_B	"FF\trelay\tr1\t1700000000\t1731536000\tR\t1710000000\n"

static char t_err[256];

/* Parses text and returns the error code; t_err holds the message. */
static int
t_parse(const char *text, struct ca_index *idx)
{
	t_err[0] = '\0';
	ca_index_init(idx);
	return ca_index_parse(idx, text, strlen(text), "D/index", t_err,
	    sizeof(t_err));
}

/* Expects text to be refused with exactly this message. */
#define T_BAD(text, msg) do {						\
	struct ca_index t_idx_;						\
	T_EQ_INT(t_parse((text), &t_idx_), NP_ECONFIG);			\
	T_EQ_STR(t_err, (msg));						\
	T_EQ_INT(t_idx_.n, 0);						\
	T_ASSERT(t_idx_.v == NULL);					\
} while (0)

T_CASE(index_parses_valid_and_revoked)
{
	struct ca_index idx;

	T_EQ_INT(t_parse(T_LINE_A T_LINE_B, &idx), 0);
	T_EQ_INT(idx.n, 2);
	T_EQ_STR(idx.v[0].serial, "0A1B");
	T_EQ_INT(idx.v[0].role, NP_ROLE_PORTAL);
	T_EQ_STR(idx.v[0].name, "cam-17");
	T_EQ_INT(idx.v[0].not_before, 1700000000);
	T_EQ_INT(idx.v[0].not_after, 1731536000);
	T_EQ_INT(idx.v[0].status, CA_STATUS_VALID);
	T_EQ_INT(idx.v[0].revoked_at, 0);
	T_EQ_INT(idx.v[1].status, CA_STATUS_REVOKED);
	T_EQ_INT(idx.v[1].revoked_at, 1710000000);
	T_EQ_INT(ca_index_find_serial(&idx, "FF"), 1);
	T_EQ_INT(ca_index_find_serial(&idx, "EE"), -1);
	ca_index_free(&idx);
}

T_CASE(index_empty_is_fine)
{
	struct ca_index idx;

	T_EQ_INT(t_parse("", &idx), 0);
	T_EQ_INT(idx.n, 0);
	ca_index_free(&idx);
}

T_CASE(index_format_roundtrips)
{
	struct ca_index idx;
	size_t len;
	char *text;

	T_EQ_INT(t_parse(T_LINE_A T_LINE_B, &idx), 0);
	T_EQ_INT(ca_index_format(&idx, &text, &len), 0);
	T_EQ_STR(text, T_LINE_A T_LINE_B);
	T_EQ_INT(len, strlen(T_LINE_A T_LINE_B));
	free(text);
	ca_index_free(&idx);
}

T_CASE(index_reports_line_of_corruption)
{
	T_BAD(T_LINE_A "0A1C\tportal\tx\t1\t2\tV\n",
	    "D/index:2: only 6 fields; expected 7 separated by tabs");
	T_BAD(T_LINE_A T_LINE_B "AB\tportal\tx\t1\t2\tV\t-\t\n",
	    "D/index:3: more than 7 fields; expected 7 separated by tabs");
	T_BAD("\n", "D/index:1: empty line");
	T_BAD("AB portal x 1 2 V -\n",
	    "D/index:1: only 1 fields; expected 7 separated by tabs");
}

T_CASE(index_validates_every_field)
{
	T_BAD("ab\tportal\tx\t1\t2\tV\t-\n",
	    "D/index:1: serial: expected 1 to 40 upper-case hex digits");
	T_BAD("0123456789ABCDEF0123456789ABCDEF0123456789\tportal\tx\t1\t2\t"
	    "V\t-\n",
	    "D/index:1: serial: expected 1 to 40 upper-case hex digits");
	T_BAD("AB\tadmin\tx\t1\t2\tV\t-\n",
	    "D/index:1: role: expected portal, server or relay");
	T_BAD("AB\tportal\tX\t1\t2\tV\t-\n",
	    "D/index:1: name: expected 1 to 63 characters from a-z, 0-9, "
	    "'.', '_' and '-', starting and ending with a letter or digit");
	T_BAD("AB\tportal\tx\t-1\t2\tV\t-\n",
	    "D/index:1: not-before: expected unix seconds");
	T_BAD("AB\tportal\tx\t01\t2\tV\t-\n",
	    "D/index:1: not-before: expected unix seconds");
	T_BAD("AB\tportal\tx\t1\t99999999999999999999\tV\t-\n",
	    "D/index:1: not-after: expected unix seconds");
	T_BAD("AB\tportal\tx\t1\t2x\tV\t-\n",
	    "D/index:1: not-after: expected unix seconds");
	T_BAD("AB\tportal\tx\t5\t5\tV\t-\n",
	    "D/index:1: not-after: must be later than not-before");
	T_BAD("AB\tportal\tx\t1\t2\tv\t-\n",
	    "D/index:1: status: expected V (valid) or R (revoked)");
	T_BAD("AB\tportal\tx\t1\t2\tVR\t-\n",
	    "D/index:1: status: expected V (valid) or R (revoked)");
	T_BAD("AB\tportal\tx\t1\t2\tV\t7\n",
	    "D/index:1: revocation time: expected '-' for a valid "
	    "certificate");
	T_BAD("AB\tportal\tx\t1\t2\tR\t-\n",
	    "D/index:1: revocation time: expected unix seconds for a revoked "
	    "certificate");
	T_BAD("AB\tportal\tx\t1\t2\tR\t0\n",
	    "D/index:1: revocation time: expected unix seconds for a revoked "
	    "certificate");
	T_BAD("AB\tportal\t\t1\t2\tV\t-\n", "D/index:1: name: empty field");
}

T_CASE(index_refuses_duplicates_and_cut_files)
{
	T_BAD(T_LINE_A T_LINE_B T_LINE_A,
	    "D/index:3: serial 0A1B already appears on line 1");
	T_BAD("AB\tportal\tx\t1\t2\tV\t-",
	    "D/index:1: last line has no newline (truncated file?)");
}

T_CASE(index_bounds_line_length)
{
	char line[CA_INDEX_LINE_MAX + 3];
	struct ca_index idx;

	memset(line, 'A', sizeof(line) - 2);
	line[sizeof(line) - 2] = '\n';
	line[sizeof(line) - 1] = '\0';
	T_EQ_INT(t_parse(line, &idx), NP_ECONFIG);
	T_EQ_STR(t_err, "D/index:1: line longer than 256 bytes");
}

T_CASE(index_refuses_nul_bytes)
{
	static const char text[] = "AB\tportal\tx\0\t1\t2\tV\t-\n";
	struct ca_index idx;

	ca_index_init(&idx);
	T_EQ_INT(ca_index_parse(&idx, text, sizeof(text) - 1, "D/index",
	    t_err, sizeof(t_err)), NP_ECONFIG);
	T_EQ_STR(t_err, "D/index:1: NUL byte in the line");
}

T_CASE(entry_check_matches_parser)
{
	struct ca_entry e;

	memset(&e, 0, sizeof(e));
	snprintf(e.serial, sizeof(e.serial), "01");
	e.role = NP_ROLE_SERVER;
	snprintf(e.name, sizeof(e.name), "hub");
	e.not_before = 1;
	e.not_after = 2;
	T_EQ_INT(ca_index_entry_check(&e, t_err, sizeof(t_err)), 0);
	e.status = CA_STATUS_REVOKED;
	T_EQ_INT(ca_index_entry_check(&e, t_err, sizeof(t_err)),
	    NP_ECONFIG);
	e.revoked_at = 3;
	T_EQ_INT(ca_index_entry_check(&e, t_err, sizeof(t_err)), 0);
	e.role = NP_ROLE_NONE;
	T_EQ_INT(ca_index_entry_check(&e, t_err, sizeof(t_err)),
	    NP_ECONFIG);
	T_EQ_STR(t_err, "role: expected portal, server or relay");
}

T_CASE(dns_names_checked)
{
	char long_label[80];

	T_EQ_INT(ca_cert_dns_check("hub.example.com"), 0);
	T_EQ_INT(ca_cert_dns_check("a"), 0);
	T_EQ_INT(ca_cert_dns_check("x-1.Example"), 0);
	T_EQ_INT(ca_cert_dns_check(""), NP_ENAME);
	T_EQ_INT(ca_cert_dns_check("a..b"), NP_ENAME);
	T_EQ_INT(ca_cert_dns_check(".a"), NP_ENAME);
	T_EQ_INT(ca_cert_dns_check("a."), NP_ENAME);
	T_EQ_INT(ca_cert_dns_check("-a.b"), NP_ENAME);
	T_EQ_INT(ca_cert_dns_check("a-.b"), NP_ENAME);
	T_EQ_INT(ca_cert_dns_check("*.example"), NP_ENAME);
	T_EQ_INT(ca_cert_dns_check("a b"), NP_ENAME);
	T_EQ_INT(ca_cert_dns_check("a,URI:x"), NP_ENAME);
	memset(long_label, 'a', 64);
	long_label[64] = '\0';
	T_EQ_INT(ca_cert_dns_check(long_label), NP_ENAME);
	long_label[63] = '\0';
	T_EQ_INT(ca_cert_dns_check(long_label), 0);
}

T_CASE(ip_and_cn_checked)
{
	T_EQ_INT(ca_cert_ip_check("10.0.0.1"), 0);
	T_EQ_INT(ca_cert_ip_check("::1"), 0);
	T_EQ_INT(ca_cert_ip_check("fe80::1:2"), 0);
	T_EQ_INT(ca_cert_ip_check("10.0.0"), NP_ENAME);
	T_EQ_INT(ca_cert_ip_check("host"), NP_ENAME);
	T_EQ_INT(ca_cert_ip_check("10.0.0.1/24"), NP_ENAME);
	T_EQ_INT(ca_cert_cn_check("netport CA"), 0);
	T_EQ_INT(ca_cert_cn_check(""), NP_ENAME);
	T_EQ_INT(ca_cert_cn_check(" lead"), NP_ENAME);
	T_EQ_INT(ca_cert_cn_check("tab\there"), NP_ENAME);
	T_EQ_INT(ca_cert_cn_check("0123456789012345678901234567890123456789"
	    "012345678901234567890123456789"), NP_ENAME);
}

T_CASE(issue_and_crl_in_memory)
{
	char hex[CA_SERIAL_HEX_MAX + 1];
	EVP_PKEY *cakey = NULL, *key = NULL;
	X509 *ca = NULL, *leaf = NULL;
	X509_CRL *crl = NULL;
	X509_REVOKED *rev = NULL;
	ASN1_INTEGER *num;
	struct ca_cert_req req;
	struct ca_index idx;
	struct ca_entry e;
	char *dns[] = { "hub.example" };
	char *ip[] = { "192.0.2.7" };

	ca_index_init(&idx);
	T_EQ_INT(ca_cert_keygen(&cakey), 0);
	T_EQ_INT(ca_cert_keygen(&key), 0);
	T_EQ_INT(ca_cert_make_ca(cakey, "Unit CA", 1000, 2000000000, &ca,
	    t_err, sizeof(t_err)), 0);
	T_EQ_INT(X509_check_ca(ca), 1);

	memset(&req, 0, sizeof(req));
	T_EQ_INT(identity_set(&req.id, NP_ROLE_SERVER, "hub"), 0);
	req.not_before = 1000;
	req.not_after = 1999999999;
	req.dns = dns;
	req.ndns = 1;
	req.ip = ip;
	req.nip = 1;
	T_EQ_INT(ca_cert_issue(ca, cakey, &req, key, &idx, &leaf, t_err,
	    sizeof(t_err)), 0);
	T_EQ_INT(X509_check_issued(ca, leaf), X509_V_OK);
	T_EQ_INT(X509_check_host(leaf, "hub.example", 0, 0, NULL), 1);
	T_EQ_INT(X509_check_ip_asc(leaf, "192.0.2.7", 0), 1);
	T_EQ_INT(X509_check_purpose(leaf, X509_PURPOSE_SSL_CLIENT, 0), 1);
	T_EQ_INT(X509_check_purpose(leaf, X509_PURPOSE_SSL_SERVER, 0), 1);
	T_EQ_INT(ca_cert_serial_hex(leaf, hex), 0);
	T_ASSERT(strlen(hex) >= 2 && strlen(hex) <= 32);

	memset(&e, 0, sizeof(e));
	snprintf(e.serial, sizeof(e.serial), "%s", hex);
	e.role = NP_ROLE_SERVER;
	snprintf(e.name, sizeof(e.name), "hub");
	e.not_before = req.not_before;
	e.not_after = req.not_after;
	e.status = CA_STATUS_REVOKED;
	e.revoked_at = 1500000000;
	T_EQ_INT(ca_index_add(&idx, &e), 0);
	T_EQ_INT(ca_crl_make(ca, cakey, &idx, 7, 1600000000, 1700000000,
	    &crl, t_err, sizeof(t_err)), 0);
	T_EQ_INT(X509_CRL_verify(crl, X509_get0_pubkey(ca)), 1);
	T_EQ_INT(X509_CRL_get_version(crl), X509_CRL_VERSION_2);
	T_EQ_INT(X509_CRL_get0_by_cert(crl, &rev, leaf), 1);
	num = X509_CRL_get_ext_d2i(crl, NID_crl_number, NULL, NULL);
	T_ASSERT(num != NULL);
	T_EQ_INT(ASN1_INTEGER_get(num), 7);
	ASN1_INTEGER_free(num);

	X509_CRL_free(crl);
	X509_free(leaf);
	X509_free(ca);
	EVP_PKEY_free(key);
	EVP_PKEY_free(cakey);
	ca_index_free(&idx);
}

T_CASE(issue_refuses_bad_request)
{
	EVP_PKEY *key = NULL;
	X509 *ca = NULL, *leaf = NULL;
	struct ca_cert_req req;

	T_EQ_INT(ca_cert_keygen(&key), 0);
	T_EQ_INT(ca_cert_make_ca(key, "Unit CA", 1000, 2000000000, &ca,
	    t_err, sizeof(t_err)), 0);
	memset(&req, 0, sizeof(req));
	req.not_before = 1000;
	req.not_after = 2000;
	T_EQ_INT(ca_cert_issue(ca, key, &req, key, NULL, &leaf, t_err,
	    sizeof(t_err)), NP_ENAME);
	T_ASSERT(leaf == NULL);
	X509_free(ca);
	EVP_PKEY_free(key);
}

int
main(void)
{
	T_RUN(index_parses_valid_and_revoked);
	T_RUN(index_empty_is_fine);
	T_RUN(index_format_roundtrips);
	T_RUN(index_reports_line_of_corruption);
	T_RUN(index_validates_every_field);
	T_RUN(index_refuses_duplicates_and_cut_files);
	T_RUN(index_bounds_line_length);
	T_RUN(index_refuses_nul_bytes);
	T_RUN(entry_check_matches_parser);
	T_RUN(dns_names_checked);
	T_RUN(ip_and_cn_checked);
	T_RUN(issue_and_crl_in_memory);
	T_RUN(issue_refuses_bad_request);
	return t_done();
}

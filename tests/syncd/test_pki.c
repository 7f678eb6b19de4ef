/*
 * test_pki.c — unit tests for syncd/pki: the CA and server certificates parse, chain,
 * carry the right SAN / key usage / EKU, keys are 0600, an existing CA is never
 * replaced, bad names are refused, and issued certificates honour their validity.
 */
#include "pki.h"

#include "fieldsync.h"
#include "tassert.h"

#include <dirent.h>
#include <limits.h>
#include <mbedtls/asn1.h>
#include <mbedtls/oid.h>
#include <mbedtls/x509_crt.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

static char *make_tmpdir(char *buf, size_t len)
{
    const char *base = getenv("TMPDIR");

    snprintf(buf, len, "%s/fsy-pki-test.XXXXXX", base && *base ? base : "/tmp");
    return mkdtemp(buf);
}

static void remove_tree(const char *dir)
{
    DIR *d = opendir(dir);
    struct dirent *e;
    char path[PATH_MAX];

    if (!d)
        return;
    while ((e = readdir(d)) != NULL) {
        if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0)
            continue;
        snprintf(path, sizeof(path), "%s/%s", dir, e->d_name);
        unlink(path);
    }
    closedir(d);
    rmdir(dir);
}

static int load(mbedtls_x509_crt *crt, const char *dir, const char *name)
{
    char path[PATH_MAX];

    snprintf(path, sizeof(path), "%s/%s", dir, name);
    return mbedtls_x509_crt_parse_file(crt, path);
}

static unsigned file_mode(const char *dir, const char *name)
{
    char path[PATH_MAX];
    struct stat st;

    snprintf(path, sizeof(path), "%s/%s", dir, name);
    return stat(path, &st) == 0 ? (unsigned)(st.st_mode & 0777) : 0;
}

static void test_pki__create_and_verify(void)
{
    static const char *const dns[] = {"sync.example.com", "LOCALHOST", NULL};
    static const char *const ips[] = {"10.0.0.5", "::1", "127.0.0.1", NULL};
    char dir[PATH_MAX], err[256] = "";
    mbedtls_x509_crt ca, srv;
    const mbedtls_x509_sequence *san;
    uint32_t flags = 0;
    int n_dns = 0, n_ip4 = 0, n_ip6 = 0;

    T_CHECK(make_tmpdir(dir, sizeof(dir)) != NULL);
    mbedtls_x509_crt_init(&ca);
    mbedtls_x509_crt_init(&srv);
    if (fsy__pki_create(dir, dns, ips, err, sizeof(err)) != FSY_OK) {
        fprintf(stderr, "fsy__pki_create: %s\n", err);
        t_case_failed = 1;
        goto done;
    }
    if (file_mode(dir, FSY_PKI_CA_KEY) != 0600 || file_mode(dir, FSY_PKI_SERVER_KEY) != 0600 ||
        file_mode(dir, FSY_PKI_CA_CERT) != 0644 || load(&ca, dir, FSY_PKI_CA_CERT) != 0 ||
        load(&srv, dir, FSY_PKI_SERVER_CERT) != 0) {
        fprintf(stderr, "bad modes or unparsable certificates\n");
        t_case_failed = 1;
        goto done;
    }
    if (!ca.ca_istrue || srv.ca_istrue || ca.max_pathlen != 1 || /* mbedTLS stores pathlen+1 */
        mbedtls_x509_crt_check_key_usage(&ca, MBEDTLS_X509_KU_KEY_CERT_SIGN) != 0 ||
        mbedtls_x509_crt_check_key_usage(&srv, MBEDTLS_X509_KU_DIGITAL_SIGNATURE) != 0 ||
        mbedtls_x509_crt_check_extended_key_usage(&srv, MBEDTLS_OID_SERVER_AUTH,
                                                  MBEDTLS_OID_SIZE(MBEDTLS_OID_SERVER_AUTH)) != 0 ||
        !mbedtls_pk_can_do(&srv.pk, MBEDTLS_PK_ECKEY)) {
        fprintf(stderr, "wrong basic constraints, key usage, EKU or key type\n");
        t_case_failed = 1;
        goto done;
    }
    for (san = &srv.subject_alt_names; san && san->buf.p; san = san->next) {
        if (san->buf.tag == (MBEDTLS_ASN1_CONTEXT_SPECIFIC | 2))
            n_dns++;
        else if (san->buf.tag == (MBEDTLS_ASN1_CONTEXT_SPECIFIC | 7) && san->buf.len == 4)
            n_ip4++;
        else if (san->buf.tag == (MBEDTLS_ASN1_CONTEXT_SPECIFIC | 7) && san->buf.len == 16)
            n_ip6++;
    }
    /* localhost + sync.example.com (LOCALHOST is a duplicate); 127.0.0.1 + 10.0.0.5; ::1 */
    if (n_dns != 2 || n_ip4 != 2 || n_ip6 != 1) {
        fprintf(stderr, "SAN has %d DNS, %d IPv4, %d IPv6 names\n", n_dns, n_ip4, n_ip6);
        t_case_failed = 1;
        goto done;
    }
    if (mbedtls_x509_crt_verify(&srv, &ca, NULL, "localhost", &flags, NULL, NULL) != 0 ||
        mbedtls_x509_crt_verify(&srv, &ca, NULL, "sync.example.com", &flags, NULL, NULL) != 0) {
        fprintf(stderr, "chain does not verify: flags 0x%x\n", (unsigned)flags);
        t_case_failed = 1;
        goto done;
    }
    if (mbedtls_x509_crt_verify(&srv, &ca, NULL, "evil.example.com", &flags, NULL, NULL) == 0 ||
        !(flags & MBEDTLS_X509_BADCERT_CN_MISMATCH)) {
        fprintf(stderr, "a name outside the SAN verified\n");
        t_case_failed = 1;
        goto done;
    }

done:
    mbedtls_x509_crt_free(&srv);
    mbedtls_x509_crt_free(&ca);
    remove_tree(dir);
}

static void test_pki__existing_ca_never_replaced(void)
{
    char dir[PATH_MAX], err[256] = "";
    int first, second;

    T_CHECK(make_tmpdir(dir, sizeof(dir)) != NULL);
    first = fsy__pki_create(dir, NULL, NULL, err, sizeof(err));
    second = fsy__pki_create(dir, NULL, NULL, err, sizeof(err));
    remove_tree(dir);
    T_EQ_INT(first, FSY_OK);
    T_EQ_INT(second, FSY_EINVAL);
    T_CHECK(strstr(err, "refusing") != NULL);
}

static void test_pki__bad_input(void)
{
    static const char *const bad_dns[] = {"bad name!", NULL};
    static const char *const bad_ip[] = {"300.1.1.1", NULL};
    char dir[PATH_MAX], err[256] = "";
    int rc_dns, rc_ip, rc_dir;

    T_CHECK(make_tmpdir(dir, sizeof(dir)) != NULL);
    rc_dns = fsy__pki_create(dir, bad_dns, NULL, err, sizeof(err));
    rc_ip = fsy__pki_create(dir, NULL, bad_ip, err, sizeof(err));
    T_CHECK(access(dir, F_OK) == 0);
    remove_tree(dir);
    rc_dir = fsy__pki_create(dir, NULL, NULL, err, sizeof(err)); /* gone now */
    T_EQ_INT(rc_dns, FSY_EINVAL);
    T_EQ_INT(rc_ip, FSY_EINVAL);
    T_EQ_INT(rc_dir, FSY_EINVAL);
    T_CHECK(strstr(err, "not a directory") != NULL);
}

/* Issue a certificate valid [now+nb, now+na) and return the verify flags against ca. */
static void issue_and_verify(const char *dir, int64_t nb, int64_t na, uint32_t *flags)
{
    char prefix[PATH_MAX], err[256] = "";
    mbedtls_x509_crt ca, srv;
    int64_t now = (int64_t)time(NULL);

    *flags = 0xffffffff;
    snprintf(prefix, sizeof(prefix), "%s/issued", dir);
    T_EQ_INT(fsy__pki_issue_server(dir, prefix, NULL, NULL, now + nb, now + na, err, sizeof(err)),
             FSY_OK);
    T_EQ_INT(file_mode(dir, "issued.key"), 0600);
    mbedtls_x509_crt_init(&ca);
    mbedtls_x509_crt_init(&srv);
    if (load(&ca, dir, FSY_PKI_CA_CERT) == 0 && load(&srv, dir, "issued.crt") == 0)
        mbedtls_x509_crt_verify(&srv, &ca, NULL, "localhost", flags, NULL, NULL);
    mbedtls_x509_crt_free(&srv);
    mbedtls_x509_crt_free(&ca);
}

static void test_pki__issue_with_validity(void)
{
    char dir[PATH_MAX], other[PATH_MAX], err[256] = "";
    uint32_t ok_flags, expired_flags, future_flags;
    int bad_range;
    mbedtls_x509_crt ca2, srv;
    uint32_t cross_flags = 0;
    int cross;

    T_CHECK(make_tmpdir(dir, sizeof(dir)) != NULL);
    T_CHECK(make_tmpdir(other, sizeof(other)) != NULL);
    if (fsy__pki_create(dir, NULL, NULL, err, sizeof(err)) != FSY_OK ||
        fsy__pki_create(other, NULL, NULL, err, sizeof(err)) != FSY_OK) {
        fprintf(stderr, "%s\n", err);
        t_case_failed = 1;
    }
    issue_and_verify(dir, -3600, 3600, &ok_flags);
    issue_and_verify(dir, -2 * 86400, -86400, &expired_flags);
    issue_and_verify(dir, 86400, 2 * 86400, &future_flags);
    bad_range =
        fsy__pki_issue_server(dir, "/nonexistent/x", NULL, NULL, 100, 100, err, sizeof(err));
    /* Another installation's CA does not vouch for this server. */
    mbedtls_x509_crt_init(&ca2);
    mbedtls_x509_crt_init(&srv);
    cross = load(&ca2, other, FSY_PKI_CA_CERT) == 0 && load(&srv, dir, FSY_PKI_SERVER_CERT) == 0
                ? mbedtls_x509_crt_verify(&srv, &ca2, NULL, "localhost", &cross_flags, NULL, NULL)
                : 0;
    mbedtls_x509_crt_free(&srv);
    mbedtls_x509_crt_free(&ca2);
    remove_tree(dir);
    remove_tree(other);
    if (t_case_failed)
        return;
    T_EQ_INT(ok_flags, 0);
    T_CHECK(expired_flags & MBEDTLS_X509_BADCERT_EXPIRED);
    T_CHECK(future_flags & MBEDTLS_X509_BADCERT_FUTURE);
    T_EQ_INT(bad_range, FSY_EINVAL);
    T_CHECK(cross != 0 && (cross_flags & MBEDTLS_X509_BADCERT_NOT_TRUSTED));
}

int main(void)
{
    T_RUN(test_pki__create_and_verify);
    T_RUN(test_pki__existing_ca_never_replaced);
    T_RUN(test_pki__bad_input);
    T_RUN(test_pki__issue_with_validity);
    return t_failed != 0;
}

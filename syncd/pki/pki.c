/*
 * pki.c — the daemon's private CA and server certificates, generated with mbedTLS 2.28.
 * That version has no setter for subjectAltName or extendedKeyUsage, so both extensions
 * are DER-encoded here with the asn1write functions. Called by `fieldsyncd init` and by
 * tests that need fresh, short-lived or expired certificates.
 */
#include "pki.h"

#include "fieldsync.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <mbedtls/asn1write.h>
#include <mbedtls/bignum.h>
#include <mbedtls/ctr_drbg.h>
#include <mbedtls/ecp.h>
#include <mbedtls/entropy.h>
#include <mbedtls/error.h>
#include <mbedtls/oid.h>
#include <mbedtls/pk.h>
#include <mbedtls/platform_util.h>
#include <mbedtls/x509_crt.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define PEM_MAX   4096 /* a P-256 key is ~230 bytes of PEM, a certificate ~900 */
#define EXT_MAX   4096 /* DER of the SAN extension */
#define MAX_NAMES 32   /* per kind (DNS, IP), defaults included */
#define DN_MAX    256

typedef struct names {
    const char *dns[MAX_NAMES];
    size_t n_dns;
    unsigned char ip[MAX_NAMES][16]; /* 4 bytes for IPv4, 16 for IPv6 */
    size_t ip_len[MAX_NAMES];
    size_t n_ip;
} names;

__attribute__((format(printf, 5, 6))) static int pki_err(char *err, size_t errlen, int code,
                                                         int mbed_ret, const char *fmt, ...)
{
    va_list ap;
    size_t n;

    if (!err || !errlen)
        return code;
    va_start(ap, fmt);
    vsnprintf(err, errlen, fmt, ap);
    va_end(ap);
    n = strlen(err);
    if (mbed_ret != 0 && n + 3 < errlen) {
        snprintf(err + n, errlen - n, ": ");
        mbedtls_strerror(mbed_ret, err + n + 2, errlen - n - 2);
    }
    return code;
}

/* Letters, digits, '-' and '.', optionally one leading "*." label; 1..253 bytes. */
static bool is_dns_name(const char *s)
{
    size_t len = strlen(s), i;

    if (len == 0 || len > 253 || s[0] == '.' || s[len - 1] == '.')
        return false;
    for (i = 0; i < len; i++) {
        char c = s[i];

        if (c == '*' && i == 0 && s[1] == '.')
            continue;
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              c == '-' || c == '.'))
            return false;
    }
    return true;
}

static int add_dns(names *n, const char *name, char *err, size_t errlen)
{
    size_t i;

    if (!is_dns_name(name))
        return pki_err(err, errlen, FSY_EINVAL, 0, "not a DNS name: \"%.64s\"", name);
    for (i = 0; i < n->n_dns; i++)
        if (strcasecmp(n->dns[i], name) == 0)
            return FSY_OK;
    if (n->n_dns == MAX_NAMES)
        return pki_err(err, errlen, FSY_EINVAL, 0, "more than %d DNS names", MAX_NAMES);
    n->dns[n->n_dns++] = name;
    return FSY_OK;
}

static int add_ip(names *n, const char *text, char *err, size_t errlen)
{
    unsigned char bin[16];
    size_t len, i;

    if (inet_pton(AF_INET, text, bin) == 1)
        len = 4;
    else if (inet_pton(AF_INET6, text, bin) == 1)
        len = 16;
    else
        return pki_err(err, errlen, FSY_EINVAL, 0, "not an IP address: \"%.64s\"", text);
    for (i = 0; i < n->n_ip; i++)
        if (n->ip_len[i] == len && memcmp(n->ip[i], bin, len) == 0)
            return FSY_OK;
    if (n->n_ip == MAX_NAMES)
        return pki_err(err, errlen, FSY_EINVAL, 0, "more than %d IP addresses", MAX_NAMES);
    memcpy(n->ip[n->n_ip], bin, len);
    n->ip_len[n->n_ip++] = len;
    return FSY_OK;
}

/* Defaults first, so a certificate always covers local access and tests. */
static int collect_names(names *n, const char *const *dns_names, const char *const *ips, char *err,
                         size_t errlen)
{
    int rc;

    memset(n, 0, sizeof(*n));
    rc = add_dns(n, "localhost", err, errlen);
    if (rc == FSY_OK)
        rc = add_ip(n, "127.0.0.1", err, errlen);
    for (; rc == FSY_OK && dns_names && *dns_names; dns_names++)
        rc = add_dns(n, *dns_names, err, errlen);
    for (; rc == FSY_OK && ips && *ips; ips++)
        rc = add_ip(n, *ips, err, errlen);
    return rc;
}

/*
 * SubjectAltName ::= SEQUENCE OF GeneralName, with dNSName [2] IA5String and
 * iPAddress [7] OCTET STRING (RFC 5280 4.2.1.6). asn1write fills the buffer backwards,
 * so the last name is written first. Returns the DER length, or a negative mbedTLS code.
 */
static int write_san(unsigned char *buf, size_t size, const names *n, unsigned char **der)
{
    unsigned char *p = buf + size;
    size_t len = 0, i;
    int ret;

    for (i = n->n_ip; i-- > 0;)
        MBEDTLS_ASN1_CHK_ADD(
            len, mbedtls_asn1_write_tagged_string(&p, buf, MBEDTLS_ASN1_CONTEXT_SPECIFIC | 7,
                                                  (const char *)n->ip[i], n->ip_len[i]));
    for (i = n->n_dns; i-- > 0;)
        MBEDTLS_ASN1_CHK_ADD(
            len, mbedtls_asn1_write_tagged_string(&p, buf, MBEDTLS_ASN1_CONTEXT_SPECIFIC | 2,
                                                  n->dns[i], strlen(n->dns[i])));
    MBEDTLS_ASN1_CHK_ADD(len, mbedtls_asn1_write_len(&p, buf, len));
    MBEDTLS_ASN1_CHK_ADD(
        len, mbedtls_asn1_write_tag(&p, buf, MBEDTLS_ASN1_CONSTRUCTED | MBEDTLS_ASN1_SEQUENCE));
    *der = p;
    return (int)len;
}

/* ExtKeyUsageSyntax ::= SEQUENCE OF KeyPurposeId: just id-kp-serverAuth. */
static int write_eku(unsigned char *buf, size_t size, unsigned char **der)
{
    unsigned char *p = buf + size;
    size_t len = 0;
    int ret;

    MBEDTLS_ASN1_CHK_ADD(len, mbedtls_asn1_write_oid(&p, buf, MBEDTLS_OID_SERVER_AUTH,
                                                     MBEDTLS_OID_SIZE(MBEDTLS_OID_SERVER_AUTH)));
    MBEDTLS_ASN1_CHK_ADD(len, mbedtls_asn1_write_len(&p, buf, len));
    MBEDTLS_ASN1_CHK_ADD(
        len, mbedtls_asn1_write_tag(&p, buf, MBEDTLS_ASN1_CONSTRUCTED | MBEDTLS_ASN1_SEQUENCE));
    *der = p;
    return (int)len;
}

/* X.509 time as mbedTLS wants it: "YYYYMMDDhhmmss", UTC. */
static bool format_time(char out[64], int64_t t)
{
    time_t tt = (time_t)t;
    struct tm tm;

    if (!gmtime_r(&tt, &tm) || tm.tm_year + 1900 < 1950 || tm.tm_year + 1900 > 9999)
        return false;
    snprintf(out, 64, "%04d%02d%02d%02d%02d%02d", tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday,
             tm.tm_hour, tm.tm_min, tm.tm_sec);
    return true;
}

static int gen_key(mbedtls_pk_context *key, mbedtls_ctr_drbg_context *drbg)
{
    int ret = mbedtls_pk_setup(key, mbedtls_pk_info_from_type(MBEDTLS_PK_ECKEY));

    if (ret == 0)
        ret = mbedtls_ecp_gen_key(MBEDTLS_ECP_DP_SECP256R1, mbedtls_pk_ec(*key),
                                  mbedtls_ctr_drbg_random, drbg);
    return ret;
}

typedef struct cert_spec {
    const char *subject;     /* "O=fieldsync,CN=..." */
    const char *issuer;      /* the CA's subject; equal to subject for the CA itself */
    mbedtls_pk_context *key; /* subject key */
    mbedtls_pk_context *ca;  /* issuer key */
    int64_t not_before;      /* Unix seconds */
    int64_t not_after;
    bool is_ca;
    const names *san; /* server only */
} cert_spec;

/* Build and sign one certificate into `pem` (NUL-terminated). */
static int make_cert(unsigned char *pem, size_t pem_size, const cert_spec *cs,
                     mbedtls_ctr_drbg_context *drbg, char *err, size_t errlen)
{
    mbedtls_x509write_cert crt;
    mbedtls_mpi serial;
    unsigned char serial_bin[16], ext[EXT_MAX], *der = NULL;
    char nb[64], na[64]; /* 15 used; the rest silences format-truncation */
    int ret, der_len, rc = FSY_ERROR;

    mbedtls_x509write_crt_init(&crt);
    mbedtls_mpi_init(&serial);
    if (!format_time(nb, cs->not_before) || !format_time(na, cs->not_after)) {
        rc = pki_err(err, errlen, FSY_EINVAL, 0, "validity outside years 1950..9999");
        goto done;
    }
    /* 128 random bits, top bit clear so the DER INTEGER is positive (RFC 5280 4.1.2.2). */
    ret = mbedtls_ctr_drbg_random(drbg, serial_bin, sizeof(serial_bin));
    if (ret != 0)
        goto crypto_fail;
    serial_bin[0] = (unsigned char)((serial_bin[0] & 0x7f) | 0x01);
    ret = mbedtls_mpi_read_binary(&serial, serial_bin, sizeof(serial_bin));
    if (ret != 0)
        goto crypto_fail;

    mbedtls_x509write_crt_set_version(&crt, MBEDTLS_X509_CRT_VERSION_3);
    mbedtls_x509write_crt_set_md_alg(&crt, MBEDTLS_MD_SHA256);
    mbedtls_x509write_crt_set_subject_key(&crt, cs->key);
    mbedtls_x509write_crt_set_issuer_key(&crt, cs->ca);
    ret = mbedtls_x509write_crt_set_subject_name(&crt, cs->subject);
    if (ret == 0)
        ret = mbedtls_x509write_crt_set_issuer_name(&crt, cs->issuer);
    if (ret == 0)
        ret = mbedtls_x509write_crt_set_serial(&crt, &serial);
    if (ret == 0)
        ret = mbedtls_x509write_crt_set_validity(&crt, nb, na);
    if (ret == 0) /* CAs sign only end-entity certificates: pathlen 0 */
        ret = mbedtls_x509write_crt_set_basic_constraints(&crt, cs->is_ca, cs->is_ca ? 0 : -1);
    if (ret == 0)
        ret = mbedtls_x509write_crt_set_subject_key_identifier(&crt);
    if (ret == 0)
        ret = mbedtls_x509write_crt_set_authority_key_identifier(&crt);
    if (ret == 0)
        ret = mbedtls_x509write_crt_set_key_usage(
            &crt, cs->is_ca ? MBEDTLS_X509_KU_KEY_CERT_SIGN | MBEDTLS_X509_KU_CRL_SIGN
                            : MBEDTLS_X509_KU_DIGITAL_SIGNATURE);
    if (ret != 0)
        goto crypto_fail;
    if (!cs->is_ca) {
        der_len = write_eku(ext, sizeof(ext), &der);
        ret = der_len < 0
                  ? der_len
                  : mbedtls_x509write_crt_set_extension(
                        &crt, MBEDTLS_OID_EXTENDED_KEY_USAGE,
                        MBEDTLS_OID_SIZE(MBEDTLS_OID_EXTENDED_KEY_USAGE), 0, der, (size_t)der_len);
        if (ret != 0)
            goto crypto_fail;
        der_len = write_san(ext, sizeof(ext), cs->san, &der);
        ret = der_len < 0
                  ? der_len
                  : mbedtls_x509write_crt_set_extension(
                        &crt, MBEDTLS_OID_SUBJECT_ALT_NAME,
                        MBEDTLS_OID_SIZE(MBEDTLS_OID_SUBJECT_ALT_NAME), 0, der, (size_t)der_len);
        if (ret != 0)
            goto crypto_fail;
    }
    ret = mbedtls_x509write_crt_pem(&crt, pem, pem_size, mbedtls_ctr_drbg_random, drbg);
    if (ret != 0)
        goto crypto_fail;
    rc = FSY_OK;
    goto done;

crypto_fail:
    rc = pki_err(err, errlen, ret == MBEDTLS_ERR_MPI_ALLOC_FAILED ? FSY_ENOMEM : FSY_ERROR, ret,
                 "cannot build the %s certificate", cs->is_ca ? "CA" : "server");
done:
    mbedtls_mpi_free(&serial);
    mbedtls_x509write_crt_free(&crt);
    return rc;
}

static int join(char *out, size_t out_len, const char *a, const char *b, const char *c, char *err,
                size_t errlen)
{
    if (snprintf(out, out_len, "%s%s%s", a, b, c) >= (int)out_len)
        return pki_err(err, errlen, FSY_EINVAL, 0, "path too long: %.64s...", a);
    return FSY_OK;
}

/* Write via a temporary file and rename, so a crash never leaves half a key. */
static int write_file(const char *path, const unsigned char *data, size_t len, mode_t mode,
                      char *err, size_t errlen)
{
    char tmp[PATH_MAX];
    size_t off = 0;
    int fd = -1, rc;

    rc = join(tmp, sizeof(tmp), path, ".tmp", "", err, errlen);
    if (rc != FSY_OK)
        return rc;
    unlink(tmp); /* left over by an earlier crash */
    fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, mode);
    if (fd < 0 || fchmod(fd, mode) != 0) /* fchmod: the umask must not widen or narrow it */
        goto io_fail;
    while (off < len) {
        ssize_t n = write(fd, data + off, len - off);

        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            goto io_fail;
        off += (size_t)n;
    }
    if (fsync(fd) != 0 || close(fd) != 0) {
        fd = -1;
        goto io_fail;
    }
    fd = -1;
    if (rename(tmp, path) != 0)
        goto io_fail;
    return FSY_OK;

io_fail:
    rc = pki_err(err, errlen, FSY_ERROR, 0, "cannot write %s: %s", path, strerror(errno));
    if (fd >= 0)
        close(fd);
    unlink(tmp);
    return rc;
}

static void sync_dir(const char *dir)
{
    int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);

    if (fd >= 0) { /* makes the renames durable; best effort */
        fsync(fd);
        close(fd);
    }
}

typedef struct rng {
    mbedtls_entropy_context entropy;
    mbedtls_ctr_drbg_context drbg;
} rng;

static int rng_init(rng *r, char *err, size_t errlen)
{
    static const char pers[] = "fieldsyncd-pki";
    int ret;

    mbedtls_entropy_init(&r->entropy);
    mbedtls_ctr_drbg_init(&r->drbg);
    ret = mbedtls_ctr_drbg_seed(&r->drbg, mbedtls_entropy_func, &r->entropy,
                                (const unsigned char *)pers, sizeof(pers) - 1);
    if (ret != 0)
        return pki_err(err, errlen, FSY_ERROR, ret, "cannot seed the RNG");
    return FSY_OK;
}

static void rng_free(rng *r)
{
    mbedtls_ctr_drbg_free(&r->drbg);
    mbedtls_entropy_free(&r->entropy);
}

/* A new server key and certificate, as PEM, signed by ca_key. */
static int issue_server_pem(unsigned char *key_pem, unsigned char *crt_pem, rng *r,
                            mbedtls_pk_context *ca_key, const char *ca_subject, const names *san,
                            int64_t not_before, int64_t not_after, char *err, size_t errlen)
{
    mbedtls_pk_context key;
    cert_spec cs;
    int ret, rc;

    mbedtls_pk_init(&key);
    ret = gen_key(&key, &r->drbg);
    if (ret == 0)
        ret = mbedtls_pk_write_key_pem(&key, key_pem, PEM_MAX);
    if (ret != 0) {
        rc = pki_err(err, errlen, FSY_ERROR, ret, "cannot generate the server key");
        goto done;
    }
    memset(&cs, 0, sizeof(cs));
    cs.subject = "O=fieldsync,CN=fieldsyncd";
    cs.issuer = ca_subject;
    cs.key = &key;
    cs.ca = ca_key;
    cs.not_before = not_before;
    cs.not_after = not_after;
    cs.san = san;
    rc = make_cert(crt_pem, PEM_MAX, &cs, &r->drbg, err, errlen);

done:
    mbedtls_pk_free(&key);
    return rc;
}

static bool exists(const char *path)
{
    struct stat st;

    return lstat(path, &st) == 0;
}

int fsy__pki_create(const char *dir, const char *const *dns_names, const char *const *ips,
                    char *err, size_t errlen)
{
    char ca_key_path[PATH_MAX], ca_crt_path[PATH_MAX], key_path[PATH_MAX], crt_path[PATH_MAX];
    char ca_subject[DN_MAX];
    unsigned char ca_key_pem[PEM_MAX], ca_crt_pem[PEM_MAX], key_pem[PEM_MAX], crt_pem[PEM_MAX];
    unsigned char tag[4];
    mbedtls_pk_context ca_key;
    struct stat st;
    names san;
    cert_spec cs;
    rng r;
    int64_t now = (int64_t)time(NULL);
    int ret, rc;

    mbedtls_pk_init(&ca_key);
    memset(ca_key_pem, 0, sizeof(ca_key_pem));
    memset(key_pem, 0, sizeof(key_pem));
    rc = rng_init(&r, err, errlen);
    if (rc != FSY_OK)
        goto done;
    if (!dir || stat(dir, &st) != 0 || !S_ISDIR(st.st_mode)) {
        rc = pki_err(err, errlen, FSY_EINVAL, 0, "not a directory: %s", dir ? dir : "(null)");
        goto done;
    }
    rc = collect_names(&san, dns_names, ips, err, errlen);
    if (rc == FSY_OK)
        rc = join(ca_key_path, sizeof(ca_key_path), dir, "/", FSY_PKI_CA_KEY, err, errlen);
    if (rc == FSY_OK)
        rc = join(ca_crt_path, sizeof(ca_crt_path), dir, "/", FSY_PKI_CA_CERT, err, errlen);
    if (rc == FSY_OK)
        rc = join(key_path, sizeof(key_path), dir, "/", FSY_PKI_SERVER_KEY, err, errlen);
    if (rc == FSY_OK)
        rc = join(crt_path, sizeof(crt_path), dir, "/", FSY_PKI_SERVER_CERT, err, errlen);
    if (rc != FSY_OK)
        goto done;
    if (exists(ca_key_path) || exists(ca_crt_path)) {
        /* Devices pin this CA: a new one would cut every enrolled tablet off. */
        rc = pki_err(err, errlen, FSY_EINVAL, 0,
                     "%s already holds a CA; refusing to replace it (devices pin it)", dir);
        goto done;
    }

    /* A random tag in the CA name tells installations apart in tablet logs. */
    ret = mbedtls_ctr_drbg_random(&r.drbg, tag, sizeof(tag));
    if (ret == 0)
        ret = gen_key(&ca_key, &r.drbg);
    if (ret == 0)
        ret = mbedtls_pk_write_key_pem(&ca_key, ca_key_pem, sizeof(ca_key_pem));
    if (ret != 0) {
        rc = pki_err(err, errlen, FSY_ERROR, ret, "cannot generate the CA key");
        goto done;
    }
    snprintf(ca_subject, sizeof(ca_subject), "O=fieldsync,CN=fieldsyncd CA %02x%02x%02x%02x",
             tag[0], tag[1], tag[2], tag[3]);
    memset(&cs, 0, sizeof(cs));
    cs.subject = ca_subject;
    cs.issuer = ca_subject;
    cs.key = &ca_key;
    cs.ca = &ca_key;
    cs.not_before = now - FSY_PKI_BACKDATE_SECS;
    cs.not_after = now + (int64_t)FSY_PKI_CA_DAYS * 86400;
    cs.is_ca = true;
    rc = make_cert(ca_crt_pem, sizeof(ca_crt_pem), &cs, &r.drbg, err, errlen);
    if (rc == FSY_OK)
        rc = issue_server_pem(key_pem, crt_pem, &r, &ca_key, ca_subject, &san,
                              now - FSY_PKI_BACKDATE_SECS,
                              now + (int64_t)FSY_PKI_SERVER_DAYS * 86400, err, errlen);
    /* Everything is generated before anything is written: no half-made directory. */
    if (rc == FSY_OK)
        rc = write_file(ca_key_path, ca_key_pem, strlen((char *)ca_key_pem), 0600, err, errlen);
    if (rc == FSY_OK)
        rc = write_file(ca_crt_path, ca_crt_pem, strlen((char *)ca_crt_pem), 0644, err, errlen);
    if (rc == FSY_OK)
        rc = write_file(key_path, key_pem, strlen((char *)key_pem), 0600, err, errlen);
    if (rc == FSY_OK)
        rc = write_file(crt_path, crt_pem, strlen((char *)crt_pem), 0644, err, errlen);
    if (rc == FSY_OK)
        sync_dir(dir);

done:
    mbedtls_platform_zeroize(ca_key_pem, sizeof(ca_key_pem));
    mbedtls_platform_zeroize(key_pem, sizeof(key_pem));
    mbedtls_pk_free(&ca_key);
    rng_free(&r);
    return rc;
}

int fsy__pki_issue_server(const char *ca_dir, const char *out_prefix, const char *const *dns_names,
                          const char *const *ips, int64_t not_before, int64_t not_after, char *err,
                          size_t errlen)
{
    char ca_key_path[PATH_MAX], ca_crt_path[PATH_MAX], key_path[PATH_MAX], crt_path[PATH_MAX];
    char ca_subject[DN_MAX];
    unsigned char key_pem[PEM_MAX], crt_pem[PEM_MAX];
    mbedtls_pk_context ca_key;
    mbedtls_x509_crt ca_crt;
    names san;
    rng r;
    int ret, rc;

    mbedtls_pk_init(&ca_key);
    mbedtls_x509_crt_init(&ca_crt);
    memset(key_pem, 0, sizeof(key_pem));
    rc = rng_init(&r, err, errlen);
    if (rc != FSY_OK)
        goto done;
    if (!ca_dir || !out_prefix) {
        rc = pki_err(err, errlen, FSY_EINVAL, 0, "ca_dir and out_prefix are required");
        goto done;
    }
    if (not_after <= not_before) {
        rc = pki_err(err, errlen, FSY_EINVAL, 0, "not_after must be later than not_before");
        goto done;
    }
    rc = collect_names(&san, dns_names, ips, err, errlen);
    if (rc == FSY_OK)
        rc = join(ca_key_path, sizeof(ca_key_path), ca_dir, "/", FSY_PKI_CA_KEY, err, errlen);
    if (rc == FSY_OK)
        rc = join(ca_crt_path, sizeof(ca_crt_path), ca_dir, "/", FSY_PKI_CA_CERT, err, errlen);
    if (rc == FSY_OK)
        rc = join(key_path, sizeof(key_path), out_prefix, ".key", "", err, errlen);
    if (rc == FSY_OK)
        rc = join(crt_path, sizeof(crt_path), out_prefix, ".crt", "", err, errlen);
    if (rc != FSY_OK)
        goto done;

    ret = mbedtls_pk_parse_keyfile(&ca_key, ca_key_path, NULL);
    if (ret != 0) {
        rc = pki_err(err, errlen, FSY_EINVAL, ret, "cannot load %s", ca_key_path);
        goto done;
    }
    ret = mbedtls_x509_crt_parse_file(&ca_crt, ca_crt_path);
    if (ret != 0) {
        rc = pki_err(err, errlen, FSY_EINVAL, ret < 0 ? ret : 0, "cannot load %s", ca_crt_path);
        goto done;
    }
    ret = mbedtls_pk_check_pair(&ca_crt.pk, &ca_key);
    if (ret != 0) {
        rc =
            pki_err(err, errlen, FSY_EINVAL, ret, "%s does not match %s", ca_key_path, ca_crt_path);
        goto done;
    }
    /* The issuer name must equal the CA's subject; round-trip it through mbedTLS's
     * own string form, which its writer parses back to the same DER. */
    ret = mbedtls_x509_dn_gets(ca_subject, sizeof(ca_subject), &ca_crt.subject);
    if (ret < 0) {
        rc = pki_err(err, errlen, FSY_EINVAL, ret, "cannot read the CA name");
        goto done;
    }
    rc = issue_server_pem(key_pem, crt_pem, &r, &ca_key, ca_subject, &san, not_before, not_after,
                          err, errlen);
    if (rc == FSY_OK)
        rc = write_file(key_path, key_pem, strlen((char *)key_pem), 0600, err, errlen);
    if (rc == FSY_OK)
        rc = write_file(crt_path, crt_pem, strlen((char *)crt_pem), 0644, err, errlen);

done:
    mbedtls_platform_zeroize(key_pem, sizeof(key_pem));
    mbedtls_x509_crt_free(&ca_crt);
    mbedtls_pk_free(&ca_key);
    rng_free(&r);
    return rc;
}

/*
 * test_enroll.c — enrolment (DESIGN §5): a one-time code issued by the operator
 * enrols one device of its user exactly once; a used code or another user's code
 * is refused with 403 bad_enrollment_code; the device token is shown once, in the
 * enrolment response, and the store keeps only its SHA-256.
 */
#include "e2e_support.h"

#include <mbedtls/sha256.h>

static void enroll_body(char *out, size_t n, const char *user, const char *code)
{
    snprintf(out, n, "{\"user\":\"%s\",\"code\":\"%s\"}", user, code);
}

/* Whether the bytes of a file contain needle (binary-safe). */
static bool file_contains(const char *path, const void *needle, size_t nlen)
{
    size_t len = 0;
    char *t = e2e_read_file(path, &len);
    bool found = t && memmem(t, len, needle, nlen) != NULL;
    free(t);
    return found;
}

int main(int argc, char **argv)
{
    e2e_daemon *d = e2e_setup(argc, argv, "enroll");
    e2e_user(d, "alice", "rep", "south");
    e2e_user(d, "bob", "rep", "south");
    char code_a[64], code_b[64], body[256];
    e2e_enroll_code(d, "alice", code_a);
    e2e_enroll_code(d, "bob", code_b);
    e2e_start(d);
    e2e_resp r;

    /* The code works once: a device id, a 256-bit token, the user's role and territory. */
    enroll_body(body, sizeof(body), "alice", code_a);
    e2e_post(d, "/v1/enroll", NULL, body, strlen(body), &r);
    ASSERT_EQ(r.status, 200);
    ASSERT_CONTAINS(r.content_type, "application/json");
    char device_id[37], token[65];
    ASSERT_TRUE(e2e_jstr(r.json, "device_id") && strlen(e2e_jstr(r.json, "device_id")) == 36);
    ASSERT_TRUE(e2e_jstr(r.json, "token") && strlen(e2e_jstr(r.json, "token")) == 64);
    snprintf(device_id, sizeof(device_id), "%s", e2e_jstr(r.json, "device_id"));
    snprintf(token, sizeof(token), "%s", e2e_jstr(r.json, "token"));
    ASSERT_STREQ(e2e_jstr(r.json, "user"), "alice");
    ASSERT_STREQ(e2e_jstr(r.json, "role"), "rep");
    ASSERT_STREQ(e2e_jstr(r.json, "territory"), "south");
    e2e_resp_free(&r);
    printf("ok   enrolment with a fresh code returns a device id and a token\n");

    /* The token authenticates the device. */
    e2e_get(d, "/v1/pull?after=0", token, &r);
    ASSERT_EQ(r.status, 200);
    e2e_resp_free(&r);

    /* Second use of the same code: refused, and no second device appears. */
    e2e_post(d, "/v1/enroll", NULL, body, strlen(body), &r);
    E2E_EXPECT_ERROR(&r, 403, "bad_enrollment_code");
    ASSERT_TRUE(e2e_jstr(r.json, "token") == NULL && !strstr(r.body, "token\""));
    e2e_resp_free(&r);
    ASSERT_EQ(e2e_sql_int(d, "SELECT count(*) FROM devices"), 1);
    printf("ok   a used code is refused with 403 bad_enrollment_code\n");

    /* Bob's code presented for alice: refused, and it is not burnt for bob. */
    enroll_body(body, sizeof(body), "alice", code_b);
    e2e_post(d, "/v1/enroll", NULL, body, strlen(body), &r);
    E2E_EXPECT_ERROR(&r, 403, "bad_enrollment_code");
    e2e_resp_free(&r);
    ASSERT_EQ(e2e_sql_int(d, "SELECT count(*) FROM devices"), 1);
    enroll_body(body, sizeof(body), "bob", code_b);
    e2e_post(d, "/v1/enroll", NULL, body, strlen(body), &r);
    ASSERT_EQ(r.status, 200);
    ASSERT_STREQ(e2e_jstr(r.json, "user"), "bob");
    char bob_token[65];
    snprintf(bob_token, sizeof(bob_token), "%s", e2e_jstr(r.json, "token"));
    ASSERT_TRUE(strcmp(bob_token, token) != 0);
    e2e_resp_free(&r);
    printf("ok   another user's code is refused and stays valid for its owner\n");

    /* Unknown codes and malformed bodies. */
    enroll_body(body, sizeof(body), "alice", "00000000000000000000");
    e2e_post(d, "/v1/enroll", NULL, body, strlen(body), &r);
    E2E_EXPECT_ERROR(&r, 403, "bad_enrollment_code");
    e2e_resp_free(&r);
    e2e_post(d, "/v1/enroll", NULL, "{\"user\":\"alice\"}", 16, &r);
    E2E_EXPECT_ERROR(&r, 400, "bad_request");
    e2e_resp_free(&r);
    e2e_post(d, "/v1/enroll", NULL, "not json", 8, &r);
    E2E_EXPECT_ERROR(&r, 400, "bad_request");
    e2e_resp_free(&r);
    ASSERT_EQ(e2e_sql_int(d, "SELECT count(*) FROM devices"), 2);

    /* A token that is well-formed but was never issued. */
    char fake[65];
    memset(fake, 'a', 64);
    fake[64] = '\0';
    e2e_get(d, "/v1/pull?after=0", fake, &r);
    E2E_EXPECT_ERROR(&r, 401, "bad_token");
    e2e_resp_free(&r);
    printf("ok   unknown codes, malformed bodies and unissued tokens are refused\n");

    /* The token is shown once: the store holds its SHA-256, never the token or the
     * codes; neither the operator's device list nor the daemon's log shows it. */
    unsigned char hash[32];
    mbedtls_sha256_ret((const unsigned char *)token, 64, hash, 0);
    char hex[65];
    for (int i = 0; i < 32; i++)
        snprintf(hex + 2 * i, 3, "%02x", hash[i]);
    if (e2e_is_pg(d)) {
        ASSERT_EQ(e2e_sql_int(d,
                              "SELECT count(*) FROM devices WHERE id = '%s' AND"
                              " encode(token_hash, 'hex') = '%s'",
                              device_id, hex),
                  1);
        ASSERT_EQ(e2e_sql_int(d,
                              "SELECT count(*) FROM devices WHERE"
                              " position('%s' IN encode(token_hash, 'escape')) > 0",
                              token),
                  0);
    } else {
        ASSERT_EQ(e2e_sql_int(d,
                              "SELECT count(*) FROM devices WHERE id = '%s' AND"
                              " lower(hex(token_hash)) = '%s'",
                              device_id, hex),
                  1);
        ASSERT_EQ(e2e_sql_int(d,
                              "SELECT count(*) FROM devices WHERE"
                              " instr(CAST(token_hash AS TEXT), '%s') > 0",
                              token),
                  0);
    }
    ASSERT_TRUE(!e2e_store_contains(d, token, 64));
    ASSERT_TRUE(!e2e_store_contains(d, bob_token, 64));
    ASSERT_TRUE(!e2e_store_contains(d, code_a, strlen(code_a)));
    ASSERT_TRUE(!e2e_store_contains(d, code_b, strlen(code_b)));
    ASSERT_TRUE(e2e_store_contains(d, hash, 32));
    char listing[4096];
    ASSERT_EQ(e2e_admin(d, listing, sizeof(listing), "devices", NULL), 0);
    ASSERT_CONTAINS(listing, device_id);
    ASSERT_TRUE(!strstr(listing, token));
    ASSERT_TRUE(!file_contains(d->log, token, 64));
    printf("ok   the store keeps only the token's hash; no listing or log shows it\n");

    e2e_finish(d);
    return 0;
}

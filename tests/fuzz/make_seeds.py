#!/usr/bin/env python3
"""Write the seed corpora of tests/fuzz/corpus/<target>/ (run from anywhere).

Seeds are small and meaningful: the shapes of docs/protocol.md with the ids of the
fuzz fixtures (fuzz_replica.c, push_apply_fuzz.c), valid and subtly invalid. Files
found by fuzzing are added next to these by libFuzzer runs and kept if useful.
"""
import gzip
import json
import os

HERE = os.path.dirname(os.path.abspath(__file__))

DEV_A = "0192f3a0-0000-7000-8000-00000000000a"
DEV_B = "0192f3a0-0000-7000-8000-00000000000b"
CUST = "0192f3a1-0000-7000-8000-000000000c01"
CONT = "0192f3a1-0000-7000-8000-000000000c02"
VISIT = "0192f3a1-0000-7000-8000-000000000c03"
NOTE = "0192f3a1-0000-7000-8000-000000000c04"
REVIEW = "0192f3a1-0000-7000-8000-000000000c05"
GONE = "0192f3a1-0000-7000-8000-000000000c09"
A1 = "0192f3a1-0000-7000-8000-0000000000a1"
A2 = "0192f3a1-0000-7000-8000-0000000000a2"
A3 = "0192f3a1-0000-7000-8000-0000000000a3"
B1 = "0192f3a1-0000-7000-8000-0000000000b1"
B3 = "0192f3a1-0000-7000-8000-0000000000b3"
NEW = "0192f3a1-0000-7000-8000-0000000000e%d"
H = "019b8d7df1c0%04x"


def j(o):
    return json.dumps(o, separators=(",", ":")).encode()


def write(target, name, data):
    d = os.path.join(HERE, "corpus", target)
    os.makedirs(d, exist_ok=True)
    if isinstance(data, str):
        data = data.encode()
    with open(os.path.join(d, name), "wb") as f:
        f.write(data)


def seq(*parts):
    return b"\0".join(p if isinstance(p, bytes) else p.encode() for p in parts)


# ---- pull_apply ---------------------------------------------------------------
def pull(changes, upto=60, more=False, **kw):
    o = {"schema": 2, "upto": upto, "more": more, "hlc": H % 0x10, "changes": changes}
    o.update(kw)
    return j(o)


write("pull_apply", "protocol_example", pull([
    {"q": 50, "t": "customers", "id": CUST, "f": {"phone": "+49 30 9999"}, "h": H % 1, "by": "bob"},
    {"q": 51, "t": "customers", "id": CUST, "f": {"name": "Kaufhaus Nord", "territory": "south",
     "tier": "B"}, "vs": {"name": 12, "territory": 51, "tier": 40}},
    {"q": 52, "t": "visits", "id": VISIT, "gone": True}], upto=52, more=True))
write("pull_apply", "tombstone", pull([{"q": 55, "t": "notes", "id": NOTE, "f": {"_deleted": True}}]))
write("pull_apply", "new_rows_every_table", pull([
    {"q": 41, "t": "customers", "id": NEW % 1, "f": {"name": "Neu", "territory": "south",
     "category": "industry", "status": "loyal", "relationship": "partnership"}},
    {"q": 42, "t": "contacts", "id": NEW % 2, "f": {"customer_id": NEW % 1, "name": "Ute",
     "email": "ute@example.com", "personality": "driver"}},
    {"q": 43, "t": "visits", "id": NEW % 3, "f": {"customer_id": NEW % 1, "rep": "alice",
     "status": "done", "checkin_at": "2026-01-05T09:00:00.000Z", "checkin_lat": 52.5,
     "checkin_lon": 13.4, "satisfaction": 5, "follow_up": "2026-02-01"}},
    {"q": 44, "t": "notes", "id": NEW % 4, "f": {"customer_id": NEW % 1, "author": "bob",
     "body": "x", "info_level": 3}},
    {"q": 45, "t": "reviews", "id": NEW % 5, "f": {"visit_id": NEW % 3, "supervisor": "sue",
     "state": "needs-follow-up", "comment": "ok"}}], upto=45))
write("pull_apply", "unknown_fields_and_enum", pull([
    {"q": 60, "t": "customers", "id": CUST, "f": {"tier": "S", "loyalty_points": 7}}]))
write("pull_apply", "gone_then_back", seq(
    pull([{"q": 61, "t": "customers", "id": CUST, "gone": True}], upto=61),
    pull([{"q": 62, "t": "customers", "id": CUST, "f": {"name": "Back", "territory": "south"},
           "vs": {"name": 62, "territory": 62}}], upto=62)))
write("pull_apply", "older_batch_after_newer", seq(
    pull([{"q": 70, "t": "customers", "id": CUST, "f": {"phone": "1"}}], upto=70),
    pull([{"q": 65, "t": "customers", "id": CUST, "f": {"phone": "0"}}], upto=65)))
write("pull_apply", "pending_edit_stays_on_top", pull([
    {"q": 71, "t": "customers", "id": CUST, "f": {"phone": "+49 30 3333"}, "h": H % 2, "by": "sue"},
    {"q": 72, "t": "contacts", "id": CONT, "f": {"role": "owner"}, "by": "sue"}]))
write("pull_apply", "empty", pull([], upto=0))
write("pull_apply", "bad_schema", j({"schema": 3, "upto": 1, "changes": []}))
write("pull_apply", "bad_row_id", pull([{"q": 80, "t": "customers", "id": "not-a-uuid", "f": {}}]))
write("pull_apply", "bad_hlc", j({"schema": 2, "upto": 1, "hlc": "FFFFFFFFFFFFFFFF", "changes": []}))
write("pull_apply", "far_future_hlc", j({"schema": 2, "upto": 1, "hlc": "7fffffffffffffff",
                                         "changes": []}))
write("pull_apply", "unknown_table", pull([{"q": 81, "t": "orders", "id": NEW % 6, "f": {}}]))
write("pull_apply", "huge_numbers", pull([{"q": 9007199254740993, "t": "customers", "id": CUST,
                                           "f": {"phone": "2"}}], upto=9007199254740993))
write("pull_apply", "gone_unknown_row", pull([{"q": 90, "t": "reviews", "id": NEW % 7,
                                               "gone": True}]))
write("pull_apply", "truncated", pull([{"q": 91, "t": "customers", "id": CUST,
                                        "f": {"phone": "3"}}])[:-9])

# ---- ack_apply ----------------------------------------------------------------
def ack(results, **kw):
    o = {"schema": 2, "hlc": H % 0x20, "results": results}
    o.update(kw)
    return j(o)


write("ack_apply", "all_ok", ack([{"s": 1, "ok": True, "v": 101}, {"s": 2, "ok": True, "v": 102},
                                  {"s": 3, "ok": True, "v": 103}]))
write("ack_apply", "protocol_example", ack([
    {"s": 1, "ok": True, "v": 1201,
     "c": [{"f": "phone", "win": "theirs", "theirs": "+49 30 9999", "ver": 1187, "by": "bob",
            "dev": DEV_B}]},
    {"s": 2, "ok": True, "v": 1202},
    {"s": 3, "ok": False, "code": "out_of_scope",
     "msg": "notes %s is in territory north; alice works south" % NOTE}]))
write("ack_apply", "conflict_mine", ack([{"s": 1, "ok": True, "v": 110, "c": [
    {"f": "phone", "win": "mine", "theirs": "+49 30 0000", "by": "sue", "dev": DEV_B}]}]))
write("ack_apply", "refused_create", ack([{"s": 2, "ok": False, "code": "unknown_parent",
                                          "msg": "no such customer"}]))
write("ack_apply", "twice", seq(ack([{"s": 1, "ok": True, "v": 120}]),
                               ack([{"s": 1, "ok": True, "v": 120}])))
write("ack_apply", "partial_then_rest", seq(ack([{"s": 1, "ok": True, "v": 130}]),
                                           ack([{"s": 2, "ok": True, "v": 131},
                                                {"s": 3, "ok": True, "v": 132}])))
write("ack_apply", "unexported_seq", ack([{"s": 4, "ok": True, "v": 140}]))
write("ack_apply", "unknown_seq", ack([{"s": 99, "ok": True, "v": 150}]))
write("ack_apply", "pruned_zero_version", ack([{"s": 1, "ok": True, "v": 0}]))
write("ack_apply", "missing_v", ack([{"s": 1, "ok": True}]))
write("ack_apply", "bad_win", ack([{"s": 1, "ok": True, "v": 160, "c": [{"f": "phone",
                                                                        "win": "both"}]}]))
write("ack_apply", "conflict_unknown_field", ack([{"s": 1, "ok": True, "v": 161, "c": [
    {"f": "fax", "win": "theirs", "theirs": 5, "ver": 3, "by": "x", "dev": DEV_B}]}]))
write("ack_apply", "bad_schema", j({"schema": 1, "results": []}))
write("ack_apply", "negative_seq", ack([{"s": -1, "ok": True, "v": 1}]))
write("ack_apply", "refuse_then_ok", seq(ack([{"s": 1, "ok": False, "code": "invalid",
                                              "msg": "phone too long"}]),
                                        ack([{"s": 1, "ok": True, "v": 170}])))

# ---- push_apply ---------------------------------------------------------------
def push(changes, device=DEV_A, who=""):
    return (who.encode() if who else b"") + j({"schema": 2, "device": device, "changes": changes})


def ch(s, t, id_, op, f, **kw):
    o = {"s": s, "t": t, "id": id_, "op": op, "h": H % (0x40 + s), "f": f}
    o.update(kw)
    return o


write("push_apply", "create_every_table", push([
    ch(4, "customers", NEW % 1, "c", {"name": "Neu", "territory": "south", "tier": "C"}),
    ch(5, "contacts", NEW % 2, "c", {"customer_id": NEW % 1, "name": "Ute", "birthday": "1990-01-01"}),
    ch(6, "visits", NEW % 3, "c", {"customer_id": NEW % 1, "rep": "alice", "status": "planned",
                                   "planned_at": "2026-01-06T10:00:00Z"}),
    ch(7, "notes", NEW % 4, "c", {"customer_id": NEW % 1, "author": "alice", "body": "b",
                                  "info_level": 4})]))
write("push_apply", "update_with_base_and_fh", push([
    ch(4, "customers", A1, "u", {"phone": "+49 30 1234", "tier": "B"}, b={"tier": 4},
       fh={"phone": H % 0x30})]))
write("push_apply", "delete_visit", push([ch(4, "visits", A2, "d", {"_deleted": True})]))
write("push_apply", "out_of_scope_write", push([ch(4, "customers", B1, "u", {"phone": "1"})]))
write("push_apply", "move_territory_forbidden", push([ch(4, "customers", A1, "u",
                                                         {"territory": "north"}, b={"territory": 4})]))
write("push_apply", "supervisor_moves_customer", push(
    [ch(1, "customers", A1, "u", {"territory": "north"}, b={"territory": 4})],
    device="0192f3a0-0000-7000-8000-00000000000c", who="@s"))
write("push_apply", "concurrent_edit_conflict", seq(
    push([ch(4, "customers", A1, "u", {"phone": "alice"})]),
    push([ch(1, "customers", A1, "u", {"phone": "sue"})],
         device="0192f3a0-0000-7000-8000-00000000000c", who="@s")))
write("push_apply", "retry_then_seq_reused", seq(
    push([ch(4, "customers", A1, "u", {"phone": "a"})]),
    push([ch(4, "customers", A1, "u", {"phone": "a"})]),
    push([ch(4, "customers", A1, "u", {"phone": "b"})])))
write("push_apply", "admin_restricts_note", push(
    [ch(1, "notes", A3, "u", {"info_level": 4})],
    device="0192f3a0-0000-7000-8000-00000000000d", who="@x"))
write("push_apply", "rep_reads_restricted_note", push(
    [ch(4, "notes", B3, "u", {"body": "mine now"})], device=DEV_B, who="@b"))
write("push_apply", "review_by_rep_forbidden", push([ch(4, "reviews", NEW % 5, "c", {
    "visit_id": A2, "supervisor": "alice", "state": "reviewed"})]))
write("push_apply", "unknown_parent", push([ch(4, "contacts", NEW % 2, "c", {
    "customer_id": NEW % 9, "name": "Orphan"})]))
write("push_apply", "invalid_values", push([ch(4, "visits", NEW % 3, "c", {
    "customer_id": A1, "rep": "alice", "status": "maybe", "satisfaction": 9,
    "checkin_lat": 200, "planned_at": "2026-13-01T00:00:00Z"})]))
write("push_apply", "unknown_field_from_newer_client", push([ch(4, "customers", A1, "u",
                                                                {"loyalty": 3})]))
write("push_apply", "device_mismatch", push([ch(4, "customers", A1, "u", {"phone": "x"})],
                                            device=DEV_B))
write("push_apply", "bad_batch", j({"schema": 2, "device": DEV_A, "changes": {}}))
write("push_apply", "future_clock", push([ch(4, "customers", A1, "u", {"phone": "f"},
                                             h="7fffffffffffffff")]))
write("push_apply", "write_as_someone_else", push([ch(4, "visits", NEW % 3, "c", {
    "customer_id": A1, "rep": "bob", "status": "planned"})]))
write("push_apply", "create_existing_row", push([ch(4, "customers", A1, "c", {
    "name": "Dup", "territory": "south"})]))

# ---- http_request -------------------------------------------------------------
AUTH = "Authorization: Bearer " + "ab" * 32 + "\r\n"
body = push([ch(4, "customers", A1, "u", {"phone": "g"})])
gz = gzip.compress(body)


def http(piece, limits, data):
    return bytes([piece, limits]) + data


def req(method, path, headers="", body_=b""):
    return (f"{method} {path} HTTP/1.1\r\nHost: 127.0.0.1\r\n{headers}").encode() + b"\r\n" + body_


write("http_request", "pull", http(0xff, 1, req("GET", "/v1/pull?after=0&limit=100", AUTH +
                                                "Accept-Encoding: gzip\r\nFsy-Device-Time: 1767605400000\r\n")))
write("http_request", "push", http(0xff, 1, req("POST", "/v1/push", AUTH +
                                                "Content-Type: application/json\r\n"
                                                f"Content-Length: {len(body)}\r\n", body)))
write("http_request", "push_gzip", http(0xff, 1, req("POST", "/v1/push", AUTH +
                                                     "Content-Encoding: gzip\r\n"
                                                     f"Content-Length: {len(gz)}\r\n", gz)))
write("http_request", "push_gzip_byte_by_byte", http(0, 1, req("POST", "/v1/push", AUTH +
                                                               "Content-Encoding: x-gzip\r\n"
                                                               f"Content-Length: {len(gz)}\r\n", gz)))
two = gzip.compress(body[:40]) + gzip.compress(body[40:])
write("http_request", "gzip_two_members", http(0xff, 1, req("POST", "/v1/push",
                                                            "Content-Encoding: gzip\r\n"
                                                            f"Content-Length: {len(two)}\r\n", two)))
chunks = b"".join(b"%x\r\n%s\r\n" % (len(body[i:i + 50]), body[i:i + 50])
                  for i in range(0, len(body), 50)) + b"0\r\n\r\n"
write("http_request", "push_chunked", http(7, 1, req("POST", "/v1/push", AUTH +
                                                     "Transfer-Encoding: chunked\r\n", chunks)))
gzc = b"".join(b"%x\r\n%s\r\n" % (len(gz[i:i + 30]), gz[i:i + 30])
               for i in range(0, len(gz), 30)) + b"0\r\nX-Trailer: 1\r\n\r\n"
write("http_request", "push_chunked_gzip", http(13, 1, req("POST", "/v1/push", AUTH +
                                                           "Transfer-Encoding: chunked\r\n"
                                                           "Content-Encoding: gzip\r\n", gzc)))
write("http_request", "pipelined", http(0xff, 1, req("GET", "/healthz") + req("GET", "/metrics") +
                                       req("POST", "/v1/enroll", "Content-Length: 30\r\n",
                                           b'{"user":"alice","code":"abcd"}')))
bomb = gzip.compress(b"\0" * 200000)
write("http_request", "gzip_bomb", http(0xff, 0, req("POST", "/v1/push",
                                                     "Content-Encoding: gzip\r\n"
                                                     f"Content-Length: {len(bomb)}\r\n", bomb)))
write("http_request", "gzip_corrupt", http(0xff, 1, req("POST", "/v1/push",
                                                        "Content-Encoding: gzip\r\n"
                                                        f"Content-Length: {len(gz)}\r\n",
                                                        gz[:10] + b"\xff" * 5 + gz[15:])))
write("http_request", "gzip_truncated", http(0xff, 1, req("POST", "/v1/push",
                                                          "Content-Encoding: gzip\r\n"
                                                          f"Content-Length: {len(gz) - 4}\r\n",
                                                          gz[:-4])))
write("http_request", "expect_continue", http(0xff, 1, req("POST", "/v1/push",
                                                           "Expect: 100-continue\r\n"
                                                           f"Content-Length: {len(body)}\r\n", body)))
write("http_request", "body_too_large", http(0xff, 3, req("POST", "/v1/push",
                                                          f"Content-Length: {len(body)}\r\n", body)))
write("http_request", "header_too_large", http(0xff, 0, req("GET", "/v1/pull", "X-Pad: " + "p" * 600 + "\r\n")))
write("http_request", "cl_and_te", http(0xff, 1, req("POST", "/v1/push", "Content-Length: 5\r\n"
                                                     "Transfer-Encoding: chunked\r\n",
                                                     b"0\r\n\r\n")))
write("http_request", "unsupported_encoding", http(0xff, 1, req("POST", "/v1/push",
                                                                "Content-Encoding: br\r\n"
                                                                "Content-Length: 2\r\n", b"{}")))
write("http_request", "http10_keepalive", http(0xff, 1, b"GET /healthz HTTP/1.0\r\n"
                                               b"Connection: keep-alive\r\n\r\n"))
write("http_request", "http2_preface", http(0xff, 1, b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"))
write("http_request", "head_absolute_uri", http(0xff, 1, b"HEAD http://127.0.0.1/healthz?x=1 HTTP/1.1\r\n"
                                                b"Accept-Encoding: gzip;q=0, *;q=1\r\n\r\n"))
write("http_request", "many_headers", http(0xff, 2, req("GET", "/healthz",
                                                        "".join(f"X-H{i}: {i}\r\n" for i in range(101)))))
write("http_request", "connect", http(0xff, 1, b"CONNECT 127.0.0.1:443 HTTP/1.1\r\n\r\n"))

# ---- hlc_time_parse -----------------------------------------------------------
for name, s in [("hlc", H % 1), ("hlc_max", "7fffffffffffffff"), ("hlc_sign", "8000000000000000"),
                ("hlc_upper", "019B8D7DF1C00000"), ("hlc_short", "019b8d7df1c0000"),
                ("time", "2026-01-05T09:30:00Z"), ("time_ms", "2026-01-05T09:30:00.123Z"),
                ("time_leap_second", "2016-12-31T23:59:60Z"), ("time_bad_month", "2026-13-05T09:30:00Z"),
                ("date_leap", "2024-02-29"), ("date_not_leap", "2023-02-29"), ("date_1900", "1900-02-29"),
                ("uuid", CUST), ("uuid_upper", CUST.upper())]:
    write("hlc_time_parse", name, s)
write("hlc_time_parse", "fields_visit", j({"customer_id": A1, "rep": "alice", "status": "done",
                                           "checkin_at": "2026-01-05T09:30:00.000Z",
                                           "checkin_lat": -90, "checkin_lon": 180.0,
                                           "follow_up": "2026-02-30", "satisfaction": 5.5}))
write("hlc_time_parse", "fields_customer", j({"name": "K\u00e4se & Co", "territory": "south",
                                              "tier": "A", "_deleted": True, "unknown": None}))
write("hlc_time_parse", "fields_bad_utf8", b'{"name":"\xc3\x28","body":"\xed\xa0\x80","info_level":4}')
write("hlc_time_parse", "fields_review", j({"visit_id": VISIT, "supervisor": "sue",
                                            "state": "reviewed", "comment": "x" * 4001}))

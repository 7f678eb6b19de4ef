#!/usr/bin/env bash
# The review page in headless Chromium against a real fieldsyncd and real rep
# tablets (the `fieldsync` CLI): sue logs in, filters, opens a visit with a
# conflict, resolves it, comments and exports CSV (review.test.mjs); then
# alice's tablet syncs and must hold the comment and the chosen value.
# Screenshots go to $FSY_BROWSER_DIR/screenshots.
HERE=$(cd "$(dirname "$0")" && pwd)
CHROMIUM=${CHROMIUM:-/usr/bin/chromium}
if [ ! -x "$CHROMIUM" ]; then
    echo "SKIP: $CHROMIUM is not installed (scripts/deps.sh installs Debian's chromium)"
    exit 77
fi
command -v node >/dev/null && command -v npm >/dev/null ||
    { echo "FAIL: node and npm are needed (scripts/deps.sh installs them)" >&2; exit 1; }
source "$HERE/../e2e_client/lib.sh"
source "$HERE/seed.sh"

# The driver: npm ci from the committed lock file, once per lock file, into the build tree.
OUT=${FSY_BROWSER_DIR:-$W}
NPM_DIR=$OUT/npm
if ! cmp -s "$HERE/package-lock.json" "$NPM_DIR/package-lock.json" ||
    [ ! -d "$NPM_DIR/node_modules/puppeteer-core" ]; then
    rm -rf "$NPM_DIR"
    mkdir -p "$NPM_DIR"
    cp "$HERE/package.json" "$HERE/package-lock.json" "$NPM_DIR/"
    (cd "$NPM_DIR" && npm ci --no-audit --no-fund --ignore-scripts >"$W/npm.log" 2>&1) ||
        { cat "$W/npm.log"; fail "npm ci failed"; }
fi

server_init
seed_users
server_start
seed_data

mkdir -p "$OUT/screenshots"
rc=0
BASE="https://127.0.0.1:$PORT" SHOTS="$OUT/screenshots" CHROMIUM="$CHROMIUM" PROFILE="$W/chrome" \
    NPM_DIR="$NPM_DIR" CHOSEN_FILE="$W/chosen" V_ALICE="$V_ALICE" V_BOB="$V_BOB" V_CARL="$V_CARL" \
    node "$HERE/review.test.mjs" >"$W/node.log" 2>&1 || rc=$?
grep -v -i 'dbus' "$W/node.log" || true
[ "$rc" = 0 ] || fail "browser test failed (exit $rc)"

# alice's tablet syncs: the comment and the resolution are on it.
on alice sync >/dev/null
on alice export >"$W/alice.json"
python3 - "$W/alice.json" "$V_ALICE" "$W/chosen" <<'PY' || fail "alice's tablet lacks the review or the resolution"
import json, sys
d = json.load(open(sys.argv[1])); vid = sys.argv[2]; chosen = open(sys.argv[3]).read()
revs = [r for r in d["reviews"] if r["visit_id"] == vid]
assert any(r.get("comment") == "Good call on the 14 SKUs" and r["state"] == "reviewed" for r in revs), revs
v = [r for r in d["visits"] if r["id"] == vid][0]
assert v["outcome"] == chosen, (v["outcome"], chosen)
PY
ok "alice's tablet holds sue's comment and the value she chose"
echo "screenshots: $OUT/screenshots"
echo "1 passed, 0 failed"

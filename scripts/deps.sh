#!/usr/bin/env bash
# Install what fieldsync needs to build and test on Debian 12, skipping what is
# already there. Safe to run repeatedly; needs root (or sudo) only to install.
# postgresql (the server; libpq-dev is the client library) is for the PostgreSQL store's
# tests, which start a throwaway server (tests/support/pg-throwaway.sh).
# chromium, nodejs and npm are for the review page's browser test (tests/browser):
# Debian's chromium, driven by puppeteer-core from npm (never a downloaded browser).
set -euo pipefail

PKGS=(build-essential cmake ninja-build pkg-config clang clang-format
      libsqlite3-dev libcjson-dev libmbedtls-dev libcurl4-openssl-dev
      libhttp-parser-dev zlib1g-dev libdeflate-dev libpq-dev curl openssl ca-certificates
      python3 sqlite3 chromium postgresql)

missing=()
for p in "${PKGS[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
# Node may come from another packaging that bundles npm (Debian's npm would conflict
# with it): judge node and npm by their commands.
command -v node >/dev/null || missing+=(nodejs)
command -v npm >/dev/null || missing+=(npm)
if [ ${#missing[@]} -eq 0 ]; then
    exit 0
fi
echo "deps: installing ${missing[*]}"
SUDO=""
if [ "$(id -u)" -ne 0 ]; then SUDO="sudo"; fi
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
$SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null

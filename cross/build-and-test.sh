#!/usr/bin/env bash
# Cross-build the portable core (and the client on ARM) and run the core test
# suite under emulation:
#   aarch64  core + client, tests under qemu-aarch64
#   armhf    core + client, tests under qemu-arm (the 32-bit target)
#   windows  core only (mingw-w64), tests under wine
# Installs what it needs with apt-get (skipping what is present); target libraries
# come from Debian's packages without touching the machine's dpkg architectures:
# ARM -dev packages are extracted into sysroots, and SQLite, cJSON and mbedTLS
# for Windows are built from Debian's source packages. Everything downloaded or
# built lives under the build folder (build-cross/), never in the repo.
#
#   bash cross/build-and-test.sh [aarch64] [armhf] [windows]    (default: all three)
# Environment: FSY_CROSS_OUT (build folder), FSY_TEST_STEPS (property test length,
# default 300), FSY_CROSS_JOBS (default: nproc).
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
OUT=${FSY_CROSS_OUT:-$ROOT/build-cross}
JOBS=${FSY_CROSS_JOBS:-$(nproc)}
export FSY_TEST_STEPS=${FSY_TEST_STEPS:-300}
TARGETS=("$@")
[ ${#TARGETS[@]} -gt 0 ] || TARGETS=(aarch64 armhf windows)
MIRROR=http://deb.debian.org/debian
SUITE=bookworm
T0=${T0:-$(date +%s)}

log() { printf '== [%4ss] %s\n' "$(($(date +%s) - T0))" "$*"; }
has() { for t in "${TARGETS[@]}"; do [ "$t" = "$1" ] && return 0; done; return 1; }
for t in "${TARGETS[@]}"; do
    case $t in aarch64 | armhf | windows) ;; *) echo "unknown target: $t" >&2; exit 2 ;; esac
done
mkdir -p "$OUT"

# ---- host packages --------------------------------------------------------------
pkgs=(cmake ninja-build pkg-config dpkg-dev xz-utils ca-certificates debian-archive-keyring)
has aarch64 && pkgs+=(gcc-aarch64-linux-gnu g++-aarch64-linux-gnu qemu-user)
has armhf && pkgs+=(gcc-arm-linux-gnueabihf g++-arm-linux-gnueabihf qemu-user)
has windows && pkgs+=(gcc-mingw-w64-x86-64 g++-mingw-w64-x86-64 wine64 tcl gcc make)
missing=()
for p in "${pkgs[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
    log "installing ${missing[*]}"
    SUDO=""
    [ "$(id -u)" -eq 0 ] || SUDO=sudo
    export DEBIAN_FRONTEND=noninteractive
    $SUDO apt-get -o DPkg::Lock::Timeout=600 update -qq
    $SUDO apt-get -o DPkg::Lock::Timeout=600 install -y -qq --no-install-recommends \
        "${missing[@]}" >/dev/null
fi

# ---- a private apt: Debian's indexes for one architecture, kept in $OUT ---------
# Only the main suite is listed: the security index for foreign architectures has
# been stale on this mirror (shared/TOOLCHAIN.md), and a private apt cannot break
# the machine's own `apt-get update` either way.
APT_ARGS=()
private_apt() { # <dir> <arch> <deb|deb-src>
    local d=$1
    mkdir -p "$d/lists/partial" "$d/cache/archives/partial" "$d/etc/parts" "$d/etc/prefs"
    : >"$d/status"
    echo "$3 [signed-by=/usr/share/keyrings/debian-archive-keyring.gpg] $MIRROR $SUITE main" \
        >"$d/etc/sources.list"
    APT_ARGS=(-o "APT::Architecture=$2" -o "APT::Architectures::=$2"
        -o "Dir::State::Lists=$d/lists" -o "Dir::State::status=$d/status"
        -o "Dir::Cache=$d/cache" -o "Dir::Etc::SourceList=$d/etc/sources.list"
        -o "Dir::Etc::SourceParts=$d/etc/parts" -o "Dir::Etc::PreferencesParts=$d/etc/prefs"
        -o Debug::NoLocking=1 -o APT::Sandbox::User=root -q)
    apt-get "${APT_ARGS[@]}" update >"$d/update.log" 2>&1 || {
        cat "$d/update.log"
        return 1
    }
}

# ---- ARM sysroots: the target's -dev packages and their libraries, extracted ----
# The cross toolchain brings its own libc, so glibc's packages are left out.
LIBC_PKGS='^(libc6|libc6-dev|libc-dev-bin|linux-libc-dev|libgcc-s1|gcc-12-base|libstdc\+\+6|libcrypt1|libcrypt-dev|libnsl-dev|libnsl2|libtirpc-dev|libtirpc3|libtirpc-common|rpcsvc-proto)_'
make_sysroot() { # <debian arch> <dir>
    local arch=$1 sr=$2
    [ -f "$sr/.complete" ] && return 0
    log "$arch sysroot: downloading Debian's :$arch packages"
    rm -rf "$sr" "$OUT/apt-$arch"
    private_apt "$OUT/apt-$arch" "$arch" deb
    mkdir -p "$OUT/apt-$arch/debs"
    apt-get "${APT_ARGS[@]}" install -y --download-only --no-install-recommends \
        -o "Dir::Cache::archives=$OUT/apt-$arch/debs" \
        libsqlite3-dev libcjson-dev libmbedtls-dev libcurl4-openssl-dev zlib1g-dev \
        >"$OUT/apt-$arch/download.log" 2>&1 || {
        cat "$OUT/apt-$arch/download.log"
        return 1
    }
    mkdir -p "$sr"
    local deb n=0
    for deb in "$OUT/apt-$arch/debs"/*.deb; do
        [[ $(basename "$deb") =~ $LIBC_PKGS ]] && continue
        dpkg-deb -x "$deb" "$sr"
        n=$((n + 1))
    done
    rm -rf "$OUT/apt-$arch/debs"
    touch "$sr/.complete"
    log "$arch sysroot: $n packages in $sr"
}

# ---- Windows: SQLite, cJSON and mbedTLS from Debian's sources, for mingw-w64 ------
MINGW=x86_64-w64-mingw32
mingw_deps() { # <prefix>
    local pfx=$1 src=$OUT/src
    [ -f "$pfx/.complete" ] && return 0
    log "windows deps: fetching Debian source packages"
    rm -rf "$pfx" "$src"
    private_apt "$OUT/apt-src" amd64 deb-src
    mkdir -p "$src" "$pfx/include/cjson" "$pfx/lib"
    (cd "$src" && apt-get "${APT_ARGS[@]}" source --download-only sqlite3 cjson mbedtls \
        >download.log 2>&1) || {
        cat "$src/download.log"
        return 1
    }
    local dsc
    for dsc in "$src"/*.dsc; do # unpack with Debian's patches (security fixes) applied
        (cd "$src" && dpkg-source --no-check -x "$dsc" >/dev/null)
    done
    local cflags=(-O2 -g0 -DNDEBUG)

    log "windows deps: SQLite amalgamation (built with the host compiler and tclsh)"
    local sq
    sq=$(echo "$src"/sqlite3-*/)
    mkdir -p "$sq/bld"
    (cd "$sq/bld" && ../configure --disable-tcl --disable-readline >configure.log 2>&1 &&
        make -j"$JOBS" sqlite3.c >make.log 2>&1) || {
        tail -30 "$sq/bld/"*.log
        return 1
    }
    $MINGW-gcc "${cflags[@]}" -DSQLITE_THREADSAFE=1 -DSQLITE_DEFAULT_FOREIGN_KEYS=0 \
        -c "$sq/bld/sqlite3.c" -o "$sq/bld/sqlite3.o"
    $MINGW-ar rcs "$pfx/lib/libsqlite3.a" "$sq/bld/sqlite3.o"
    cp "$sq/bld/sqlite3.h" "$sq/bld/sqlite3ext.h" "$pfx/include/"

    log "windows deps: cJSON"
    local cj
    cj=$(echo "$src"/cjson-*/)
    $MINGW-gcc "${cflags[@]}" -DCJSON_HIDE_SYMBOLS -c "$cj/cJSON.c" -o "$cj/cJSON.o"
    $MINGW-ar rcs "$pfx/lib/libcjson.a" "$cj/cJSON.o"
    cp "$cj/cJSON.h" "$pfx/include/cjson/"

    log "windows deps: mbedTLS"
    local mb
    mb=$(echo "$src"/mbedtls-*/)
    cmake -S "$mb" -B "$mb/bld" -G Ninja -DCMAKE_SYSTEM_NAME=Windows \
        -DCMAKE_C_COMPILER=$MINGW-gcc -DCMAKE_BUILD_TYPE=Release \
        -DCMAKE_INSTALL_PREFIX="$pfx" -DENABLE_PROGRAMS=OFF -DENABLE_TESTING=OFF \
        -DUSE_STATIC_MBEDTLS_LIBRARY=ON -DUSE_SHARED_MBEDTLS_LIBRARY=OFF \
        -DMBEDTLS_FATAL_WARNINGS=OFF >"$mb/cmake.log" 2>&1 || {
        cat "$mb/cmake.log"
        return 1
    }
    ninja -C "$mb/bld" -j"$JOBS" install >"$mb/build.log" 2>&1 || {
        tail -30 "$mb/build.log"
        return 1
    }
    rm -rf "$src"
    touch "$pfx/.complete"
}

# A wine prefix of our own (not ~/.wine); no Mono or Gecko prompts, no debug noise.
export WINEPREFIX=$OUT/wineprefix WINEDEBUG=-all WINEDLLOVERRIDES="mscoree,mshtml="
wine_prefix() {
    [ -f "$WINEPREFIX/.complete" ] && return 0
    log "windows: creating the wine prefix"
    /usr/lib/wine/wine64 wineboot --init >/dev/null 2>&1 || true
    /usr/lib/wine/wineserver -w || true
    touch "$WINEPREFIX/.complete"
}

# ---- build, test and measure one target (in a child process, see the end) ----------
PASSED=0 FAILED=0 NOTE=""
run_target() { # <name>
    local t=$1 bld=$OUT/$t toolchain extra=()
    case $t in
    aarch64)
        make_sysroot arm64 "$OUT/sysroot-arm64"
        toolchain=aarch64-linux-gnu
        extra=(-DFSY_CROSS_SYSROOT="$OUT/sysroot-arm64" -DFIELDSYNC_CLIENT=ON)
        ;;
    armhf)
        make_sysroot armhf "$OUT/sysroot-armhf"
        toolchain=arm-linux-gnueabihf
        extra=(-DFSY_CROSS_SYSROOT="$OUT/sysroot-armhf" -DFIELDSYNC_CLIENT=ON)
        ;;
    windows)
        mingw_deps "$OUT/mingw-prefix"
        toolchain=x86_64-w64-mingw32
        extra=(-DFSY_CROSS_PREFIX="$OUT/mingw-prefix" -DFIELDSYNC_CLIENT=OFF)
        wine_prefix
        ;;
    esac

    log "$t: configure"
    NOTE="configure failed"
    cmake -S "$ROOT" -B "$bld" -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo \
        -DCMAKE_TOOLCHAIN_FILE="$ROOT/cross/$toolchain.cmake" \
        -DFIELDSYNC_SYNCD=OFF -DFIELDSYNC_TESTS=ON -DFIELDSYNC_CORE_TESTS_ONLY=ON \
        "${extra[@]}" >"$OUT/$t-configure.log" 2>&1 || {
        tail -40 "$OUT/$t-configure.log"
        return 1
    }
    log "$t: build"
    NOTE="build failed"
    ninja -C "$bld" -j"$JOBS" >"$OUT/$t-build.log" 2>&1 || {
        grep -E -A12 'error|FAILED' "$OUT/$t-build.log" | head -80
        return 1
    }

    log "$t: tests under emulation (FSY_TEST_STEPS=$FSY_TEST_STEPS)"
    NOTE="ctest did not finish"
    local rc=0 tmp=$OUT/$t-tmp
    rm -rf "$tmp" && mkdir -p "$tmp"
    if [ "$t" = windows ]; then
        # One wineserver for the whole run. Wine's first process also starts its
        # services (services.exe, explorer.exe...), which would inherit ctest's
        # output pipe and hold the first test open until its timeout: start them
        # here instead, kept alive by an idle cmd.exe until the tests are done.
        /usr/lib/wine/wineserver -p
        rm -f "$OUT/wine-keeper" && mkfifo "$OUT/wine-keeper"
        /usr/lib/wine/wine64 cmd.exe <"$OUT/wine-keeper" >/dev/null 2>&1 &
        exec 9>"$OUT/wine-keeper"
        /usr/lib/wine/wine64 cmd.exe /c exit >/dev/null 2>&1 || true
    fi
    (cd "$bld" && TMPDIR=$tmp timeout 1200 ctest -j"$JOBS" --timeout 600 \
        --output-on-failure >"$OUT/$t-ctest.log" 2>&1) || rc=$?
    if [ "$t" = windows ]; then
        exec 9>&- # EOF for the idle cmd.exe
        /usr/lib/wine/wineserver -k || true
        rm -f "$OUT/wine-keeper"
    fi
    grep -E 'tests passed|Failed|\*\*\*|Timeout' "$OUT/$t-ctest.log" | tail -20 || true
    local total failed
    total=$(sed -nE 's/.* tests failed out of ([0-9]+).*/\1/p' "$OUT/$t-ctest.log" | tail -1)
    failed=$(sed -nE 's/.*, ([0-9]+) tests failed out of.*/\1/p' "$OUT/$t-ctest.log" | tail -1)
    if [ -z "$total" ]; then
        tail -30 "$OUT/$t-ctest.log"
        NOTE="ctest did not finish (exit $rc)"
        return 1
    fi
    PASSED=$((total - failed))
    FAILED=$failed

    # Sizes: the static core library, and the shared one stripped as it would ship.
    local a so
    a=$(find "$bld/core" -name libfsy_core.a | head -1)
    so=$(find "$bld/core" \( -name 'libfieldsync.so.*.*.*' -o -name 'libfieldsync*.dll' \) | head -1)
    cp "$so" "$OUT/$t-shared.stripped"
    "$toolchain-strip" --strip-unneeded "$OUT/$t-shared.stripped"
    # code+data: text and data segments, without symbols, debug info or padding.
    local code_a code_so
    code_a=$("$toolchain-size" -t "$a" | tail -1 | awk '{print $1 + $2}')
    code_so=$("$toolchain-size" -t "$OUT/$t-shared.stripped" | tail -1 | awk '{print $1 + $2}')
    NOTE=$(printf 'libfsy_core.a %s B (code+data %s B), %s %s B stripped (code+data %s B)' \
        "$(stat -c %s "$a")" "$code_a" "$(basename "$so")" \
        "$(stat -c %s "$OUT/$t-shared.stripped")" "$code_so")
    [ "$rc" -eq 0 ]
}

# Windows' dependencies are mostly single-threaded work (SQLite is one big file):
# they are built in the background while the ARM targets build and test.
if [ "${FSY_CROSS_PREP:-}" != "" ]; then
    mingw_deps "$OUT/mingw-prefix"
    wine_prefix
    exit 0
fi

# A target runs in its own process so that `set -e` holds inside it and one
# target's failure does not stop the others.
if [ "${FSY_CROSS_ONE:-}" != "" ]; then
    t=$FSY_CROSS_ONE
    trap 'echo "$PASSED $FAILED $NOTE" >"$OUT/$t.result"' EXIT
    run_target "$t"
    exit 0
fi

status=0
prep_pid=""
if has windows && [ ${#TARGETS[@]} -gt 1 ]; then
    log "windows deps: building in the background ($OUT/windows-deps.log)"
    FSY_CROSS_PREP=1 T0=$T0 "$BASH" "$0" windows >"$OUT/windows-deps.log" 2>&1 &
    prep_pid=$!
fi
for t in "${TARGETS[@]}"; do
    if [ "$t" = windows ] && [ -n "$prep_pid" ]; then
        # On failure the target's own run repeats the step and shows the error.
        wait "$prep_pid" || echo "windows deps: the background build failed; retrying"
        cat "$OUT/windows-deps.log"
    fi
    t1=$(date +%s)
    rm -f "$OUT/$t.result"
    r=ok
    FSY_CROSS_ONE=$t T0=$T0 "$BASH" "$0" "$t" || { r=FAILED; status=1; }
    read -r p f note <"$OUT/$t.result" || { p=0 f=0 note="no result"; }
    # A target that did not get as far as its tests counts as one failure.
    [ "$r" = ok ] || [ "$p" -gt 0 ] || [ "$f" -gt 0 ] || f=1
    echo "$p $f $note [$r, $(($(date +%s) - t1)) s]" >"$OUT/$t.result"
done

echo
echo "== cross summary ($(($(date +%s) - T0)) s in all, FSY_TEST_STEPS=$FSY_TEST_STEPS)"
tp=0 tf=0
for t in "${TARGETS[@]}"; do
    read -r p f note <"$OUT/$t.result"
    printf '%-8s %s passed, %s failed; %s\n' "$t:" "$p" "$f" "$note"
    tp=$((tp + p))
    tf=$((tf + f))
done
echo "cross: $tp passed, $tf failed"
exit $status

#!/usr/bin/env bash
# The Wine ABI tier (design.md, testing tier 5): ABI conformance against a header no one here
# wrote, mingw-w64's <ddk/dmusicks.h>, with the Windows x64 calling convention, run under Wine.
#
#   1. compile time, x86_64 and i686: the header's layout (as g++ lays it out) vs mxf's (as rustc
#      lays it out), number by number, from the two compilers' assembly listings; likewise the KS
#      and PortCls descriptor types and GUIDs of mxf::abi vs <ddk/portcls.h>, <ks.h>, <ksmedia.h>
#      (tests/wine/layout_ks.c, gcc in a kernel-mode C unit) and the GUIDs only user-mode headers
#      define (tests/wine/guids_user.c);
#   2. run time, x86_64 under Wine: tests/wine/client.cpp (header included unmodified) linked with
#      examples/abi_exports.rs cross-compiled for x86_64-pc-windows-gnu: numbers, slots and GUIDs,
#      then mxf objects called through the header (a forwarder, the allocator, a #[mxf_filter]
#      filter, the sample UART miniport and its streams) with C++ objects on the other side;
#   3. negative controls: the same client with two vtable slots swapped, and with the wrong
#      calling convention, must fail; packed headers (dmusicks.h, and the KS / PortCls headers)
#      must each fail the compile-time comparison.
#
# Every check is one "PASS ..." or "FAIL ..." line; the last line is "N passed, N failed". Exits
# non-zero on any failure, on a crash, or if the client's closing line is missing.
# Installs what it needs (apt packages, rustup targets). Run from anywhere: bash .ci/wine.sh
set -euo pipefail
cd "$(dirname "$0")/.."
export CARGO_TERM_COLOR=never
export DEBIAN_FRONTEND=noninteractive

OUT=target/wine            # cargo --target-dir of the cross builds, and everything built here
BIN64=$OUT/bin64           # the x86_64 executables and the DLL stub beside them
BIN32=$OUT/bin32
LOG=$OUT/log
SRC=tests/wine
PREFIX=$PWD/$OUT/prefix    # a private Wine prefix
mkdir -p "$BIN64" "$BIN32" "$LOG"
# Nothing from an earlier run may stand in for this one's results.
rm -f "$OUT"/layout-*.s "$OUT"/layout-*.txt "$LOG"/*.txt "$LOG"/*.raw "$LOG"/*.err "$BIN64"/*.exe "$BIN32"/*.exe

source .ci/lib.sh
checks_begin

# ---------------------------------------------------------------------------------------------
section "setup: packages and targets"

apt_install g++-mingw-w64-x86-64-win32 g++-mingw-w64-i686-win32 wine64

for t in x86_64-pc-windows-gnu i686-pc-windows-gnu; do
  if ! rustup target list --installed | grep -qx "$t"; then
    rustup target add "$t"
  fi
done

WINE=$(find_wine) || { echo "no wine64 binary found"; exit 1; }
WINESERVER=$(find_wineserver "$WINE") || true
echo "wine: $WINE ($("$WINE" --version 2>/dev/null || echo unknown version))"
echo "g++: $(x86_64-w64-mingw32-g++ --version | awk 'NR == 1')"
header=$(printf '#include "prelude.h"\n#include <ddk/dmusicks.h>\n' |
  x86_64-w64-mingw32-g++ -std=c++17 -I"$SRC" -x c++ -M - 2>/dev/null | tr ' \\' '\n\n' | grep -m1 'ddk/dmusicks.h$' || true)
echo "header: ${header:-not found} ($(dpkg -S "$(realpath "${header:-/nonexistent}" 2>/dev/null)" 2>/dev/null |
  cut -d: -f1 | xargs -r dpkg-query -W -f='${Package} ${Version}' 2>/dev/null || echo 'package unknown'))"

# ---------------------------------------------------------------------------------------------
# Builds

NATIVE_LIBS_DEFAULT="-lkernel32 -lntdll -luserenv -lws2_32 -ldbghelp"

# cargo_build TARGET: builds the example as a static library, with rustc's assembly listing.
# Sets RUST_LIB, RUST_ASM and NATIVE_LIBS.
cargo_build() {
  local target=$1 log=$LOG/cargo-$1.txt
  if ! cargo rustc --example abi_exports --target "$target" --target-dir "$OUT" \
      -- --emit asm,link -C codegen-units=1 --print native-static-libs >"$log" 2>&1; then
    cat "$log"
    return 1
  fi
  local dir=$OUT/$target/debug/examples
  RUST_LIB=$dir/libabi_exports.a
  # shellcheck disable=SC2012
  RUST_ASM=$(ls -t "$dir"/abi_exports-*.s 2>/dev/null | awk 'NR == 1' || true)
  NATIVE_LIBS=$(sed -n 's/.*native-static-libs: //p' "$log" | tail -n1)
  NATIVE_LIBS=${NATIVE_LIBS:-$NATIVE_LIBS_DEFAULT}
  [ -f "$RUST_LIB" ] && [ -n "$RUST_ASM" ]
}

# mxfv FILE...: the "name=value" lines of assembly listings. gcc prints a C operand without the
# 'c' modifier as "$value" (layout_ks.c needs that for 64-bit values); the '$' is dropped.
mxfv() { grep -h '# MXFV ' "$@" | sed 's/^.*# MXFV //; s/=\$/=/' | tr -d '\r'; }

# names_of LIST RUST_LIST: the lines of RUST_LIST whose name LIST has too.
names_of() { awk -F= 'NR == FNR { n[$1] = 1; next } ($1 in n)' "$1" "$2"; }

# ddk_include CC: the folder of mingw-w64's <ddk/wdm.h>, which <ddk/portcls.h> includes as <wdm.h>.
ddk_include() {
  local h
  h=$(printf '#include <ddk/wdm.h>\n' | "$1" -x c -M - 2>/dev/null | tr ' \\' '\n\n' | grep -m1 '/ddk/wdm.h$' || true)
  [ -n "$h" ] && dirname "$h"
}

# ks_headers ARCH [DEFINES...]: compiles the KS / PortCls side (layout_ks.c) to $OUT/layout-ks-ARCH*.s.
ks_headers() {
  local arch=$1 cc=$1-w64-mingw32-gcc suffix=""
  shift
  [ $# -eq 0 ] || suffix=-packed
  local ddk
  ddk=$(ddk_include "$cc") || { echo "no <ddk/wdm.h> for $cc"; return 1; }
  "$cc" -std=gnu11 -O2 -Wall -Wextra -Werror -I"$ddk" "$@" -S -o "$OUT/layout-ks-$arch$suffix.s" \
    "$SRC/layout_ks.c" >"$LOG/layout-ks-$arch$suffix.txt" 2>&1 || { cat "$LOG/layout-ks-$arch$suffix.txt"; return 1; }
}

# compare_listings LABEL HEADER_LIST RUST_LIST [quiet]: one check per number. Prints the number of
# mismatches on fd 3 when quiet (used by the negative control), else PASS/FAIL lines.
compare_listings() {
  local label=$1 hdr=$2 rust=$3 quiet=${4:-}
  local bad=0 name value rv
  declare -A rmap=()
  while IFS= read -r line; do rmap["${line%%=*}"]=${line#*=}; done <"$rust"
  while IFS= read -r line; do
    name=${line%%=*}
    value=${line#*=}
    rv=${rmap[$name]-missing}
    if [ "$rv" = "$value" ]; then
      [ -n "$quiet" ] || pass "$label: $name = $value (header) = $rv (Rust)"
    else
      bad=$((bad + 1))
      [ -n "$quiet" ] || fail "$label: $name (header $value, Rust $rv)"
    fi
    unset "rmap[$name]"
  done <"$hdr"
  for name in "${!rmap[@]}"; do
    bad=$((bad + 1))
    [ -n "$quiet" ] || fail "$label: $name is compared by Rust but not by the header side"
  done
  [ -z "$quiet" ] || echo "$bad"
}

# ---------------------------------------------------------------------------------------------
# 1. Compile time, both targets

for arch in x86_64 i686; do
  target=$arch-pc-windows-gnu
  cxx=$arch-w64-mingw32-g++
  section "compile time, $arch: <ddk/dmusicks.h> (g++) vs mxf ($target)"
  if $cxx -std=c++17 -Wall -Wextra -Werror -I"$SRC" -S -o "$OUT/layout-$arch.s" "$SRC/layout_emit.cpp" \
      2>"$LOG/layout-$arch.txt"; then
    pass "$arch: the header compiles unmodified after the prelude, and matches the layout table of domain.md §2.1"
  else
    cat "$LOG/layout-$arch.txt"
    fail "$arch: the header side of the layout comparison does not compile"
    continue
  fi
  if ks_headers "$arch"; then
    pass "$arch: <ddk/portcls.h> (with <ks.h>, <ksmedia.h>) and <ddk/dmusicks.h> compile unmodified in a kernel-mode C unit, and match the sizes of kernel.md §1, §4"
  else
    fail "$arch: the KS / PortCls side of the layout comparison does not compile"
    continue
  fi
  if $arch-w64-mingw32-gcc -std=gnu11 -O2 -Wall -Wextra -Werror -S -o "$OUT/layout-guids-$arch.s" \
      "$SRC/guids_user.c" >"$LOG/layout-guids-$arch.txt" 2>&1; then
    pass "$arch: <dmksctrl.h>, <ksproxy.h>, <devguid.h>, <dmusicc.h> compile unmodified for their GUIDs"
  else
    cat "$LOG/layout-guids-$arch.txt"
    fail "$arch: the user-mode GUID side of the comparison does not compile"
    continue
  fi
  if cargo_build "$target"; then
    pass "$arch: mxf and the ABI exports build for $target (mxf's compile-time layout asserts hold)"
  else
    fail "$arch: cargo build of the ABI exports for $target"
    continue
  fi
  mxfv "$OUT/layout-$arch.s" >"$OUT/layout-$arch.dmusicks.txt"
  mxfv "$OUT/layout-ks-$arch.s" >"$OUT/layout-$arch.ks.txt"
  cat "$OUT/layout-$arch.dmusicks.txt" "$OUT/layout-$arch.ks.txt" >"$OUT/layout-$arch.header.txt"
  mxfv "$OUT/layout-guids-$arch.s" >>"$OUT/layout-$arch.header.txt"
  mxfv "$RUST_ASM" >"$OUT/layout-$arch.rust.txt"
  if [ ! -s "$OUT/layout-$arch.header.txt" ] || [ ! -s "$OUT/layout-$arch.rust.txt" ]; then
    fail "$arch: no layout values found in the assembly listings"
    continue
  fi
  compare_listings "$arch compile time" "$OUT/layout-$arch.header.txt" "$OUT/layout-$arch.rust.txt"
  if [ "$arch" = x86_64 ]; then
    LIB64=$RUST_LIB NATIVE64=$NATIVE_LIBS
  else
    LIB32=$RUST_LIB NATIVE32=$NATIVE_LIBS
  fi
done

# ---------------------------------------------------------------------------------------------
# 2. Run time under Wine

# build_client ARCH OUTPUT [DEFINES...]
build_client() {
  local arch=$1 out=$2
  shift 2
  local lib native
  if [ "$arch" = x86_64 ]; then lib=${LIB64-} native=${NATIVE64-}; else lib=${LIB32-} native=${NATIVE32-}; fi
  [ -n "$lib" ] || return 1
  # shellcheck disable=SC2086
  $arch-w64-mingw32-g++ -std=c++17 -O1 -g -Wall -Wextra -Werror -I"$SRC" "$@" "$SRC/client.cpp" "$lib" \
    -static $native -o "$out" >"$LOG/$(basename "$out").build.txt" 2>&1 || {
    cat "$LOG/$(basename "$out").build.txt"
    return 1
  }
}

build_stub() {
  local arch=$1 dir=$2
  $arch-w64-mingw32-gcc -O2 -shared -o "$dir/bcryptprimitives.dll" "$SRC/bcryptprimitives.c" -ladvapi32
}

# run_client DIR EXE NAME: runs under Wine; output (CR stripped) in $LOG/NAME.txt; sets RUN_RC.
run_client() {
  local dir=$1 exe=$2 name=$3
  RUN_RC=0
  (cd "$dir" && WINEPREFIX="$PREFIX" WINEDEBUG=-all WINEDLLOVERRIDES="mscoree,mshtml=;winedbg.exe=d" \
    timeout 300 "$WINE" "./$exe") >"$LOG/$name.raw" 2>"$LOG/$name.err" || RUN_RC=$?
  tr -d '\r' <"$LOG/$name.raw" >"$LOG/$name.txt"
}

count() { grep -c "$1" "$2" || true; }
show_stderr() {
  [ -s "$1" ] || return 0
  awk 'NR <= 40 { print "  stderr: " $0 }' "$1"
}

section "run time, x86_64 under Wine: C++ client of <ddk/dmusicks.h> linked with mxf"
if ! build_stub x86_64 "$BIN64"; then
  fail "x86_64: the bcryptprimitives.dll stub builds"
elif ! build_client x86_64 "$BIN64/client.exe"; then
  fail "x86_64: the client builds and links with mxf"
else
  pass "x86_64: the client builds and links with mxf"
  [ -d "$PREFIX" ] || echo "creating the Wine prefix $PREFIX"
  run_client "$BIN64" client.exe client
  cat "$LOG/client.txt"
  p=$(count '^PASS ' "$LOG/client.txt")
  f=$(count '^FAIL ' "$LOG/client.txt")
  passed=$((passed + p))
  failed=$((failed + f))
  closing=$(grep '^client done: ' "$LOG/client.txt" || true)
  if [ -z "$closing" ]; then
    show_stderr "$LOG/client.err"
    fail "x86_64 client: closing line missing (exit status $RUN_RC)"
  elif [ "$closing" != "client done: $p passed, $f failed" ]; then
    fail "x86_64 client: closing line '$closing' does not match the $p PASS and $f FAIL lines seen"
  else
    pass "x86_64 client: closing line present and consistent ($p passed, $f failed)"
  fi
  if [ "$RUN_RC" -eq 0 ]; then
    pass "x86_64 client: exit status 0"
  else
    show_stderr "$LOG/client.err"
    fail "x86_64 client: exit status $RUN_RC"
  fi
fi

section "run time, i686"
if build_stub i686 "$BIN32" && build_client i686 "$BIN32/client.exe"; then
  pass "i686: the client builds and links with mxf built for i686-pc-windows-gnu"
  run_client "$BIN32" client.exe client32
  if grep -q '^client: ' "$LOG/client32.txt"; then
    cat "$LOG/client32.txt"
    p=$(count '^PASS ' "$LOG/client32.txt")
    f=$(count '^FAIL ' "$LOG/client32.txt")
    passed=$((passed + p))
    failed=$((failed + f))
    if grep -qx "client done: $p passed, $f failed" "$LOG/client32.txt" && [ "$RUN_RC" -eq 0 ]; then
      pass "i686 client: closing line present, exit status 0"
    else
      fail "i686 client: closing line missing or exit status $RUN_RC"
    fi
  else
    note "this Wine cannot run 32-bit programs; i686 is compared at compile time (above)"
  fi
else
  fail "i686: the client builds and links with mxf built for i686-pc-windows-gnu"
fi

# ---------------------------------------------------------------------------------------------
# 3. Negative controls: each must make the check fail.

# negative_control NAME DESCRIPTION DEFINE
negative_control() {
  local name=$1 what=$2 define=$3 exe=neg-$1.exe
  if ! build_client x86_64 "$BIN64/$exe" "-D$define"; then
    fail "negative control $name: does not build"
    return
  fi
  run_client "$BIN64" "$exe" "neg-$name"
  local log=$LOG/neg-$name.txt
  local f closing
  f=$(count '^FAIL ' "$log")
  closing=$(grep '^client done: ' "$log" || true)
  # It must get as far as calling mxf objects, so the failure is the one under test.
  if ! grep -q '^PASS forwarder: created' "$log"; then
    awk 'NR <= 20 { print "  | " $0 }' "$log"
    fail "negative control $name: the client did not get as far as calling mxf objects (exit status $RUN_RC)"
  elif [ "$f" -gt 0 ] || [ "$RUN_RC" -ne 0 ] || [ -z "$closing" ]; then
    awk '/^FAIL / && n++ < 5 { print "  | " $0 }' "$log"
    [ "$RUN_RC" -eq 0 ] || awk '/panicked|exception|fault|error/ && n++ < 2 { print "  stderr: " $0 }' "$LOG/neg-$name.err"
    local crash=""
    [ -z "$closing" ] && crash=", crashed before its closing line"
    pass "negative control $name ($what): failed as expected ($f checks failed, exit status $RUN_RC$crash)"
  else
    fail "negative control $name ($what): passed, but it must fail"
  fi
}

section "negative controls"
if [ -n "${LIB64-}" ] && [ -f "$BIN64/bcryptprimitives.dll" ]; then
  negative_control swapped-slots "IMXF redeclared with SetState and PutMessage swapped" MXF_NEG_SWAPPED_SLOTS
  negative_control sysv-abi "mxf objects called with the System V x86-64 convention" MXF_NEG_SYSV_ABI
else
  fail "negative controls: the x86_64 build they need is missing"
fi

# The compile-time comparison must notice headers laid out differently (#pragma pack(4)). Each
# packed side is compared with the Rust values of the same names only, so every difference
# counted is one the packing made (a name the packed side lacks would count too, and prove
# nothing).
# packed_control NAME ARCH PACKED_LIST UNPACKED_LIST
packed_control() {
  local name=$1 arch=$2 packed=$3 unpacked=$4 bad
  names_of "$unpacked" "$OUT/layout-$arch.rust.txt" >"$OUT/layout-$arch-$name.rust.txt"
  bad=$(compare_listings "$arch packed" "$packed" "$OUT/layout-$arch-$name.rust.txt" quiet)
  if [ "$bad" -gt 0 ]; then
    pass "negative control $name-$arch (#pragma pack(4) around the headers): failed as expected ($bad values differ)"
  else
    fail "negative control $name-$arch (#pragma pack(4) around the headers): passed, but it must fail"
  fi
}
for arch in x86_64 i686; do
  if [ ! -s "$OUT/layout-$arch.rust.txt" ]; then
    fail "negative controls packed-header-$arch, packed-ks-headers-$arch: the Rust listing they need is missing"
    continue
  fi
  if $arch-w64-mingw32-g++ -std=c++17 -I"$SRC" -S -o "$OUT/layout-$arch-packed.s" \
       -DMXF_NEG_PACK4 "$SRC/layout_emit.cpp" 2>"$LOG/layout-$arch-packed.txt"; then
    mxfv "$OUT/layout-$arch-packed.s" >"$OUT/layout-$arch-packed.header.txt"
    packed_control packed-header "$arch" "$OUT/layout-$arch-packed.header.txt" "$OUT/layout-$arch.dmusicks.txt"
  else
    cat "$LOG/layout-$arch-packed.txt" 2>/dev/null || true
    fail "negative control packed-header-$arch: does not build"
  fi
  if ks_headers "$arch" -DMXF_NEG_PACK4; then
    mxfv "$OUT/layout-ks-$arch-packed.s" >"$OUT/layout-$arch-packed.ks.txt"
    packed_control packed-ks-headers "$arch" "$OUT/layout-$arch-packed.ks.txt" "$OUT/layout-$arch.ks.txt"
  else
    fail "negative control packed-ks-headers-$arch: does not build"
  fi
done

# ---------------------------------------------------------------------------------------------
finished=1
echo
echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]

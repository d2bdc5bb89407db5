#!/usr/bin/env bash
# The Wine kernel tier (design.md, testing tier 6, second half): the driver images run under
# Wine's kernel emulation (winedevice.exe with its ntoskrnl.exe) against a PortCls test double
# the project builds as its own portcls.sys (tests/wine-kernel/portcls).
#
#   1. build: import libraries from the .def files, each driver (x86_64, panic=abort, fat LTO,
#      the link of .ci/drivers.sh) and the double, linked with mingw-w64; the song file written
#      on Linux from the embedded demo song (cargo run --example wine_kernel -- song);
#   2. per driver, in a fresh Wine prefix with a persistent wineserver: `sc create` (type= kernel),
#      `net start` (DriverEntry: the double plays PnP, AddDevice, StartDevice with a resource
#      list, then opens every pin the descriptors offer and plays the song into them), `net stop`
#      (DriverUnload: the double removes the device and writes C:\mxf-wine\result.txt);
#   3. checks: both net commands exit 0, no `No implementation for` line (WINEDEBUG=warn+module),
#      no abort of winedevice, the driver's own report of its pool at unload (`mxf: unloaded, 0
#      pool blocks outstanding`, DbgPrint, WINEDEBUG=+debugstr) and the result file compared with
#      the song (cargo run --example wine_kernel -- check);
#   4. negative controls, each of which must fail a check: nullmidi with two IMiniportDMus slots
#      swapped (feature wine-control-swapped-slots), leaking one event (wine-control-leak-event),
#      importing a function Wine lacks (wine-control-missing-import: ExAllocatePool2).
#
# Every check is one "PASS ..." or "FAIL ..." line; the last line is "N passed, N failed". Exits
# non-zero on any failure. Installs what it needs (apt packages, rustup targets).
# Run alone from anywhere: bash .ci/wine-kernel.sh   (WINE_KERNEL_CONTROLS=0 skips step 4)
set -euo pipefail
cd "$(dirname "$0")/.."
export CARGO_TERM_COLOR=never
export DEBIAN_FRONTEND=noninteractive

OUT=target/wine-kernel
BUILD=target/drivers/build   # shared with .ci/drivers.sh: the same profile, so its cache serves
LIBS=$OUT/importlibs
LOG=$OUT/log
PREFIX=$PWD/$OUT/prefix
DEFS=.ci/driver
SRC=tests/wine-kernel
mkdir -p "$OUT/sys" "$BUILD" "$LIBS" "$LOG"
rm -f "$OUT"/sys/*.sys "$LOG"/* "$LIBS"/*.a "$OUT/song.bin"

source .ci/lib.sh
checks_begin

# ---------------------------------------------------------------------------------------------
section "setup: packages and targets"
apt_install gcc-mingw-w64-x86-64-win32 binutils-mingw-w64-x86-64 wine64
rustup target list --installed | grep -qx x86_64-pc-windows-gnu || rustup target add x86_64-pc-windows-gnu

WINE=$(find_wine) || { echo "no wine64 binary found"; exit 1; }
WINESERVER_BIN=$(find_wineserver "$WINE") || true
echo "wine: $WINE ($("$WINE" --version 2>/dev/null || echo unknown version)), wineserver: ${WINESERVER_BIN:-none}"
[ -n "${WINESERVER_BIN:-}" ] || { echo "no wineserver found"; exit 1; }

TARGET=x86_64-pc-windows-gnu
TOOL=x86_64-w64-mingw32

# ---------------------------------------------------------------------------------------------
section "build: import libraries, drivers, the PortCls double, the song"

for def in "$DEFS"/x64/*.def; do
  "$TOOL-dlltool" -d "$def" -l "$LIBS/lib$(basename "$def" .def).a"
done
mkdir -p "$LIBS/double"
"$TOOL-dlltool" -d "$SRC/portcls/ntoskrnl.def" -l "$LIBS/double/libntoskrnl.a"
# The negative control that imports what Wine lacks: ExAllocatePool2 from ntoskrnl.exe.
mkdir -p "$LIBS/control"
printf 'LIBRARY ntoskrnl.exe\nEXPORTS\nExAllocatePool2\n' >"$LIBS/control/missing.def"
"$TOOL-dlltool" -d "$LIBS/control/missing.def" -l "$LIBS/control/libmissing.a"

driver_cargo() {
  CARGO_TARGET_DIR="$BUILD" \
    CARGO_PROFILE_RELEASE_PANIC=abort \
    CARGO_PROFILE_RELEASE_LTO=fat \
    CARGO_PROFILE_RELEASE_CODEGEN_UNITS=1 \
    CARGO_PROFILE_RELEASE_DEBUG=false \
    CARGO_PROFILE_DEV_PANIC=abort \
    cargo "$@"
}

"$TOOL-gcc" -c -O2 -ffreestanding -fno-asynchronous-unwind-tables -o "$OUT/unwind.o" "$DEFS/unwind.c"
# x64 port I/O (`in`/`out`), linked as by .ci/drivers.sh (uart.sys refers to it; under Wine its
# factory takes the double's device instead and never reaches the ports).
"$TOOL-as" -o "$OUT/portio.o" "$DEFS/x64/portio.S"

# staticlib PACKAGE [FEATURES]: the x86_64 staticlib of a package; prints its path.
staticlib() {
  local package=$1 features=${2:-}
  local args=(rustc -q -p "$package" --lib --release --target "$TARGET" --crate-type staticlib)
  [ -n "$features" ] && args+=(--features "$features")
  driver_cargo "${args[@]}" >&2 || return 1
  echo "$BUILD/$TARGET/release/lib${package//-/_}.a"
}

# link_driver PACKAGE SYS [FEATURES [EXTRA-LIBS]]: the link of .ci/drivers.sh.
link_driver() {
  local package=$1 sys=$2 features=${3:-} extra=${4:-} lib
  # `image`: the crate as a driver image (mxf's kernel backend, DriverEntry, the panic handler).
  lib=$(staticlib "$package" "image${features:+,$features}") || return 1
  # shellcheck disable=SC2086
  "$TOOL-gcc" -nostdlib -shared \
    -Wl,--subsystem,native -Wl,--entry,DriverEntry -Wl,--undefined,DriverEntry \
    -Wl,--image-base,0x140000000 -Wl,--dynamicbase -Wl,--nxcompat -Wl,--enable-reloc-section \
    -Wl,--gc-sections -Wl,--exclude-all-symbols -Wl,--strip-debug -Wl,-T,"$DEFS/discard.ld" \
    -o "$sys" "$lib" "$OUT/unwind.o" "$OUT/portio.o" -L"$LIBS" $extra -lportcls -lntoskrnl -lhal -lgcc
}

# The double: exports from its .def, imports from its own ntoskrnl import library.
link_double() {
  local lib
  lib=$(staticlib mxf-wine-portcls image) || return 1
  "$TOOL-gcc" -nostdlib -shared \
    -Wl,--subsystem,native -Wl,--entry,DoubleEntry \
    -Wl,--image-base,0x150000000 -Wl,--dynamicbase -Wl,--nxcompat -Wl,--enable-reloc-section \
    -Wl,--gc-sections -Wl,--strip-debug -Wl,-T,"$DEFS/discard.ld" \
    -o "$OUT/sys/portcls.sys" "$SRC/portcls/portcls.def" "$lib" "$OUT/unwind.o" \
    -L"$LIBS/double" -L"$LIBS" -lntoskrnl -lhal -lgcc
}

if link_double; then
  exports=$("$TOOL-objdump" -p "$OUT/sys/portcls.sys" | awk '/\[Ordinal\/Name Pointer\] Table/ {f=1; next} f && /\]/ {print $NF} f && /^$/ {f=0}' | sort | xargs)
  want=$(sed -e 's/;.*//' "$DEFS/x64/portcls.def" | awk 'f && NF {print $1} /^EXPORTS/ {f=1}' | sort | xargs)
  [ "$exports" = "$want" ] && pass "the PortCls double links into portcls.sys and exports what drivers import ($exports)" \
    || fail "the PortCls double's exports ($exports) are not those of .ci/driver/x64/portcls.def ($want)"
else
  fail "the PortCls double builds and links"
fi

# The drivers: every crate under examples/drivers/ with [package.metadata.mxf-driver], with
# the subdevices the result must show (the declaration's names, from the INF writer's binary).
drivers=$(cargo metadata --no-deps --format-version 1 | python3 -c '
import json, os, sys
root = os.getcwd()
for p in json.load(sys.stdin)["packages"]:
    meta = (p.get("metadata") or {}).get("mxf-driver")
    path = os.path.relpath(p["manifest_path"], root)
    if meta and path.startswith("examples/drivers/"):
        print(p["name"], meta["sys"], meta.get("inf-bin", "-"))
')
built=()
while read -r package sys inf_bin; do
  [ -n "$package" ] || continue
  if link_driver "$package" "$OUT/sys/$sys.sys"; then
    pass "$package linked into $OUT/sys/$sys.sys"
    built+=("$package $sys $inf_bin")
  else
    fail "$package builds and links"
  fi
done <<<"$drivers"

if cargo run -q --example wine_kernel -- song "$OUT/song.bin"; then
  pass "the song file written from the embedded demo song ($OUT/song.bin)"
else
  fail "the song file"
fi

# ---------------------------------------------------------------------------------------------
# Wine

# +pid: every line starts with "pid:tid:", so a crash is told apart by the process it hit.
WINEDEBUG_TIER="+pid,warn+module,+debugstr"
w() { WINEPREFIX="$PREFIX" WINEDEBUG="$WINEDEBUG_TIER" WINEDLLOVERRIDES="mscoree,mshtml=;winedbg.exe=d" "$@"; }
ERR=$LOG/wine.err

section "a fresh Wine prefix, a persistent wineserver"
t0=$(date +%s)
if [ -n "$WINESERVER" ]; then w "$WINESERVER" -k >/dev/null 2>&1 || true; fi
rm -rf "$PREFIX"
mkdir -p "$PREFIX"
: >"$ERR"
w "$WINESERVER_BIN" -p >>"$ERR" 2>&1
WINESERVER=$WINESERVER_BIN
if w timeout 300 "$WINE" wineboot -i >>"$ERR" 2>&1; then
  pass "wineboot made the prefix in $(( $(date +%s) - t0 )) s"
else
  fail "wineboot (see $ERR)"
fi
# A new session for the drivers: on a prefix wineboot has just made, the service manager it
# started is still busy ("Service database locked", "Could not get handle to service").
w "$WINESERVER_BIN" -k >/dev/null 2>&1 || true
w "$WINESERVER_BIN" -w >/dev/null 2>&1 || true
w "$WINESERVER_BIN" -p >>"$ERR" 2>&1
DRIVE=$PREFIX/drive_c
mkdir -p "$DRIVE/mxf-wine"
cp "$OUT/sys/portcls.sys" "$DRIVE/windows/system32/drivers/portcls.sys"
cp "$OUT/song.bin" "$DRIVE/mxf-wine/song.bin"

# run_driver NAME SYS-PATH: one service's life. Sets NET_START, NET_STOP, RUN_LOG (the part of
# the Wine log this run wrote) and RESULT (the result file, copied).
run_driver() {
  local name=$1 sys=$2 from
  NAME_IN_LOG=$name
  rm -f "$DRIVE/mxf-wine/result.txt"
  cp "$sys" "$DRIVE/mxf-wine/$name.sys"
  from=$(stat -c %s "$ERR")
  NET_START=0 NET_STOP=0
  w timeout 120 "$WINE" sc create "$name" type= kernel start= demand binpath= "C:\\mxf-wine\\$name.sys" >>"$ERR" 2>&1 || true
  w timeout 120 "$WINE" net start "$name" >>"$ERR" 2>&1 || NET_START=$?
  w timeout 120 "$WINE" net stop "$name" >>"$ERR" 2>&1 || NET_STOP=$?
  w timeout 120 "$WINE" sc delete "$name" >>"$ERR" 2>&1 || true
  RUN_LOG=$LOG/$name.err
  tail -c +"$((from + 1))" "$ERR" >"$RUN_LOG"
  RESULT=$LOG/$name.result.txt
  if [ -f "$DRIVE/mxf-wine/result.txt" ]; then tr -d '\r' <"$DRIVE/mxf-wine/result.txt" >"$RESULT"; else rm -f "$RESULT"; fi
}

# check_run LABEL SUBDEVICES...: the checks of one run, counted. Quiet with CHECK_QUIET=1
# (negative controls): then only the number of failed checks is printed, on stdout.
check_run() {
  local label=$1
  shift
  local out="" bad=0
  line() { out+="$1"$'\n'; }
  [ "$NET_START" -eq 0 ] && line "PASS $label: net start exit status 0" || line "FAIL $label: net start exit status $NET_START"
  [ "$NET_STOP" -eq 0 ] && line "PASS $label: net stop exit status 0" || line "FAIL $label: net stop exit status $NET_STOP"
  local missing
  missing=$(grep -a 'No implementation for' "$RUN_LOG" | sed 's/^.*No implementation/No implementation/' | sort -u | head -5 || true)
  [ -z "$missing" ] && line "PASS $label: no 'No implementation for' line" || line "FAIL $label: $(tr '\n' ';' <<<"$missing")"
  # A crash, an unimplemented function or a stub that aborts, in the winedevice process that
  # loaded the driver (the process of the lines naming its image or printed by the double; a
  # crash of another Wine process of the session is noted, not counted).
  local pids crash other
  pids=$(grep -aE "mxf-wine-portcls: |\\\\$NAME_IN_LOG\.sys" "$RUN_LOG" | grep -aoE '^[0-9a-f]{4,8}:' | sort -u | tr -d ':' | xargs)
  crash="" other=""
  while IFS= read -r l; do
    [ -n "$l" ] || continue
    local pid=${l%%:*} dbg
    dbg=$(sed -nE 's/.*winedbg --auto ([0-9]+) .*/\1/p' <<<"$l")
    [ -n "$dbg" ] && pid=$(printf '%04x' "$dbg")
    if [ -z "$pids" ] || grep -qw "$pid" <<<"$pids"; then crash+="$l;"; else other+="$l;"; fi
  done < <(grep -aE 'Unhandled exception|unimplemented function|stub .*abort|wine: .*(exception|crash)|err:seh|KeBugCheck' "$RUN_LOG" | head -5 || true)
  [ -z "$pids" ] && line "FAIL $label: no line of the driver's winedevice process found in the log"
  [ -z "$crash" ] && line "PASS $label: winedevice ($pids) neither crashed nor aborted in a stub" || line "FAIL $label: in winedevice: $crash"
  [ -z "$other" ] || out+="note: $label: another Wine process of the session failed: $other"$'\n'
  local unloaded
  unloaded=$(grep -ao 'mxf: unloaded, [0-9]* pool blocks outstanding' "$RUN_LOG" | tail -1 || true)
  [ "$unloaded" = "mxf: unloaded, 0 pool blocks outstanding" ] \
    && line "PASS $label: the driver unloaded with every pool block it allocated freed ($unloaded)" \
    || line "FAIL $label: the driver's pool at unload: '${unloaded:-no report}'"
  if [ -f "$RESULT" ]; then
    out+="$( (cargo run -q --example wine_kernel -- check "$RESULT" "$@" || true) | sed "s/^\(PASS\|FAIL\) /\1 $label: /")"$'\n'
  else
    line "FAIL $label: no result file (C:\\mxf-wine\\result.txt)"
  fi
  bad=$(grep -c '^FAIL ' <<<"$out" || true)
  if [ "${CHECK_QUIET:-0}" = 1 ]; then
    echo "$bad"
  else
    printf '%s' "$out" | sed '/^[0-9]* passed, [0-9]* failed$/d'
  fi
}

# subdevices PACKAGE: the names the declaration gives PcRegisterSubdevice (read from its INF).
subdevices() {
  local package=$1 inf_bin=$2
  [ "$inf_bin" = "-" ] && return 0
  cargo run -q -p "$package" --bin "$inf_bin" -- amd64 2>/dev/null | sed -n 's/^AddInterface=%KSCATEGORY_AUDIO%,%KSNAME_\([A-Za-z0-9_]*\)%.*/\1/p' | sort -u | xargs
}

# What a driver's capture pins must read back when it is not the song itself: the vmidi
# declaration's third cable transposes an octave up (examples/drivers/vmidi, OCTAVE_UP). (The
# UART driver's MPU-401 is the double's loopback wire: it reads the song back unchanged.)
declare -A TRANSFORMS=([mxf-driver-vmidi]="VirtualMidi3=transpose:12")

for entry in "${built[@]}"; do
  read -r package sys inf_bin <<<"$entry"
  section "$package under Wine ($sys.sys with portcls.sys)"
  names="${TRANSFORMS[$package]:-} $(subdevices "$package" "$inf_bin")"
  t0=$(date +%s%N)
  run_driver "mxf$sys" "$OUT/sys/$sys.sys"
  t1=$(date +%s%N)
  note "service start and stop in $(( (t1 - t0) / 1000000 )) ms; subdevices and transforms: $names"
  # shellcheck disable=SC2086
  counted check_run "$sys" $names
done

# ---------------------------------------------------------------------------------------------
if [ "${WINE_KERNEL_CONTROLS:-1}" = 1 ]; then
  section "negative controls: each must fail"
  # control NAME FEATURE DESCRIPTION [EXTRA-LIBS]
  control() {
    local name=$1 feature=$2 what=$3 extra=${4:-} sys=$OUT/sys/control-$1.sys bad
    if ! link_driver mxf-driver-nullmidi "$sys" "$feature" "$extra"; then
      fail "negative control $name: does not build"
      return
    fi
    run_driver "mxfctl$name" "$sys"
    bad=$(CHECK_QUIET=1 check_run "control $name" NullMidi1 NullMidi2)
    if [ "$bad" -gt 0 ]; then
      CHECK_QUIET=0 check_run "control $name" NullMidi1 NullMidi2 | grep '^FAIL' | head -3 | sed 's/^FAIL /  | /'
      pass "negative control $name ($what): failed as expected ($bad checks failed)"
    else
      fail "negative control $name ($what): passed, but it must fail"
    fi
  }
  control swapped-slots wine-control-swapped-slots "IMiniportDMus's Service and NewStream slots swapped"
  control leak-event wine-control-leak-event "the render stream keeps one event"
  control missing-import wine-control-missing-import "imports ExAllocatePool2, which Wine 8 lacks" "-L$LIBS/control -lmissing"
fi

finished=1
echo
echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]

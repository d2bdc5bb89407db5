#!/usr/bin/env bash
# The driver tier (design.md, testing tier 6, first half): every driver crate under
# examples/drivers/ built for Windows on Linux, linked into a .sys with mingw-w64, and checked.
#
#   1. import libraries of ntoskrnl.exe, hal.dll and portcls.sys made with dlltool from the
#      project's .def files (.ci/driver/x64, .ci/driver/x86), checked against the allowlist
#      (.ci/driver/allowlist.txt) and, for i686, against mingw-w64's own decorated names;
#   2. the kernel types mxf declares by hand compared with mingw-w64's <ddk/wdm.h>
#      (.ci/driver/layout.c, x86_64 and i686);
#   3. per driver crate (a package under examples/drivers/ with [package.metadata.mxf-driver]):
#      the x86_64-pc-windows-gnu and i686-pc-windows-gnu staticlibs (panic=abort, fat LTO) linked
#      (with .ci/driver/unwind.c, and on x64 the port I/O of .ci/driver/x64/portio.S)
#      into target/drivers/NAME.sys and target/drivers/i686/NAME.sys, each image checked by
#      .ci/driver/check_sys.py (PE32+/PE32, native subsystem, relocations, imports allowlisted,
#      no C runtime or unwinding import, no export, usual sections only and none writable and
#      executable, entry point DriverEntry, PE checksum, size, and no reachable panic); `cargo
#      check` for aarch64-pc-windows-msvc (no
#      aarch64 linker here: not linked); the INF (target/drivers/NAME.inf, i686/NAME.inf);
#      test-signing with osslsigncode where installed (target/drivers/testsigned/);
#   4. the negative control: a driver built with its negative-control feature (a reachable
#      panic) must fail the no-panic check, which must name the function that reaches it.
#
# Every check is one "PASS ..." or "FAIL ..." line; the last line is "N passed, N failed". Exits
# non-zero on any failure. Installs what it needs (apt packages, rustup targets).
# Run from anywhere: bash .ci/drivers.sh
set -euo pipefail
cd "$(dirname "$0")/.."
export CARGO_TERM_COLOR=never
export DEBIAN_FRONTEND=noninteractive

OUT=target/drivers          # the images, maps and INFs
BUILD=$OUT/build            # cargo --target-dir of the driver builds
LIBS=$OUT/importlibs        # the import libraries made from the .def files
DEFS=.ci/driver
mkdir -p "$OUT/i686" "$BUILD" "$LIBS/x64" "$LIBS/x86" "$OUT/testsigned" "$OUT/control"
# Nothing from an earlier run may stand in for this one's results.
rm -f "$OUT"/*.sys "$OUT"/*.map "$OUT"/*.inf "$OUT"/i686/* "$OUT"/testsigned/*.sys "$OUT"/control/* \
  "$LIBS"/x64/*.a "$LIBS"/x86/*.a

source .ci/lib.sh
checks_begin

# ---------------------------------------------------------------------------------------------
section "setup: packages and targets"

apt_install g++-mingw-w64-x86-64-win32 binutils-mingw-w64-x86-64 \
  gcc-mingw-w64-i686-win32 binutils-mingw-w64-i686 python3
# Test-signing is optional: install osslsigncode if the distribution has it.
if ! command -v osslsigncode >/dev/null; then
  apt_install osslsigncode openssl || note "osslsigncode is not available: the images are not test-signed"
fi

for t in x86_64-pc-windows-gnu i686-pc-windows-gnu aarch64-pc-windows-msvc; do
  if ! rustup target list --installed | grep -qx "$t"; then
    rustup target add "$t"
  fi
done

# arch -> rust target, tools, link settings
declare -A TARGET=([x64]=x86_64-pc-windows-gnu [x86]=i686-pc-windows-gnu)
declare -A TOOL=([x64]=x86_64-w64-mingw32 [x86]=i686-w64-mingw32)
declare -A ENTRY=([x64]=DriverEntry [x86]=_DriverEntry@8)
declare -A BASE=([x64]=0x140000000 [x86]=0x10000)
declare -A KILL_AT=([x64]="" [x86]="-k")
declare -A SUBDIR=([x64]="" [x86]="i686/")
declare -A INF_ARCH=([x64]=amd64 [x86]=x86)

# ---------------------------------------------------------------------------------------------
section "import libraries from the project's .def files"

# The allowlist, as "dll function" lines.
allow=$(sed -e 's/#.*//' -e '/^[[:space:]]*$/d' "$DEFS/allowlist.txt")
for arch in x64 x86; do
  for def in "$DEFS/$arch"/*.def; do
    dll=$(basename "$def" .def)
    lib="$LIBS/$arch/lib$dll.a"
    "${TOOL[$arch]}-dlltool" ${KILL_AT[$arch]} -d "$def" -l "$lib"
    image=$(awk '/^LIBRARY/ {print $2}' "$def")
    names=$(sed -e 's/;.*//' "$def" | awk 'f && NF {print $1} /^EXPORTS/ {f=1}')
    n=$(wc -w <<<"$names")
    [ -s "$lib" ] && pass "$arch lib$dll.a from $def ($n functions of $image)" || fail "$arch lib$dll.a from $def"
    # Every function of the .def is in the allowlist (undecorated: no leading @, no @bytes).
    missing=""
    for name in $names; do
      plain=$(sed -E 's/^@//; s/@[0-9]+$//' <<<"$name")
      grep -qx "$image $plain" <<<"$allow" || missing="$missing $plain"
    done
    [ -z "$missing" ] && pass "$arch $dll.def: every function in the allowlist" \
      || fail "$arch $dll.def: not in the allowlist:$missing"
    # i686 decorations must be the real ones: compare with mingw-w64's import library of the
    # same DLL where it has one (it has none for portcls.sys).
    mingw="/usr/${TOOL[$arch]}/lib/lib$dll.a"
    if [ "$arch" = x86 ] && [ -f "$mingw" ]; then
      symbols=$("${TOOL[$arch]}-nm" "$mingw" 2>/dev/null | awk '$2 == "T" {print $3}' | sort -u)
      wrong=""
      for name in $names; do
        case "$name" in @*) sym="$name" ;; *) sym="_$name" ;; esac
        grep -qxF "$sym" <<<"$symbols" || wrong="$wrong $sym"
      done
      [ -z "$wrong" ] && pass "x86 $dll.def: decorations agree with mingw-w64's lib$dll.a" \
        || fail "x86 $dll.def: not in mingw-w64's lib$dll.a:$wrong"
    fi
  done
done

# ---------------------------------------------------------------------------------------------
section "kernel types of mxf::driver vs mingw-w64's <ddk/wdm.h>"

for arch in x64 x86; do
  if "${TOOL[$arch]}-gcc" -fsyntax-only -I/usr/share/mingw-w64/include/ddk "$DEFS/layout.c" 2>"$OUT/layout-$arch.err"; then
    pass "$arch: DRIVER_OBJECT, UNICODE_STRING, CM_PARTIAL_RESOURCE_DESCRIPTOR, KTIMER, KDPC as mxf declares them"
  else
    cat "$OUT/layout-$arch.err"
    fail "$arch: the header's layouts differ from mxf/src/driver/types.rs"
  fi
done

# ---------------------------------------------------------------------------------------------
# The driver crates: "package sys inf-bin negative-control" per line.
drivers=$(cargo metadata --no-deps --format-version 1 | python3 -c '
import json, os, sys
root = os.getcwd()
for p in json.load(sys.stdin)["packages"]:
    meta = (p.get("metadata") or {}).get("mxf-driver")
    path = os.path.relpath(p["manifest_path"], root)
    if meta and path.startswith("examples/drivers/"):
        print(p["name"], meta["sys"], meta.get("inf-bin", "-"), meta.get("negative-control", "-"))
')
[ -n "$drivers" ] && pass "driver crates: $(awk '{print $1}' <<<"$drivers" | xargs)" || fail "no driver crate under examples/drivers/"

# The profile of a driver: panic=abort (nothing unwinds in the kernel), one codegen unit and fat
# LTO (so that LLVM proves what it can dead across crates), no debug info.
driver_cargo() {
  CARGO_TARGET_DIR="$BUILD" \
    CARGO_PROFILE_RELEASE_PANIC=abort \
    CARGO_PROFILE_RELEASE_LTO=fat \
    CARGO_PROFILE_RELEASE_CODEGEN_UNITS=1 \
    CARGO_PROFILE_RELEASE_DEBUG=false \
    CARGO_PROFILE_DEV_PANIC=abort \
    cargo "$@"
}

# link ARCH PACKAGE SYS-PATH [FEATURES]: builds the staticlib and links the image.
link() {
  local arch=$1 package=$2 sys=$3 features=${4:-}
  local crate=${package//-/_}
  local target=${TARGET[$arch]}
  local tool=${TOOL[$arch]}
  # `cargo rustc --crate-type staticlib`: the staticlib alone (rustc does no LTO when an rlib is
  # built in the same invocation).
  # `image`: the crate as a driver image (mxf's kernel backend, DriverEntry, the panic handler).
  local args=(rustc -p "$package" --lib --release --target "$target" --crate-type staticlib
    --features "image${features:+,$features}")
  driver_cargo "${args[@]}" || return 1
  "$tool-gcc" -c -O2 -ffreestanding -fno-asynchronous-unwind-tables -o "$BUILD/unwind-$arch.o" "$DEFS/unwind.c" || return 1
  # x64 port I/O (READ_PORT_UCHAR / WRITE_PORT_UCHAR are intrinsics there, not hal exports):
  # two leaf functions, assembled, linked beside unwind.o.
  local objects=("$BUILD/unwind-$arch.o")
  if [ -f "$DEFS/$arch/portio.S" ]; then
    "$tool-as" -o "$BUILD/portio-$arch.o" "$DEFS/$arch/portio.S" || return 1
    objects+=("$BUILD/portio-$arch.o")
  fi
  "$tool-gcc" -nostdlib -shared \
    -Wl,--subsystem,native -Wl,--entry,"${ENTRY[$arch]}" -Wl,--undefined,"${ENTRY[$arch]}" \
    -Wl,--image-base,"${BASE[$arch]}" -Wl,--dynamicbase -Wl,--nxcompat -Wl,--enable-reloc-section \
    -Wl,--gc-sections -Wl,--exclude-all-symbols -Wl,--strip-debug \
    -Wl,-T,"$DEFS/discard.ld" -Wl,-Map,"${sys%.sys}.map" \
    -o "$sys" "$BUILD/$target/release/lib$crate.a" "${objects[@]}" \
    -L"$LIBS/$arch" -lportcls -lntoskrnl -lhal -lgcc
}

check() {
  local arch=$1 sys=$2
  shift 2
  counted python3 "$DEFS/check_sys.py" --arch "$arch" --allowlist "$DEFS/allowlist.txt" \
    --objdump "${TOOL[$arch]}-objdump" --cxxfilt "${TOOL[$arch]}-c++filt" "$@" "$sys"
}

signing_key=""
make_signing_key() {
  [ -n "$signing_key" ] && return 0
  command -v osslsigncode >/dev/null && command -v openssl >/dev/null || return 1
  openssl req -x509 -newkey rsa:2048 -nodes -days 7 -subj "/CN=mxf test signing" \
    -addext "extendedKeyUsage=codeSigning" -keyout "$BUILD/testsign.key" -out "$BUILD/testsign.crt" \
    >/dev/null 2>&1 || return 1
  signing_key="$BUILD/testsign.key"
}

while read -r package sys_name inf_bin control; do
  section "driver $package -> $sys_name.sys"
  for arch in x64 x86; do
    sys="$OUT/${SUBDIR[$arch]}$sys_name.sys"
    if link "$arch" "$package" "$sys"; then
      pass "$arch: $package built (${TARGET[$arch]}, panic=abort, LTO) and linked into $sys"
      check "$arch" "$sys"
    else
      fail "$arch: $package could not be built or linked"
      continue
    fi
    if [ "$inf_bin" != "-" ]; then
      inf="$OUT/${SUBDIR[$arch]}$sys_name.inf"
      if cargo run -q -p "$package" --bin "$inf_bin" -- "${INF_ARCH[$arch]}" >"$inf" \
        && grep -q "ServiceBinary=%12%\\\\$sys_name.sys" "$inf" \
        && grep -q "^%ManufacturerName%=Models,NT${INF_ARCH[$arch]}" "$inf"; then
        pass "$arch: $inf written from the declarations ($(grep -c '^AddInterface=' "$inf") interfaces)"
      else
        fail "$arch: no INF for $sys_name (cargo run -p $package --bin $inf_bin)"
      fi
    fi
    if make_signing_key; then
      signed="$OUT/testsigned/${SUBDIR[$arch]//\//-}$sys_name.sys"
      if osslsigncode sign -certs "$BUILD/testsign.crt" -key "$signing_key" -n "$sys_name" -h sha256 \
        -in "$sys" -out "$signed" >/dev/null \
        && osslsigncode verify -CAfile "$BUILD/testsign.crt" -in "$signed" >/dev/null 2>&1; then
        pass "$arch: test-signed with a self-made certificate and verified ($signed)"
        check "$arch" "$signed"
      else
        fail "$arch: test-signing $sys with osslsigncode"
      fi
    else
      note "$arch: not test-signed (osslsigncode or openssl missing)"
    fi
  done

  if driver_cargo check -q -p "$package" --lib --features image --target aarch64-pc-windows-msvc; then
    pass "arm64: $package checked for aarch64-pc-windows-msvc (not linked: no aarch64 Windows linker here)"
  else
    fail "arm64: cargo check of $package for aarch64-pc-windows-msvc"
  fi

  if [ "$control" != "-" ]; then
    section "negative control: $package with feature $control (a reachable panic)"
    sys="$OUT/control/$sys_name.sys"
    if link x64 "$package" "$sys" "$control"; then
      check x64 "$sys" --expect-panic "$package"
    else
      fail "x64: $package --features $control could not be built or linked"
    fi
  fi
done <<<"$drivers"

finished=1
echo
echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]

# Shared by the tier scripts (.ci/run, wine.sh, wine-kernel.sh, drivers.sh), which source it after
# `cd` to the project: apt installs, finding Wine, and for a tier that reports checks, the
# PASS/FAIL counts and the trap that fails a tier stopping early.

have_pkg() { dpkg-query -W -f='${Status}' "$1" 2>/dev/null | grep -q "install ok installed"; }

# Installs the packages of the distribution that are missing (with sudo when not root).
apt_install() {
  local missing=()
  for p in "$@"; do have_pkg "$p" || missing+=("$p"); done
  if [ ${#missing[@]} -gt 0 ]; then
    local sudo=""
    if [ "$(id -u)" -ne 0 ] && command -v sudo >/dev/null; then sudo=sudo; fi
    echo "installing: ${missing[*]}"
    $sudo apt-get update -qq
    $sudo apt-get install -y -qq "${missing[@]}" >/dev/null
  fi
}

# Prints the wine64 loader's path (Debian keeps it out of PATH).
find_wine() {
  local c
  for c in "$(command -v wine64 || true)" /usr/lib/wine/wine64 /usr/lib64/wine/wine64 \
           "$(dpkg -L wine64 2>/dev/null | grep -m1 '/wine64$' || true)" "$(command -v wine || true)"; do
    if [ -n "$c" ] && [ -x "$c" ]; then echo "$c"; return 0; fi
  done
  return 1
}

# Prints the wineserver beside the loader $1.
find_wineserver() {
  local c
  for c in "$(dirname "$1")/wineserver" "$(dirname "$1")/wineserver64" "$(command -v wineserver || true)"; do
    if [ -n "$c" ] && [ -x "$c" ]; then echo "$c"; return 0; fi
  done
  return 1
}

# A tier that reports checks calls this first: one PASS/FAIL line per check, a closing
# `N passed, N failed`, and a FAIL when the script stops before setting `finished=1`. A tier that
# starts a wineserver sets WINESERVER (and PREFIX, its prefix): it is stopped on exit.
checks_begin() {
  passed=0
  failed=0
  finished=0
  WINESERVER=""
  trap checks_on_exit EXIT
}
pass() { passed=$((passed + 1)); echo "PASS $*"; }
fail() { failed=$((failed + 1)); echo "FAIL $*"; }
note() { echo "note: $*"; }
section() { printf '\n-- %s\n' "$*"; }
checks_on_exit() {
  local rc=$?
  if [ -n "${WINESERVER:-}" ]; then
    WINEPREFIX="$PREFIX" "$WINESERVER" -k >/dev/null 2>&1 || true
  fi
  if [ "$finished" -eq 0 ]; then
    fail "the tier stopped early (exit status $rc); see the messages above"
    echo "$passed passed, $failed failed"
    exit 1
  fi
}

# Runs a checker that prints PASS/FAIL lines and adds its lines to the counts.
counted() {
  local out rc=0
  out=$("$@") || rc=$?
  echo "$out"
  passed=$((passed + $(grep -c '^PASS ' <<<"$out" || true)))
  failed=$((failed + $(grep -c '^FAIL ' <<<"$out" || true)))
  if [ "$rc" -ne 0 ] && ! grep -q '^FAIL ' <<<"$out"; then
    fail "$1 exited with status $rc without a FAIL line"
  fi
}

#!/usr/bin/env python3
"""Checks a kernel driver image (.sys) linked by .ci/drivers.sh.

    check_sys.py --arch x64|x86 --allowlist FILE --objdump OBJDUMP [--expect-panic CRATE] IMAGE

IMAGE is the unstripped image (its COFF symbol table names the functions). Each check prints one
"PASS ..." or "FAIL ..." line; the exit status is the number of failures (0: all passed).

Checks: PE32+ (x64) or PE32 (x86) for the right machine; subsystem native; a base relocation
directory, and DYNAMIC_BASE; imports only from ntoskrnl.exe, hal.dll, portcls.sys (ks.sys), each
function in the allowlist; no C runtime or unwinding function imported; no function exported;
only the usual sections, none both writable and executable; the entry point is DriverEntry; the PE
checksum is right; the size; and
no reachable panic: the panic handler (a bug check, the only user of KeBugCheckEx) and the panic
machinery of core must not survive --gc-sections. If they do, the functions that reach them are
named from the call graph of the disassembly.

With --expect-panic CRATE (the negative control), the image is one built with a reachable panic:
the no-panic check must fail, and its report must name a function of CRATE.
"""

import argparse
import re
import struct
import subprocess
import sys
from collections import deque

ALLOWED_DLLS = {"ntoskrnl.exe", "hal.dll", "portcls.sys", "ks.sys"}
USUAL_SECTIONS = {".text", ".rdata", ".data", ".pdata", ".xdata", ".bss", ".idata", ".edata", ".reloc"}
# Imported names that would mean a C runtime or unwinding machinery came along.
CRT_OR_UNWIND = re.compile(
    r"^(_?_Unwind_|__cxa_|__gxx_|rust_eh_personality|__CxxFrameHandler|_except_handler|__C_specific_handler"
    r"|_?malloc$|_?free$|_?calloc$|_?realloc$|_?abort$|_?exit$|__security_|_?printf|_?puts$)"
)
# Symbols of the panic machinery (mangled or not): core's panicking module and its helpers, the
# handler's symbol, mxf's bug check, the allocation error handler.
PANIC_SYMBOL = re.compile(
    r"rust_begin_unwind|panicking|panic_fmt|panic_bounds_check|panic_bug_check|unwrap_failed|expect_failed"
    r"|slice_(start_|end_)?index_(len_)?fail|slice_index_order_fail|str_index_overflow_fail"
    r"|handle_alloc_error|capacity_overflow|__rust_alloc_error_handler|__rdl_oom|__rg_oom|rust_oom"
)
BUGCHECK_IMPORT = "KeBugCheckEx"

failures = 0


def result(ok, text):
    global failures
    if not ok:
        failures += 1
    print(("PASS " if ok else "FAIL ") + text)
    return ok


class Image:
    def __init__(self, path):
        self.path = path
        with open(path, "rb") as f:
            self.data = f.read()
        d = self.data
        if d[:2] != b"MZ":
            raise ValueError("no MZ header")
        pe = struct.unpack_from("<I", d, 0x3C)[0]
        if d[pe:pe + 4] != b"PE\0\0":
            raise ValueError("no PE signature")
        self.pe = pe
        (self.machine, nsec, _ts, self.symtab, self.nsyms, opt_size, self.characteristics) = struct.unpack_from(
            "<HHIIIHH", d, pe + 4)
        opt = pe + 24
        self.opt = opt
        self.magic = struct.unpack_from("<H", d, opt)[0]
        plus = self.magic == 0x20B
        self.entry = struct.unpack_from("<I", d, opt + 16)[0]
        self.image_base = struct.unpack_from("<Q" if plus else "<I", d, opt + (24 if plus else 28))[0]
        self.checksum_offset = opt + 64
        self.checksum = struct.unpack_from("<I", d, self.checksum_offset)[0]
        self.subsystem, self.dll_characteristics = struct.unpack_from("<HH", d, opt + 68)
        ndirs_off = opt + (108 if plus else 92)
        ndirs = struct.unpack_from("<I", d, ndirs_off)[0]
        self.dirs = [struct.unpack_from("<II", d, ndirs_off + 4 + 8 * i) for i in range(ndirs)]
        self.sections = []
        sec = opt + opt_size
        for i in range(nsec):
            raw_name, vsize, va, rsize, rptr = struct.unpack_from("<8sIIII", d, sec + 40 * i)
            flags = struct.unpack_from("<I", d, sec + 40 * i + 36)[0]
            self.sections.append((self.section_name(raw_name), va, vsize, rptr, rsize, flags))

    def section_name(self, raw):
        name = raw.rstrip(b"\0").decode("latin-1")
        if name.startswith("/") and self.symtab:
            # A long name: an offset into the string table after the symbol table.
            strtab = self.symtab + 18 * self.nsyms
            off = int(name[1:])
            end = self.data.index(b"\0", strtab + off)
            name = self.data[strtab + off:end].decode("latin-1")
        return name

    def rva_to_offset(self, rva):
        for _name, va, vsize, rptr, rsize, _flags in self.sections:
            if va <= rva < va + max(vsize, rsize):
                return rptr + (rva - va)
        raise ValueError("RVA %#x is in no section" % rva)

    def cstring(self, rva):
        off = self.rva_to_offset(rva)
        return self.data[off:self.data.index(b"\0", off)].decode("latin-1")

    def imports(self):
        rva, size = self.dirs[1] if len(self.dirs) > 1 else (0, 0)
        out = []
        if not rva:
            return out
        plus = self.magic == 0x20B
        desc = self.rva_to_offset(rva)
        while True:
            ilt, _ts, _fwd, name_rva, iat = struct.unpack_from("<IIIII", self.data, desc)
            if not (ilt or name_rva or iat):
                break
            dll = self.cstring(name_rva)
            thunk = self.rva_to_offset(ilt or iat)
            while True:
                value = struct.unpack_from("<Q" if plus else "<I", self.data, thunk)[0]
                if not value:
                    break
                if value >> (63 if plus else 31):
                    out.append((dll, "#%d" % (value & 0xFFFF)))
                else:
                    out.append((dll, self.cstring((value & 0x7FFFFFFF) + 2)))
                thunk += 8 if plus else 4
            desc += 20
        return out

    def exports(self):
        rva, size = self.dirs[0] if self.dirs else (0, 0)
        if not rva or not size:
            return []
        off = self.rva_to_offset(rva)
        nfuncs, nnames = struct.unpack_from("<II", self.data, off + 20)
        return [nfuncs, nnames]

    def symbols(self):
        """(name, rva) of every function symbol of the COFF symbol table."""
        out = []
        if not self.symtab:
            return out
        strtab = self.symtab + 18 * self.nsyms
        i = 0
        while i < self.nsyms:
            at = self.symtab + 18 * i
            raw, value, secnum, _typ, _cls, naux = struct.unpack_from("<8sIhHBB", self.data, at)
            if raw[:4] == b"\0\0\0\0":
                off = struct.unpack_from("<I", raw, 4)[0]
                end = self.data.index(b"\0", strtab + off)
                name = self.data[strtab + off:end].decode("latin-1")
            else:
                name = raw.rstrip(b"\0").decode("latin-1")
            if 0 < secnum <= len(self.sections):
                out.append((name, self.sections[secnum - 1][1] + value))
            i += 1 + naux
        return out

    def computed_checksum(self):
        d = bytearray(self.data)
        struct.pack_into("<I", d, self.checksum_offset, 0)
        if len(d) % 2:
            d.append(0)
        total = 0
        for (word,) in struct.iter_unpack("<H", bytes(d)):
            total += word
            total = (total & 0xFFFF) + (total >> 16)
        total = (total & 0xFFFF) + (total >> 16)
        return (total + len(self.data)) & 0xFFFFFFFF


def demangle(names, cxxfilt):
    try:
        out = subprocess.run([cxxfilt], input="\n".join(names), capture_output=True, text=True, check=True).stdout
        return out.splitlines()
    except (OSError, subprocess.CalledProcessError):
        return list(names)


def call_graph(objdump, path):
    """callers[f] = the functions whose code calls or jumps to f (names demangled)."""
    text = subprocess.run([objdump, "-d", "-C", "--no-show-raw-insn", path], capture_output=True, text=True,
                          check=True).stdout
    callers = {}
    current = None
    head = re.compile(r"^[0-9a-f]+ <(.+)>:$")
    # The target is the symbol in the last <...> of the line (names hold <> of their own:
    # `<alloc::raw_vec::RawVec<T,A>::grow_one>`), without a `+0x..` offset.
    edge = re.compile(r"\s(?:call|jmp)[lq]?\s+[^<]*<(.+?)(?:\+0x[0-9a-f]+)?>\s*$")
    for line in text.splitlines():
        m = head.match(line)
        if m:
            current = m.group(1)
            continue
        m = edge.search(line)
        if m and current:
            target = m.group(1)
            if target != current:
                callers.setdefault(target, set()).add(current)
    return callers


RUNTIME = re.compile(
    r"^<?(core|alloc|compiler_builtins)(\[[0-9a-f]+\])?::|^__rust|^__imp_|^_*KeBugCheckEx"
    r"|^mxf(\[[0-9a-f]+\])?::platform::driver::bug_check")


def is_runtime(name):
    """Part of the panic machinery or of the standard crates: walked through, never reported."""
    return bool(RUNTIME.search(name)) or bool(PANIC_SYMBOL.search(name))


def panic_reachers(objdump, path, seeds):
    """Chains from the first non-runtime function to a panic seed, shortest first."""
    callers = call_graph(objdump, path)
    parent = {}
    queue = deque(seeds)
    seen = set(seeds)
    found = []
    while queue:
        f = queue.popleft()
        for c in sorted(callers.get(f, ())):
            if c in seen:
                continue
            seen.add(c)
            parent[c] = f
            if is_runtime(c):
                queue.append(c)
            else:
                chain = [c]
                while chain[-1] in parent:
                    chain.append(parent[chain[-1]])
                found.append(" -> ".join(chain))
    return found


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--arch", choices=["x64", "x86"], required=True)
    ap.add_argument("--allowlist", required=True)
    ap.add_argument("--objdump", required=True)
    ap.add_argument("--cxxfilt", default="c++filt")
    ap.add_argument("--expect-panic", metavar="CRATE")
    ap.add_argument("image")
    args = ap.parse_args()
    name = args.image
    for prefix in ("./", "target/drivers/"):
        if name.startswith(prefix):
            name = name[len(prefix):]

    try:
        img = Image(args.image)
    except (OSError, ValueError) as e:
        result(False, "%s: a PE image (%s)" % (name, e))
        return 1

    allow = set()
    with open(args.allowlist) as f:
        for line in f:
            line = line.split("#", 1)[0].split()
            if len(line) == 2:
                allow.add((line[0].lower(), line[1]))

    if args.expect_panic:
        return control(args, img, name)

    x64 = args.arch == "x64"
    result(img.magic == (0x20B if x64 else 0x10B) and img.machine == (0x8664 if x64 else 0x14C),
           "%s: %s image for %s (magic %#x, machine %#x)" % (
               name, "PE32+" if x64 else "PE32", "x86_64" if x64 else "i386", img.magic, img.machine))
    result(img.subsystem == 1, "%s: subsystem native (%d)" % (name, img.subsystem))
    reloc_rva, reloc_size = img.dirs[5] if len(img.dirs) > 5 else (0, 0)
    result(reloc_rva != 0 and reloc_size > 0 and img.dll_characteristics & 0x40 != 0,
           "%s: base relocation directory (%d bytes) and DYNAMIC_BASE" % (name, reloc_size))

    imports = img.imports()
    dlls = sorted({d.lower() for d, _ in imports})
    result(set(dlls) <= ALLOWED_DLLS, "%s: imports only from %s (%s)" % (
        name, ", ".join(sorted(ALLOWED_DLLS)), ", ".join(dlls) or "none"))
    outside = ["%s!%s" % (d, f) for d, f in imports if (d.lower(), f) not in allow]
    result(not outside, "%s: every imported function (%d) in the allowlist%s" % (
        name, len(imports), (": not " + ", ".join(outside)) if outside else ""))
    crt = ["%s!%s" % (d, f) for d, f in imports if CRT_OR_UNWIND.match(f)]
    result(not crt, "%s: no C runtime or unwinding function imported%s" % (
        name, (": " + ", ".join(crt)) if crt else ""))
    exports = img.exports()
    result(not exports or exports == [0, 0], "%s: no function exported" % name)

    sections = [s[0] for s in img.sections]
    extra = [s for s in sections if s not in USUAL_SECTIONS]
    result(not extra, "%s: only the usual sections (%s)%s" % (
        name, " ".join(sections), ("; unexpected: " + " ".join(extra)) if extra else ""))

    wx = [s[0] for s in img.sections if s[5] & 0x20000000 and s[5] & 0x80000000]
    result(not wx, "%s: no section both writable and executable%s" % (name, (": " + " ".join(wx)) if wx else ""))

    symbols = img.symbols()
    entry_name = "DriverEntry" if x64 else "_DriverEntry@8"
    entry = [rva for n, rva in symbols if n == entry_name]
    result(len(entry) == 1 and entry[0] == img.entry,
           "%s: entry point is %s (RVA %#x)" % (name, entry_name, img.entry))
    computed = img.computed_checksum()
    result(img.checksum == computed, "%s: PE checksum %#010x (computed %#010x)" % (name, img.checksum, computed))

    print("PASS %s: %d bytes (%s)" % (name, len(img.data), ", ".join(
        "%s %d" % (s[0], s[2]) for s in img.sections)))

    verdict, report = no_panic(args, img, symbols)
    result(verdict, "%s: no reachable panic%s" % (name, report))
    return failures


def no_panic(args, img, symbols):
    """(no panic survives, report)."""
    imports = img.imports()
    bugcheck = any(f == BUGCHECK_IMPORT for _, f in imports)
    raw_names = [n for n, _ in symbols]
    panic_syms = sorted({n for n in raw_names if PANIC_SYMBOL.search(n)})
    if not bugcheck and not panic_syms:
        return True, " (KeBugCheckEx not imported, no panic machinery among %d symbols)" % len(symbols)
    names = demangle(panic_syms, args.cxxfilt) if panic_syms else []
    seeds = set(names) | {"__imp_KeBugCheckEx", "__imp__KeBugCheckEx@20", "KeBugCheckEx", "_KeBugCheckEx@20"}
    chains = panic_reachers(args.objdump, args.image, seeds)
    what = []
    if bugcheck:
        what.append("KeBugCheckEx (the panic handler's bug check) is imported")
    if names:
        what.append("panic machinery survived: " + ", ".join(names[:6]) + (" ..." if len(names) > 6 else ""))
    reached = ("; reached from: " + " | ".join(chains[:8])) if chains else "; no caller found in the disassembly"
    return False, ": " + "; ".join(what) + reached


def control(args, img, name):
    verdict, report = no_panic(args, img, img.symbols())
    crate = args.expect_panic.replace("-", "_")
    named = crate in report
    result(not verdict and named,
           "negative control %s: the no-panic check fails and names a function of %s%s" % (
               name, crate, report if not verdict else " (but it passed: the check does not see the panic)"))
    return failures


if __name__ == "__main__":
    sys.exit(min(main(), 100))

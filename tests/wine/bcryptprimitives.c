/*
 * bcryptprimitives.c: a stand-in for bcryptprimitives.dll, which Wine 8 does not ship. Rust's
 * standard library for windows-gnu imports ProcessPrng from it (random hash-map keys). Built by
 * .ci/wine.sh with the mingw-w64 toolchain and placed beside the client executable.
 */
#include <windows.h>
#include <ntsecapi.h> /* RtlGenRandom (advapi32 SystemFunction036) */

__declspec(dllexport) BOOL WINAPI ProcessPrng(PBYTE data, SIZE_T len)
{
    while (len > 0) {
        ULONG chunk = len > 0x10000000 ? 0x10000000 : (ULONG)len;
        if (!RtlGenRandom(data, chunk))
            return FALSE;
        data += chunk;
        len -= chunk;
    }
    return TRUE;
}

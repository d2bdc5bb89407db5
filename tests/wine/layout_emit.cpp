/*
 * layout_emit.cpp: the header side of the compile-time layout comparison. Compiled with -S (never
 * run), it leaves one "# MXFV name=value" comment per number of MXF_LAYOUT_VALUES in the assembly
 * listing; examples/abi_exports.rs leaves the same lines in rustc's listing, and .ci/wine.sh
 * compares the two by name. This is how the i686 layout is checked without a 32-bit Wine.
 *
 * It also asserts the header against the layout table of domain.md §2.1 for its pointer width.
 *
 * -DMXF_NEG_PACK4 is a negative control: the header laid out with 4-byte packing must make the
 * comparison fail (the offsets survive, the alignment does not).
 */
#include "prelude.h"

#if defined(MXF_NEG_PACK4)
#pragma pack(push, 4)
#endif
#include <ddk/dmusicks.h>
#if defined(MXF_NEG_PACK4)
#pragma pack(pop)
#endif

#include "abi_values.h"

#if defined(_WIN64)
static_assert(sizeof(DMUS_KERNEL_EVENT) == 40, "x64: sizeof(DMUS_KERNEL_EVENT) is 40");
static_assert(offsetof(DMUS_KERNEL_EVENT, pNextEvt) == 24, "x64: pNextEvt at 24");
static_assert(offsetof(DMUS_KERNEL_EVENT, uData) == 32, "x64: uData at 32");
static_assert(sizeof(MXF_EVENT_FIELD(uData.abData)) == 8, "x64: 8 inline data bytes");
#else
static_assert(sizeof(DMUS_KERNEL_EVENT) == 32, "x86: sizeof(DMUS_KERNEL_EVENT) is 32");
static_assert(offsetof(DMUS_KERNEL_EVENT, pNextEvt) == 24, "x86: pNextEvt at 24");
static_assert(offsetof(DMUS_KERNEL_EVENT, uData) == 28, "x86: uData at 28");
static_assert(sizeof(MXF_EVENT_FIELD(uData.abData)) == 4, "x86: 4 inline data bytes");
#endif
static_assert(offsetof(DMUS_KERNEL_EVENT, cbEvent) == 2, "cbEvent at 2");
static_assert(offsetof(DMUS_KERNEL_EVENT, usChannelGroup) == 4, "usChannelGroup at 4");
static_assert(offsetof(DMUS_KERNEL_EVENT, usFlags) == 6, "usFlags at 6");
static_assert(offsetof(DMUS_KERNEL_EVENT, ullPresTime100ns) == 8, "ullPresTime100ns at 8");
static_assert(offsetof(DMUS_KERNEL_EVENT, ullBytePosition) == 16, "ullBytePosition at 16");

#define MXF_EMIT(name, value) asm volatile("\n# MXFV " name "=%c0" ::"i"((long long)(value)));

extern "C" void mxf_emit_layout_values(void)
{
    MXF_LAYOUT_VALUES(MXF_EMIT)
}

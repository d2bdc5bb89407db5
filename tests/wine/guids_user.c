/*
 * guids_user.c: the GUIDs mxf::abi declares (mxf/src/abi/ks.rs, mxf/src/abi/mod.rs) whose only
 * definition in mingw-w64 is in a user-mode header, which cannot share a translation unit with the
 * kernel headers of layout_ks.c: <dmksctrl.h> (KSDATAFORMAT_SUBTYPE_DIRECTMUSIC), <ksproxy.h>
 * (CLSID_Proxy, the KS proxy an INF names), <devguid.h> (GUID_DEVCLASS_MEDIA, an INF's Class) and
 * <dmusicc.h> (GUID_DMUS_PROP_Volume, the GUID of the KSPROPSETID_Synth property set, which
 * mingw-w64 lacks under that name; kernel.md §4.5). Compiled with -S -O2 like layout_ks.c, it
 * leaves "# MXFV guid(NAME).lo=…" and ".hi=…" lines: the GUID's first and last eight bytes in
 * memory, read as little-endian 64-bit integers.
 */
#include <windows.h>
#include <initguid.h> /* DEFINE_GUID defines, so the GUIDs' fields can be read and folded */
#include <ks.h>
#include <ksproxy.h>
#include <devguid.h>
#include <dmksctrl.h>
#include <dmusicc.h>

#define MXF_GUID_LO(g)                                                                                         \
    ((unsigned long long)(g).Data1 | (unsigned long long)(g).Data2 << 32 | (unsigned long long)(g).Data3 << 48)
#define MXF_GUID_HI(g)                                                                                         \
    ((unsigned long long)(g).Data4[0] | (unsigned long long)(g).Data4[1] << 8 |                                 \
     (unsigned long long)(g).Data4[2] << 16 | (unsigned long long)(g).Data4[3] << 24 |                          \
     (unsigned long long)(g).Data4[4] << 32 | (unsigned long long)(g).Data4[5] << 40 |                          \
     (unsigned long long)(g).Data4[6] << 48 | (unsigned long long)(g).Data4[7] << 56)

/* See layout_ks.c for why %0 and not %c0. */
#define MXF_GUID_AS(name, g)                                                                                   \
    __asm__ volatile("\n# MXFV guid(" name ").lo=%0" ::"i"((long long)MXF_GUID_LO(g)));                       \
    __asm__ volatile("\n# MXFV guid(" name ").hi=%0" ::"i"((long long)MXF_GUID_HI(g)));

/* ksproxy.h declares CLSID_Proxy with DEFINE_GUIDSTRUCT; its value is the STATIC_ list. */
#define MXF_GUID_INIT_(l, w1, w2, b0, b1, b2, b3, b4, b5, b6, b7) {l, w1, w2, {b0, b1, b2, b3, b4, b5, b6, b7}}
#define MXF_GUID_INIT(...) MXF_GUID_INIT_(__VA_ARGS__)
static const GUID mxf_CLSID_Proxy = MXF_GUID_INIT(STATIC_CLSID_Proxy);

void mxf_emit_user_guids(void)
{
    MXF_GUID_AS("KSDATAFORMAT_SUBTYPE_DIRECTMUSIC", KSDATAFORMAT_SUBTYPE_DIRECTMUSIC)
    MXF_GUID_AS("CLSID_Proxy", mxf_CLSID_Proxy)
    MXF_GUID_AS("GUID_DEVCLASS_MEDIA", GUID_DEVCLASS_MEDIA)
    MXF_GUID_AS("KSPROPSETID_Synth", GUID_DMUS_PROP_Volume)
}

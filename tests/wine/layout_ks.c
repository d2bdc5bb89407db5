/*
 * layout_ks.c: the header side of the compile-time comparison of mxf::abi's KS and PortCls
 * descriptor types (mxf/src/abi/ks.rs) with mingw-w64's kernel headers <ddk/portcls.h> (which
 * brings <ks.h> and <ksmedia.h>) and <ddk/dmusicks.h>, included unmodified in a kernel-mode C
 * translation unit (wdm.h, no windows.h). Compiled with -S -O2 (never linked or run), it leaves one
 * "# MXFV name=value" comment per number in the assembly listing; examples/abi_exports.rs leaves
 * the same lines in rustc's listing and .ci/wine.sh compares the two by name, for x86_64 and i686.
 *
 * Numbers: sizeof, alignof and offsetof of every field of each type, the enum and flag values,
 * and every GUID of these headers that mxf declares, as two numbers: its first and last eight
 * bytes in memory, read as little-endian 64-bit integers (the GUID's fields are read from the
 * header's definition; -O2 folds them into constants).
 *
 * It also asserts the sizes kernel.md §1 and §4 give (PCPROPERTY_REQUEST 72 / 40, PCPIN_DESCRIPTOR
 * 112 / 64, ...), so the header side is checked against the documented numbers too.
 *
 * -DMXF_NEG_PACK4 is a negative control: the headers laid out with 4-byte packing must make the
 * comparison fail.
 */

/*
 * Two names mingw-w64's headers use without declaring them in kernel mode: ksmedia.h's
 * KSPROPERTY_EXTXPORT_S uses TCHAR (a user-mode type; never used by the types compared here), and
 * portcls.h's IMiniportWaveRT methods take KSRTAUDIO_HWLATENCY / KSRTAUDIO_HWREGISTER pointers,
 * which its ksmedia.h lacks. Declared before any header, so nothing else changes.
 */
#include <ddk/wdm.h>
typedef WCHAR TCHAR;
typedef struct KSRTAUDIO_HWLATENCY KSRTAUDIO_HWLATENCY;
typedef struct KSRTAUDIO_HWREGISTER KSRTAUDIO_HWREGISTER;

#include <initguid.h> /* DEFINE_GUID defines, so the GUIDs' fields can be read and folded */

#if defined(MXF_NEG_PACK4)
#pragma pack(push, 4)
#endif
#include <ddk/portcls.h>
#include <ddk/dmusicks.h>
#if defined(MXF_NEG_PACK4)
#pragma pack(pop)
#endif

#include <stddef.h>

/* The sizes kernel.md §1 and §4 give, for this pointer width. */
#if !defined(MXF_NEG_PACK4)
#if defined(_WIN64)
_Static_assert(sizeof(PCPROPERTY_REQUEST) == 72, "x64: sizeof(PCPROPERTY_REQUEST) is 72");
_Static_assert(offsetof(PCPROPERTY_REQUEST, Irp) == 64, "x64: PCPROPERTY_REQUEST.Irp at 64");
_Static_assert(sizeof(PCPROPERTY_ITEM) == 24, "x64: sizeof(PCPROPERTY_ITEM) is 24");
_Static_assert(sizeof(PCPIN_DESCRIPTOR) == 112, "x64: sizeof(PCPIN_DESCRIPTOR) is 112");
_Static_assert(sizeof(PCNODE_DESCRIPTOR) == 32, "x64: sizeof(PCNODE_DESCRIPTOR) is 32");
_Static_assert(sizeof(KSPIN_CONNECT) == 72, "x64: sizeof(KSPIN_CONNECT) is 72");
#else
_Static_assert(sizeof(PCPROPERTY_REQUEST) == 40, "x86: sizeof(PCPROPERTY_REQUEST) is 40");
_Static_assert(offsetof(PCPROPERTY_REQUEST, Irp) == 36, "x86: PCPROPERTY_REQUEST.Irp at 36");
_Static_assert(sizeof(PCPROPERTY_ITEM) == 16, "x86: sizeof(PCPROPERTY_ITEM) is 16");
_Static_assert(sizeof(PCPIN_DESCRIPTOR) == 64, "x86: sizeof(PCPIN_DESCRIPTOR) is 64");
_Static_assert(sizeof(PCNODE_DESCRIPTOR) == 16, "x86: sizeof(PCNODE_DESCRIPTOR) is 16");
_Static_assert(sizeof(KSPIN_CONNECT) == 64, "x86: sizeof(KSPIN_CONNECT) is 64");
#endif
_Static_assert(sizeof(KSPROPERTY) == 24, "sizeof(KSPROPERTY) is 24");
_Static_assert(sizeof(KSNODEPROPERTY) == 32, "sizeof(KSNODEPROPERTY) is 32");
_Static_assert(sizeof(KSDATARANGE) == 64, "sizeof(KSDATARANGE) is 64");
_Static_assert(sizeof(KSDATARANGE_MUSIC) == 96, "sizeof(KSDATARANGE_MUSIC) is 96");
_Static_assert(sizeof(PCCONNECTION_DESCRIPTOR) == 16, "sizeof(PCCONNECTION_DESCRIPTOR) is 16");
_Static_assert(PCFILTER_NODE == 0xFFFFFFFFu, "PCFILTER_NODE is (ULONG)-1");
#endif

#define MXF_SIZE(T) X("sizeof(" #T ")", sizeof(T))
#define MXF_ALIGN(T) X("alignof(" #T ")", _Alignof(T))
#define MXF_OFF(T, f) X("offsetof(" #T ", " #f ")", offsetof(T, f))
#define MXF_VALUE(c) X(#c, c)

/* A GUID as its 16 bytes in memory: bytes 0..7 and 8..15, each read as a little-endian integer. */
#define MXF_GUID_LO(g)                                                                                         \
    ((unsigned long long)(g).Data1 | (unsigned long long)(g).Data2 << 32 | (unsigned long long)(g).Data3 << 48)
#define MXF_GUID_HI(g)                                                                                         \
    ((unsigned long long)(g).Data4[0] | (unsigned long long)(g).Data4[1] << 8 |                                 \
     (unsigned long long)(g).Data4[2] << 16 | (unsigned long long)(g).Data4[3] << 24 |                          \
     (unsigned long long)(g).Data4[4] << 32 | (unsigned long long)(g).Data4[5] << 40 |                          \
     (unsigned long long)(g).Data4[6] << 48 | (unsigned long long)(g).Data4[7] << 56)
#define MXF_GUID_AS(name, g) X("guid(" name ").lo", MXF_GUID_LO(g)) X("guid(" name ").hi", MXF_GUID_HI(g))
#define MXF_GUID(g) MXF_GUID_AS(#g, g)

/*
 * ks.h and ksmedia.h declare their GUIDs with DEFINE_GUIDSTRUCT, which only declares them in C;
 * their values are the STATIC_ lists beside them. A static copy made from that list is read.
 */
#define MXF_GUID_INIT_(l, w1, w2, b0, b1, b2, b3, b4, b5, b6, b7) {l, w1, w2, {b0, b1, b2, b3, b4, b5, b6, b7}}
#define MXF_GUID_INIT(...) MXF_GUID_INIT_(__VA_ARGS__)
#define MXF_STATIC_GUID(name) static const GUID mxf_##name = MXF_GUID_INIT(STATIC_##name);
#define MXF_STATIC_GUIDS(G)                                                                                    \
    G(KSDATAFORMAT_TYPE_MUSIC)                                                                                 \
    G(KSDATAFORMAT_SUBTYPE_MIDI)                                                                               \
    G(KSDATAFORMAT_SUBTYPE_MIDI_BUS)                                                                           \
    G(KSDATAFORMAT_SPECIFIER_NONE)                                                                             \
    G(KSMUSIC_TECHNOLOGY_PORT)                                                                                 \
    G(KSCATEGORY_AUDIO)                                                                                        \
    G(KSCATEGORY_RENDER)                                                                                       \
    G(KSCATEGORY_CAPTURE)                                                                                      \
    G(KSNODETYPE_SYNTHESIZER)                                                                                  \
    G(KSAUDFNAME_MIDI)                                                                                         \
    G(KSNAME_Pin)
MXF_STATIC_GUIDS(MXF_STATIC_GUID)
#define MXF_STATIC_GUID_VALUE(name) MXF_GUID_AS(#name, mxf_##name)

#define MXF_KS_VALUES                                                                                          \
    MXF_SIZE(KSIDENTIFIER)                                                                                     \
    MXF_ALIGN(KSIDENTIFIER)                                                                                    \
    MXF_OFF(KSIDENTIFIER, Set)                                                                                 \
    MXF_OFF(KSIDENTIFIER, Id)                                                                                  \
    MXF_OFF(KSIDENTIFIER, Flags)                                                                               \
    MXF_SIZE(KSPROPERTY)                                                                                       \
    MXF_ALIGN(KSPROPERTY)                                                                                      \
    MXF_SIZE(KSPIN_INTERFACE)                                                                                  \
    MXF_SIZE(KSPIN_MEDIUM)                                                                                     \
    MXF_SIZE(KSPRIORITY)                                                                                       \
    MXF_ALIGN(KSPRIORITY)                                                                                      \
    MXF_OFF(KSPRIORITY, PriorityClass)                                                                         \
    MXF_OFF(KSPRIORITY, PrioritySubClass)                                                                      \
    MXF_VALUE(KSPRIORITY_LOW)                                                                                  \
    MXF_VALUE(KSPRIORITY_NORMAL)                                                                               \
    MXF_VALUE(KSPRIORITY_HIGH)                                                                                 \
    MXF_VALUE(KSPRIORITY_EXCLUSIVE)                                                                            \
    MXF_SIZE(KSPIN_CONNECT)                                                                                    \
    MXF_ALIGN(KSPIN_CONNECT)                                                                                   \
    MXF_OFF(KSPIN_CONNECT, Interface)                                                                          \
    MXF_OFF(KSPIN_CONNECT, Medium)                                                                             \
    MXF_OFF(KSPIN_CONNECT, PinId)                                                                              \
    MXF_OFF(KSPIN_CONNECT, PinToHandle)                                                                        \
    MXF_OFF(KSPIN_CONNECT, Priority)                                                                           \
    MXF_SIZE(KSNODEPROPERTY)                                                                                   \
    MXF_ALIGN(KSNODEPROPERTY)                                                                                  \
    MXF_OFF(KSNODEPROPERTY, Property)                                                                          \
    MXF_OFF(KSNODEPROPERTY, NodeId)                                                                            \
    MXF_OFF(KSNODEPROPERTY, Reserved)                                                                          \
    MXF_VALUE(KSPROPERTY_TYPE_GET)                                                                             \
    MXF_VALUE(KSPROPERTY_TYPE_SET)                                                                             \
    MXF_VALUE(KSPROPERTY_TYPE_SETSUPPORT)                                                                      \
    MXF_VALUE(KSPROPERTY_TYPE_BASICSUPPORT)                                                                    \
    MXF_VALUE(KSPROPERTY_TYPE_RELATIONS)                                                                       \
    MXF_VALUE(KSPROPERTY_TYPE_SERIALIZESET)                                                                    \
    MXF_VALUE(KSPROPERTY_TYPE_UNSERIALIZESET)                                                                  \
    MXF_VALUE(KSPROPERTY_TYPE_SERIALIZERAW)                                                                    \
    MXF_VALUE(KSPROPERTY_TYPE_UNSERIALIZERAW)                                                                  \
    MXF_VALUE(KSPROPERTY_TYPE_SERIALIZESIZE)                                                                   \
    MXF_VALUE(KSPROPERTY_TYPE_DEFAULTVALUES)                                                                   \
    MXF_VALUE(KSPROPERTY_TYPE_TOPOLOGY)                                                                        \
    MXF_SIZE(KSDATAFORMAT)                                                                                     \
    MXF_OFF(KSDATAFORMAT, FormatSize)                                                                          \
    MXF_OFF(KSDATAFORMAT, Flags)                                                                               \
    MXF_OFF(KSDATAFORMAT, SampleSize)                                                                          \
    MXF_OFF(KSDATAFORMAT, Reserved)                                                                            \
    MXF_OFF(KSDATAFORMAT, MajorFormat)                                                                         \
    MXF_OFF(KSDATAFORMAT, SubFormat)                                                                           \
    MXF_OFF(KSDATAFORMAT, Specifier)                                                                           \
    MXF_SIZE(KSDATARANGE)                                                                                      \
    MXF_ALIGN(KSDATARANGE)                                                                                     \
    MXF_OFF(KSDATARANGE, FormatSize)                                                                           \
    MXF_OFF(KSDATARANGE, Flags)                                                                                \
    MXF_OFF(KSDATARANGE, SampleSize)                                                                           \
    MXF_OFF(KSDATARANGE, Reserved)                                                                             \
    MXF_OFF(KSDATARANGE, MajorFormat)                                                                          \
    MXF_OFF(KSDATARANGE, SubFormat)                                                                            \
    MXF_OFF(KSDATARANGE, Specifier)                                                                            \
    MXF_SIZE(KSDATARANGE_MUSIC)                                                                                \
    MXF_ALIGN(KSDATARANGE_MUSIC)                                                                               \
    MXF_OFF(KSDATARANGE_MUSIC, DataRange)                                                                      \
    MXF_OFF(KSDATARANGE_MUSIC, Technology)                                                                     \
    MXF_OFF(KSDATARANGE_MUSIC, Channels)                                                                       \
    MXF_OFF(KSDATARANGE_MUSIC, Notes)                                                                          \
    MXF_OFF(KSDATARANGE_MUSIC, ChannelMask)                                                                    \
    MXF_SIZE(KSPIN_DATAFLOW)                                                                                   \
    MXF_VALUE(KSPIN_DATAFLOW_IN)                                                                               \
    MXF_VALUE(KSPIN_DATAFLOW_OUT)                                                                              \
    MXF_SIZE(KSPIN_COMMUNICATION)                                                                              \
    MXF_VALUE(KSPIN_COMMUNICATION_NONE)                                                                        \
    MXF_VALUE(KSPIN_COMMUNICATION_SINK)                                                                        \
    MXF_VALUE(KSPIN_COMMUNICATION_SOURCE)                                                                      \
    MXF_VALUE(KSPIN_COMMUNICATION_BOTH)                                                                        \
    MXF_VALUE(KSPIN_COMMUNICATION_BRIDGE)                                                                      \
    MXF_SIZE(KSPIN_DESCRIPTOR)                                                                                 \
    MXF_ALIGN(KSPIN_DESCRIPTOR)                                                                                \
    MXF_OFF(KSPIN_DESCRIPTOR, InterfacesCount)                                                                 \
    MXF_OFF(KSPIN_DESCRIPTOR, Interfaces)                                                                      \
    MXF_OFF(KSPIN_DESCRIPTOR, MediumsCount)                                                                    \
    MXF_OFF(KSPIN_DESCRIPTOR, Mediums)                                                                         \
    MXF_OFF(KSPIN_DESCRIPTOR, DataRangesCount)                                                                 \
    MXF_OFF(KSPIN_DESCRIPTOR, DataRanges)                                                                      \
    MXF_OFF(KSPIN_DESCRIPTOR, DataFlow)                                                                        \
    MXF_OFF(KSPIN_DESCRIPTOR, Communication)                                                                   \
    MXF_OFF(KSPIN_DESCRIPTOR, Category)                                                                        \
    MXF_OFF(KSPIN_DESCRIPTOR, Name)                                                                            \
    MXF_OFF(KSPIN_DESCRIPTOR, Reserved)                                                                        \
    MXF_OFF(KSPIN_DESCRIPTOR, ConstrainedDataRangesCount)                                                      \
    MXF_OFF(KSPIN_DESCRIPTOR, ConstrainedDataRanges)

#define MXF_PC_ITEM(T)                                                                                         \
    MXF_SIZE(T)                                                                                                \
    MXF_ALIGN(T)                                                                                               \
    MXF_OFF(T, Set)                                                                                            \
    MXF_OFF(T, Id)                                                                                             \
    MXF_OFF(T, Flags)                                                                                          \
    MXF_OFF(T, Handler)

#define MXF_PC_VALUES                                                                                          \
    MXF_PC_ITEM(PCPROPERTY_ITEM)                                                                               \
    MXF_PC_ITEM(PCMETHOD_ITEM)                                                                                 \
    MXF_PC_ITEM(PCEVENT_ITEM)                                                                                  \
    MXF_SIZE(PCPFNPROPERTY_HANDLER)                                                                            \
    MXF_VALUE(PCPROPERTY_ITEM_FLAG_GET)                                                                        \
    MXF_VALUE(PCPROPERTY_ITEM_FLAG_SET)                                                                        \
    MXF_VALUE(PCPROPERTY_ITEM_FLAG_BASICSUPPORT)                                                               \
    MXF_VALUE(PCPROPERTY_ITEM_FLAG_SERIALIZERAW)                                                               \
    MXF_VALUE(PCPROPERTY_ITEM_FLAG_UNSERIALIZERAW)                                                             \
    MXF_VALUE(PCPROPERTY_ITEM_FLAG_SERIALIZESIZE)                                                              \
    MXF_VALUE(PCPROPERTY_ITEM_FLAG_SERIALIZE)                                                                  \
    MXF_VALUE(PCPROPERTY_ITEM_FLAG_DEFAULTVALUES)                                                              \
    MXF_SIZE(PCPROPERTY_REQUEST)                                                                               \
    MXF_ALIGN(PCPROPERTY_REQUEST)                                                                              \
    MXF_OFF(PCPROPERTY_REQUEST, MajorTarget)                                                                   \
    MXF_OFF(PCPROPERTY_REQUEST, MinorTarget)                                                                   \
    MXF_OFF(PCPROPERTY_REQUEST, Node)                                                                          \
    MXF_OFF(PCPROPERTY_REQUEST, PropertyItem)                                                                  \
    MXF_OFF(PCPROPERTY_REQUEST, Verb)                                                                          \
    MXF_OFF(PCPROPERTY_REQUEST, InstanceSize)                                                                  \
    MXF_OFF(PCPROPERTY_REQUEST, Instance)                                                                      \
    MXF_OFF(PCPROPERTY_REQUEST, ValueSize)                                                                     \
    MXF_OFF(PCPROPERTY_REQUEST, Value)                                                                         \
    MXF_OFF(PCPROPERTY_REQUEST, Irp)                                                                           \
    MXF_SIZE(PCMETHOD_REQUEST)                                                                                 \
    MXF_ALIGN(PCMETHOD_REQUEST)                                                                                \
    MXF_OFF(PCMETHOD_REQUEST, MajorTarget)                                                                     \
    MXF_OFF(PCMETHOD_REQUEST, MinorTarget)                                                                     \
    MXF_OFF(PCMETHOD_REQUEST, Node)                                                                            \
    MXF_OFF(PCMETHOD_REQUEST, MethodItem)                                                                      \
    MXF_OFF(PCMETHOD_REQUEST, Verb)                                                                            \
    MXF_SIZE(PCEVENT_REQUEST)                                                                                  \
    MXF_ALIGN(PCEVENT_REQUEST)                                                                                 \
    MXF_OFF(PCEVENT_REQUEST, MajorTarget)                                                                      \
    MXF_OFF(PCEVENT_REQUEST, MinorTarget)                                                                      \
    MXF_OFF(PCEVENT_REQUEST, Node)                                                                             \
    MXF_OFF(PCEVENT_REQUEST, EventItem)                                                                        \
    MXF_OFF(PCEVENT_REQUEST, EventEntry)                                                                       \
    MXF_OFF(PCEVENT_REQUEST, Verb)                                                                             \
    MXF_OFF(PCEVENT_REQUEST, Irp)                                                                              \
    MXF_SIZE(PCAUTOMATION_TABLE)                                                                               \
    MXF_ALIGN(PCAUTOMATION_TABLE)                                                                              \
    MXF_OFF(PCAUTOMATION_TABLE, PropertyItemSize)                                                              \
    MXF_OFF(PCAUTOMATION_TABLE, PropertyCount)                                                                 \
    MXF_OFF(PCAUTOMATION_TABLE, Properties)                                                                    \
    MXF_OFF(PCAUTOMATION_TABLE, MethodItemSize)                                                                \
    MXF_OFF(PCAUTOMATION_TABLE, MethodCount)                                                                   \
    MXF_OFF(PCAUTOMATION_TABLE, Methods)                                                                       \
    MXF_OFF(PCAUTOMATION_TABLE, EventItemSize)                                                                 \
    MXF_OFF(PCAUTOMATION_TABLE, EventCount)                                                                    \
    MXF_OFF(PCAUTOMATION_TABLE, Events)                                                                        \
    MXF_OFF(PCAUTOMATION_TABLE, Reserved)                                                                      \
    MXF_SIZE(PCPIN_DESCRIPTOR)                                                                                 \
    MXF_ALIGN(PCPIN_DESCRIPTOR)                                                                                \
    MXF_OFF(PCPIN_DESCRIPTOR, MaxGlobalInstanceCount)                                                          \
    MXF_OFF(PCPIN_DESCRIPTOR, MaxFilterInstanceCount)                                                          \
    MXF_OFF(PCPIN_DESCRIPTOR, MinFilterInstanceCount)                                                          \
    MXF_OFF(PCPIN_DESCRIPTOR, AutomationTable)                                                                 \
    MXF_OFF(PCPIN_DESCRIPTOR, KsPinDescriptor)                                                                 \
    MXF_SIZE(PCNODE_DESCRIPTOR)                                                                                \
    MXF_ALIGN(PCNODE_DESCRIPTOR)                                                                               \
    MXF_OFF(PCNODE_DESCRIPTOR, Flags)                                                                          \
    MXF_OFF(PCNODE_DESCRIPTOR, AutomationTable)                                                                \
    MXF_OFF(PCNODE_DESCRIPTOR, Type)                                                                           \
    MXF_OFF(PCNODE_DESCRIPTOR, Name)                                                                           \
    MXF_SIZE(PCCONNECTION_DESCRIPTOR)                                                                          \
    MXF_ALIGN(PCCONNECTION_DESCRIPTOR)                                                                         \
    MXF_OFF(PCCONNECTION_DESCRIPTOR, FromNode)                                                                 \
    MXF_OFF(PCCONNECTION_DESCRIPTOR, FromNodePin)                                                              \
    MXF_OFF(PCCONNECTION_DESCRIPTOR, ToNode)                                                                   \
    MXF_OFF(PCCONNECTION_DESCRIPTOR, ToNodePin)                                                                \
    MXF_VALUE(PCFILTER_NODE)                                                                                   \
    MXF_SIZE(PCFILTER_DESCRIPTOR)                                                                              \
    MXF_ALIGN(PCFILTER_DESCRIPTOR)                                                                             \
    MXF_OFF(PCFILTER_DESCRIPTOR, Version)                                                                      \
    MXF_OFF(PCFILTER_DESCRIPTOR, AutomationTable)                                                              \
    MXF_OFF(PCFILTER_DESCRIPTOR, PinSize)                                                                      \
    MXF_OFF(PCFILTER_DESCRIPTOR, PinCount)                                                                     \
    MXF_OFF(PCFILTER_DESCRIPTOR, Pins)                                                                         \
    MXF_OFF(PCFILTER_DESCRIPTOR, NodeSize)                                                                     \
    MXF_OFF(PCFILTER_DESCRIPTOR, NodeCount)                                                                    \
    MXF_OFF(PCFILTER_DESCRIPTOR, Nodes)                                                                        \
    MXF_OFF(PCFILTER_DESCRIPTOR, ConnectionCount)                                                              \
    MXF_OFF(PCFILTER_DESCRIPTOR, Connections)                                                                  \
    MXF_OFF(PCFILTER_DESCRIPTOR, CategoryCount)                                                                \
    MXF_OFF(PCFILTER_DESCRIPTOR, Categories)

/* GUIDs that DEFINE_GUID defines (portcls.h, dmusicks.h). */
#define MXF_DEFINED_GUIDS                                                                                      \
    MXF_GUID(IID_IPort)                                                                                        \
    MXF_GUID(IID_IMiniport)                                                                                    \
    MXF_GUID(IID_IResourceList)                                                                                \
    MXF_GUID(IID_IInterruptSync)                                                                               \
    MXF_GUID(IID_IPinCount)                                                                                    \
    MXF_GUID(IID_IPowerNotify)                                                                                 \
    MXF_GUID(CLSID_PortDMus)                                                                                   \
    MXF_GUID(CLSID_MiniportDriverDMusUART)                                                                     \
    MXF_GUID(CLSID_MiniportDriverDMusUARTCapture)

/*
 * %0, not %c0: x86_64 gcc refuses the 'c' modifier for a constant beyond 32 bits (GUID halves,
 * (ULONG)-1); without it the operand prints as "$value", and .ci/wine.sh drops the '$'.
 */
#define X(name, value) __asm__ volatile("\n# MXFV " name "=%0" ::"i"((long long)(value)));

void mxf_emit_ks_layout_values(void)
{
    MXF_KS_VALUES
    MXF_PC_VALUES
    MXF_STATIC_GUIDS(MXF_STATIC_GUID_VALUE)
    MXF_DEFINED_GUIDS
}

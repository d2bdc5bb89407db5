/*
 * abi_values.h: the numbers compared between <ddk/dmusicks.h> (as this compiler lays it out) and
 * mxf (as rustc lays it out), by name. The names are the ones examples/abi_exports.rs answers to.
 *
 * MXF_LAYOUT_VALUES(X): integral constant expressions, compared at run time under Wine (x64) and
 * at compile time through the assembly listings of both compilers (x64 and i686).
 * MXF_RUNTIME_VALUES(X): 64-bit constants, compared at run time only.
 * MXF_SLOTS(X): vtable slot indices of the header's interfaces, compared at run time only.
 *
 * Include after "prelude.h" and <ddk/dmusicks.h>. kBytePositionNone and the DMUS_KEF_* flags are
 * not in the mingw-w64 header (domain.md §7); the including file defines them.
 */
#ifndef MXF_WINE_ABI_VALUES_H
#define MXF_WINE_ABI_VALUES_H

#define MXF_EVENT_FIELD(f) (((DMUS_KERNEL_EVENT *)0)->f)

#define MXF_LAYOUT_VALUES(X)                                                                                   \
    X("sizeof(DMUS_KERNEL_EVENT)", sizeof(DMUS_KERNEL_EVENT))                                                  \
    X("alignof(DMUS_KERNEL_EVENT)", alignof(DMUS_KERNEL_EVENT))                                                \
    X("offsetof(DMUS_KERNEL_EVENT, bReserved)", offsetof(DMUS_KERNEL_EVENT, bReserved))                        \
    X("offsetof(DMUS_KERNEL_EVENT, cbStruct)", offsetof(DMUS_KERNEL_EVENT, cbStruct))                          \
    X("offsetof(DMUS_KERNEL_EVENT, cbEvent)", offsetof(DMUS_KERNEL_EVENT, cbEvent))                            \
    X("offsetof(DMUS_KERNEL_EVENT, usChannelGroup)", offsetof(DMUS_KERNEL_EVENT, usChannelGroup))              \
    X("offsetof(DMUS_KERNEL_EVENT, usFlags)", offsetof(DMUS_KERNEL_EVENT, usFlags))                            \
    X("offsetof(DMUS_KERNEL_EVENT, ullPresTime100ns)", offsetof(DMUS_KERNEL_EVENT, ullPresTime100ns))          \
    X("offsetof(DMUS_KERNEL_EVENT, ullBytePosition)", offsetof(DMUS_KERNEL_EVENT, ullBytePosition))            \
    X("offsetof(DMUS_KERNEL_EVENT, pNextEvt)", offsetof(DMUS_KERNEL_EVENT, pNextEvt))                          \
    X("offsetof(DMUS_KERNEL_EVENT, uData)", offsetof(DMUS_KERNEL_EVENT, uData))                                \
    X("offsetof(DMUS_KERNEL_EVENT, uData.abData)", offsetof(DMUS_KERNEL_EVENT, uData.abData))                  \
    X("offsetof(DMUS_KERNEL_EVENT, uData.pbData)", offsetof(DMUS_KERNEL_EVENT, uData.pbData))                  \
    X("offsetof(DMUS_KERNEL_EVENT, uData.pPackageEvt)", offsetof(DMUS_KERNEL_EVENT, uData.pPackageEvt))        \
    X("sizeof(DMUS_KERNEL_EVENT::bReserved)", sizeof(MXF_EVENT_FIELD(bReserved)))                              \
    X("sizeof(DMUS_KERNEL_EVENT::cbStruct)", sizeof(MXF_EVENT_FIELD(cbStruct)))                                \
    X("sizeof(DMUS_KERNEL_EVENT::cbEvent)", sizeof(MXF_EVENT_FIELD(cbEvent)))                                  \
    X("sizeof(DMUS_KERNEL_EVENT::usChannelGroup)", sizeof(MXF_EVENT_FIELD(usChannelGroup)))                    \
    X("sizeof(DMUS_KERNEL_EVENT::usFlags)", sizeof(MXF_EVENT_FIELD(usFlags)))                                  \
    X("sizeof(DMUS_KERNEL_EVENT::ullPresTime100ns)", sizeof(MXF_EVENT_FIELD(ullPresTime100ns)))                \
    X("sizeof(DMUS_KERNEL_EVENT::ullBytePosition)", sizeof(MXF_EVENT_FIELD(ullBytePosition)))                  \
    X("sizeof(DMUS_KERNEL_EVENT::pNextEvt)", sizeof(MXF_EVENT_FIELD(pNextEvt)))                                \
    X("sizeof(DMUS_KERNEL_EVENT::uData)", sizeof(MXF_EVENT_FIELD(uData)))                                      \
    X("alignof(DMUS_KERNEL_EVENT::uData)", alignof(decltype(MXF_EVENT_FIELD(uData))))                          \
    X("sizeof(DMUS_KERNEL_EVENT::uData.abData)", sizeof(MXF_EVENT_FIELD(uData.abData)))                        \
    X("sizeof(DMUS_KERNEL_EVENT::uData.pbData)", sizeof(MXF_EVENT_FIELD(uData.pbData)))                        \
    X("sizeof(DMUS_KERNEL_EVENT::uData.pPackageEvt)", sizeof(MXF_EVENT_FIELD(uData.pPackageEvt)))              \
    X("sizeof(DMUS_STREAM_TYPE)", sizeof(DMUS_STREAM_TYPE))                                                    \
    X("DMUS_STREAM_MIDI_INVALID", DMUS_STREAM_MIDI_INVALID)                                                    \
    X("DMUS_STREAM_MIDI_RENDER", DMUS_STREAM_MIDI_RENDER)                                                      \
    X("DMUS_STREAM_MIDI_CAPTURE", DMUS_STREAM_MIDI_CAPTURE)                                                    \
    X("DMUS_STREAM_WAVE_SINK", DMUS_STREAM_WAVE_SINK)                                                          \
    X("sizeof(GUID)", sizeof(GUID))                                                                            \
    X("sizeof(PMXF)", sizeof(PMXF))

#define MXF_RUNTIME_VALUES(X)                                                                                  \
    X("DONT_HOLD_FOR_SEQUENCING", DONT_HOLD_FOR_SEQUENCING)                                                    \
    X("kBytePositionNone", kBytePositionNone)                                                                  \
    X("DMUS_KEF_EVENT_COMPLETE", DMUS_KEF_EVENT_COMPLETE)                                                      \
    X("DMUS_KEF_EVENT_INCOMPLETE", DMUS_KEF_EVENT_INCOMPLETE)                                                  \
    X("DMUS_KEF_PACKAGE_EVENT", DMUS_KEF_PACKAGE_EVENT)

#define MXF_SLOTS(X)                                                                                           \
    X(IUnknown, QueryInterface)                                                                                \
    X(IUnknown, AddRef)                                                                                        \
    X(IUnknown, Release)                                                                                       \
    X(IMXF, QueryInterface)                                                                                    \
    X(IMXF, AddRef)                                                                                            \
    X(IMXF, Release)                                                                                           \
    X(IMXF, SetState)                                                                                          \
    X(IMXF, PutMessage)                                                                                        \
    X(IMXF, ConnectOutput)                                                                                     \
    X(IMXF, DisconnectOutput)                                                                                  \
    X(IAllocatorMXF, QueryInterface)                                                                           \
    X(IAllocatorMXF, AddRef)                                                                                   \
    X(IAllocatorMXF, Release)                                                                                  \
    X(IAllocatorMXF, SetState)                                                                                 \
    X(IAllocatorMXF, PutMessage)                                                                               \
    X(IAllocatorMXF, ConnectOutput)                                                                            \
    X(IAllocatorMXF, DisconnectOutput)                                                                         \
    X(IAllocatorMXF, GetMessage)                                                                               \
    X(IAllocatorMXF, GetBufferSize)                                                                            \
    X(IAllocatorMXF, GetBuffer)                                                                                \
    X(IAllocatorMXF, PutBuffer)                                                                                \
    X(IMasterClock, GetTime)                                                                                   \
    X(IPortDMus, Notify)                                                                                       \
    X(IPortDMus, RegisterServiceGroup)                                                                         \
    X(IMiniportDMus, Init)                                                                                     \
    X(IMiniportDMus, Service)                                                                                  \
    X(IMiniportDMus, NewStream)

#endif /* MXF_WINE_ABI_VALUES_H */

/*
 * client.cpp: a C++ client of mxf, written against mingw-w64's <ddk/dmusicks.h> included
 * unmodified, linked with the Rust static library of examples/abi_exports.rs, run under Wine.
 *
 * Every check prints one line, "PASS <name>" or "FAIL <name> (<details>)"; the last line is
 * "client done: N passed, N failed". .ci/wine.sh counts the lines.
 *
 * Sections:
 *   layout     numbers from the header vs the same numbers from rustc (abi_values.h)
 *   slots      vtable slot of every method the header declares vs the Rust vtable
 *   guids      identifiers from the header vs Rust
 *   event      an event built by Rust, read through the header's struct
 *   forwarder  a Rust #[com_object(IMXF)] between C++ objects implementing the header's IMXF
 *   allocator  mxf's IAllocatorMXF, every one of its 11 slots called through the header
 *   filter     the sample #[mxf_filter] Transpose, created on mxf's allocator with into_filter,
 *              between C++ and a C++ IMXF sink (C++ -> Rust -> C++)
 *   miniport   the sample UART miniport through the header's IMiniportDMus: Init with a C++
 *              IPortDMus, NewStream with mxf's allocator and a C++ IMasterClock, render bytes to
 *              the virtual MPU-401, captured bytes to a C++ sink (domain.md items 68, 69)
 *
 * Negative controls (built by .ci/wine.sh, each must make the run fail):
 *   -DMXF_NEG_SWAPPED_SLOTS  calls mxf objects through a redeclared IMXF whose SetState and
 *                            PutMessage slots are swapped;
 *   -DMXF_NEG_SYSV_ABI       calls them with the x86-64 System V convention instead of the
 *                            Windows x64 one (arguments in the wrong registers).
 */
#define __USE_MINGW_ANSI_STDIO 1
#include "prelude.h"

#include <ddk/dmusicks.h>

#include <initializer_list>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* What the mingw-w64 header lacks (domain.md §0, §7), defined here with the WDK's values. */
DEFINE_GUID(IID_IMXF, 0xc096df9e, 0xfb09, 0x11d1, 0x81, 0xb0, 0x00, 0x60, 0x08, 0x33, 0x16, 0xc1);
#define DMUS_KEF_EVENT_COMPLETE 0x0000
#define DMUS_KEF_EVENT_INCOMPLETE 0x0001
#define DMUS_KEF_PACKAGE_EVENT 0x0002
#define kBytePositionNone (~0ULL)

/* IPositionNotify is port-private and absent from the header as well (domain.md §1.6). */
#undef INTERFACE
#define INTERFACE IPositionNotify
DECLARE_INTERFACE_(IPositionNotify, IUnknown)
{
    DEFINE_ABSTRACT_UNKNOWN()
    STDMETHOD_(void, PositionNotify)(THIS_ ULONGLONG BytePosition) PURE;
};
#undef INTERFACE

/* The header declares IID_IAllocatorMXF with DEFINE_GUIDSTRUCT; define it from its STATIC_ list. */
extern "C" const GUID IID_IAllocatorMXF = {STATIC_IID_IAllocatorMXF};

#include "abi_values.h"

/* ---------------------------------------------------------------------------------------------- */
/* The Rust side (examples/abi_exports.rs). */

struct ForwarderInfo {
    int32_t state;
    int32_t connected;
    uint64_t calls;
    uint64_t events;
    uint64_t data_bytes;
};

/* An allocator's books (mxf_abi_allocator_info). */
struct AllocatorInfo {
    uint64_t outstanding_events;
    uint64_t outstanding_buffers;
    uint64_t gets;
    uint64_t puts;
    uint64_t misuse;
};

/* A filter's counters (mxf_abi_filter_info). */
struct FilterInfo {
    uint64_t calls;
    uint64_t events_in;
    uint64_t events_out;
    uint64_t discarded;
};

extern "C" {
int32_t mxf_abi_value(const char *name, int64_t *out);
int32_t mxf_abi_guid(const char *name, GUID *out);
int32_t mxf_abi_has_iid(const char *name);
int32_t mxf_abi_fresh_event(DMUS_KERNEL_EVENT *out);
NTSTATUS mxf_abi_create_allocator(void *notify, void **out);
NTSTATUS mxf_abi_create_forwarder(void *allocator, void **out);
int32_t mxf_abi_forwarder_info(void *mxf, ForwarderInfo *out);
uint32_t mxf_abi_forwarder_info_size(void);
int32_t mxf_abi_allocator_info(void *allocator, AllocatorInfo *out);
uint32_t mxf_abi_allocator_info_size(void);
NTSTATUS mxf_abi_create_transpose(void *allocator, int32_t semitones, void **out);
int32_t mxf_abi_filter_info(void *mxf, FilterInfo *out);
uint32_t mxf_abi_filter_info_size(void);
NTSTATUS mxf_abi_create_uart_miniport(IMiniportDMus **out);
int32_t mxf_abi_uart_receive(void *miniport, const uint8_t *bytes, size_t len, int64_t time);
int64_t mxf_abi_uart_take_output(void *miniport, uint8_t *buffer, size_t capacity);
int64_t mxf_abi_uart_lost_input(void *miniport);
int32_t mxf_abi_uart_mode(void *miniport);
}

/* ---------------------------------------------------------------------------------------------- */
/* How this client calls mxf objects: through the header's interfaces, or, in a negative control,
 * through a wrong redeclaration of them. C++ objects always implement the header's interfaces. */

#if defined(MXF_NEG_SWAPPED_SLOTS) && defined(MXF_NEG_SYSV_ABI)
#error "one negative control at a time"
#endif

#if defined(MXF_NEG_SWAPPED_SLOTS) || defined(MXF_NEG_SYSV_ABI)
#if defined(MXF_NEG_SYSV_ABI)
#define MXF_CLIENT_CC __attribute__((sysv_abi))
#else
#define MXF_CLIENT_CC STDMETHODCALLTYPE
#endif
struct ClientMXF {
    virtual NTSTATUS MXF_CLIENT_CC QueryInterface(REFIID iid, PVOID *out) = 0;
    virtual ULONG MXF_CLIENT_CC AddRef() = 0;
    virtual ULONG MXF_CLIENT_CC Release() = 0;
#if defined(MXF_NEG_SWAPPED_SLOTS)
    virtual NTSTATUS MXF_CLIENT_CC PutMessage(PDMUS_KERNEL_EVENT event) = 0;
    virtual NTSTATUS MXF_CLIENT_CC SetState(KSSTATE state) = 0;
#else
    virtual NTSTATUS MXF_CLIENT_CC SetState(KSSTATE state) = 0;
    virtual NTSTATUS MXF_CLIENT_CC PutMessage(PDMUS_KERNEL_EVENT event) = 0;
#endif
    virtual NTSTATUS MXF_CLIENT_CC ConnectOutput(PMXF sink) = 0;
    virtual NTSTATUS MXF_CLIENT_CC DisconnectOutput(PMXF sink) = 0;
};
struct ClientAllocatorMXF : ClientMXF {
    virtual NTSTATUS MXF_CLIENT_CC GetMessage(PDMUS_KERNEL_EVENT *event) = 0;
    virtual USHORT MXF_CLIENT_CC GetBufferSize() = 0;
    virtual NTSTATUS MXF_CLIENT_CC GetBuffer(PBYTE *buffer) = 0;
    virtual NTSTATUS MXF_CLIENT_CC PutBuffer(PBYTE buffer) = 0;
};
#else
typedef IMXF ClientMXF;
typedef IAllocatorMXF ClientAllocatorMXF;
#endif

/* ---------------------------------------------------------------------------------------------- */
/* Reporting. */

static int g_passed, g_failed;

static void check(bool ok, const char *name, const char *fmt = nullptr, ...) __attribute__((format(gnu_printf, 3, 4)));
static void check(bool ok, const char *name, const char *fmt, ...)
{
    if (ok) {
        g_passed++;
        printf("PASS %s\n", name);
        return;
    }
    g_failed++;
    char details[512] = "";
    if (fmt) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(details, sizeof details, fmt, ap);
        va_end(ap);
    }
    printf("FAIL %s (%s)\n", name, details);
}


static const char *fmt_name(const char *fmt, ...) __attribute__((format(gnu_printf, 1, 2)));
static const char *fmt_name(const char *fmt, ...)
{
    static char buf[8][256];
    static int next;
    char *b = buf[next++ % 8];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(b, sizeof buf[0], fmt, ap);
    va_end(ap);
    return b;
}

static const char *guid_str(const GUID &g)
{
    static char buf[4][40];
    static int next;
    char *b = buf[next++ % 4];
    snprintf(b, sizeof buf[0], "{%08lX-%04X-%04X-%02X%02X-%02X%02X%02X%02X%02X%02X}", (unsigned long)g.Data1,
             g.Data2, g.Data3, g.Data4[0], g.Data4[1], g.Data4[2], g.Data4[3], g.Data4[4], g.Data4[5], g.Data4[6],
             g.Data4[7]);
    return b;
}

static bool guid_eq(const GUID &a, const GUID &b)
{
    return memcmp(&a, &b, sizeof(GUID)) == 0;
}

/* Parses "xxxxxxxx-xxxx-xxxx-xxxx-xxxxxxxxxxxx" (the DEFINE_GUIDSTRUCT form). */
static bool parse_guid(const char *s, GUID *g)
{
    unsigned long d1;
    unsigned d2, d3, b[8];
    if (strlen(s) != 36)
        return false;
    if (sscanf(s, "%8lx-%4x-%4x-%2x%2x-%2x%2x%2x%2x%2x%2x", &d1, &d2, &d3, &b[0], &b[1], &b[2], &b[3], &b[4], &b[5],
               &b[6], &b[7]) != 11)
        return false;
    g->Data1 = d1;
    g->Data2 = (USHORT)d2;
    g->Data3 = (USHORT)d3;
    for (int i = 0; i < 8; i++)
        g->Data4[i] = (BYTE)b[i];
    return true;
}

static const NTSTATUS kSuccess = 0;
static const NTSTATUS kUnsuccessful = (NTSTATUS)0xC0000001L;
static const NTSTATUS kNotImplemented = (NTSTATUS)0xC0000002L;
static const NTSTATUS kInvalidParameter = (NTSTATUS)0xC000000DL;
static const NTSTATUS kInvalidParameter1 = (NTSTATUS)0xC00000EFL;
static const NTSTATUS kInvalidDeviceRequest = (NTSTATUS)0xC0000010L;
static const NTSTATUS kInvalidDeviceState = (NTSTATUS)0xC0000184L;

static bool nt_success(NTSTATUS s)
{
    return s >= 0;
}

/* The slot of a virtual method, from its pointer-to-member (Itanium C++ ABI, which g++ uses on
 * Windows too: a virtual member pointer holds 1 + the byte offset of its vtable entry). */
template <class M> static long slot_of(M m)
{
    struct {
        uintptr_t ptr;
        ptrdiff_t adj;
    } raw;
    static_assert(sizeof(M) == sizeof(raw), "Itanium member-function pointer");
    memcpy(&raw, &m, sizeof raw);
    if ((raw.ptr & 1) == 0 || raw.adj != 0)
        return -1;
    return (long)((raw.ptr - 1) / sizeof(void *));
}

/* ---------------------------------------------------------------------------------------------- */
/* C++ objects implementing the header's interfaces, called by Rust. They live in static or stack
 * storage and are never deleted: Release only counts. */

/* An IMXF sink that records what it is given. */
class CountingSink : public IMXF {
  public:
    LONG refs = 1;
    int put_calls = 0;
    int events = 0;
    PDMUS_KERNEL_EVENT last = nullptr;
    KSSTATE state = KSSTATE_STOP;

    STDMETHODIMP_(NTSTATUS) QueryInterface(REFIID iid, PVOID *out) override
    {
        if (!out)
            return kInvalidParameter;
        if (guid_eq(iid, IID_IUnknown) || guid_eq(iid, IID_IMXF)) {
            *out = static_cast<IMXF *>(this);
            AddRef();
            return kSuccess;
        }
        *out = nullptr;
        return kInvalidParameter;
    }
    STDMETHODIMP_(ULONG) AddRef() override { return (ULONG)++refs; }
    STDMETHODIMP_(ULONG) Release() override { return (ULONG)--refs; }
    STDMETHODIMP_(NTSTATUS) SetState(KSSTATE s) override
    {
        state = s;
        return kSuccess;
    }
    STDMETHODIMP_(NTSTATUS) PutMessage(PDMUS_KERNEL_EVENT e) override
    {
        put_calls++;
        last = e;
        for (PDMUS_KERNEL_EVENT p = e; p && events < 1000000; p = p->pNextEvt)
            events++;
        return kSuccess;
    }
    STDMETHODIMP_(NTSTATUS) ConnectOutput(PMXF) override { return kNotImplemented; }
    STDMETHODIMP_(NTSTATUS) DisconnectOutput(PMXF) override { return kNotImplemented; }
};

/* A stand-in allocator for the forwarder's disconnected output: it only records what comes back. */
class RecordingAllocator : public IAllocatorMXF {
  public:
    LONG refs = 1;
    int put_calls = 0;
    int events = 0;
    PDMUS_KERNEL_EVENT last = nullptr;

    STDMETHODIMP_(NTSTATUS) QueryInterface(REFIID iid, PVOID *out) override
    {
        if (!out)
            return kInvalidParameter;
        if (guid_eq(iid, IID_IUnknown) || guid_eq(iid, IID_IMXF) || guid_eq(iid, IID_IAllocatorMXF)) {
            *out = static_cast<IAllocatorMXF *>(this);
            AddRef();
            return kSuccess;
        }
        *out = nullptr;
        return kInvalidParameter1;
    }
    STDMETHODIMP_(ULONG) AddRef() override { return (ULONG)++refs; }
    STDMETHODIMP_(ULONG) Release() override { return (ULONG)--refs; }
    STDMETHODIMP_(NTSTATUS) SetState(KSSTATE) override { return kNotImplemented; }
    STDMETHODIMP_(NTSTATUS) PutMessage(PDMUS_KERNEL_EVENT e) override
    {
        if (!e)
            return kSuccess;
        put_calls++;
        last = e;
        for (PDMUS_KERNEL_EVENT p = e; p && events < 1000000; p = p->pNextEvt)
            events++;
        return kSuccess;
    }
    STDMETHODIMP_(NTSTATUS) ConnectOutput(PMXF) override { return kNotImplemented; }
    STDMETHODIMP_(NTSTATUS) DisconnectOutput(PMXF) override { return kNotImplemented; }
    STDMETHODIMP_(NTSTATUS) GetMessage(PDMUS_KERNEL_EVENT *e) override
    {
        if (e)
            *e = nullptr;
        return kNotImplemented;
    }
    STDMETHODIMP_(USHORT) GetBufferSize() override { return 240; }
    STDMETHODIMP_(NTSTATUS) GetBuffer(PBYTE *b) override
    {
        if (b)
            *b = nullptr;
        return kNotImplemented;
    }
    STDMETHODIMP_(NTSTATUS) PutBuffer(PBYTE) override { return kNotImplemented; }
};

/* The render pin's byte-position callback, as the allocator calls it. */
class CountingNotify : public IPositionNotify {
  public:
    LONG refs = 1;
    int calls = 0;
    ULONGLONG positions[16] = {};

    STDMETHODIMP_(NTSTATUS) QueryInterface(REFIID iid, PVOID *out) override
    {
        if (!out)
            return kInvalidParameter;
        if (guid_eq(iid, IID_IUnknown)) {
            *out = static_cast<IPositionNotify *>(this);
            AddRef();
            return kSuccess;
        }
        *out = nullptr;
        return kInvalidParameter;
    }
    STDMETHODIMP_(ULONG) AddRef() override { return (ULONG)++refs; }
    STDMETHODIMP_(ULONG) Release() override { return (ULONG)--refs; }
    STDMETHODIMP_(void) PositionNotify(ULONGLONG pos) override
    {
        if (calls < 16)
            positions[calls] = pos;
        calls++;
    }
};

/* Service groups are mxf objects the header only names (PSERVICEGROUP); IServiceGroup derives
 * from IUnknown, so its first three slots are IUnknown's. */
static IUnknown *unknown_of(PSERVICEGROUP g)
{
    return reinterpret_cast<IUnknown *>(g);
}

/* The DMus port, as a miniport sees it: records Notify and RegisterServiceGroup. Like PortCls it
 * keeps a reference to the group registered with it (released by the test, as the port's
 * destructor would). */
class RecordingPort : public IPortDMus {
  public:
    LONG refs = 1;
    bool in_init = false; /* set by the test around IMiniportDMus::Init */
    int registered = 0;
    bool registered_in_init = false;
    PSERVICEGROUP registered_group = nullptr;
    int notify_calls = 0;
    PSERVICEGROUP last_notified = nullptr;

    STDMETHODIMP_(NTSTATUS) QueryInterface(REFIID iid, PVOID *out) override
    {
        if (!out)
            return kInvalidParameter;
        if (guid_eq(iid, IID_IUnknown) || guid_eq(iid, IID_IPortDMus)) {
            *out = static_cast<IPortDMus *>(this);
            AddRef();
            return kSuccess;
        }
        *out = nullptr;
        return kInvalidParameter;
    }
    STDMETHODIMP_(ULONG) AddRef() override { return (ULONG)++refs; }
    STDMETHODIMP_(ULONG) Release() override { return (ULONG)--refs; }
    STDMETHODIMP_(NTSTATUS) Init(PDEVICE_OBJECT, PIRP, PUNKNOWN, PUNKNOWN, PRESOURCELIST) override
    {
        return kNotImplemented;
    }
    STDMETHODIMP_(NTSTATUS) GetDeviceProperty(DEVICE_REGISTRY_PROPERTY, ULONG, PVOID, PULONG) override
    {
        return kNotImplemented;
    }
    STDMETHODIMP_(NTSTATUS) NewRegistryKey(PREGISTRYKEY *key, PUNKNOWN, ULONG, ACCESS_MASK, POBJECT_ATTRIBUTES, ULONG,
                                           PULONG) override
    {
        if (key)
            *key = nullptr;
        return kNotImplemented;
    }
    STDMETHODIMP_(void) Notify(PSERVICEGROUP group) override
    {
        notify_calls++;
        last_notified = group;
    }
    STDMETHODIMP_(void) RegisterServiceGroup(PSERVICEGROUP group) override
    {
        registered++;
        registered_in_init = in_init;
        if (group)
            unknown_of(group)->AddRef();
        if (registered_group)
            unknown_of(registered_group)->Release();
        registered_group = group;
    }
};

/* The port's master clock: 100 ns units, one millisecond further at every call. */
class CountingClock : public IMasterClock {
  public:
    LONG refs = 1;
    int calls = 0;
    REFERENCE_TIME now = 10000000;

    STDMETHODIMP_(NTSTATUS) QueryInterface(REFIID iid, PVOID *out) override
    {
        if (!out)
            return kInvalidParameter;
        if (guid_eq(iid, IID_IUnknown)) {
            *out = static_cast<IMasterClock *>(this);
            AddRef();
            return kSuccess;
        }
        *out = nullptr;
        return kInvalidParameter;
    }
    STDMETHODIMP_(ULONG) AddRef() override { return (ULONG)++refs; }
    STDMETHODIMP_(ULONG) Release() override { return (ULONG)--refs; }
    STDMETHODIMP_(NTSTATUS) GetTime(REFERENCE_TIME *time) override
    {
        calls++;
        if (!time)
            return kInvalidParameter;
        now += 10000;
        *time = now;
        return kSuccess;
    }
};

/* ---------------------------------------------------------------------------------------------- */
/* layout, slots, guids */

static void compare_value(const char *name, long long header)
{
    int64_t rust = 0;
    int32_t known = mxf_abi_value(name, &rust);
    check(known == 0 && rust == header, fmt_name("layout: %s = %lld", name, header), "header %lld, Rust %s%lld",
           header, known == 0 ? "" : "does not know the name, ", (long long)rust);
}

static void test_layout(void)
{
#define MXF_COMPARE(name, value) compare_value(name, (long long)(value));
    MXF_LAYOUT_VALUES(MXF_COMPARE)
    MXF_RUNTIME_VALUES(MXF_COMPARE)
#undef MXF_COMPARE
}

static void compare_slot(const char *iface, const char *method, long header)
{
    char name[128];
    snprintf(name, sizeof name, "slot(%s::%s)", iface, method);
    int64_t rust = -1;
    int32_t known = mxf_abi_value(name, &rust);
    check(known == 0 && rust == header, fmt_name("slots: %s::%s is slot %ld", iface, method, header),
           "header slot %ld, Rust %s%lld", header, known == 0 ? "" : "does not know the method, ", (long long)rust);
}

static void test_slots(void)
{
#define MXF_COMPARE_SLOT(iface, method) compare_slot(#iface, #method, slot_of(&iface::method));
    MXF_SLOTS(MXF_COMPARE_SLOT)
#undef MXF_COMPARE_SLOT
    /* Eleven slots in all: IAllocatorMXF's last method is slot 10. */
    check(slot_of(&IAllocatorMXF::PutBuffer) == 10, "slots: IAllocatorMXF has 11 slots (PutBuffer is slot 10)",
           "header slot %ld", slot_of(&IAllocatorMXF::PutBuffer));
}

static void compare_guid(const char *what, const char *rust_name, const GUID &header)
{
    GUID rust = {};
    int32_t known = mxf_abi_guid(rust_name, &rust);
    check(known == 0 && guid_eq(rust, header), fmt_name("guids: %s %s", what, guid_str(header)), "header %s, Rust %s%s",
           guid_str(header), known == 0 ? "" : "does not know the name ", known == 0 ? guid_str(rust) : rust_name);
}

static void test_guids(void)
{
    compare_guid("IID_IAllocatorMXF (header STATIC_IID_IAllocatorMXF)", "IID_IAllocatorMXF", IID_IAllocatorMXF);
    GUID parsed = {};
    bool ok = parse_guid(IID_IAllocatorMXF_GuidString, &parsed);
    check(ok, "guids: IID_IAllocatorMXF string of DEFINE_GUIDSTRUCT parses", "\"%s\"", IID_IAllocatorMXF_GuidString);
    compare_guid("IID_IAllocatorMXF (header DEFINE_GUIDSTRUCT string)", "IID_IAllocatorMXF", parsed);
    compare_guid("IID_IPortDMus (header)", "IID_IPortDMus", IID_IPortDMus);
    compare_guid("IID_IMiniportDMus (header)", "IID_IMiniportDMus", IID_IMiniportDMus);
    compare_guid("IID_IMXF (WDK value; absent from the mingw-w64 header)", "IID_IMXF", IID_IMXF);
    compare_guid("IID_IUnknown (kernel IUnknown of the prelude)", "IID_IUnknown", IID_IUnknown);
    check(mxf_abi_has_iid("IMasterClock") == 0, "guids: IMasterClock has no IID (none in the header, none in Rust)",
           "Rust answers %d", mxf_abi_has_iid("IMasterClock"));
    check(mxf_abi_has_iid("IPositionNotify") == 0,
           "guids: IPositionNotify has no IID (absent from the header, none in Rust)", "Rust answers %d",
           mxf_abi_has_iid("IPositionNotify"));
    GUID unknown;
    check(mxf_abi_guid("IID_IDoesNotExist", &unknown) != 0, "guids: an unknown name is refused by the Rust side");
}

/* ---------------------------------------------------------------------------------------------- */
/* event: Rust writes one event (its own layout, by value); C++ reads it through the header's. */

static void test_event(void)
{
    unsigned char storage[sizeof(DMUS_KERNEL_EVENT) + 16];
    memset(storage, 0xCD, sizeof storage);
    DMUS_KERNEL_EVENT *e = (DMUS_KERNEL_EVENT *)storage;
    check(mxf_abi_fresh_event(e) == 0, "event: Rust writes DMUS_KERNEL_EVENT::FRESH");
    bool guard = true;
    for (size_t i = sizeof(DMUS_KERNEL_EVENT); i < sizeof storage; i++)
        guard = guard && storage[i] == 0xCD;
    check(guard, "event: Rust wrote exactly sizeof(DMUS_KERNEL_EVENT) bytes");
    check(e->bReserved == 0, "event: bReserved 0", "%u", e->bReserved);
    check(e->cbStruct == sizeof(DMUS_KERNEL_EVENT), "event: cbStruct == sizeof(DMUS_KERNEL_EVENT)", "%u",
           e->cbStruct);
    check(e->cbEvent == 0, "event: cbEvent 0", "%u", e->cbEvent);
    check(e->usChannelGroup == 0, "event: usChannelGroup 0", "%u", e->usChannelGroup);
    check(e->usFlags == 0, "event: usFlags 0", "0x%x", e->usFlags);
    check(e->ullPresTime100ns == 0, "event: ullPresTime100ns 0", "%lld", (long long)e->ullPresTime100ns);
    check(e->ullBytePosition == kBytePositionNone, "event: ullBytePosition kBytePositionNone", "0x%llx",
           (unsigned long long)e->ullBytePosition);
    check(e->pNextEvt == nullptr, "event: pNextEvt NULL", "%p", (void *)e->pNextEvt);
    check(e->uData.pbData == nullptr, "event: uData zero", "%p", (void *)e->uData.pbData);
}

/* ---------------------------------------------------------------------------------------------- */
/* forwarder: C++ -> Rust -> C++ */

static ForwarderInfo info_of(void *f)
{
    ForwarderInfo i = {};
    mxf_abi_forwarder_info(f, &i);
    return i;
}

static void init_event(DMUS_KERNEL_EVENT *e, USHORT cb, PDMUS_KERNEL_EVENT next)
{
    memset(e, 0, sizeof *e);
    e->cbStruct = sizeof *e;
    e->cbEvent = cb;
    e->usChannelGroup = 1;
    e->ullPresTime100ns = 1000;
    e->ullBytePosition = kBytePositionNone;
    e->pNextEvt = next;
    for (USHORT i = 0; i < cb && i < sizeof(PBYTE); i++)
        e->uData.abData[i] = (BYTE)(0x90 + i);
}

static void test_forwarder(void)
{
    check(mxf_abi_forwarder_info_size() == sizeof(ForwarderInfo), "forwarder: ForwarderInfo has the same size",
           "C++ %u, Rust %u", (unsigned)sizeof(ForwarderInfo), mxf_abi_forwarder_info_size());

    RecordingAllocator ralloc;
    CountingSink sinkA, sinkB;
    void *raw = nullptr;
    NTSTATUS s = mxf_abi_create_forwarder(static_cast<IAllocatorMXF *>(&ralloc), &raw);
    check(s == kSuccess && raw, "forwarder: created", "status 0x%08lx, %p", (unsigned long)s, raw);
    if (!raw)
        return;
    check(ralloc.refs == 2, "forwarder: holds one reference to its C++ allocator", "refs %ld", ralloc.refs);
    ClientMXF *f = static_cast<ClientMXF *>(raw);

    /* IUnknown */
    ULONG r = f->AddRef();
    check(r == 2, "forwarder: AddRef returns 2", "%lu", (unsigned long)r);
    r = f->Release();
    check(r == 1, "forwarder: Release returns 1", "%lu", (unsigned long)r);
    void *unk = nullptr, *mxf = nullptr, *unk2 = nullptr;
    s = f->QueryInterface(IID_IUnknown, &unk);
    check(s == kSuccess && unk == raw, "forwarder: QI(IID_IUnknown) is the object's identity",
           "status 0x%08lx, %p vs %p", (unsigned long)s, unk, raw);
    s = f->QueryInterface(IID_IMXF, &mxf);
    check(s == kSuccess && mxf == raw, "forwarder: QI(IID_IMXF) answers the same interface", "status 0x%08lx, %p",
           (unsigned long)s, mxf);
    if (mxf) {
        s = static_cast<ClientMXF *>(mxf)->QueryInterface(IID_IUnknown, &unk2);
        check(s == kSuccess && unk2 == unk, "forwarder: QI identity holds through the IMXF it answered",
               "%p vs %p", unk2, unk);
    }
    for (void *p : {unk, mxf, unk2})
        if (p)
            static_cast<ClientMXF *>(p)->Release();
    r = f->AddRef();
    f->Release();
    check(r == 2, "forwarder: QueryInterface references are balanced", "count %lu after AddRef", (unsigned long)r);
    void *none = (void *)1;
    s = f->QueryInterface(IID_IAllocatorMXF, &none);
    check(!nt_success(s) && none == nullptr, "forwarder: QI(IID_IAllocatorMXF) fails with NULL",
           "status 0x%08lx, %p", (unsigned long)s, none);
    none = (void *)1;
    s = f->QueryInterface(IID_IPortDMus, &none);
    check(!nt_success(s) && none == nullptr, "forwarder: QI(unknown IID) fails with NULL", "status 0x%08lx, %p",
           (unsigned long)s, none);
    s = f->QueryInterface(IID_IMXF, nullptr);
    check(!nt_success(s), "forwarder: QI with a NULL out-pointer fails", "status 0x%08lx", (unsigned long)s);

    /* SetState */
    s = f->SetState(KSSTATE_RUN);
    check(s == kSuccess && info_of(raw).state == KSSTATE_RUN, "forwarder: SetState(KSSTATE_RUN)",
           "status 0x%08lx, Rust saw state %d", (unsigned long)s, info_of(raw).state);
    s = f->SetState(KSSTATE_PAUSE);
    check(s == kSuccess && info_of(raw).state == KSSTATE_PAUSE, "forwarder: SetState(KSSTATE_PAUSE)",
           "status 0x%08lx, Rust saw state %d", (unsigned long)s, info_of(raw).state);

    /* PutMessage while disconnected: to the allocator */
    s = f->PutMessage(nullptr);
    check(s == kSuccess && ralloc.put_calls == 0 && info_of(raw).calls == 0, "forwarder: PutMessage(NULL) does nothing",
           "status 0x%08lx, allocator got %d calls", (unsigned long)s, ralloc.put_calls);
    DMUS_KERNEL_EVENT e1;
    init_event(&e1, 3, nullptr);
    s = f->PutMessage(&e1);
    check(s == kSuccess && ralloc.put_calls == 1 && ralloc.last == &e1,
           "forwarder: disconnected output goes to the allocator", "status 0x%08lx, allocator calls %d, last %p vs %p",
           (unsigned long)s, ralloc.put_calls, (void *)ralloc.last, (void *)&e1);
    check(e1.cbEvent == 3 && e1.usChannelGroup == 1 && e1.ullPresTime100ns == 1000 && e1.uData.abData[2] == 0x92,
           "forwarder: the event passes unchanged");

    /* ConnectOutput */
    s = f->ConnectOutput(nullptr);
    check(!nt_success(s), "forwarder: ConnectOutput(NULL) fails", "status 0x%08lx", (unsigned long)s);
    s = f->ConnectOutput(&sinkA);
    check(s == kSuccess && info_of(raw).connected == 1, "forwarder: ConnectOutput(C++ sink)", "status 0x%08lx",
           (unsigned long)s);
    check(sinkA.refs == 2, "forwarder: keeps one reference to the connected C++ sink", "refs %ld", sinkA.refs);
    s = f->ConnectOutput(&sinkB);
    check(s == kUnsuccessful && sinkB.refs == 1, "forwarder: a second ConnectOutput never replaces the connection",
           "status 0x%08lx, other sink refs %ld", (unsigned long)s, sinkB.refs);

    /* PutMessage of a chain: C++ -> Rust -> C++ */
    DMUS_KERNEL_EVENT a, b, c;
    init_event(&c, 1, nullptr);
    init_event(&b, 2, &c);
    init_event(&a, 3, &b);
    ForwarderInfo before = info_of(raw);
    s = f->PutMessage(&a);
    ForwarderInfo after = info_of(raw);
    check(s == kSuccess && sinkA.put_calls == 1 && sinkA.last == &a && sinkA.events == 3,
           "forwarder: a chain reaches the C++ sink whole, in one call",
           "status 0x%08lx, sink calls %d, head %p vs %p, events %d", (unsigned long)s, sinkA.put_calls,
           (void *)sinkA.last, (void *)&a, sinkA.events);
    check(a.pNextEvt == &b && b.pNextEvt == &c && c.pNextEvt == nullptr, "forwarder: chain order kept");
    check(after.events - before.events == 3 && after.data_bytes - before.data_bytes == 6,
           "forwarder: Rust walked the C++ chain through pNextEvt and read cbEvent", "events %llu, bytes %llu",
           (unsigned long long)(after.events - before.events),
           (unsigned long long)(after.data_bytes - before.data_bytes));
    check(ralloc.put_calls == 1, "forwarder: nothing went to the allocator while connected", "allocator calls %d",
           ralloc.put_calls);

    /* DisconnectOutput */
    s = f->DisconnectOutput(&sinkB);
    check(s == kUnsuccessful && info_of(raw).connected == 1, "forwarder: DisconnectOutput(other sink) fails",
           "status 0x%08lx", (unsigned long)s);
    s = f->DisconnectOutput(&sinkA);
    check(s == kSuccess && info_of(raw).connected == 0 && sinkA.refs == 1,
           "forwarder: DisconnectOutput(sink) releases the sink", "status 0x%08lx, sink refs %ld", (unsigned long)s,
           sinkA.refs);
    DMUS_KERNEL_EVENT e2;
    init_event(&e2, 2, nullptr);
    s = f->PutMessage(&e2);
    check(s == kSuccess && ralloc.last == &e2 && sinkA.put_calls == 1,
           "forwarder: after DisconnectOutput, output goes to the allocator again");
    s = f->DisconnectOutput(nullptr);
    check(s == kSuccess, "forwarder: DisconnectOutput(NULL) succeeds", "status 0x%08lx", (unsigned long)s);
    s = f->ConnectOutput(&sinkB);
    check(s == kSuccess && sinkB.refs == 2, "forwarder: ConnectOutput after a disconnect");
    s = f->DisconnectOutput(nullptr);
    check(s == kSuccess && sinkB.refs == 1, "forwarder: DisconnectOutput(NULL) releases whatever is connected",
           "status 0x%08lx, sink refs %ld", (unsigned long)s, sinkB.refs);

    /* Rust -> Rust -> C++: a second forwarder as the first one's sink */
    void *raw2 = nullptr;
    s = mxf_abi_create_forwarder(static_cast<IAllocatorMXF *>(&ralloc), &raw2);
    check(s == kSuccess && raw2, "forwarder: second forwarder created");
    if (raw2) {
        ClientMXF *f2 = static_cast<ClientMXF *>(raw2);
        s = f2->ConnectOutput(&sinkA);
        NTSTATUS s2 = f->ConnectOutput(reinterpret_cast<PMXF>(raw2));
        check(s == kSuccess && s2 == kSuccess, "forwarder: C++ -> Rust -> Rust -> C++ graph connected");
        DMUS_KERNEL_EVENT g;
        init_event(&g, 1, nullptr);
        int calls = sinkA.put_calls;
        s = f->PutMessage(&g);
        check(s == kSuccess && sinkA.put_calls == calls + 1 && sinkA.last == &g,
               "forwarder: an event crosses two Rust objects to the C++ sink");
        r = f2->AddRef();
        f2->Release();
        check(r == 3, "forwarder: the first forwarder holds one reference to the second", "count %lu after AddRef",
               (unsigned long)r);
        /* Release the first while connected: it must release the second. */
        r = f->Release();
        check(r == 0, "forwarder: last Release returns 0", "%lu", (unsigned long)r);
        r = f2->AddRef();
        f2->Release();
        check(r == 2, "forwarder: destroying a connected forwarder releases its sink", "count %lu after AddRef",
               (unsigned long)r);
        r = f2->Release();
        check(r == 0, "forwarder: second forwarder's last Release returns 0", "%lu", (unsigned long)r);
    } else {
        f->Release();
    }
    check(sinkA.refs == 1 && sinkB.refs == 1, "forwarder: C++ sink references balanced after teardown",
           "refs %ld and %ld", sinkA.refs, sinkB.refs);
    check(ralloc.refs == 1, "forwarder: C++ allocator references balanced after teardown", "refs %ld", ralloc.refs);
}

/* ---------------------------------------------------------------------------------------------- */
/* allocator: mxf's IAllocatorMXF, all 11 slots through the header's interface. */

static bool is_fresh(const DMUS_KERNEL_EVENT *e, char *why, size_t n)
{
    snprintf(why, n,
             "bReserved %u cbStruct %u cbEvent %u usChannelGroup %u usFlags 0x%x time %lld pos 0x%llx next %p "
             "data %p",
             e->bReserved, e->cbStruct, e->cbEvent, e->usChannelGroup, e->usFlags, (long long)e->ullPresTime100ns,
             (unsigned long long)e->ullBytePosition, (void *)e->pNextEvt, (void *)e->uData.pbData);
    return e->bReserved == 0 && e->cbStruct == sizeof(DMUS_KERNEL_EVENT) && e->cbEvent == 0 && e->usChannelGroup == 0 &&
           e->usFlags == 0 && e->ullPresTime100ns == 0 && e->ullBytePosition == kBytePositionNone &&
           e->pNextEvt == nullptr && e->uData.pbData == nullptr;
}

static void dirty(DMUS_KERNEL_EVENT *e)
{
    e->bReserved = 0x55;
    e->cbEvent = 3;
    e->usChannelGroup = 7;
    e->usFlags = DMUS_KEF_EVENT_INCOMPLETE | 0x8000;
    e->ullPresTime100ns = -12345;
    e->uData.abData[0] = 0x90;
    e->uData.abData[1] = 60;
    e->uData.abData[2] = 100;
}

static PDMUS_KERNEL_EVENT get(ClientAllocatorMXF *a)
{
    PDMUS_KERNEL_EVENT e = nullptr;
    if (!nt_success(a->GetMessage(&e)))
        return nullptr;
    return e;
}

static void test_allocator(void)
{
    CountingNotify notify;
    CountingSink sink;
    void *raw = nullptr;
    NTSTATUS s = mxf_abi_create_allocator(static_cast<IPositionNotify *>(&notify), &raw);
    check(s == kSuccess && raw, "allocator: created", "status 0x%08lx", (unsigned long)s);
    if (!raw)
        return;
    check(notify.refs == 2, "allocator: holds one reference to its C++ IPositionNotify", "refs %ld", notify.refs);
    ClientAllocatorMXF *a = static_cast<ClientAllocatorMXF *>(raw);
    char why[256];

    /* slots 1, 2: AddRef, Release */
    ULONG r = a->AddRef();
    check(r == 2, "allocator slot 1: AddRef returns 2", "%lu", (unsigned long)r);
    r = a->Release();
    check(r == 1, "allocator slot 2: Release returns 1", "%lu", (unsigned long)r);

    /* slot 0: QueryInterface */
    void *p_alloc = nullptr, *p_mxf = nullptr, *p_unk = nullptr;
    NTSTATUS s1 = a->QueryInterface(IID_IAllocatorMXF, &p_alloc);
    NTSTATUS s2 = a->QueryInterface(IID_IMXF, &p_mxf);
    NTSTATUS s3 = a->QueryInterface(IID_IUnknown, &p_unk);
    check(s1 == kSuccess && s2 == kSuccess && s3 == kSuccess && p_alloc == raw && p_mxf == raw && p_unk == raw,
           "allocator slot 0: QI answers IAllocatorMXF, IMXF and IUnknown with one identity",
           "0x%08lx %p, 0x%08lx %p, 0x%08lx %p (object %p)", (unsigned long)s1, p_alloc, (unsigned long)s2, p_mxf,
           (unsigned long)s3, p_unk, raw);
    for (void *p : {p_alloc, p_mxf, p_unk})
        if (p)
            static_cast<ClientMXF *>(p)->Release();
    r = a->AddRef();
    a->Release();
    check(r == 2, "allocator slot 0: QueryInterface references are balanced", "count %lu after AddRef",
           (unsigned long)r);
    void *none = (void *)1;
    s = a->QueryInterface(IID_IPortDMus, &none);
    check(s == kInvalidParameter1 && none == nullptr,
           "allocator slot 0: unknown IID gives STATUS_INVALID_PARAMETER_1 and NULL", "status 0x%08lx, %p",
           (unsigned long)s, none);

    /* slots 3, 5, 6: the IMXF methods an allocator does not implement */
    s = a->SetState(KSSTATE_RUN);
    check(s == kNotImplemented, "allocator slot 3: SetState is STATUS_NOT_IMPLEMENTED", "status 0x%08lx",
           (unsigned long)s);
    s = a->ConnectOutput(&sink);
    check(s == kNotImplemented && sink.refs == 1,
           "allocator slot 5: ConnectOutput is STATUS_NOT_IMPLEMENTED and keeps no reference",
           "status 0x%08lx, sink refs %ld", (unsigned long)s, sink.refs);
    s = a->DisconnectOutput(&sink);
    check(s == kNotImplemented, "allocator slot 6: DisconnectOutput is STATUS_NOT_IMPLEMENTED", "status 0x%08lx",
           (unsigned long)s);

    /* slot 8: GetBufferSize */
    USHORT size = a->GetBufferSize();
    check(size == 240, "allocator slot 8: GetBufferSize is 240", "%u", size);

    /* slot 7: GetMessage */
    PDMUS_KERNEL_EVENT e = nullptr;
    s = a->GetMessage(&e);
    check(s == kSuccess && e != nullptr, "allocator slot 7: GetMessage succeeds", "status 0x%08lx",
           (unsigned long)s);
    if (!e) {
        a->Release();
        return;
    }
    check(((uintptr_t)e % alignof(DMUS_KERNEL_EVENT)) == 0, "allocator slot 7: the event is aligned", "%p",
           (void *)e);
    check(is_fresh(e, why, sizeof why), "allocator slot 7: a new event is in the fresh state", "%s", why);
    s = a->GetMessage(nullptr);
    check(!nt_success(s), "allocator slot 7: GetMessage(NULL) fails", "status 0x%08lx", (unsigned long)s);

    /* slot 4: PutMessage, then LIFO reuse in the fresh state */
    s = a->PutMessage(nullptr);
    check(s == kSuccess, "allocator slot 4: PutMessage(NULL) succeeds", "status 0x%08lx", (unsigned long)s);
    dirty(e);
    e->ullBytePosition = 1234;
    s = a->PutMessage(e);
    check(s == kSuccess, "allocator slot 4: PutMessage(event) succeeds", "status 0x%08lx", (unsigned long)s);
    check(notify.calls == 1 && notify.positions[0] == 1234,
           "allocator slot 4: the byte position reaches the C++ IPositionNotify", "%d calls, first %llu", notify.calls,
           (unsigned long long)notify.positions[0]);
    PDMUS_KERNEL_EVENT again = get(a);
    check(again == e, "allocator slot 7: LIFO, the event just returned comes back first", "%p vs %p",
           (void *)again, (void *)e);
    check(again && is_fresh(again, why, sizeof why), "allocator slot 7: a recycled event is fresh again", "%s", why);
    PDMUS_KERNEL_EVENT x = get(a), y = get(a);
    check(x && y && x != y && x != again && y != again, "allocator slot 7: distinct events while outstanding");
    if (x && y) {
        a->PutMessage(x);
        a->PutMessage(y);
        PDMUS_KERNEL_EVENT first = get(a), second = get(a);
        check(first == y && second == x, "allocator slot 7: LIFO order over two events", "got %p %p, want %p %p",
               (void *)first, (void *)second, (void *)y, (void *)x);
        x = first;
        y = second;
    }

    /* slot 9: GetBuffer; long events return their buffer with them */
    PBYTE buf = nullptr;
    s = a->GetBuffer(&buf);
    check(s == kSuccess && buf != nullptr, "allocator slot 9: GetBuffer succeeds", "status 0x%08lx",
           (unsigned long)s);
    if (buf) {
        memset(buf, 0xF0, size); /* all 240 bytes are ours */
        buf[0] = 0xF0;
        buf[size - 1] = 0xF7;
        again->cbEvent = size;
        again->usChannelGroup = 1;
        again->uData.pbData = buf;
        s = a->PutMessage(again);
        check(s == kSuccess, "allocator slot 4: a 240-byte long event is returned with its buffer",
               "status 0x%08lx", (unsigned long)s);
        PDMUS_KERNEL_EVENT back = get(a);
        check(back == again && is_fresh(back, why, sizeof why),
               "allocator slot 7: the long event comes back fresh, buffer detached", "%s", why);
        again = back;
    }

    /* slot 10: PutBuffer */
    PBYTE buf2 = nullptr;
    a->GetBuffer(&buf2);
    if (buf2) {
        buf2[239] = 1;
        s = a->PutBuffer(buf2);
        check(s == kSuccess, "allocator slot 10: PutBuffer(buffer) succeeds", "status 0x%08lx", (unsigned long)s);
    } else {
        check(false, "allocator slot 10: PutBuffer(buffer) succeeds", "no buffer");
    }
    s = a->PutBuffer(nullptr);
    check(s == kUnsuccessful, "allocator slot 10: PutBuffer(NULL) is STATUS_UNSUCCESSFUL", "status 0x%08lx",
           (unsigned long)s);
    static BYTE foreign[240];
    s = a->PutBuffer(foreign);
    check(!nt_success(s), "allocator slot 10: PutBuffer of a buffer it never gave out fails", "status 0x%08lx",
           (unsigned long)s);

    /* chains: recycled in chain order, so they come back last element first */
    PDMUS_KERNEL_EVENT c1 = again, c2 = x, c3 = y;
    if (c1 && c2 && c3) {
        c1->pNextEvt = c2;
        c2->pNextEvt = c3;
        c3->pNextEvt = nullptr;
        c1->ullBytePosition = 10;
        c2->ullBytePosition = 20;
        c3->ullBytePosition = kBytePositionNone;
        int before = notify.calls;
        s = a->PutMessage(c1);
        check(s == kSuccess, "allocator slot 4: a chain of three is returned", "status 0x%08lx", (unsigned long)s);
        check(notify.calls == before + 2 && notify.positions[before] == 10 && notify.positions[before + 1] == 20,
               "allocator slot 4: byte positions notified in chain order",
               "%d calls, positions %llu %llu", notify.calls - before, (unsigned long long)notify.positions[before],
               (unsigned long long)notify.positions[before + 1]);
        PDMUS_KERNEL_EVENT g1 = get(a), g2 = get(a), g3 = get(a);
        check(g1 == c3 && g2 == c2 && g3 == c1, "allocator slot 7: chain elements come back last first",
               "got %p %p %p, chain %p %p %p", (void *)g1, (void *)g2, (void *)g3, (void *)c1, (void *)c2,
               (void *)c3);
        bool fresh = g1 && g2 && g3 && is_fresh(g1, why, sizeof why) && is_fresh(g2, why, sizeof why) &&
                     is_fresh(g3, why, sizeof why);
        check(fresh, "allocator slot 7: chain elements come back fresh (pNextEvt cleared)", "%s", why);

        /* packages: the shell and everything under pPackageEvt */
        PDMUS_KERNEL_EVENT shell = g1, p1 = g2, p2 = g3;
        if (shell && p1 && p2) {
            p1->pNextEvt = p2;
            p1->cbEvent = 3;
            p2->cbEvent = 2;
            shell->usFlags = DMUS_KEF_PACKAGE_EVENT;
            shell->uData.pPackageEvt = p1;
            s = a->PutMessage(shell);
            check(s == kSuccess, "allocator slot 4: a package is returned", "status 0x%08lx", (unsigned long)s);
            PDMUS_KERNEL_EVENT h1 = get(a), h2 = get(a), h3 = get(a);
            check(h1 == p2 && h2 == p1 && h3 == shell,
                   "allocator slot 7: package contents and shell come back (contents last first, then the shell)",
                   "got %p %p %p, shell %p contents %p %p", (void *)h1, (void *)h2, (void *)h3, (void *)shell,
                   (void *)p1, (void *)p2);
            fresh = h1 && h2 && h3 && is_fresh(h1, why, sizeof why) && is_fresh(h2, why, sizeof why) &&
                    is_fresh(h3, why, sizeof why);
            check(fresh, "allocator slot 7: package events come back fresh (package flag cleared)", "%s", why);
            c1 = h1;
            c2 = h2;
            c3 = h3;
        }

        /* a long chain taken from the pool in order: the allocator's walk predicts its constant
           stride (the path the x86-64 build takes most) and must still follow every link */
        {
            enum { kLong = 200 };
            PDMUS_KERNEL_EVENT evs[kLong];
            int n = 0;
            while (n < kLong && (evs[n] = get(a)) != nullptr)
                n++;
            for (int i = 0; i + 1 < n; i++)
                evs[i]->pNextEvt = evs[i + 1];
            s = n ? a->PutMessage(evs[0]) : kUnsuccessful;
            check(s == kSuccess && n == kLong, "allocator slot 4: a chain of 200 taken in order is returned",
                   "status 0x%08lx, %d events", (unsigned long)s, n);
            bool order = true;
            for (int i = n - 1; i >= 0; i--)
                order = order && get(a) == evs[i];
            check(order, "allocator slot 7: the 200 come back last first", "order differs");
            for (int i = 0; i + 1 < n; i++)
                evs[i]->pNextEvt = evs[i + 1];
            if (n)
                a->PutMessage(evs[0]);
        }

        /* a double put is refused without corrupting the pool */
        if (c1) {
            a->PutMessage(c1);
            s = a->PutMessage(c1);
            check(!nt_success(s), "allocator slot 4: a double put is refused", "status 0x%08lx", (unsigned long)s);
            PDMUS_KERNEL_EVENT d1 = get(a), d2 = get(a);
            check(d1 == c1 && d2 && d2 != d1, "allocator slot 7: the pool is intact after a double put",
                   "%p %p", (void *)d1, (void *)d2);
            if (d2)
                a->PutMessage(d2);
            c1 = d1;
        }
        for (PDMUS_KERNEL_EVENT p : {c1, c2, c3})
            if (p)
                a->PutMessage(p);
    }

    /* The forwarder in front of mxf's allocator: Rust -> Rust, wired by C++. */
    void *fraw = nullptr;
    s = mxf_abi_create_forwarder(raw, &fraw);
    if (fraw) {
        ClientMXF *f = static_cast<ClientMXF *>(fraw);
        PDMUS_KERNEL_EVENT ev = get(a);
        s = f->PutMessage(ev);
        PDMUS_KERNEL_EVENT back = get(a);
        check(ev && s == kSuccess && back == ev,
               "allocator: a disconnected forwarder returns the event to mxf's allocator", "%p %p", (void *)ev,
               (void *)back);
        if (back)
            a->PutMessage(back);
        r = f->Release();
        check(r == 0, "allocator: the forwarder in front of it is released", "%lu", (unsigned long)r);
    } else {
        check(false, "allocator: a disconnected forwarder returns the event to mxf's allocator",
              "forwarder not created, status 0x%08lx", (unsigned long)s);
    }

    r = a->AddRef();
    a->Release();
    check(r == 2, "allocator: references balanced before the last Release", "count %lu after AddRef",
           (unsigned long)r);
    r = a->Release();
    check(r == 0, "allocator slot 2: the last Release returns 0", "%lu", (unsigned long)r);
    check(notify.refs == 1, "allocator: destroying it releases the C++ IPositionNotify", "refs %ld", notify.refs);
}

/* ---------------------------------------------------------------------------------------------- */
/* Helpers shared by the filter and miniport sections. */

/* The reference count of an object, from AddRef's answer (the reference is given back at once). */
template <class T> static ULONG refs_of(T *p)
{
    ULONG r = p->AddRef();
    p->Release();
    return r - 1;
}

static AllocatorInfo alloc_info(void *allocator)
{
    AllocatorInfo i = {};
    mxf_abi_allocator_info(allocator, &i);
    return i;
}

static FilterInfo filter_info(void *filter)
{
    FilterInfo i = {};
    mxf_abi_filter_info(filter, &i);
    return i;
}

/* mxf objects handed out as header interfaces, called the way this client calls mxf objects. */
static ClientMXF *client_of(PMXF p)
{
    return static_cast<ClientMXF *>(static_cast<void *>(p));
}

/* Up to sizeof(PBYTE) bytes, inline. */
static void set_short(PDMUS_KERNEL_EVENT e, std::initializer_list<BYTE> bytes, USHORT group, LONGLONG time)
{
    e->cbEvent = 0;
    for (BYTE b : bytes)
        if (e->cbEvent < sizeof(PBYTE))
            e->uData.abData[e->cbEvent++] = b;
    e->usChannelGroup = group;
    e->ullPresTime100ns = time;
}

/* A 100-byte SysEx in an allocator buffer: F0 7D <96 counting bytes> ... F7. */
static const USHORT kSysexBytes = 100;
static bool set_sysex(ClientAllocatorMXF *a, PDMUS_KERNEL_EVENT e, USHORT group, LONGLONG time)
{
    PBYTE buf = nullptr;
    if (!nt_success(a->GetBuffer(&buf)) || !buf)
        return false;
    for (USHORT i = 0; i < kSysexBytes; i++)
        buf[i] = (BYTE)(i & 0x7F);
    buf[0] = 0xF0;
    buf[1] = 0x7D;
    buf[kSysexBytes - 1] = 0xF7;
    e->cbEvent = kSysexBytes;
    e->uData.pbData = buf;
    e->usChannelGroup = group;
    e->ullPresTime100ns = time;
    return true;
}

static bool sysex_intact(const DMUS_KERNEL_EVENT *e)
{
    if (e->cbEvent != kSysexBytes || !e->uData.pbData)
        return false;
    const BYTE *b = e->uData.pbData;
    if (b[0] != 0xF0 || b[1] != 0x7D || b[kSysexBytes - 1] != 0xF7)
        return false;
    for (USHORT i = 2; i < kSysexBytes - 1; i++)
        if (b[i] != (BYTE)(i & 0x7F))
            return false;
    return true;
}

static bool bytes_are(const DMUS_KERNEL_EVENT *e, std::initializer_list<BYTE> bytes)
{
    if (e->cbEvent != bytes.size() || e->cbEvent > sizeof(PBYTE))
        return false;
    USHORT i = 0;
    for (BYTE b : bytes)
        if (e->uData.abData[i++] != b)
            return false;
    return true;
}

static int chain_length(PDMUS_KERNEL_EVENT e)
{
    int n = 0;
    for (; e && n < 1000000; e = e->pNextEvt)
        n++;
    return n;
}

/* ---------------------------------------------------------------------------------------------- */
/* filter: the sample #[mxf_filter] Transpose, C++ -> Rust -> C++ */

static void test_filter(void)
{
    check(mxf_abi_allocator_info_size() == sizeof(AllocatorInfo), "filter: AllocatorInfo has the same size",
          "C++ %u, Rust %u", (unsigned)sizeof(AllocatorInfo), mxf_abi_allocator_info_size());
    check(mxf_abi_filter_info_size() == sizeof(FilterInfo), "filter: FilterInfo has the same size", "C++ %u, Rust %u",
          (unsigned)sizeof(FilterInfo), mxf_abi_filter_info_size());

    void *araw = nullptr;
    NTSTATUS s = mxf_abi_create_allocator(nullptr, &araw);
    AllocatorInfo ai = {};
    int known = araw ? mxf_abi_allocator_info(araw, &ai) : -1;
    check(s == kSuccess && araw && known == 0 && ai.outstanding_events == 0,
          "filter: mxf's allocator created, its books readable, nothing outstanding", "status 0x%08lx, %p, %d",
          (unsigned long)s, araw, known);
    if (!araw)
        return;
    ClientAllocatorMXF *a = static_cast<ClientAllocatorMXF *>(araw);

    const int kSemitones = 7;
    void *raw = nullptr;
    s = mxf_abi_create_transpose(araw, kSemitones, &raw);
    check(s == kSuccess && raw, "filter: #[mxf_filter] Transpose(+7) created on mxf's allocator with into_filter",
          "status 0x%08lx, %p", (unsigned long)s, raw);
    if (!raw) {
        a->Release();
        return;
    }
    ULONG r = refs_of(a);
    check(r == 2, "filter: keeps one reference to its allocator", "allocator count %lu", (unsigned long)r);
    ClientMXF *f = static_cast<ClientMXF *>(raw);
    CountingSink sinkA, sinkB;

    /* IUnknown, QI identity */
    r = f->AddRef();
    check(r == 2, "filter: AddRef returns 2", "%lu", (unsigned long)r);
    r = f->Release();
    check(r == 1, "filter: Release returns 1", "%lu", (unsigned long)r);
    void *unk = nullptr, *mxf = nullptr, *unk2 = nullptr;
    s = f->QueryInterface(IID_IUnknown, &unk);
    check(s == kSuccess && unk == raw, "filter: QI(IID_IUnknown) from IMXF is the object's identity",
          "status 0x%08lx, %p vs %p", (unsigned long)s, unk, raw);
    s = f->QueryInterface(IID_IMXF, &mxf);
    check(s == kSuccess && mxf == raw, "filter: QI(IID_IMXF) answers the same interface", "status 0x%08lx, %p",
          (unsigned long)s, mxf);
    if (mxf) {
        s = static_cast<ClientMXF *>(mxf)->QueryInterface(IID_IUnknown, &unk2);
        check(s == kSuccess && unk2 == unk, "filter: QI identity holds through the IMXF it answered", "%p vs %p",
              unk2, unk);
    }
    for (void *p : {unk, mxf, unk2})
        if (p)
            static_cast<ClientMXF *>(p)->Release();
    r = refs_of(f);
    check(r == 1, "filter: QueryInterface references are balanced", "count %lu", (unsigned long)r);
    void *none = (void *)1;
    s = f->QueryInterface(IID_IAllocatorMXF, &none);
    check(!nt_success(s) && none == nullptr, "filter: QI(IID_IAllocatorMXF) fails with NULL", "status 0x%08lx, %p",
          (unsigned long)s, none);

    /* Unconnected: the output is the allocator. */
    s = f->PutMessage(nullptr);
    check(s == kSuccess, "filter: PutMessage(NULL) succeeds", "status 0x%08lx", (unsigned long)s);
    PDMUS_KERNEL_EVENT e = get(a);
    if (e) {
        set_short(e, {0x90, 60, 100}, 1, 1000);
        AllocatorInfo before = alloc_info(araw);
        s = f->PutMessage(e);
        AllocatorInfo after = alloc_info(araw);
        check(s == kSuccess && after.puts == before.puts + 1 &&
                  after.outstanding_events + 1 == before.outstanding_events,
              "filter: unconnected output goes to the allocator", "status 0x%08lx, puts %llu -> %llu, outstanding %llu -> %llu",
              (unsigned long)s, (unsigned long long)before.puts, (unsigned long long)after.puts,
              (unsigned long long)before.outstanding_events, (unsigned long long)after.outstanding_events);
        char why[256] = "";
        PDMUS_KERNEL_EVENT back = get(a);
        check(back == e && is_fresh(back, why, sizeof why),
              "filter: the allocator hands the same event back, fresh", "%p vs %p: %s", (void *)back, (void *)e, why);
        if (back)
            a->PutMessage(back);
    } else {
        check(false, "filter: unconnected output goes to the allocator", "GetMessage failed");
    }

    /* Connection rules */
    s = f->ConnectOutput(nullptr);
    check(!nt_success(s), "filter: ConnectOutput(NULL) fails", "status 0x%08lx", (unsigned long)s);
    s = f->ConnectOutput(&sinkA);
    check(s == kSuccess && sinkA.refs == 2, "filter: ConnectOutput(C++ sink) keeps one reference to it",
          "status 0x%08lx, refs %ld", (unsigned long)s, sinkA.refs);
    s = f->ConnectOutput(&sinkB);
    check(s == kUnsuccessful && sinkB.refs == 1 && sinkA.refs == 2,
          "filter: a second ConnectOutput fails and never replaces the connection",
          "status 0x%08lx, refs %ld and %ld", (unsigned long)s, sinkA.refs, sinkB.refs);

    /* A chain: note-on, note-on (channel 2), controller, 100-byte SysEx, note-off. */
    PDMUS_KERNEL_EVENT n1 = get(a), n2 = get(a), cc = get(a), sx = get(a), n3 = get(a);
    bool have = n1 && n2 && cc && sx && n3 && set_sysex(a, sx, 1, 4000);
    check(have, "filter: events and a buffer for the chain come from mxf's allocator");
    if (have) {
        set_short(n1, {0x90, 60, 100}, 1, 1000);
        set_short(n2, {0x91, 64, 90}, 1, 2000);
        set_short(cc, {0xB0, 7, 100}, 1, 3000);
        set_short(n3, {0x80, 60, 64}, 1, 5000);
        n1->pNextEvt = n2;
        n2->pNextEvt = cc;
        cc->pNextEvt = sx;
        sx->pNextEvt = n3;
        n3->pNextEvt = nullptr;
        PBYTE buffer = sx->uData.pbData;
        AllocatorInfo before = alloc_info(araw);
        FilterInfo fbefore = filter_info(raw);
        s = f->PutMessage(n1);
        AllocatorInfo after = alloc_info(araw);
        FilterInfo fafter = filter_info(raw);
        check(s == kSuccess && sinkA.put_calls == 1 && sinkA.last == n1 && sinkA.events == 5,
              "filter: the chain reaches the C++ sink in one call, as one chain of 5",
              "status 0x%08lx, sink calls %d, head %p vs %p, events %d", (unsigned long)s, sinkA.put_calls,
              (void *)sinkA.last, (void *)n1, sinkA.events);
        check(n1->pNextEvt == n2 && n2->pNextEvt == cc && cc->pNextEvt == sx && sx->pNextEvt == n3 &&
                  n3->pNextEvt == nullptr,
              "filter: the events arrive in order");
        check(bytes_are(n1, {0x90, 67, 100}) && bytes_are(n2, {0x91, 71, 90}),
              "filter: note-ons transposed by +7 (60 -> 67, 64 -> 71), velocity and channel kept",
              "%02X %u %u / %02X %u %u", n1->uData.abData[0], n1->uData.abData[1], n1->uData.abData[2],
              n2->uData.abData[0], n2->uData.abData[1], n2->uData.abData[2]);
        check(bytes_are(n3, {0x80, 67, 64}), "filter: the note-off follows its note-on (60 -> 67)", "%02X %u %u",
              n3->uData.abData[0], n3->uData.abData[1], n3->uData.abData[2]);
        check(bytes_are(cc, {0xB0, 7, 100}), "filter: the controller passes unchanged");
        check(sysex_intact(sx) && sx->uData.pbData == buffer,
              "filter: the 100-byte SysEx passes unchanged, with its buffer");
        check(n1->usChannelGroup == 1 && n2->ullPresTime100ns == 2000 && sx->ullPresTime100ns == 4000 &&
                  n3->ullPresTime100ns == 5000 && (n1->usFlags & DMUS_KEF_EVENT_INCOMPLETE) == 0,
              "filter: groups, times and flags kept");
        check(after.puts == before.puts && after.outstanding_events == before.outstanding_events,
              "filter: nothing went to the allocator while connected", "puts %llu -> %llu",
              (unsigned long long)before.puts, (unsigned long long)after.puts);
        check(fafter.calls == fbefore.calls + 1 && fafter.events_in == fbefore.events_in + 5 &&
                  fafter.events_out == fbefore.events_out + 5,
              "filter: the Rust counters saw one call, 5 events in and out", "calls +%llu, in +%llu, out +%llu",
              (unsigned long long)(fafter.calls - fbefore.calls),
              (unsigned long long)(fafter.events_in - fbefore.events_in),
              (unsigned long long)(fafter.events_out - fbefore.events_out));
        /* The sink owns the chain: back to the allocator, buffer and all. */
        s = a->PutMessage(sinkA.last);
        AllocatorInfo done = alloc_info(araw);
        check(s == kSuccess && done.outstanding_events == 0 && done.outstanding_buffers == 0 && done.misuse == 0,
              "filter: the C++ sink returns the chain to the allocator, nothing outstanding",
              "status 0x%08lx, events %llu, buffers %llu, misuse %llu", (unsigned long)s,
              (unsigned long long)done.outstanding_events, (unsigned long long)done.outstanding_buffers,
              (unsigned long long)done.misuse);
    } else {
        for (PDMUS_KERNEL_EVENT p : {n1, n2, cc, sx, n3})
            if (p)
                a->PutMessage(p);
    }

    /* DisconnectOutput */
    s = f->DisconnectOutput(&sinkB);
    check(s == kUnsuccessful && sinkA.refs == 2, "filter: DisconnectOutput(other sink) fails, connection kept",
          "status 0x%08lx, refs %ld", (unsigned long)s, sinkA.refs);
    s = f->DisconnectOutput(&sinkA);
    check(s == kSuccess && sinkA.refs == 1, "filter: DisconnectOutput(sink) releases the C++ sink",
          "status 0x%08lx, refs %ld", (unsigned long)s, sinkA.refs);
    e = get(a);
    if (e) {
        set_short(e, {0x90, 62, 100}, 1, 6000);
        int calls = sinkA.put_calls;
        AllocatorInfo before = alloc_info(araw);
        s = f->PutMessage(e);
        AllocatorInfo after = alloc_info(araw);
        check(s == kSuccess && sinkA.put_calls == calls && after.outstanding_events + 1 == before.outstanding_events,
              "filter: after DisconnectOutput the output is the allocator again", "status 0x%08lx, sink calls %d",
              (unsigned long)s, sinkA.put_calls - calls);
    }

    /* STOP: events go straight back to the allocator; the filter is reconnected meanwhile. */
    s = f->ConnectOutput(&sinkA);
    NTSTATUS s2 = f->SetState(KSSTATE_STOP);
    e = get(a);
    if (e) {
        set_short(e, {0x90, 60, 100}, 1, 7000);
        int calls = sinkA.put_calls;
        FilterInfo fbefore = filter_info(raw);
        NTSTATUS s3 = f->PutMessage(e);
        FilterInfo fafter = filter_info(raw);
        check(s == kSuccess && s2 == kSuccess && s3 == kSuccess && sinkA.put_calls == calls &&
                  fafter.discarded == fbefore.discarded + 1 && alloc_info(araw).outstanding_events == 0,
              "filter: reconnected; in KSSTATE_STOP an event goes back to the allocator, not to the sink",
              "status 0x%08lx 0x%08lx 0x%08lx, sink calls +%d, discarded +%llu", (unsigned long)s, (unsigned long)s2,
              (unsigned long)s3, sinkA.put_calls - calls, (unsigned long long)(fafter.discarded - fbefore.discarded));
    }
    s = f->SetState(KSSTATE_RUN);
    e = get(a);
    if (e) {
        set_short(e, {0x90, 60, 100}, 1, 8000);
        int calls = sinkA.put_calls;
        NTSTATUS s3 = f->PutMessage(e);
        check(s == kSuccess && s3 == kSuccess && sinkA.put_calls == calls + 1 && sinkA.last == e &&
                  bytes_are(e, {0x90, 67, 100}),
              "filter: back in KSSTATE_RUN the event is transposed to the C++ sink", "status 0x%08lx, sink calls +%d",
              (unsigned long)s3, sinkA.put_calls - calls);
        if (sinkA.last == e)
            a->PutMessage(e);
    }

    /* Teardown: destroying a connected filter releases its sink and its allocator. */
    r = f->Release();
    check(r == 0, "filter: last Release returns 0", "%lu", (unsigned long)r);
    check(sinkA.refs == 1 && sinkB.refs == 1, "filter: C++ sink references back to their start after release",
          "refs %ld and %ld", sinkA.refs, sinkB.refs);
    r = refs_of(a);
    check(r == 1, "filter: destroying it releases its allocator reference", "allocator count %lu", (unsigned long)r);
    ai = alloc_info(araw);
    check(ai.outstanding_events == 0 && ai.outstanding_buffers == 0 && ai.misuse == 0,
          "filter: nothing outstanding in the allocator, no misuse", "events %llu, buffers %llu, misuse %llu",
          (unsigned long long)ai.outstanding_events, (unsigned long long)ai.outstanding_buffers,
          (unsigned long long)ai.misuse);
    r = a->Release();
    check(r == 0, "filter: the allocator's last Release returns 0", "%lu", (unsigned long)r);
}

/* ---------------------------------------------------------------------------------------------- */
/* miniport: the sample UART miniport through the header's IMiniportDMus */

/* KSDATAFORMAT as ks.h lays it out (a union with a LONGLONG, hence the alignment); the prelude
 * keeps PKSDATAFORMAT opaque, as the header only passes it on. */
struct alignas(8) KsDataFormat {
    ULONG FormatSize;
    ULONG Flags;
    ULONG SampleSize;
    ULONG Reserved;
    GUID MajorFormat;
    GUID SubFormat;
    GUID Specifier;
};
static_assert(sizeof(KsDataFormat) == 64, "KSDATAFORMAT is 64 bytes");

/* What the port passes: its own copy of the connection format (DirectMusic format). */
static KsDataFormat music_format(void)
{
    KsDataFormat f;
    memset(&f, 0, sizeof f);
    f.FormatSize = sizeof f;
    f.MajorFormat = {0xE725D360, 0x62CC, 0x11CF, {0xA5, 0xD6, 0x28, 0xDB, 0x04, 0xC1, 0x00, 0x00}}; /* TYPE_MUSIC */
    f.SubFormat = {0x1A82F8BC, 0x3F8B, 0x11D2, {0xB7, 0x74, 0x00, 0x60, 0x08, 0x33, 0x16, 0xC1}};   /* DIRECTMUSIC */
    f.Specifier = {0x0F6417D6, 0xC318, 0x11D0, {0xA4, 0x3F, 0x00, 0xA0, 0xC9, 0x22, 0x31, 0x96}};   /* NONE */
    return f;
}

struct StreamResult {
    NTSTATUS status;
    PMXF mxf;
    PSERVICEGROUP group;
    ULONGLONG prefetch;
};

/* IMiniportDMus::NewStream as the port calls it: OuterUnknown NULL, NonPagedPool, a fresh copy of
 * the format (scribbled over afterwards: the miniport may not keep it), the out-pointers pre-set
 * to garbage and SchedulePreFetch to a nonzero value. */
static StreamResult new_stream(IMiniportDMus *m, ULONG pin, DMUS_STREAM_TYPE type, void *allocator,
                               IMasterClock *clock)
{
    KsDataFormat *format = new KsDataFormat(music_format());
    StreamResult r;
    r.mxf = reinterpret_cast<PMXF>((uintptr_t)0x5A5A5A50);
    r.group = reinterpret_cast<PSERVICEGROUP>((uintptr_t)0x5A5A5A60);
    r.prefetch = 0x123456789ULL;
    r.status = m->NewStream(&r.mxf, nullptr, NonPagedPool, pin, type, reinterpret_cast<PKSDATAFORMAT>(format),
                            &r.group, static_cast<PAllocatorMXF>(allocator), clock, &r.prefetch);
    memset(static_cast<void *>(format), 0xCC, sizeof *format);
    delete format;
    return r;
}

static void test_miniport(void)
{
    void *araw = nullptr;
    NTSTATUS s = mxf_abi_create_allocator(nullptr, &araw);
    IMiniportDMus *m = nullptr;
    NTSTATUS sm = mxf_abi_create_uart_miniport(&m);
    check(s == kSuccess && araw && sm == kSuccess && m,
          "miniport: mxf's allocator and the sample UART miniport (IMiniportDMus) created",
          "status 0x%08lx, 0x%08lx", (unsigned long)s, (unsigned long)sm);
    if (!araw || !m) {
        if (araw)
            static_cast<ClientAllocatorMXF *>(araw)->Release();
        if (m)
            m->Release();
        return;
    }
    ClientAllocatorMXF *a = static_cast<ClientAllocatorMXF *>(araw);
    RecordingPort port;
    CountingClock clock;
    CountingSink sink, other;

    /* QueryInterface identity */
    void *p1 = nullptr, *p2 = nullptr;
    s = m->QueryInterface(IID_IMiniportDMus, &p1);
    NTSTATUS s2 = m->QueryInterface(IID_IUnknown, &p2);
    check(s == kSuccess && s2 == kSuccess && p1 == (void *)m && p2 == (void *)m,
          "miniport: QI(IID_IMiniportDMus) and QI(IID_IUnknown) give the same identity", "%p %p vs %p", p1, p2,
          (void *)m);
    for (void *p : {p1, p2})
        if (p)
            static_cast<IUnknown *>(p)->Release();
    check(refs_of(m) == 1, "miniport: QueryInterface references are balanced", "count %lu",
          (unsigned long)refs_of(m));
    check(mxf_abi_uart_mode(m) == 0, "miniport: the virtual MPU-401 is not in UART mode before a stream opens");

    StreamResult early = new_stream(m, 1, DMUS_STREAM_MIDI_RENDER, araw, &clock);
    check(early.status == kInvalidDeviceState && early.mxf == nullptr && early.group == nullptr,
          "miniport NewStream before Init: STATUS_INVALID_DEVICE_STATE, out-pointers NULL", "status 0x%08lx, %p %p",
          (unsigned long)early.status, (void *)early.mxf, (void *)early.group);

    /* Init with the C++ port */
    PSERVICEGROUP group = reinterpret_cast<PSERVICEGROUP>((uintptr_t)0x5A5A5A70);
    port.in_init = true;
    s = m->Init(nullptr, nullptr, &port, &group);
    port.in_init = false;
    check(s == kSuccess && group != nullptr, "miniport Init: succeeds with a C++ IPortDMus and outputs a service group",
          "status 0x%08lx, group %p", (unsigned long)s, (void *)group);
    if (!nt_success(s))
        group = nullptr;
    check(port.registered == 1 && port.registered_in_init && port.registered_group == group,
          "miniport Init: calls the C++ port's RegisterServiceGroup during Init, with the group Init outputs",
          "%d calls, during Init %d, %p vs %p", port.registered, (int)port.registered_in_init,
          (void *)port.registered_group, (void *)group);
    check(port.refs == 2, "miniport Init: keeps one reference to the C++ port", "refs %ld", port.refs);
    PSERVICEGROUP again = reinterpret_cast<PSERVICEGROUP>((uintptr_t)0x5A5A5A70);
    s = m->Init(nullptr, nullptr, &port, &again);
    check(s == kInvalidDeviceState && again == nullptr && port.refs == 2 && port.registered == 1,
          "miniport Init: a second Init is STATUS_INVALID_DEVICE_STATE, NULL group, no new reference",
          "status 0x%08lx, %p, port refs %ld", (unsigned long)s, (void *)again, port.refs);
    if (!group) {
        m->Release();
        a->Release();
        return;
    }
    ULONG group_refs = refs_of(unknown_of(group));
    ULONG alloc_refs = refs_of(a);

    /* Render stream, pin 1 */
    StreamResult render = new_stream(m, 1, DMUS_STREAM_MIDI_RENDER, araw, &clock);
    check(render.status == kSuccess && render.mxf != nullptr,
          "miniport NewStream: render stream (pin 1) with mxf's allocator, OuterUnknown NULL, NonPagedPool",
          "status 0x%08lx, %p", (unsigned long)render.status, (void *)render.mxf);
    if (!nt_success(render.status))
        render.mxf = nullptr;
    check(render.prefetch == 0, "miniport NewStream (item 68): render *SchedulePreFetch written 0", "0x%llx",
          (unsigned long long)render.prefetch);
    check(render.group == nullptr, "miniport NewStream (item 68): render stream gets a NULL service group", "%p",
          (void *)render.group);
    check(refs_of(a) == alloc_refs + 1 && clock.refs == 2,
          "miniport NewStream: the render stream keeps one reference to the allocator and the C++ clock",
          "allocator %lu (was %lu), clock %ld", (unsigned long)refs_of(a), (unsigned long)alloc_refs, clock.refs);
    check(mxf_abi_uart_mode(m) == 1, "miniport NewStream: the first stream put the MPU-401 in UART mode");

    /* Capture stream, pin 4 */
    StreamResult capture = new_stream(m, 4, DMUS_STREAM_MIDI_CAPTURE, araw, &clock);
    check(capture.status == kSuccess && capture.mxf != nullptr, "miniport NewStream: capture stream (pin 4)",
          "status 0x%08lx, %p", (unsigned long)capture.status, (void *)capture.mxf);
    if (!nt_success(capture.status)) {
        capture.mxf = nullptr;
        capture.group = nullptr;
    }
    check(capture.prefetch == 0, "miniport NewStream (item 68): capture *SchedulePreFetch written 0", "0x%llx",
          (unsigned long long)capture.prefetch);
    ULONG group_now = refs_of(unknown_of(group));
    check(capture.group == group && group_now == group_refs + 1,
          "miniport NewStream (item 68): capture stream gets the miniport's service group, AddRef'd",
          "%p vs %p, count %lu (was %lu)", (void *)capture.group, (void *)group, (unsigned long)group_now,
          (unsigned long)group_refs);
    ULONG alloc_now = refs_of(a);
    check(refs_of(m) == 3, "miniport: each open stream keeps one reference to the miniport", "count %lu",
          (unsigned long)refs_of(m));

    /* The capture stream holds the clock twice (its own reference and the ISR's, which stamps
     * input with it): what matters here is that the refused stream adds none. */
    long clock_now = clock.refs;
    StreamResult capture2 = new_stream(m, 4, DMUS_STREAM_MIDI_CAPTURE, araw, &clock);
    check(capture2.status == kInvalidDeviceRequest && capture2.mxf == nullptr && capture2.group == nullptr &&
              capture2.prefetch == 0,
          "miniport NewStream (item 68): a 2nd capture stream is STATUS_INVALID_DEVICE_REQUEST, outputs NULL and 0",
          "status 0x%08lx, %p %p 0x%llx", (unsigned long)capture2.status, (void *)capture2.mxf,
          (void *)capture2.group, (unsigned long long)capture2.prefetch);
    check(refs_of(a) == alloc_now && refs_of(unknown_of(group)) == group_now && clock.refs == clock_now,
          "miniport NewStream: the refused stream keeps no reference", "allocator %lu, group %lu, clock %ld",
          (unsigned long)refs_of(a), (unsigned long)refs_of(unknown_of(group)), clock.refs);
    StreamResult render2 = new_stream(m, 1, DMUS_STREAM_MIDI_RENDER, araw, &clock);
    StreamResult render3 = new_stream(m, 1, DMUS_STREAM_MIDI_RENDER, araw, &clock);
    check(render2.status == kSuccess && render2.mxf && render3.status == kInvalidDeviceRequest &&
              render3.mxf == nullptr,
          "miniport NewStream (item 68): a 2nd render stream opens, a 3rd is STATUS_INVALID_DEVICE_REQUEST",
          "status 0x%08lx, 0x%08lx", (unsigned long)render2.status, (unsigned long)render3.status);
    if (nt_success(render2.status) && render2.mxf) {
        ULONG rr = client_of(render2.mxf)->Release();
        check(rr == 0, "miniport: the 2nd render stream's last Release returns 0", "%lu", (unsigned long)rr);
    }
    /* Streams that should have been refused are not left open. */
    for (StreamResult *x : {&capture2, &render3}) {
        if (nt_success(x->status) && x->mxf) {
            client_of(x->mxf)->Release();
            if (x->group)
                unknown_of(x->group)->Release();
        }
    }

    /* Render: a short event and a 100-byte SysEx, to the MPU-401; the events back to the allocator. */
    if (render.mxf) {
        ClientMXF *rs = client_of(render.mxf);
        s = rs->ConnectOutput(&sink);
        check(s == kUnsuccessful && sink.refs == 1, "miniport render stream: ConnectOutput is STATUS_UNSUCCESSFUL",
              "status 0x%08lx, sink refs %ld", (unsigned long)s, sink.refs);
        NTSTATUS sa = rs->SetState(KSSTATE_ACQUIRE), sp = rs->SetState(KSSTATE_PAUSE), sr = rs->SetState(KSSTATE_RUN);
        check(sa == kSuccess && sp == kSuccess && sr == kSuccess,
              "miniport render stream: SetState ACQUIRE, PAUSE, RUN", "0x%08lx 0x%08lx 0x%08lx", (unsigned long)sa,
              (unsigned long)sp, (unsigned long)sr);
        PDMUS_KERNEL_EVENT note = get(a), sx = get(a);
        bool have = note && sx && set_sysex(a, sx, 1, 0);
        if (have) {
            set_short(note, {0x90, 0x3C, 0x64}, 1, 0);
            note->pNextEvt = sx;
            AllocatorInfo before = alloc_info(araw);
            int clock_calls = clock.calls;
            s = rs->PutMessage(note);
            AllocatorInfo after = alloc_info(araw);
            check(s == kSuccess, "miniport render stream: PutMessage(short event -> 100-byte SysEx) succeeds",
                  "status 0x%08lx", (unsigned long)s);
            check(after.outstanding_events + 2 == before.outstanding_events &&
                      after.outstanding_buffers + 1 == before.outstanding_buffers && after.puts > before.puts,
                  "miniport render stream: both events come back to the allocator once written, the buffer with them",
                  "outstanding events %llu -> %llu, buffers %llu -> %llu", (unsigned long long)before.outstanding_events,
                  (unsigned long long)after.outstanding_events, (unsigned long long)before.outstanding_buffers,
                  (unsigned long long)after.outstanding_buffers);
            BYTE wire[256];
            int64_t n = mxf_abi_uart_take_output(m, wire, sizeof wire);
            bool same = n == 3 + kSysexBytes && wire[0] == 0x90 && wire[1] == 0x3C && wire[2] == 0x64 &&
                        wire[3] == 0xF0 && wire[4] == 0x7D && wire[3 + kSysexBytes - 1] == 0xF7;
            for (int i = 2; same && i < kSysexBytes - 1; i++)
                same = wire[3 + i] == (BYTE)(i & 0x7F);
            check(same, "miniport render stream: the 3 + 100 bytes reached the virtual MPU-401, in order",
                  "%lld bytes", (long long)n);
            check(clock.calls > clock_calls, "miniport render stream: the stream read the C++ master clock");
        } else {
            check(false, "miniport render stream: events and a buffer from mxf's allocator");
            for (PDMUS_KERNEL_EVENT p : {note, sx})
                if (p)
                    a->PutMessage(p);
        }
    }

    /* Capture: bytes on the wire -> ISR -> Notify; PutMessage(NULL) -> the C++ sink. */
    if (capture.mxf) {
        ClientMXF *cs = client_of(capture.mxf);
        s = cs->ConnectOutput(nullptr);
        check(!nt_success(s), "miniport capture stream: ConnectOutput(NULL) fails", "status 0x%08lx",
              (unsigned long)s);
        s = cs->ConnectOutput(&sink);
        check(s == kSuccess && sink.refs == 2, "miniport capture stream: ConnectOutput(C++ sink) keeps one reference",
              "status 0x%08lx, refs %ld", (unsigned long)s, sink.refs);
        s = cs->ConnectOutput(&other);
        check(s == kUnsuccessful && other.refs == 1 && sink.refs == 2,
              "miniport capture stream: a second ConnectOutput fails, connection kept", "status 0x%08lx",
              (unsigned long)s);
        NTSTATUS sa = cs->SetState(KSSTATE_ACQUIRE), sp = cs->SetState(KSSTATE_PAUSE), sr = cs->SetState(KSSTATE_RUN);
        check(sa == kSuccess && sp == kSuccess && sr == kSuccess,
              "miniport capture stream: SetState ACQUIRE, PAUSE, RUN", "0x%08lx 0x%08lx 0x%08lx", (unsigned long)sa,
              (unsigned long)sp, (unsigned long)sr);

        static const BYTE input[] = {0x90, 0x3C, 0x64, 0x80, 0x3C, 0x40, 0xB0, 0x07, 0x64, 0xC0, 0x05};
        const size_t k = sizeof input;
        const LONGLONG when = 50000000;
        int notified = port.notify_calls, calls = sink.put_calls;
        int rc = mxf_abi_uart_receive(m, input, k, when);
        check(rc == 0 && port.notify_calls == notified + 1 && port.last_notified == group,
              "miniport capture: the interrupt reaches the C++ port's Notify with the miniport's service group",
              "rc %d, %d calls, %p vs %p", rc, port.notify_calls - notified, (void *)port.last_notified,
              (void *)group);
        check(sink.put_calls == calls, "miniport capture: nothing is sent before the port's PutMessage(NULL)");
        m->Service(); /* what the group's service request does: a no-op while a capture stream exists */
        AllocatorInfo before = alloc_info(araw);
        s = cs->PutMessage(nullptr);
        AllocatorInfo after = alloc_info(araw);
        const size_t per = sizeof(PBYTE);
        const int want = (int)((k + per - 1) / per);
        PDMUS_KERNEL_EVENT head = sink.last;
        check(s == kSuccess && sink.put_calls == calls + 1 && chain_length(head) == want,
              "miniport capture (item 69): PutMessage(NULL) sends one chain of ceil(k / sizeof(PBYTE)) events to "
              "the C++ sink",
              "status 0x%08lx, sink calls +%d, %d events, want %d", (unsigned long)s, sink.put_calls - calls,
              chain_length(head), want);
        bool flags = true, groups = true, times = true, sizes = true, order = true;
        size_t at = 0;
        for (PDMUS_KERNEL_EVENT p = head; p && at < k; p = p->pNextEvt) {
            size_t cb = k - at < per ? k - at : per;
            flags = flags && p->usFlags == DMUS_KEF_EVENT_INCOMPLETE;
            groups = groups && p->usChannelGroup == 1;
            times = times && p->ullPresTime100ns == when;
            sizes = sizes && p->cbEvent == cb;
            for (size_t i = 0; i < cb && i < per; i++)
                order = order && p->uData.abData[i] == input[at + i];
            at += cb;
        }
        check(flags && groups, "miniport capture (item 69): every event is DMUS_KEF_EVENT_INCOMPLETE, group 1");
        check(sizes && order && at == k,
              "miniport capture (item 69): sizeof(PBYTE) bytes per event (the rest in the last), in byte order",
              "%zu of %zu bytes", at, k);
        check(times, "miniport capture (item 69): every event carries the same time (the interrupt's)");
        check(after.outstanding_events == before.outstanding_events + (uint64_t)want,
              "miniport capture: the events come from mxf's allocator", "outstanding %llu -> %llu",
              (unsigned long long)before.outstanding_events, (unsigned long long)after.outstanding_events);
        if (sink.put_calls == calls + 1 && head)
            a->PutMessage(head); /* the sink owns the chain */
        calls = sink.put_calls;
        s = cs->PutMessage(nullptr);
        check(s == kSuccess && sink.put_calls == calls,
              "miniport capture (item 69): PutMessage(NULL) with no bytes buffered sends nothing", "status 0x%08lx",
              (unsigned long)s);

        s = cs->DisconnectOutput(&other);
        check(s == kUnsuccessful && sink.refs == 2, "miniport capture stream: DisconnectOutput(other sink) fails",
              "status 0x%08lx", (unsigned long)s);
        s = cs->DisconnectOutput(&sink);
        check(s == kSuccess && sink.refs == 1, "miniport capture stream: DisconnectOutput(sink) releases the C++ sink",
              "status 0x%08lx, refs %ld", (unsigned long)s, sink.refs);
        static const BYTE more[] = {0xF8, 0x90, 0x40, 0x7F};
        mxf_abi_uart_receive(m, more, sizeof more, when + 1);
        before = alloc_info(araw);
        s = cs->PutMessage(nullptr);
        after = alloc_info(araw);
        check(s == kSuccess && sink.put_calls == calls && after.puts == before.puts + 1 &&
                  after.outstanding_events == before.outstanding_events,
              "miniport capture stream: disconnected, captured events go to the allocator", "puts +%llu",
              (unsigned long long)(after.puts - before.puts));
    }

    /* Teardown: streams, groups, miniport; every reference comes back. */
    if (render.mxf) {
        client_of(render.mxf)->SetState(KSSTATE_STOP);
        ULONG rr = client_of(render.mxf)->Release();
        check(rr == 0, "miniport: the render stream's last Release returns 0", "%lu", (unsigned long)rr);
    }
    if (capture.mxf) {
        client_of(capture.mxf)->SetState(KSSTATE_STOP);
        ULONG rr = client_of(capture.mxf)->Release();
        check(rr == 0, "miniport: the capture stream's last Release returns 0", "%lu", (unsigned long)rr);
    }
    check(refs_of(a) == alloc_refs && clock.refs == 1,
          "miniport: destroyed streams release the allocator and the C++ clock", "allocator %lu (want %lu), clock %ld",
          (unsigned long)refs_of(a), (unsigned long)alloc_refs, clock.refs);
    if (capture.group)
        unknown_of(capture.group)->Release();
    ULONG mr = m->Release();
    check(mr == 0, "miniport: the last Release returns 0 once its streams are gone", "%lu", (unsigned long)mr);
    check(port.refs == 1, "miniport: destroying it releases the C++ port", "refs %ld", port.refs);
    int64_t lost = mxf_abi_uart_lost_input(m);
    int notified = port.notify_calls;
    static const BYTE late[] = {0x90, 0x3C, 0x64};
    mxf_abi_uart_receive(m, late, sizeof late, 60000000);
    check(mxf_abi_uart_lost_input(m) == lost + (int64_t)sizeof late && port.notify_calls == notified,
          "miniport: destroying it disconnected its interrupt (later input reaches no routine, no Notify)");
    ULONG gr = unknown_of(group)->Release(); /* Init's out-parameter */
    check(gr == 1, "miniport: only the C++ port's reference to the service group is left", "%lu", (unsigned long)gr);
    gr = unknown_of(port.registered_group)->Release();
    port.registered_group = nullptr;
    check(gr == 0, "miniport: the service group's last Release returns 0", "%lu", (unsigned long)gr);
    AllocatorInfo ai = alloc_info(araw);
    check(ai.outstanding_events == 0 && ai.outstanding_buffers == 0 && ai.misuse == 0,
          "miniport: nothing outstanding in the allocator, no misuse", "events %llu, buffers %llu, misuse %llu",
          (unsigned long long)ai.outstanding_events, (unsigned long long)ai.outstanding_buffers,
          (unsigned long long)ai.misuse);
    ULONG ar = a->Release();
    check(ar == 0, "miniport: the allocator's last Release returns 0", "%lu", (unsigned long)ar);
}

/* ---------------------------------------------------------------------------------------------- */

static LONG WINAPI on_crash(EXCEPTION_POINTERS *ep)
{
    printf("FAIL crash (exception 0x%08lx at %p)\n", (unsigned long)ep->ExceptionRecord->ExceptionCode,
           ep->ExceptionRecord->ExceptionAddress);
    fflush(stdout);
    ExitProcess(3);
    return EXCEPTION_EXECUTE_HANDLER;
}

int main(void)
{
    setvbuf(stdout, nullptr, _IONBF, 0);
    SetErrorMode(SEM_FAILCRITICALERRORS | SEM_NOGPFAULTERRORBOX);
    SetUnhandledExceptionFilter(on_crash);
#if defined(MXF_NEG_SWAPPED_SLOTS)
    printf("client: negative control, IMXF redeclared with SetState and PutMessage swapped\n");
#elif defined(MXF_NEG_SYSV_ABI)
    printf("client: negative control, mxf objects called with the System V convention\n");
#else
    printf("client: <ddk/dmusicks.h> from mingw-w64, Windows x64 convention\n");
#endif

    test_layout();
    test_slots();
    test_guids();
    test_event();
    test_forwarder();
    test_allocator();
    test_filter();
    test_miniport();

    printf("client done: %d passed, %d failed\n", g_passed, g_failed);
    return g_failed == 0 ? 0 : 1;
}

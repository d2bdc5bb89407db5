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

extern "C" {
int32_t mxf_abi_value(const char *name, int64_t *out);
int32_t mxf_abi_guid(const char *name, GUID *out);
int32_t mxf_abi_has_iid(const char *name);
int32_t mxf_abi_fresh_event(DMUS_KERNEL_EVENT *out);
NTSTATUS mxf_abi_create_allocator(void *notify, void **out);
NTSTATUS mxf_abi_create_forwarder(void *allocator, void **out);
int32_t mxf_abi_forwarder_info(void *mxf, ForwarderInfo *out);
uint32_t mxf_abi_forwarder_info_size(void);
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

    printf("client done: %d passed, %d failed\n", g_passed, g_failed);
    return g_failed == 0 ? 0 : 1;
}

// The C++ peer of the filter_chain bench: the three sample transforms (transpose, velocity,
// channel map) with the semantics of the Rust samples in examples/filters, written the
// way the WDK samples write MXF code: C++ objects deriving from IMXF with virtual PutMessage,
// raw event bytes, and each filter forwarding one chain to the next. Events come from, and
// return to, the project's allocator through its vtable (IAllocatorMXF), exactly as the Rust
// filters' do. Built with -O2 by build.rs (Linux x86-64 only: the bench calls it through the
// vtable with the C convention, which is the one `extern "system"` means there).

#include <atomic>
#include <cstdint>

// The interface declarations, as a header would give them. Not in the anonymous namespace: the
// objects behind these interfaces (the allocator, the sink) are defined elsewhere, and a type
// local to this file would let the compiler assume every implementation is in this file.
typedef int32_t NTSTATUS;
typedef int64_t REFERENCE_TIME;
const NTSTATUS STATUS_SUCCESS = 0;
const NTSTATUS STATUS_UNSUCCESSFUL = static_cast<NTSTATUS>(0xC0000001u);
const uint16_t DMUS_KEF_EVENT_INCOMPLETE = 0x0001;
const uint16_t DMUS_KEF_PACKAGE_EVENT = 0x0002;

struct DMUS_KERNEL_EVENT {
    uint8_t bReserved;
    uint8_t cbStruct;
    uint16_t cbEvent;
    uint16_t usChannelGroup;
    uint16_t usFlags;
    REFERENCE_TIME ullPresTime100ns;
    uint64_t ullBytePosition;
    DMUS_KERNEL_EVENT *pNextEvt;
    union {
        uint8_t abData[sizeof(uint8_t *)];
        uint8_t *pbData;
        DMUS_KERNEL_EVENT *pPackageEvt;
    } uData;
};
static_assert(sizeof(DMUS_KERNEL_EVENT) == 40, "the x64 layout");

struct IUnknownK {
    virtual NTSTATUS QueryInterface(const void *iid, void **out) = 0;
    virtual uint32_t AddRef() = 0;
    virtual uint32_t Release() = 0;
};
struct IMXF : IUnknownK {
    virtual NTSTATUS SetState(int32_t state) = 0;
    virtual NTSTATUS PutMessage(DMUS_KERNEL_EVENT *event) = 0;
    virtual NTSTATUS ConnectOutput(IMXF *sink) = 0;
    virtual NTSTATUS DisconnectOutput(IMXF *sink) = 0;
};
struct IAllocatorMXF : IMXF {
    virtual NTSTATUS GetMessage(DMUS_KERNEL_EVENT **event) = 0;
    virtual uint16_t GetBufferSize() = 0;
    virtual NTSTATUS GetBuffer(uint8_t **buffer) = 0;
    virtual NTSTATUS PutBuffer(uint8_t *buffer) = 0;
};

namespace {

// A spin lock as KeAcquireSpinLock would be used around shared state.
class SpinLock {
    std::atomic_flag m_flag = ATOMIC_FLAG_INIT;
public:
    void Acquire() {
        while (m_flag.test_and_set(std::memory_order_acquire)) {
        }
    }
    void Release() { m_flag.clear(std::memory_order_release); }
};

// The event's status byte and its length for a channel message; 0 if the event is no
// complete single channel message (fragments, packages, SysEx, running status, malformed data).
inline uint8_t ChannelStatus(const DMUS_KERNEL_EVENT *e) {
    if (e->usFlags & (DMUS_KEF_EVENT_INCOMPLETE | DMUS_KEF_PACKAGE_EVENT)) return 0;
    if (e->cbEvent == 0 || e->cbEvent > sizeof(e->uData)) return 0;
    const uint8_t *d = e->uData.abData;
    uint8_t status = d[0];
    if (status < 0x80 || status >= 0xF0) return 0;
    uint16_t len = (status & 0xF0) == 0xC0 || (status & 0xF0) == 0xD0 ? 2 : 3;
    if (e->cbEvent != len) return 0;
    for (uint16_t i = 1; i < len; i++)
        if (d[i] >= 0x80) return 0;
    return status;
}

// The common part: IUnknown, the connection, and PutMessage's chain handling. A derived class
// transforms one event (returns false to drop it, which returns it to the allocator).
class CFilter : public IMXF {
protected:
    IAllocatorMXF *m_allocator;
    IMXF *m_sink = nullptr;
    virtual bool Process(DMUS_KERNEL_EVENT *e) = 0;
public:
    explicit CFilter(IAllocatorMXF *allocator) : m_allocator(allocator) {}
    virtual ~CFilter() {}
    NTSTATUS QueryInterface(const void *, void **out) override {
        *out = this;
        return STATUS_SUCCESS;
    }
    uint32_t AddRef() override { return 1; }
    uint32_t Release() override { return 1; }
    NTSTATUS SetState(int32_t) override { return STATUS_SUCCESS; }
    NTSTATUS ConnectOutput(IMXF *sink) override {
        if (!sink || m_sink) return STATUS_UNSUCCESSFUL;
        m_sink = sink;
        return STATUS_SUCCESS;
    }
    NTSTATUS DisconnectOutput(IMXF *) override {
        m_sink = nullptr;
        return STATUS_SUCCESS;
    }
    NTSTATUS PutMessage(DMUS_KERNEL_EVENT *head) override {
        DMUS_KERNEL_EVENT *out = nullptr, **tail = &out;
        while (head) {
            DMUS_KERNEL_EVENT *e = head;
            head = e->pNextEvt;
            e->pNextEvt = nullptr;
            if (Process(e)) {
                *tail = e;
                tail = &e->pNextEvt;
            } else {
                m_allocator->PutMessage(e);
            }
        }
        if (!out) return STATUS_SUCCESS;
        return m_sink ? m_sink->PutMessage(out) : m_allocator->PutMessage(out);
    }
};

const int TRACKED_GROUPS = 8;
const uint8_t IDLE = 0xFF, DROPPED = 0x80;

class CTranspose : public CFilter {
    SpinLock m_lock;
    int m_semitones;
    uint16_t m_groups[TRACKED_GROUPS];
    int m_used = 0;
    uint8_t m_sentAs[TRACKED_GROUPS][16][128];
    std::atomic<uint64_t> m_outOfRange{0}, m_untracked{0};

    int Find(uint16_t group) {
        for (int i = 0; i < m_used; i++)
            if (m_groups[i] == group) return i;
        return -1;
    }
    int Slot(uint16_t group) {
        int i = Find(group);
        if (i >= 0 || m_used == TRACKED_GROUPS) return i;
        m_groups[m_used] = group;
        return m_used++;
    }
    int Shift(int key) {
        int n = key + m_semitones;
        return n >= 0 && n <= 127 ? n : -1;
    }
protected:
    bool Process(DMUS_KERNEL_EVENT *e) override {
        uint8_t status = ChannelStatus(e);
        uint8_t kind = status & 0xF0;
        uint8_t *d = e->uData.abData;
        if (kind != 0x80 && kind != 0x90 && kind != 0xA0) {
            if (kind == 0xB0 && (d[1] == 120 || d[1] == 123)) {
                m_lock.Acquire();
                int slot = Find(e->usChannelGroup);
                if (slot >= 0)
                    for (int k = 0; k < 128; k++) m_sentAs[slot][status & 0x0F][k] = IDLE;
                m_lock.Release();
            }
            return true;
        }
        int key = d[1];
        bool starts = kind == 0x90 && d[2] > 0;
        bool ends = kind == 0x80 || (kind == 0x90 && d[2] == 0);
        int target;
        m_lock.Acquire();
        int slot = Slot(e->usChannelGroup);
        if (slot < 0) {
            m_lock.Release();
            m_untracked.fetch_add(1, std::memory_order_relaxed);
            return true;
        }
        uint8_t *entry = &m_sentAs[slot][status & 0x0F][key];
        uint8_t recorded = *entry;
        if (starts) {
            target = recorded < 0x80 ? recorded : Shift(key);
            *entry = target < 0 ? DROPPED : static_cast<uint8_t>(target);
        } else {
            if (ends) *entry = IDLE;
            target = recorded == IDLE ? Shift(key) : recorded == DROPPED ? -1 : recorded;
        }
        m_lock.Release();
        if (target < 0) {
            m_outOfRange.fetch_add(1, std::memory_order_relaxed);
            return false;
        }
        d[1] = static_cast<uint8_t>(target);
        return true;
    }
public:
    CTranspose(IAllocatorMXF *a, int semitones) : CFilter(a), m_semitones(semitones) {
        for (auto &g : m_sentAs)
            for (auto &c : g)
                for (auto &k : c) k = IDLE;
    }
};

class CVelocity : public CFilter {
    uint8_t m_table[128];
    static uint32_t Isqrt(uint32_t n) {
        uint32_t r = 0;
        while ((r + 1) * (r + 1) <= n) r++;
        return r;
    }
protected:
    bool Process(DMUS_KERNEL_EVENT *e) override {
        uint8_t status = ChannelStatus(e);
        if ((status & 0xF0) == 0x90) e->uData.abData[2] = m_table[e->uData.abData[2]];
        return true;
    }
public:
    // The compress curve (√(127 v)) clamped to min..=max, as VelocityCurve::Compress.
    CVelocity(IAllocatorMXF *a, uint8_t min, uint8_t max) : CFilter(a) {
        m_table[0] = 0;
        for (uint32_t v = 1; v < 128; v++) {
            uint32_t s = Isqrt(127 * v);
            m_table[v] = static_cast<uint8_t>(s < min ? min : s > max ? max : s);
        }
    }
};

class CChannelMap : public CFilter {
    static const int MAX_GROUPS = 16;
    struct GroupMap {
        uint16_t group;
        uint8_t to[16];
    } m_maps[MAX_GROUPS];
    int m_used = 0;
    std::atomic<uint64_t> m_muted{0};
protected:
    bool Process(DMUS_KERNEL_EVENT *e) override {
        uint8_t status = ChannelStatus(e);
        if (!status) return true;
        for (int i = 0; i < m_used; i++) {
            if (m_maps[i].group != e->usChannelGroup) continue;
            uint8_t to = m_maps[i].to[status & 0x0F];
            if (to == 0xFF) {
                m_muted.fetch_add(1, std::memory_order_relaxed);
                return false;
            }
            e->uData.abData[0] = (status & 0xF0) | to;
            break;
        }
        return true;
    }
public:
    explicit CChannelMap(IAllocatorMXF *a) : CFilter(a) {}
    bool Remap(uint16_t group, uint8_t from, uint8_t to) {
        int i = 0;
        while (i < m_used && m_maps[i].group != group) i++;
        if (i == m_used) {
            if (m_used == MAX_GROUPS) return false;
            m_maps[i].group = group;
            for (int c = 0; c < 16; c++) m_maps[i].to[c] = static_cast<uint8_t>(c);
            m_used++;
        }
        m_maps[i].to[from] = to;
        return true;
    }
};

struct Chain3 {
    CTranspose t;
    CVelocity v;
    CChannelMap c;
    explicit Chain3(IAllocatorMXF *a) : t(a, 2), v(a, 20, 120), c(a) {
        c.Remap(1, 0, 9);
        c.Remap(1, 2, 3);
        t.ConnectOutput(&v);
        v.ConnectOutput(&c);
    }
};

} // namespace

// The bench's configuration of the three filters (Transpose 2, Velocity compress 20..120,
// ChannelMap group 1: 0→9, 2→3), connected in a row over `allocator`.
extern "C" void *mxf_peer_chain_new(void *allocator) {
    return new Chain3(static_cast<IAllocatorMXF *>(allocator));
}

// The head's IMXF: PutMessage on it runs the three filters.
extern "C" void *mxf_peer_chain_head(void *chain) {
    return static_cast<IMXF *>(&static_cast<Chain3 *>(chain)->t);
}

// The last filter's IMXF (to connect it to a sink; unconnected, it returns its output to the
// allocator).
extern "C" void *mxf_peer_chain_tail(void *chain) {
    return static_cast<IMXF *>(&static_cast<Chain3 *>(chain)->c);
}

extern "C" void mxf_peer_chain_free(void *chain) { delete static_cast<Chain3 *>(chain); }

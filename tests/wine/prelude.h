/*
 * prelude.h: the minimal set of kernel types and COM macros that mingw-w64's <ddk/dmusicks.h>
 * expects from the headers a driver would have included before it (wdm.h, ks.h, portcls.h,
 * punknown.h), supplied for a user-mode program. Include this, then <ddk/dmusicks.h> unmodified.
 *
 * Only what the header names is declared here. The base interfaces it derives from (IUnknown,
 * IPort, IMiniport) follow the kernel declarations (domain.md §1.2, §1.8, §1.9): kernel
 * QueryInterface returns NTSTATUS. Opaque kernel objects are incomplete types, used only through
 * pointers.
 *
 * Works for both x86_64-w64-mingw32 and i686-w64-mingw32.
 */
#ifndef MXF_WINE_PRELUDE_H
#define MXF_WINE_PRELUDE_H

#define WIN32_LEAN_AND_MEAN
#include <windows.h>
/* winuser.h maps GetMessage to GetMessageA; IAllocatorMXF has a method of that name. */
#undef GetMessage

#include <basetyps.h> /* DECLARE_INTERFACE_, STDMETHOD_, THIS_, PURE */
#include <initguid.h> /* this translation unit defines the GUIDs the header declares */

#include <stddef.h>

#ifndef _NTDEF_
typedef LONG NTSTATUS;
#endif

/* ks.h */
typedef enum {
    KSSTATE_STOP,
    KSSTATE_ACQUIRE,
    KSSTATE_PAUSE,
    KSSTATE_RUN
} KSSTATE, *PKSSTATE;

typedef struct KSDATAFORMAT_OPAQUE *PKSDATAFORMAT;
typedef struct KSDATARANGE_OPAQUE *PKSDATARANGE;

/*
 * ks.h names its GUIDs with DEFINE_GUIDSTRUCT("string", name) and DEFINE_GUIDNAMED(name). Without
 * compiler support for __declspec(uuid), the name is an extern GUID; the program defines it from
 * the header's STATIC_ value list. The string form is kept so it can be checked as well.
 */
#define DEFINE_GUIDSTRUCT(guid_string, name)                                                                   \
    static const char name##_GuidString[] = guid_string;                                                       \
    extern "C" const GUID name
#define DEFINE_GUIDNAMED(name) name

/* wdm.h */
typedef enum {
    NonPagedPool = 0,
    PagedPool = 1
} POOL_TYPE;
typedef struct DEVICE_OBJECT_OPAQUE *PDEVICE_OBJECT;
typedef struct IRP_OPAQUE *PIRP;
typedef struct OBJECT_ATTRIBUTES_OPAQUE *POBJECT_ATTRIBUTES;
typedef int DEVICE_REGISTRY_PROPERTY;

/* punknown.h: kernel IUnknown, QueryInterface returning NTSTATUS (slots 0..2). */
#ifndef __IUnknown_INTERFACE_DEFINED__
#define __IUnknown_INTERFACE_DEFINED__
DEFINE_GUID(IID_IUnknown, 0x00000000, 0x0000, 0x0000, 0xC0, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x46);
#undef INTERFACE
#define INTERFACE IUnknown
DECLARE_INTERFACE(IUnknown)
{
    STDMETHOD_(NTSTATUS, QueryInterface)(THIS_ REFIID, PVOID *) PURE;
    STDMETHOD_(ULONG, AddRef)(THIS) PURE;
    STDMETHOD_(ULONG, Release)(THIS) PURE;
};
#undef INTERFACE
#endif
typedef IUnknown *PUNKNOWN;

#define DEFINE_ABSTRACT_UNKNOWN()                                                                              \
    STDMETHOD_(NTSTATUS, QueryInterface)(THIS_ REFIID InterfaceId, PVOID * Interface) PURE;                   \
    STDMETHOD_(ULONG, AddRef)(THIS) PURE;                                                                      \
    STDMETHOD_(ULONG, Release)(THIS) PURE;

/* portcls.h: the objects the DMus interfaces take by pointer. */
struct IResourceList;
typedef struct IResourceList *PRESOURCELIST;
struct IServiceGroup;
typedef struct IServiceGroup *PSERVICEGROUP;
struct IRegistryKey;
typedef struct IRegistryKey *PREGISTRYKEY;
typedef struct PCFILTER_DESCRIPTOR_OPAQUE *PPCFILTER_DESCRIPTOR;

/* IPort (slots 3..5) and IMiniport (slots 3..4), the bases of IPortDMus and IMiniportDMus. */
#define DEFINE_ABSTRACT_PORT()                                                                                 \
    STDMETHOD_(NTSTATUS, Init)(THIS_ PDEVICE_OBJECT DeviceObject, PIRP Irp, PUNKNOWN UnknownMiniport,          \
                               PUNKNOWN UnknownAdapter, PRESOURCELIST ResourceList) PURE;                     \
    STDMETHOD_(NTSTATUS, GetDeviceProperty)(THIS_ DEVICE_REGISTRY_PROPERTY DeviceProperty, ULONG BufferLength, \
                                            PVOID PropertyBuffer, PULONG ResultLength) PURE;                  \
    STDMETHOD_(NTSTATUS, NewRegistryKey)(THIS_ PREGISTRYKEY * OutRegistryKey, PUNKNOWN OuterUnknown,           \
                                         ULONG RegistryKeyType, ACCESS_MASK DesiredAccess,                    \
                                         POBJECT_ATTRIBUTES ObjectAttributes, ULONG CreateOptions,            \
                                         PULONG Disposition) PURE;

#define DEFINE_ABSTRACT_MINIPORT()                                                                             \
    STDMETHOD_(NTSTATUS, GetDescription)(THIS_ PPCFILTER_DESCRIPTOR * Description) PURE;                       \
    STDMETHOD_(NTSTATUS, DataRangeIntersection)(THIS_ ULONG PinId, PKSDATARANGE DataRange,                     \
                                                PKSDATARANGE MatchingDataRange, ULONG OutputBufferLength,      \
                                                PVOID ResultantFormat, PULONG ResultantFormatLength) PURE;

#define INTERFACE IPort
DECLARE_INTERFACE_(IPort, IUnknown)
{
    DEFINE_ABSTRACT_UNKNOWN()
    DEFINE_ABSTRACT_PORT()
};
#undef INTERFACE
typedef IPort *PPORT;

#define INTERFACE IMiniport
DECLARE_INTERFACE_(IMiniport, IUnknown)
{
    DEFINE_ABSTRACT_UNKNOWN()
    DEFINE_ABSTRACT_MINIPORT()
};
#undef INTERFACE
typedef IMiniport *PMINIPORT;

#endif /* MXF_WINE_PRELUDE_H */

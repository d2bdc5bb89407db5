/* The kernel types mxf::driver declares by hand (mxf/src/driver/types.rs), compared with
 * mingw-w64's <ddk/wdm.h>: the same numbers as types.rs asserts, for x86_64 and i686.
 * Compiled by .ci/drivers.sh with both compilers; a mismatch is a compile error. */
#include <ntddk.h>
#include <stddef.h>

#ifdef _WIN64
#define L(x64, x86) (x64)
#else
#define L(x64, x86) (x86)
#endif

_Static_assert(sizeof(UNICODE_STRING) == L(16, 8), "UNICODE_STRING size");
_Static_assert(offsetof(UNICODE_STRING, Buffer) == L(8, 4), "UNICODE_STRING.Buffer");
_Static_assert(offsetof(DRIVER_OBJECT, DeviceObject) == L(8, 4), "DRIVER_OBJECT.DeviceObject");
_Static_assert(offsetof(DRIVER_OBJECT, DriverExtension) == L(48, 24), "DRIVER_OBJECT.DriverExtension");
_Static_assert(offsetof(DRIVER_OBJECT, DriverName) == L(56, 28), "DRIVER_OBJECT.DriverName");
_Static_assert(offsetof(DRIVER_OBJECT, DriverUnload) == L(104, 52), "DRIVER_OBJECT.DriverUnload");
_Static_assert(offsetof(DRIVER_OBJECT, MajorFunction) == L(112, 56), "DRIVER_OBJECT.MajorFunction");
_Static_assert(sizeof(DRIVER_OBJECT) == L(336, 168), "DRIVER_OBJECT size");
_Static_assert(IRP_MJ_MAXIMUM_FUNCTION + 1 == 28, "IRP_MJ_FUNCTIONS");
_Static_assert(offsetof(CM_PARTIAL_RESOURCE_DESCRIPTOR, u) == 4, "CM_PARTIAL_RESOURCE_DESCRIPTOR.u");
_Static_assert(offsetof(CM_PARTIAL_RESOURCE_DESCRIPTOR, u.Port.Start) == 4, "u.Port.Start");
_Static_assert(offsetof(CM_PARTIAL_RESOURCE_DESCRIPTOR, u.Port.Length) == 12, "u.Port.Length");
_Static_assert(offsetof(CM_PARTIAL_RESOURCE_DESCRIPTOR, u.Interrupt.Level) == 4, "u.Interrupt.Level");
_Static_assert(offsetof(CM_PARTIAL_RESOURCE_DESCRIPTOR, u.Interrupt.Vector) == 8, "u.Interrupt.Vector");
_Static_assert(sizeof(CM_PARTIAL_RESOURCE_DESCRIPTOR) == L(20, 16), "CM_PARTIAL_RESOURCE_DESCRIPTOR size");
_Static_assert(_Alignof(CM_PARTIAL_RESOURCE_DESCRIPTOR) == 4, "CM_PARTIAL_RESOURCE_DESCRIPTOR align");
_Static_assert(CmResourceTypePort == 1 && CmResourceTypeInterrupt == 2 && CmResourceTypeMemory == 3,
               "CmResourceType*");
_Static_assert(sizeof(CM_RESOURCE_TYPE) == 4, "CM_RESOURCE_TYPE is an int (IResourceList's parameters)");
_Static_assert(sizeof(KSPIN_LOCK) == sizeof(void *) && sizeof(KIRQL) == 1, "KSPIN_LOCK, KIRQL");
_Static_assert(sizeof(KTIMER) == L(64, 40) && _Alignof(KTIMER) == 8, "KTIMER (mxf/src/platform/driver.rs)");
_Static_assert(sizeof(KDPC) == L(64, 32) && _Alignof(KDPC) == sizeof(void *), "KDPC");

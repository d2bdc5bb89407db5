/* Port I/O for x86_64 drivers built with mxf (mxf/src/platform/driver.rs, IoPorts).
 *
 * x64's hal.dll exports no READ_PORT_UCHAR / WRITE_PORT_UCHAR: the WDK header makes them the
 * `in` / `out` intrinsics, and mxf's runtime contains no inline assembly (design constraint 6).
 * These two leaf functions are the instructions the intrinsics emit, with the Windows x64
 * convention (port in %rcx, value in %dl, result in %al). They touch no stack and no
 * non-volatile register, so they need no unwind data. Assembled by .ci/drivers.sh with
 * x86_64-w64-mingw32-as and linked beside unwind.o. No tool can check what they do to the
 * hardware: they are the whole of it. */
        .text

        /* UCHAR mxf_read_port_uchar(ULONG_PTR port) */
        .globl  mxf_read_port_uchar
        .def    mxf_read_port_uchar; .scl 2; .type 32; .endef
mxf_read_port_uchar:
        movl    %ecx, %edx
        inb     %dx, %al
        ret

        /* void mxf_write_port_uchar(ULONG_PTR port, UCHAR value) */
        .globl  mxf_write_port_uchar
        .def    mxf_write_port_uchar; .scl 2; .type 32; .endef
mxf_write_port_uchar:
        movl    %edx, %eax
        movl    %ecx, %edx
        outb    %al, %dx
        ret

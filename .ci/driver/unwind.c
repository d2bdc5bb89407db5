/* Definitions the prebuilt `alloc` of stable Rust refers to (its landing pads and unwind tables)
 * when a driver uses it. A driver is built with panic=abort: nothing ever unwinds, so neither is
 * ever called; if one were, the invalid instruction stops the system at once. Functions no live
 * code refers to are dropped by --gc-sections, and the checks of .ci/drivers.sh make sure no
 * unwinding function is imported. */
void rust_eh_personality(void) { __builtin_trap(); }
void _Unwind_Resume(void) { __builtin_trap(); }

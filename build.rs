//! Builds the C++ peer of the filter_chain bench (`benches/cpp/peer.cpp`) with -O2, on Linux
//! x86-64 only: the bench calls its objects through their vtables with the C convention, which is
//! what `extern "system"` means there. Elsewhere (the Windows targets of the Wine tier) nothing
//! is built and the bench leaves the peer's rows out.
fn main() {
    println!("cargo::rustc-check-cfg=cfg(mxf_cpp_peer)");
    println!("cargo::rerun-if-changed=benches/cpp/peer.cpp");
    let os = std::env::var("CARGO_CFG_TARGET_OS").unwrap_or_default();
    let arch = std::env::var("CARGO_CFG_TARGET_ARCH").unwrap_or_default();
    if os != "linux" || arch != "x86_64" {
        return;
    }
    cc::Build::new()
        .cpp(true)
        .file("benches/cpp/peer.cpp")
        .opt_level(2)
        .warnings(true)
        .compile("mxf_cpp_peer");
    println!("cargo::rustc-cfg=mxf_cpp_peer");
}

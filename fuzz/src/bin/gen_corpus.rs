//! Writes the seed corpora of the fuzz targets (`mxf_fuzz::seeds`) to `<dir>/<target>/`.
//!
//! `gen_corpus [DIR] [TARGET…]`: DIR defaults to `corpus` beside this crate's manifest; without
//! targets, every target's seeds are written. Existing files of the same name are replaced; other
//! files (inputs the fuzzer added) are kept.

use mxf_fuzz::seeds::{TARGETS, seeds};
use std::path::PathBuf;
use std::process::ExitCode;

fn main() -> ExitCode {
    let mut args = std::env::args().skip(1);
    let dir = args
        .next()
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("corpus"));
    let mut targets: Vec<String> = args.collect();
    if targets.is_empty() {
        targets = TARGETS.iter().map(|t| t.to_string()).collect();
    }
    for target in &targets {
        let set = seeds(target);
        if set.is_empty() {
            eprintln!(
                "gen_corpus: no target named {target} (targets: {})",
                TARGETS.join(", ")
            );
            return ExitCode::FAILURE;
        }
        let out = dir.join(target);
        if let Err(e) = std::fs::create_dir_all(&out) {
            eprintln!("gen_corpus: cannot create {}: {e}", out.display());
            return ExitCode::FAILURE;
        }
        for (name, bytes) in &set {
            let path = out.join(name);
            if let Err(e) = std::fs::write(&path, bytes) {
                eprintln!("gen_corpus: cannot write {}: {e}", path.display());
                return ExitCode::FAILURE;
            }
        }
        println!("{target}: {} seeds in {}", set.len(), out.display());
    }
    ExitCode::SUCCESS
}

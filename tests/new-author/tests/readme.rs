//! The code of the README's section "A filter in a few lines", run here, and a check that the
//! README shows exactly this code.

use mxf::prelude::*;

/// Moves every event to channel group 2.
#[mxf_filter]
struct ToGroupTwo;

impl Filter for ToGroupTwo {
    fn process<'a>(&self, mut event: Event<'a>, out: &mut Output<'a>) {
        event.set_channel_group(2);
        out.push(event); // an event that is dropped instead goes back to the allocator
    }
}

use mxf::testing::{Rig, note_off, note_on, package, set_state};

#[test]
fn to_group_two() -> Result<(), NTSTATUS> {
    let rig = Rig::new()?;
    let filter = ToGroupTwo.into_filter(rig.allocator())?; // an IMXF with the port's plumbing
    rig.connect(&filter)?; // its output goes to the rig's recorder
    let (on, off) = (note_on(0, 60, 100).at(10), note_off(0, 60, 0).at(20));
    rig.send(&filter, &[on.clone(), package([off.clone()])])?; // a package is unwrapped
    assert_eq!(rig.take_received(), [on.group(2), off.group(2)]);
    assert_eq!(set_state(&filter, KSSTATE_STOP), STATUS_SUCCESS);
    rig.send(&filter, &[note_on(0, 62, 100)])?; // in STOP, straight back to the allocator
    assert!(rig.received().is_empty());
    rig.assert_balanced(); // every event and buffer is back, or the panic says what is not
    Ok(())
}

const README: &str = include_str!("../../../README.md");
const THIS_FILE: &str = include_str!("readme.rs");

/// The Rust code blocks of the README's section `title`.
fn rust_blocks(title: &str) -> Vec<&'static str> {
    let heading = format!("## {title}\n");
    let start = README.find(&heading).expect("the section exists") + heading.len();
    let section = &README[start..];
    let section = &section[..section.find("\n## ").unwrap_or(section.len())];
    section
        .split("```rust\n")
        .skip(1)
        .map(|b| &b[..b.find("```").expect("a closed block")])
        .collect()
}

#[test]
fn the_readme_shows_the_code_run_here() {
    let blocks = rust_blocks("A filter in a few lines");
    assert_eq!(blocks.len(), 2, "the filter and its test");
    for block in blocks {
        assert!(
            THIS_FILE.contains(block),
            "the README shows code this file does not run:\n{block}"
        );
    }
}

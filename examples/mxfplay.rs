//! The main job: plays a MIDI file through the simulated DMus port.
//!
//! ```sh
//! cargo run --release --example mxfplay                       # the embedded demo song
//! cargo run --release --example mxfplay -- song.mid -o out.mid --filter transpose=12 --filter velocity=80%
//! cargo run --release --example mxfplay -- song.mid --capture  # through the capture path instead
//! ```
//!
//! Render: SMF → DirectMusic-format buffers → unpacker → sequencer → filters → the sample UART
//! miniport's render stream → virtual MPU-401 → SMF. A report gives the events at every stage,
//! the allocator's books and the events lost (always 0). Bad input gives a one-line error and
//! exit status 2; defects of a file that lose nothing (bytes after the last track, running status
//! across meta events, …) are tolerated, each with a `mxfplay: warning:` line on stderr.

use clap::Parser;
use mxf::host::smf::{read_smf, write_smf_until};
use mxf_suite::player::{self, PlayOptions};
use mxf_suite::{demo, stages};
use std::path::PathBuf;
use std::process::ExitCode;

/// Plays a MIDI file through the simulated DMus port (the embedded demo song without arguments).
///
/// The output is a format 0 file of what reached the MIDI wire: channel messages, SysEx (a SysEx
/// divided into packets arrives whole, at the time of its first packet) and the tempo map; other
/// meta events (names, lyrics, markers, signatures, MIDI ports) are not played and not written.
/// Times are written on the input's tick grid (SMPTE input: 480 ticks a quarter note at 120 bpm),
/// so a time a filter makes (an echo) is rounded to the nearest tick.
#[derive(Parser, Debug)]
#[command(version, about, long_about)]
struct Args {
    /// Input Standard MIDI File (format 0, 1 or 2, also inside a RIFF RMID file); the embedded
    /// demo song if omitted.
    input: Option<PathBuf>,
    /// Output file.
    #[arg(short, long, default_value = "mxfplay-out.mid")]
    output: PathBuf,
    /// A filter of the chain, in order: transpose=N, velocity=P% (or velocity=MIN..MAX),
    /// channel-map=FROM:TO[,..], mute=CH[,..], note-off, sysex=drop|pass, echo=MS[xN].
    #[arg(short, long = "filter", value_name = "NAME=VALUE")]
    filters: Vec<String>,
    /// Feed the file in through the virtual MPU-401 and the capture path instead of rendering it.
    #[arg(long)]
    capture: bool,
    /// Follow the real clock (plays in real time) instead of running as fast as possible.
    #[arg(long)]
    realtime: bool,
}

fn run(args: Args) -> Result<(), String> {
    let (bytes, name) = match &args.input {
        Some(p) => (
            std::fs::read(p).map_err(|e| format!("cannot read {}: {e}", p.display()))?,
            p.display().to_string(),
        ),
        None => (demo::demo_song(), "the embedded demo song".to_string()),
    };
    let song = read_smf(&bytes).map_err(|e| format!("{name}: {e}"))?;
    for w in &song.warnings {
        eprintln!("mxfplay: warning: {name}: {w}");
    }
    let (out, report) = if args.capture {
        if !args.filters.is_empty() {
            return Err("filters apply to the render path; drop --filter or --capture".into());
        }
        player::capture(&song).map_err(|e| format!("{name}: {e}"))?
    } else {
        let stages = args
            .filters
            .iter()
            .map(|f| stages::parse(f))
            .collect::<Result<Vec<_>, _>>()?;
        player::play(
            &song,
            stages,
            &PlayOptions {
                realtime: args.realtime,
            },
        )
        .map_err(|e| format!("{name}: {e}"))?
    };
    let file = write_smf_until(&out, &song.tempo, song.end_time()).map_err(|e| e.to_string())?;
    std::fs::write(&args.output, file)
        .map_err(|e| format!("cannot write {}: {e}", args.output.display()))?;
    println!(
        "mxfplay: {} ({} path) -> {}",
        name,
        if args.capture { "capture" } else { "render" },
        args.output.display()
    );
    println!("{report}");
    if report.lost != 0 {
        return Err(format!("{} events were lost", report.lost));
    }
    Ok(())
}

fn main() -> ExitCode {
    let args = Args::parse();
    match run(args) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("mxfplay: {e}");
            ExitCode::from(2)
        }
    }
}

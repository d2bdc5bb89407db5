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
//!
//! Memory: the file is read, turned into a compact song (four to six times the file) and
//! dropped; the song plays with only the IRP buffers in flight, and the output file is written
//! as the wire messages leave the virtual MPU-401. Every size that comes from the input is
//! allocated fallibly: a file too big for memory is refused with one line and exit status 2.

use clap::Parser;
use mxf::host::smf::{SmfWriter, read_smf};
use mxf_suite::player::{self, PlayOptions};
use mxf_suite::{demo, stages};
use std::io::Read;
use std::path::{Path, PathBuf};
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
    /// Follow the real clock (plays in real time) instead of running as fast as possible; a
    /// song whose last message lies more than 24 hours after its start is refused.
    #[arg(long)]
    realtime: bool,
}

/// The whole file at `path`, in memory allocated fallibly.
fn read_file(path: &Path) -> Result<Vec<u8>, String> {
    let cannot = |e: &dyn std::fmt::Display| format!("cannot read {}: {e}", path.display());
    let mut file = std::fs::File::open(path).map_err(|e| cannot(&e))?;
    let len = file.metadata().map_err(|e| cannot(&e))?.len();
    let mut bytes = Vec::new();
    usize::try_from(len)
        .ok()
        .and_then(|n| bytes.try_reserve_exact(n).ok())
        .ok_or_else(|| cannot(&format_args!("its {len} bytes do not fit in memory")))?;
    file.read_to_end(&mut bytes).map_err(|e| cannot(&e))?;
    Ok(bytes)
}

fn run(args: Args) -> Result<(), String> {
    let (song, name) = {
        let (bytes, name) = match &args.input {
            Some(p) => (read_file(p)?, p.display().to_string()),
            None => (demo::demo_song(), "the embedded demo song".to_string()),
        };
        // The file's bytes are dropped once the song is read.
        (read_smf(&bytes).map_err(|e| format!("{name}: {e}"))?, name)
    };
    for w in &song.warnings {
        eprintln!("mxfplay: warning: {name}: {w}");
    }
    // The output file is written as the wire messages come.
    let mut writer = SmfWriter::new(&song.tempo);
    let mut sink = |t: i64, m: &[u8]| writer.push(t, m);
    let report = if args.capture {
        if !args.filters.is_empty() {
            return Err("filters apply to the render path; drop --filter or --capture".into());
        }
        player::capture_into(&song, &mut sink).map_err(|e| format!("{name}: {e}"))?
    } else {
        let stages = args
            .filters
            .iter()
            .map(|f| stages::parse(f))
            .collect::<Result<Vec<_>, _>>()?;
        player::play_into(
            &song,
            stages,
            &PlayOptions {
                realtime: args.realtime,
            },
            &mut sink,
        )
        .map_err(|e| format!("{name}: {e}"))?
    };
    let end = song.end_time();
    drop(song);
    let file = writer
        .finish(end)
        .map_err(|e| format!("{}: {e}", args.output.display()))?;
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

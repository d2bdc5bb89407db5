//! The Linux side of the Wine kernel tier (`.ci/wine-kernel.sh`):
//!
//! * `wine_kernel song FILE`: writes the embedded demo song (`mxf_suite::demo`) as the song file
//!   the PortCls double reads (`mxf_wine_portcls::song`): one section of MIDI bytestream
//!   buffers (`KSMUSICFORMAT` records), one of DirectMusic buffers (`DMUS_EVENTHEADER` records),
//!   at most 4 KiB each, every channel and SysEx message of the song once per section;
//! * `wine_kernel check FILE SUBDEVICE...`: compares the double's result file with the song and
//!   prints one `PASS`/`FAIL` line per check; exits non-zero on any failure.

use mxf::components::unpacker::{DmusBufferWriter, KsBufferWriter};
use mxf::host::smf::read_smf;
use mxf_suite::demo::demo_song;
use mxf_suite::player::song_messages;
use mxf_wine_portcls::song;
use std::collections::BTreeMap;
use std::process::ExitCode;

/// The most bytes of one render IRP's buffer.
const BUFFER: usize = 4096;

type Messages = Vec<(i64, Vec<u8>)>;

fn messages() -> Result<Messages, String> {
    let song =
        read_smf(&demo_song()).map_err(|e| format!("the demo song does not parse: {e:?}"))?;
    Ok(song_messages(&song))
}

/// The messages cut into buffers by `push` (which fails when the buffer is full).
fn buffers(
    msgs: &Messages,
    mut push: impl FnMut(&mut [u8], usize, i64, &[u8]) -> Option<usize>,
) -> Result<Vec<Vec<u8>>, String> {
    let mut out = Vec::new();
    let mut buf = vec![0u8; BUFFER];
    let mut len = 0;
    let mut previous = 0i64;
    for (time, data) in msgs {
        match push(&mut buf, len, *time - previous, data) {
            Some(n) => len = n,
            None => {
                out.push(buf[..len].to_vec());
                len = push(&mut buf, 0, *time - previous, data)
                    .ok_or_else(|| format!("a message of {} bytes fits no buffer", data.len()))?;
            }
        }
        previous = *time;
    }
    if len > 0 {
        out.push(buf[..len].to_vec());
    }
    Ok(out)
}

fn write_song(path: &str) -> Result<(), String> {
    let msgs = messages()?;
    let count = u32::try_from(msgs.len()).map_err(|_| "too many messages")?;
    // KS: each packet's delta (ms) from the previous one, as a MIDI bytestream pin takes it.
    let ks = buffers(&msgs, |buf, len, delta, data| {
        let mut w = KsBufferWriter::new(&mut buf[len..]);
        w.push(u32::try_from(delta / 10_000).ok()?, data).ok()?;
        Some(len + w.len())
    })?;
    // DirectMusic: structured channel messages, unstructured SysEx, channel group 1; times
    // relative to the IRP's presentation time (each buffer starts at its first message).
    let mut base = 0i64;
    let mut at = 0i64;
    let dm = buffers(&msgs, |buf, len, delta, data| {
        at += delta;
        if len == 0 {
            base = at;
        }
        let mut w = DmusBufferWriter::new(&mut buf[len..]);
        let structured = data.first() != Some(&0xF0);
        w.push(1, at - base, structured, data).ok()?;
        Some(len + w.len())
    })?;
    let mut file = song::header(2);
    song::push_section(&mut file, song::FORMAT_MIDI, count, &ks);
    song::push_section(&mut file, song::FORMAT_DIRECTMUSIC, count, &dm);
    std::fs::write(path, &file).map_err(|e| format!("{path}: {e}"))?;
    println!(
        "song: {count} messages, {} MIDI bytestream buffers, {} DirectMusic buffers, {} bytes",
        ks.len(),
        dm.len(),
        file.len()
    );
    Ok(())
}

/// A result line's `key value` pairs after its first `skip` words.
fn fields(line: &str, skip: usize) -> BTreeMap<&str, &str> {
    let words: Vec<&str> = line.split_whitespace().skip(skip).collect();
    words
        .chunks(2)
        .filter_map(|c| Some((c[0], *c.get(1)?)))
        .collect()
}

struct Checks {
    passed: u32,
    failed: u32,
}

impl Checks {
    fn check(&mut self, ok: bool, what: String) {
        if ok {
            self.passed += 1;
            println!("PASS {what}");
        } else {
            self.failed += 1;
            println!("FAIL {what}");
        }
    }
}

fn check(path: &str, subdevices: &[String]) -> Result<Checks, String> {
    let text = std::fs::read_to_string(path).map_err(|e| format!("{path}: {e}"))?;
    let expected = messages()?.len();
    let mut c = Checks {
        passed: 0,
        failed: 0,
    };
    let lines: Vec<&str> = text.lines().collect();
    c.check(
        lines.last() == Some(&"done"),
        format!("{path}: complete (ends with `done`)"),
    );
    for line in &lines {
        if let Some(rest) = line.strip_prefix("pnp ") {
            let status = rest.rsplit(' ').next().unwrap_or("");
            c.check(status == "00000000", format!("PnP: {rest}"));
        } else if line.starts_with("song ")
            || line.contains(" no miniport")
            || line.contains("GetDescription")
        {
            c.check(false, format!("double: {line}"));
        } else if line.contains(" NewStream status ") || line.contains(" no song section") {
            c.check(false, format!("pin: {line}"));
        } else if let Some(rest) = line.strip_prefix("double-pool ") {
            let f = fields(rest, 0);
            c.check(
                f.get("before") == f.get("after"),
                format!("the double's pool blocks are back to their count before the pins opened ({rest})"),
            );
        }
    }
    for name in subdevices {
        c.check(
            lines
                .iter()
                .any(|l| *l == format!("entry PcRegisterSubdevice {name}")),
            format!("{name}: registered by StartDevice"),
        );
        let renders: Vec<&&str> = lines
            .iter()
            .filter(|l| {
                l.starts_with(&format!("pin {name} "))
                    && l.contains(" render ")
                    && l.contains(" messages ")
            })
            .collect();
        c.check(
            !renders.is_empty(),
            format!("{name}: at least one render pin opened and played"),
        );
        for line in renders {
            let words: Vec<&str> = line.split_whitespace().collect();
            let label = words[..5.min(words.len())].join(" ");
            let f = fields(line, 5);
            let n = |k: &str| f.get(k).and_then(|v| v.parse::<u64>().ok());
            c.check(
                n("messages") == Some(expected as u64),
                format!("{label}: the song's {expected} messages submitted"),
            );
            c.check(
                n("events").is_some_and(|e| e >= expected as u64),
                format!(
                    "{label}: every message became events ({:?} events)",
                    n("events")
                ),
            );
            for k in ["dropped", "truncated", "exhausted", "failures"] {
                c.check(n(k) == Some(0), format!("{label}: {k} 0 ({:?})", n(k)));
            }
            c.check(
                n("outstanding") == Some(0),
                format!(
                    "{label}: allocator outstanding events 0 at close ({:?})",
                    n("outstanding")
                ),
            );
            c.check(
                n("buffers-outstanding") == Some(0),
                format!("{label}: allocator outstanding buffers 0 at close"),
            );
            c.check(
                n("gets") == n("puts") && n("gets").is_some_and(|g| g > 0),
                format!(
                    "{label}: every event got was put back ({:?} / {:?})",
                    n("gets"),
                    n("puts")
                ),
            );
        }
    }
    Ok(c)
}

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let result = match args.as_slice() {
        [cmd, path] if cmd == "song" => write_song(path).map(|()| true),
        [cmd, path, subdevices @ ..] if cmd == "check" => check(path, subdevices).map(|c| {
            println!("{} passed, {} failed", c.passed, c.failed);
            c.failed == 0
        }),
        _ => Err("usage: wine_kernel song FILE | wine_kernel check RESULT SUBDEVICE...".into()),
    };
    match result {
        Ok(true) => ExitCode::SUCCESS,
        Ok(false) => ExitCode::FAILURE,
        Err(e) => {
            println!("FAIL {e}");
            ExitCode::FAILURE
        }
    }
}

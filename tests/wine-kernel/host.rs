//! The Linux side of the Wine kernel tier (`.ci/wine-kernel.sh`):
//!
//! * `wine_kernel song FILE`: writes the embedded demo song (`mxf_suite::demo`) as the song file
//!   the PortCls double reads (`mxf_wine_portcls::song`): one section of MIDI bytestream
//!   buffers (`KSMUSICFORMAT` records), one of DirectMusic buffers (`DMUS_EVENTHEADER` records),
//!   at most 4 KiB each, every channel and SysEx message of the song once per section;
//! * `wine_kernel check FILE [NAME=transpose:N | NAME=absent]... SUBDEVICE...`: compares the
//!   double's result file with the song (what a capture pin of subdevice NAME received with the
//!   song transposed by N semitones, as the sample `Transpose` filter does it; for a subdevice
//!   whose device is `absent`, an MPU-401 without a card behind its ports, nothing: its render
//!   IRPs complete only when the pin stops and its capture pin receives no byte) and prints one
//!   `PASS`/`FAIL` line per check; exits non-zero on any failure.

use mxf::components::unpacker::{DmusBufferWriter, KsBufferWriter};
use mxf::host::smf::{read_smf, split_wire};
use mxf_suite::demo::demo_song;
use mxf_suite::player::{musical_messages, song_messages};
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

/// The messages cut into buffers by `push(buffer, used, base, time, data)` (which fails when
/// the buffer is full); each buffer's presentation time `base` is the time of the message before
/// its first one (0 for the first buffer).
fn buffers(
    msgs: &Messages,
    mut push: impl FnMut(&mut [u8], usize, i64, i64, &[u8]) -> Option<usize>,
) -> Result<Vec<(i64, Vec<u8>)>, String> {
    let mut out = Vec::new();
    let mut buf = vec![0u8; BUFFER];
    let mut len = 0;
    let mut base = 0i64;
    let mut previous = 0i64;
    for (time, data) in msgs {
        match push(&mut buf, len, base, *time, data) {
            Some(n) => len = n,
            None => {
                out.push((base, buf[..len].to_vec()));
                base = previous;
                len = push(&mut buf, 0, base, *time, data)
                    .ok_or_else(|| format!("a message of {} bytes fits no buffer", data.len()))?;
            }
        }
        previous = *time;
    }
    if len > 0 {
        out.push((base, buf[..len].to_vec()));
    }
    Ok(out)
}

fn write_song(path: &str) -> Result<(), String> {
    let msgs = messages()?;
    let count = u32::try_from(msgs.len()).map_err(|_| "too many messages")?;
    // KS: each packet's delta (ms) from the previous one (the first from the IRP's time), as a
    // MIDI bytestream pin takes it; deltas are whole milliseconds of the song's times.
    let mut previous_ms = 0i64;
    let ks = buffers(&msgs, |buf, len, base, time, data| {
        let from = if len == 0 { base / 10_000 } else { previous_ms };
        let mut w = KsBufferWriter::new(&mut buf[len..]);
        w.push(u32::try_from(time / 10_000 - from).ok()?, data)
            .ok()?;
        previous_ms = time / 10_000;
        Some(len + w.len())
    })?;
    // DirectMusic: structured channel messages, unstructured SysEx, channel group 1; times
    // relative to the IRP's presentation time.
    let dm = buffers(&msgs, |buf, len, base, time, data| {
        let mut w = DmusBufferWriter::new(&mut buf[len..]);
        let structured = data.first() != Some(&0xF0);
        w.push(1, time - base, structured, data).ok()?;
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

/// What the sample `Transpose` filter makes of `msgs`: keys moved by `semitones`; a note whose
/// key would leave 0..=127 is dropped, its note-off too.
fn transposed(msgs: &Messages, semitones: i32) -> Messages {
    msgs.iter()
        .filter_map(|(t, m)| {
            let status = *m.first()?;
            if matches!(status & 0xF0, 0x80 | 0x90 | 0xA0) && m.len() == 3 {
                let key = i32::from(m[1]) + semitones;
                if !(0..=127).contains(&key) {
                    return None;
                }
                return Some((*t, vec![status, key as u8, m[2]]));
            }
            Some((*t, m.clone()))
        })
        .collect()
}

fn unhex(text: &str) -> Option<Vec<u8>> {
    (0..text.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(text.get(i..i + 2)?, 16).ok())
        .collect()
}

fn check(
    path: &str,
    transforms: &BTreeMap<String, i32>,
    absent: &[String],
    subdevices: &[String],
) -> Result<Checks, String> {
    let text = std::fs::read_to_string(path).map_err(|e| format!("{path}: {e}"))?;
    let song = messages()?;
    let expected = song.len();
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
                f.get("entry") == f.get("unload") && f.contains_key("entry"),
                format!(
                    "the double's own pool blocks at unload are those it had at DriverEntry ({rest})"
                ),
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
                n("gets").is_some_and(|g| g >= expected as u64),
                format!(
                    "{label}: the events came from the pin's allocator ({:?} gets)",
                    n("gets")
                ),
            );
            if let Some(done) = n("completed") {
                if absent.contains(name) {
                    c.check(
                        done == 0,
                        format!("{label}: no device: the render IRPs wait until the pin stops"),
                    );
                } else {
                    c.check(
                        done == 1,
                        format!("{label}: every render IRP byte completed"),
                    );
                }
            }
        }
        let captures: Vec<&&str> = lines
            .iter()
            .filter(|l| {
                l.starts_with(&format!("pin {name} "))
                    && l.contains(" capture ")
                    && l.contains(" from ")
            })
            .collect();
        for line in captures {
            let words: Vec<&str> = line.split_whitespace().collect();
            let (Some(format), Some(from)) = (words.get(4), words.get(6)) else {
                c.check(false, format!("a capture line: {line}"));
                continue;
            };
            let label = format!("{name}: capture {format} of render pin {from}");
            let f = fields(line, 7);
            let n = |k: &str| f.get(k).and_then(|v| v.parse::<u64>().ok());
            for k in [
                "discontinuities",
                "failures",
                "outstanding",
                "buffers-outstanding",
            ] {
                c.check(n(k) == Some(0), format!("{label}: {k} 0 ({:?})", n(k)));
            }
            let prefix = format!("data {name} {from} {format} ");
            let mut bytes = Vec::new();
            for l in lines.iter().filter_map(|l| l.strip_prefix(&prefix)) {
                bytes.extend(unhex(l).ok_or_else(|| format!("bad data line: {l}"))?);
            }
            let wire: Vec<(i64, u8)> = bytes.iter().map(|&b| (0, b)).collect();
            let got: Vec<Vec<u8>> = musical_messages(&split_wire(&wire))
                .into_iter()
                .map(|(_, m)| m)
                .collect();
            let semitones = transforms.get(name.as_str()).copied().unwrap_or(0);
            let want: Vec<Vec<u8>> = if absent.contains(name) {
                Vec::new()
            } else {
                transposed(&song, semitones)
                    .into_iter()
                    .map(|(_, m)| m)
                    .collect()
            };
            let mismatches = got.iter().zip(&want).filter(|(a, b)| a != b).count()
                + got.len().abs_diff(want.len());
            let first = got
                .iter()
                .zip(&want)
                .position(|(a, b)| a != b)
                .map_or(String::new(), |i| {
                    format!(", first at {i}: {:02x?} for {:02x?}", got[i], want[i])
                });
            let how = if absent.contains(name) {
                String::from(": nothing, as no device is behind the ports")
            } else if semitones != 0 {
                format!(" transposed by {semitones}")
            } else {
                String::new()
            };
            c.check(
                mismatches == 0,
                format!(
                    "{label}: the song read back{how} ({} messages received, {} expected, {mismatches} mismatches{first})",
                    got.len(),
                    want.len()
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
        [cmd, path, rest @ ..] if cmd == "check" => {
            let mut transforms = BTreeMap::new();
            let mut absent = Vec::new();
            let mut subdevices = Vec::new();
            for a in rest {
                if let Some((name, n)) = a.split_once("=transpose:") {
                    transforms.insert(name.to_string(), n.parse().unwrap_or(0));
                } else if let Some(name) = a.strip_suffix("=absent") {
                    absent.push(name.to_string());
                } else {
                    subdevices.push(a.clone());
                }
            }
            check(path, &transforms, &absent, &subdevices).map(|c| {
                println!("{} passed, {} failed", c.passed, c.failed);
                c.failed == 0
            })
        }
        _ => Err("usage: wine_kernel song FILE | wine_kernel check RESULT [NAME=transpose:N]... SUBDEVICE...".into()),
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

//! End-to-end events per second of the render graph on the virtual clock: SMF messages →
//! DirectMusic buffers → unpacker → sequencer → (filters) → UART miniport → virtual MPU-401.
//! Reported with a `lock_unit` so `python3 benches/ratios.py render_graph` gives ratios too;
//! divan prints the throughput (events/s) beside each time.

use divan::counter::ItemsCount;
use divan::{Bencher, black_box};
use mxf::host::smf::{Song, read_smf};
use mxf_suite::{demo, player, stages};

fn main() {
    divan::main();
}

fn demo_song() -> Song {
    read_smf(&demo::demo_song()).unwrap()
}

/// The unit: one uncontended spin lock round trip.
#[divan::bench(sample_size = 1000)]
fn lock_unit(b: Bencher) {
    let m = spin::Mutex::new(0u64);
    b.bench_local(|| {
        let mut g = m.lock();
        *g = black_box(*g + 1);
    });
}

/// The demo song through the render graph with no filters.
#[divan::bench(sample_count = 50)]
fn demo_identity(b: Bencher) {
    let song = demo_song();
    b.counter(ItemsCount::new(song.messages.len()))
        .bench_local(|| {
            let (out, report) =
                player::play(&song, Vec::new(), &player::PlayOptions::default()).unwrap();
            assert_eq!(report.lost, 0);
            black_box(out)
        });
}

/// The demo song through transpose → velocity → channel map.
#[divan::bench(sample_count = 50)]
fn demo_three_filters(b: Bencher) {
    let song = demo_song();
    b.counter(ItemsCount::new(song.messages.len()))
        .bench_local(|| {
            let stages = ["transpose=7", "velocity=90%", "channel-map=1:2"]
                .iter()
                .map(|s| stages::parse(s).unwrap())
                .collect();
            let (out, report) =
                player::play(&song, stages, &player::PlayOptions::default()).unwrap();
            assert_eq!(report.lost, 0);
            black_box(out)
        });
}

/// The largest song of these benches: 8 tracks of 12,500 generated notes (about 203,000
/// messages) through transpose → velocity → channel map, end to end (buffers packed, the graph,
/// the MPU-401's wire split back into messages). Events per second is the render graph's
/// throughput on a song far larger than any cache.
#[divan::bench(sample_count = 10)]
fn big_song_three_filters(b: Bencher) {
    let song = read_smf(&demo::generated_song(8, 12_500)).unwrap();
    b.counter(ItemsCount::new(song.messages.len()))
        .bench_local(|| {
            let stages = ["transpose=7", "velocity=90%", "channel-map=1:2"]
                .iter()
                .map(|s| stages::parse(s).unwrap())
                .collect();
            let (out, report) =
                player::play(&song, stages, &player::PlayOptions::default()).unwrap();
            assert_eq!(report.lost, 0);
            black_box(out)
        });
}

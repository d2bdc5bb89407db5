//! `Velocity` through its IMXF vtable: curves, clamping, and velocity 0 staying a note-off.

use midly::num::u7;
use mxf::filter::IntoFilter;
use mxf::testing::{Ev, Rig};
use mxf_suite::filters::{Velocity, VelocityCurve};
use proptest::prelude::*;

const CURVES: [VelocityCurve; 7] = [
    VelocityCurve::Scale { percent: 0 },
    VelocityCurve::Scale { percent: 50 },
    VelocityCurve::Scale { percent: 300 },
    VelocityCurve::Offset(-127),
    VelocityCurve::Offset(40),
    VelocityCurve::Expand,
    VelocityCurve::Compress,
];

#[test]
fn note_on_velocities_are_shaped_and_the_rest_passes() {
    let r = Rig::new().unwrap();
    let f = Velocity::new(VelocityCurve::Scale { percent: 50 }, 10, 100)
        .into_filter(r.allocator())
        .unwrap();
    r.connect(&f).unwrap();
    r.put(
        &f,
        &[
            Ev::new(&[0x90, 60, 127]),
            Ev::new(&[0x9F, 61, 2]),
            Ev::new(&[0x90, 62, 0]),
            Ev::new(&[0x80, 60, 127]),
            Ev::new(&[0xA0, 60, 127]),
            Ev::new(&[0xB0, 7, 127]),
            Ev::new(&[0xD0, 127]),
        ],
    )
    .unwrap();
    assert_eq!(
        r.log().bytes(),
        vec![
            vec![0x90, 60, 64],
            vec![0x9F, 61, 10],
            vec![0x90, 62, 0],
            vec![0x80, 60, 127],
            vec![0xA0, 60, 127],
            vec![0xB0, 7, 127],
            vec![0xD0, 127],
        ]
    );
    r.assert_balanced();
}

#[test]
fn curves_keep_their_shape() {
    let scale = Velocity::new(VelocityCurve::Scale { percent: 50 }, 1, 127);
    assert_eq!(scale.map(u7::new(100)), 50);
    assert_eq!(scale.map(u7::new(1)), 1, "never 0");
    let expand = Velocity::new(VelocityCurve::Expand, 1, 127);
    let compress = Velocity::new(VelocityCurve::Compress, 1, 127);
    assert_eq!(expand.map(u7::new(127)), 127);
    assert_eq!(compress.map(u7::new(127)), 127);
    assert!(expand.map(u7::new(64)) < 64 && compress.map(u7::new(64)) > 64);
    let fixed = Velocity::new(VelocityCurve::Fixed(90), 1, 127);
    assert!((1..128u8).all(|v| fixed.map(u7::new(v)) == 90));
    let offset = Velocity::new(VelocityCurve::Offset(-20), 5, 127);
    assert_eq!(offset.map(u7::new(10)), 5);
    assert_eq!(offset.map(u7::new(100)), 80);
    for curve in [
        VelocityCurve::Scale { percent: 80 },
        VelocityCurve::Expand,
        VelocityCurve::Compress,
        VelocityCurve::Offset(3),
    ] {
        let v = Velocity::new(curve, 1, 127);
        let mapped: Vec<u8> = (1..128u8).map(|x| v.map(u7::new(x)).as_int()).collect();
        assert!(
            mapped.windows(2).all(|w| w[0] <= w[1]),
            "{curve:?} is monotonic"
        );
    }
}

#[test]
fn bad_bounds_are_repaired() {
    // min 0 would turn note-ons into note-offs; max below min is raised.
    let v = Velocity::new(VelocityCurve::Scale { percent: 0 }, 0, 0);
    assert!((1..128u8).all(|x| v.map(u7::new(x)) == 1));
    let v = Velocity::new(VelocityCurve::Fixed(200), 90, 20);
    assert!((1..128u8).all(|x| v.map(u7::new(x)) == 90));
}

proptest! {
    #[test]
    fn every_note_on_stays_a_note_on_within_bounds(
        curve in 0..CURVES.len() + 1,
        fixed in any::<u8>(),
        min in any::<u8>(),
        max in any::<u8>(),
    ) {
        let c = CURVES.get(curve).copied().unwrap_or(VelocityCurve::Fixed(fixed));
        let v = Velocity::new(c, min, max);
        prop_assert_eq!(v.map(u7::new(0)), 0);
        let lo = min.clamp(1, 127);
        let hi = max.clamp(lo, 127);
        for x in 1..128u8 {
            let m = v.map(u7::new(x)).as_int();
            prop_assert!(m >= lo && m <= hi && m >= 1);
        }
    }
}

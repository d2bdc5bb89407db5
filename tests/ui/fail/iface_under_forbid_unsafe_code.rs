//! Declaring an interface promises that its IID names its layout: a crate that forbids
//! `unsafe_code` sees that promise at the `unsafe` of the declaration.
#![forbid(unsafe_code)]

use mxf::prelude::*;

#[com_interface(iid = "C096DF9E-FB09-11D1-81B0-0060083316C1")]
pub unsafe trait IFake: IUnknown {
    fn Tick(&self) -> u32;
}

fn main() {}

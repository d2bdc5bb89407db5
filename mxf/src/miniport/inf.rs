//! The driver's INF, written from the same declarations as the descriptors: one `AddInterface`
//! per category of each subdevice's topology, with the subdevice's name as reference string
//! (the name the adapter gives `PcRegisterSubdevice`), so the INF and the descriptor's
//! `Categories` cannot disagree (`kernel.md` §1, §4.1).
//!
//! ```
//! use mxf::miniport::inf::{Driver, Subdevice, write_inf};
//! # use mxf::miniport::{DmusMiniport, InitRequest, Stream, StreamRequest};
//! # use mxf::prelude::*;
//! # #[mxf::mxf_miniport]
//! # pub struct Cable;
//! # impl DmusMiniport for Cable {
//! #     fn init(&self, _: InitRequest<'_>) -> Result<Option<IServiceGroup>> { Ok(None) }
//! #     fn new_stream(&self, _: StreamRequest<'_>) -> Result<Stream> { Err(STATUS_NOT_IMPLEMENTED) }
//! # }
//! mxf::miniport_topology! {
//!     static CABLE for Cable {
//!         categories: [AUDIO, RENDER, CAPTURE],
//!         pins: { out: render(midi), input: capture(midi) },
//!     }
//! }
//!
//! let mut inf = String::new();
//! write_inf(
//!     &mut inf,
//!     &Driver::new("Example Corp", "Example MIDI cable", "ROOT\\ExampleCable", "excable"),
//!     &[Subdevice { name: "Cable", topology: &CABLE, friendly_name: "Example MIDI cable" }],
//! )?;
//! assert!(inf.contains("AddInterface=%KSCATEGORY_AUDIO%,%KSNAME_Cable%,Interface.Cable"));
//! assert!(inf.contains("ServiceBinary=%12%\\excable.sys"));
//! # Ok::<(), mxf::miniport::inf::InfError>(())
//! ```
//!
//! The INF is plain text with no signature; `InfVerif` (which checks an INF against the rules of
//! Windows driver packages) and `Inf2Cat` (which makes the catalog to sign) run on Windows only.
//! The project's test parses the output and checks that every referenced section and string
//! exists.

use super::topology::{Category, Topology};
use crate::abi::{CLSID_Proxy, GUID_DEVCLASS_MEDIA};
use core::fmt::{self, Write};

/// Why [`write_inf`] wrote nothing usable.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum InfError {
    /// The writer failed.
    Write,
    /// No subdevice was given.
    NoSubdevice,
    /// Two subdevices have the same name.
    DuplicateSubdevice,
    /// A name used in section names or as a reference string (service, subdevice) is empty or
    /// holds a character other than ASCII letters, digits and `_`.
    Identifier(&'static str),
    /// A text (provider, descriptions, friendly names) is empty or holds a control character.
    Text(&'static str),
    /// The `.sys` name, hardware id, date (`MM/DD/YYYY`) or version (`a.b.c.d`) is malformed.
    Format(&'static str),
}

impl fmt::Display for InfError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            InfError::Write => f.write_str("the INF could not be written"),
            InfError::NoSubdevice => f.write_str("a driver INF names at least one subdevice"),
            InfError::DuplicateSubdevice => f.write_str("two subdevices have the same name"),
            InfError::Identifier(what) => write!(
                f,
                "the {what} is used in section names: ASCII letters, digits and `_` only"
            ),
            InfError::Text(what) => write!(f, "the {what} is empty or holds a control character"),
            InfError::Format(what) => write!(f, "the {what} is malformed"),
        }
    }
}

impl From<fmt::Error> for InfError {
    fn from(_: fmt::Error) -> Self {
        InfError::Write
    }
}

/// The platform the INF's models section is decorated for (the `.sys` is built per platform).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Architecture {
    /// `NTamd64`.
    Amd64,
    /// `NTx86`.
    X86,
    /// `NTarm64`.
    Arm64,
}

impl Architecture {
    const fn decoration(self) -> &'static str {
        match self {
            Architecture::Amd64 => "NTamd64",
            Architecture::X86 => "NTx86",
            Architecture::Arm64 => "NTarm64",
        }
    }
}

/// What the INF says about the driver.
#[derive(Clone, Copy, Debug)]
pub struct Driver<'a> {
    /// `Provider` (also the manufacturer's name).
    pub provider: &'a str,
    /// The device's description (the models line, the legacy MIDI driver's description).
    pub description: &'a str,
    /// The hardware id the device is installed for (`ROOT\Something` for a root-enumerated
    /// virtual device).
    pub hardware_id: &'a str,
    /// The service name (also the catalog's name).
    pub service: &'a str,
    /// The image file, `service.sys` unless set.
    pub sys_file: Option<&'a str>,
    /// `DriverVer` date, `MM/DD/YYYY`.
    pub date: &'a str,
    /// `DriverVer` version, `a.b.c.d`.
    pub version: &'a str,
    /// The models section's platform.
    pub architecture: Architecture,
}

impl<'a> Driver<'a> {
    /// A driver with date `01/01/2026`, version `1.0.0.0`, for x64, its image `service.sys`.
    pub const fn new(
        provider: &'a str,
        description: &'a str,
        hardware_id: &'a str,
        service: &'a str,
    ) -> Self {
        Self {
            provider,
            description,
            hardware_id,
            service,
            sys_file: None,
            date: "01/01/2026",
            version: "1.0.0.0",
            architecture: Architecture::Amd64,
        }
    }
}

/// One subdevice: what the adapter registers with `PcRegisterSubdevice(device, name, port)`.
#[derive(Clone, Copy, Debug)]
pub struct Subdevice<'a> {
    /// The name given to `PcRegisterSubdevice`: the interfaces' reference string.
    pub name: &'a str,
    /// The miniport's declared topology (its categories give the interfaces).
    pub topology: &'static Topology,
    /// The name users see.
    pub friendly_name: &'a str,
}

/// Writes the INF of a DMus driver with `subdevices` (see the module docs):
///
/// * `[Version]`: `Class=MEDIA`, `ClassGuid` the MEDIA class, `Provider`, `DriverVer`,
///   `CatalogFile`, `PnpLockdown=1`;
/// * the models section for the hardware id, the source disk and the destination (`12`, the
///   drivers directory);
/// * the install section: `Include=ks.inf,wdmaudio.inf`, `Needs=KS.Registration,
///   WDMAUDIO.Registration`, the file copy, and the AddReg of a MIDI device
///   (`AssociatedFilters` `wdmaud,swmidi`, `Drivers` `SubClasses` `midi`,
///   `Drivers\midi\wdmaud.drv`);
/// * one `AddInterface` per category of each subdevice's topology, reference string the
///   subdevice's name, whose AddReg sets `CLSID` to the KS proxy and the `FriendlyName`;
/// * the service (`ServiceType=1` kernel driver, `StartType=3` demand, `ErrorControl=1`,
///   `ServiceBinary=%12%\x.sys`), after `WDMAUDIO.Registration.NT.Services`;
/// * `[Strings]`, every text quoted (`"` and `%` doubled).
///
/// Nothing is checked against Windows' own rules here: run `InfVerif` on Windows.
pub fn write_inf<W: Write>(
    out: &mut W,
    driver: &Driver<'_>,
    subdevices: &[Subdevice<'_>],
) -> Result<(), InfError> {
    check(driver, subdevices)?;
    let sys = SysFile(driver);
    let service = driver.service;

    writeln!(
        out,
        "; {} (generated by mxf from the miniport declarations; check it with InfVerif on Windows)",
        Quoted(driver.description).unquoted()
    )?;
    out.write_str("\n[Version]\n")?;
    out.write_str("Signature=\"$WINDOWS NT$\"\n")?;
    out.write_str("Class=MEDIA\n")?;
    writeln!(out, "ClassGuid={}", GUID_DEVCLASS_MEDIA)?;
    out.write_str("Provider=%ProviderName%\n")?;
    writeln!(out, "DriverVer={},{}", driver.date, driver.version)?;
    writeln!(out, "CatalogFile={service}.cat")?;
    out.write_str("PnpLockdown=1\n")?;

    let models = driver.architecture.decoration();
    out.write_str("\n[Manufacturer]\n")?;
    writeln!(out, "%ManufacturerName%=Models,{models}")?;
    writeln!(out, "\n[Models.{models}]")?;
    writeln!(out, "%DeviceDescription%=Device,{}", driver.hardware_id)?;

    out.write_str("\n[SourceDisksNames]\n1=%DiskName%\n")?;
    writeln!(out, "\n[SourceDisksFiles]\n{sys}=1")?;
    out.write_str("\n[DestinationDirs]\nDefaultDestDir=12\n")?;

    out.write_str("\n[Device.NT]\n")?;
    out.write_str("Include=ks.inf,wdmaudio.inf\n")?;
    out.write_str("Needs=KS.Registration,WDMAUDIO.Registration\n")?;
    out.write_str("CopyFiles=Device.CopyFiles\n")?;
    out.write_str("AddReg=Device.AddReg\n")?;
    writeln!(out, "\n[Device.CopyFiles]\n{sys}")?;
    out.write_str("\n[Device.AddReg]\n")?;
    out.write_str("HKR,,AssociatedFilters,,\"wdmaud,swmidi\"\n")?;
    writeln!(out, "HKR,,Driver,,{sys}")?;
    out.write_str("HKR,Drivers,SubClasses,,\"midi\"\n")?;
    out.write_str("HKR,Drivers\\midi\\wdmaud.drv,Driver,,wdmaud.drv\n")?;
    out.write_str("HKR,Drivers\\midi\\wdmaud.drv,Description,,%DeviceDescription%\n")?;

    out.write_str("\n[Device.NT.Interfaces]\n")?;
    for s in subdevices {
        for c in s.topology.categories() {
            writeln!(
                out,
                "AddInterface=%{}%,%KSNAME_{}%,Interface.{}",
                c.name(),
                s.name,
                s.name
            )?;
        }
    }
    for s in subdevices {
        writeln!(
            out,
            "\n[Interface.{0}]\nAddReg=Interface.{0}.AddReg",
            s.name
        )?;
        writeln!(out, "\n[Interface.{}.AddReg]", s.name)?;
        out.write_str("HKR,,CLSID,,%Proxy.CLSID%\n")?;
        writeln!(out, "HKR,,FriendlyName,,%{}.FriendlyName%", s.name)?;
    }

    out.write_str("\n[Device.NT.Services]\n")?;
    out.write_str("Include=wdmaudio.inf\n")?;
    out.write_str("Needs=WDMAUDIO.Registration.NT.Services\n")?;
    writeln!(out, "AddService={service},0x00000002,Service.Install")?;
    out.write_str("\n[Service.Install]\n")?;
    out.write_str("DisplayName=%ServiceDescription%\n")?;
    out.write_str("ServiceType=1\n")?;
    out.write_str("StartType=3\n")?;
    out.write_str("ErrorControl=1\n")?;
    writeln!(out, "ServiceBinary=%12%\\{sys}")?;

    out.write_str("\n[Strings]\n")?;
    writeln!(out, "ProviderName={}", Quoted(driver.provider))?;
    writeln!(out, "ManufacturerName={}", Quoted(driver.provider))?;
    writeln!(out, "DeviceDescription={}", Quoted(driver.description))?;
    writeln!(out, "ServiceDescription={}", Quoted(driver.description))?;
    writeln!(out, "DiskName={}", Quoted(driver.description))?;
    writeln!(out, "Proxy.CLSID=\"{}\"", CLSID_Proxy)?;
    for c in [Category::Audio, Category::Render, Category::Capture] {
        if subdevices
            .iter()
            .any(|s| s.topology.categories().contains(&c))
        {
            writeln!(out, "{}=\"{}\"", c.name(), c.guid())?;
        }
    }
    for s in subdevices {
        writeln!(out, "KSNAME_{0}=\"{0}\"", s.name)?;
        writeln!(out, "{}.FriendlyName={}", s.name, Quoted(s.friendly_name))?;
    }
    Ok(())
}

fn check(driver: &Driver<'_>, subdevices: &[Subdevice<'_>]) -> Result<(), InfError> {
    identifier(driver.service, "service name")?;
    text(driver.provider, "provider")?;
    text(driver.description, "description")?;
    let hardware_id_ok = !driver.hardware_id.is_empty()
        && driver
            .hardware_id
            .bytes()
            .all(|b| b.is_ascii_graphic() && !matches!(b, b'"' | b'%' | b',' | b';' | b'='));
    if !hardware_id_ok {
        return Err(InfError::Format("hardware id"));
    }
    if let Some(sys) = driver.sys_file {
        let stem = sys
            .strip_suffix(".sys")
            .ok_or(InfError::Format(".sys name"))?;
        identifier(stem, ".sys name").map_err(|_| InfError::Format(".sys name"))?;
    }
    let date = driver.date.as_bytes();
    let date_ok = date.len() == 10
        && date.iter().enumerate().all(|(k, &b)| {
            if k == 2 || k == 5 {
                b == b'/'
            } else {
                b.is_ascii_digit()
            }
        });
    if !date_ok {
        return Err(InfError::Format("date (MM/DD/YYYY)"));
    }
    let parts = driver.version.split('.');
    let version_ok = driver.version.split('.').count() == 4
        && parts
            .into_iter()
            .all(|p| !p.is_empty() && p.len() <= 5 && p.bytes().all(|b| b.is_ascii_digit()));
    if !version_ok {
        return Err(InfError::Format("version (a.b.c.d)"));
    }
    if subdevices.is_empty() {
        return Err(InfError::NoSubdevice);
    }
    for (k, s) in subdevices.iter().enumerate() {
        identifier(s.name, "subdevice name")?;
        text(s.friendly_name, "friendly name")?;
        if subdevices.iter().take(k).any(|t| t.name == s.name) {
            return Err(InfError::DuplicateSubdevice);
        }
    }
    Ok(())
}

fn identifier(s: &str, what: &'static str) -> Result<(), InfError> {
    if !s.is_empty() && s.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_') {
        Ok(())
    } else {
        Err(InfError::Identifier(what))
    }
}

fn text(s: &str, what: &'static str) -> Result<(), InfError> {
    if !s.is_empty() && !s.chars().any(char::is_control) {
        Ok(())
    } else {
        Err(InfError::Text(what))
    }
}

/// The driver's image file name.
struct SysFile<'a, 'b>(&'a Driver<'b>);

impl fmt::Display for SysFile<'_, '_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.0.sys_file {
            Some(s) => f.write_str(s),
            None => write!(f, "{}.sys", self.0.service),
        }
    }
}

/// A `[Strings]` value: in double quotes, `"` and `%` doubled.
struct Quoted<'a>(&'a str);

impl<'a> Quoted<'a> {
    /// The text as a comment shows it (no quotes, nothing doubled).
    fn unquoted(self) -> &'a str {
        self.0
    }
}

impl fmt::Display for Quoted<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_char('"')?;
        for c in self.0.chars() {
            match c {
                '"' => f.write_str("\"\"")?,
                '%' => f.write_str("%%")?,
                c => f.write_char(c)?,
            }
        }
        f.write_char('"')
    }
}

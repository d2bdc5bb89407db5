//! The driver INF written from the miniport declarations (`mxf::miniport::inf`), parsed back:
//! sections, keys, `%string%` references, the sections `AddReg`, `CopyFiles`, `AddInterface`,
//! `AddService` and the models line name, and the interfaces each subdevice registers.
//! (InfVerif, which checks an INF against Windows' own rules, runs on Windows only.)

use mxf::abi::{
    CLSID_Proxy, GUID, GUID_DEVCLASS_MEDIA, KSCATEGORY_AUDIO, KSCATEGORY_CAPTURE, KSCATEGORY_RENDER,
};
use mxf::miniport::inf::{Architecture, Driver, InfError, Subdevice, write_inf};
use mxf_suite::uart::UART_TOPOLOGY;
use std::collections::BTreeMap;

/// A second, smaller topology: a render-only cable (only its declaration is used here).
#[allow(dead_code)]
struct Cable;

mxf::miniport_topology! {
    static CABLE for Cable {
        categories: [AUDIO, RENDER],
        pins: { out: render(midi), wire: bridge(out, midi_bus) },
        connections: [out -> wire],
    }
}

// ---------------------------------------------------------------------------------------------
// A small INF reader.

/// One line of a section: `key=value` (key empty for a bare line), its fields split at commas
/// outside quotes.
#[derive(Debug, Clone)]
struct Line {
    key: String,
    fields: Vec<String>,
}

/// The INF: sections in order of appearance, each with its lines.
#[derive(Debug)]
struct Inf {
    sections: Vec<(String, Vec<Line>)>,
}

impl Inf {
    fn parse(text: &str) -> Inf {
        let mut sections: Vec<(String, Vec<Line>)> = Vec::new();
        for raw in text.lines() {
            let line = strip_comment(raw).trim().to_string();
            if line.is_empty() {
                continue;
            }
            if let Some(name) = line.strip_prefix('[') {
                let name = name.strip_suffix(']').expect("a section header ends in ]");
                assert!(
                    !sections.iter().any(|(s, _)| s.eq_ignore_ascii_case(name)),
                    "section [{name}] twice"
                );
                sections.push((name.to_string(), Vec::new()));
                continue;
            }
            let (_, lines) = sections.last_mut().expect("a line before any section");
            let (key, value) = match split_outside_quotes(&line, '=').as_slice() {
                [value] => (String::new(), value.clone()),
                [key, value] => (key.trim().to_string(), value.clone()),
                other => panic!("a line with {} `=`: {line}", other.len() - 1),
            };
            let fields = split_outside_quotes(&value, ',')
                .into_iter()
                .map(|f| f.trim().to_string())
                .collect();
            lines.push(Line { key, fields });
        }
        Inf { sections }
    }

    fn section(&self, name: &str) -> Option<&[Line]> {
        self.sections
            .iter()
            .find(|(s, _)| s.eq_ignore_ascii_case(name))
            .map(|(_, l)| l.as_slice())
    }

    fn has(&self, name: &str) -> bool {
        self.section(name).is_some()
    }

    /// The value of `key` in `section` (its fields joined back), once.
    fn value(&self, section: &str, key: &str) -> String {
        let lines = self
            .section(section)
            .unwrap_or_else(|| panic!("[{section}]"));
        let found: Vec<&Line> = lines.iter().filter(|l| l.key == key).collect();
        assert_eq!(found.len(), 1, "[{section}] {key}");
        found[0].fields.join(",")
    }

    /// Every line with `key` in `section`.
    fn all(&self, section: &str, key: &str) -> Vec<Vec<String>> {
        self.section(section)
            .unwrap_or_else(|| panic!("[{section}]"))
            .iter()
            .filter(|l| l.key == key)
            .map(|l| l.fields.clone())
            .collect()
    }

    /// `[Strings]`, unquoted (`""` → `"`, `%%` → `%`).
    fn strings(&self) -> BTreeMap<String, String> {
        self.section("Strings")
            .expect("[Strings]")
            .iter()
            .map(|l| {
                let v = l.fields.join(",");
                let inner = v
                    .strip_prefix('"')
                    .and_then(|v| v.strip_suffix('"'))
                    .unwrap_or_else(|| panic!("a quoted string: {v}"));
                (
                    l.key.clone(),
                    inner.replace("\"\"", "\"").replace("%%", "%"),
                )
            })
            .collect()
    }

    /// `text` with every `%key%` replaced by its string (`%12%`, a directory id, stays).
    fn resolve(&self, text: &str) -> String {
        let strings = self.strings();
        let mut out = String::new();
        let mut rest = text;
        while let Some(start) = rest.find('%') {
            out.push_str(&rest[..start]);
            let after = &rest[start + 1..];
            let end = after
                .find('%')
                .unwrap_or_else(|| panic!("unbalanced % in {text}"));
            let key = &after[..end];
            if key.chars().all(|c| c.is_ascii_digit()) {
                out.push_str(&format!("%{key}%"));
            } else {
                let value = strings
                    .get(key)
                    .unwrap_or_else(|| panic!("%{key}% is not in [Strings]"));
                out.push_str(value);
            }
            rest = &after[end + 1..];
        }
        out.push_str(rest);
        out
    }
}

fn strip_comment(line: &str) -> &str {
    let mut quoted = false;
    for (k, c) in line.char_indices() {
        match c {
            '"' => quoted = !quoted,
            ';' if !quoted => return &line[..k],
            _ => {}
        }
    }
    line
}

fn split_outside_quotes(text: &str, sep: char) -> Vec<String> {
    let mut parts = vec![String::new()];
    let mut quoted = false;
    for c in text.chars() {
        if c == '"' {
            quoted = !quoted;
        }
        if c == sep && !quoted && !(sep == '=' && parts.len() == 2) {
            parts.push(String::new());
        } else {
            parts.last_mut().unwrap().push(c);
        }
    }
    parts
}

fn driver() -> Driver<'static> {
    Driver {
        provider: "mxf \"sample\" 100% Rust",
        description: "mxf sample MPU-401",
        hardware_id: "ROOT\\MxfUart",
        service: "mxfuart",
        sys_file: None,
        date: "06/01/2026",
        version: "1.2.3.4",
        architecture: Architecture::Amd64,
    }
}

fn subdevices() -> [Subdevice<'static>; 2] {
    [
        Subdevice {
            name: "Uart",
            topology: &UART_TOPOLOGY,
            friendly_name: "mxf MPU-401",
        },
        Subdevice {
            name: "Cable",
            topology: &CABLE,
            friendly_name: "mxf cable",
        },
    ]
}

fn written() -> (String, Inf) {
    let mut text = String::new();
    write_inf(&mut text, &driver(), &subdevices()).expect("the INF");
    let inf = Inf::parse(&text);
    (text, inf)
}

// ---------------------------------------------------------------------------------------------

#[test]
fn every_referenced_section_and_string_exists() {
    let (text, inf) = written();
    // Every %string% of every line outside [Strings] resolves.
    for (name, lines) in &inf.sections {
        if name == "Strings" {
            continue;
        }
        for l in lines {
            inf.resolve(&l.key);
            for f in &l.fields {
                inf.resolve(f);
            }
        }
    }
    // Sections named by directives exist (Include/Needs name sections of ks.inf and
    // wdmaudio.inf, which are not ours).
    let mut named = Vec::new();
    for (_, lines) in &inf.sections {
        for l in lines {
            match l.key.as_str() {
                "AddReg" | "CopyFiles" => named.extend(l.fields.iter().cloned()),
                "AddInterface" => named.push(l.fields[2].clone()),
                "AddService" => named.push(l.fields[2].clone()),
                _ => {}
            }
        }
    }
    assert!(named.len() >= 8, "{named:?}");
    for section in &named {
        assert!(
            inf.has(section),
            "[{section}] is referenced but missing:\n{text}"
        );
    }
    // The manufacturer's models section, and the install section its line names (with the NT
    // decoration Windows looks for first).
    let manufacturer = inf.all("Manufacturer", "%ManufacturerName%");
    assert_eq!(
        manufacturer,
        [vec!["Models".to_string(), "NTamd64".to_string()]]
    );
    let models = inf.section("Models.NTamd64").expect("[Models.NTamd64]");
    assert_eq!(models.len(), 1);
    assert_eq!(models[0].fields, ["Device", "ROOT\\MxfUart"]);
    assert_eq!(inf.resolve(&models[0].key), "mxf sample MPU-401");
    for s in ["Device.NT", "Device.NT.Interfaces", "Device.NT.Services"] {
        assert!(inf.has(s), "[{s}]");
    }
    // Every [Strings] key is used somewhere (no dead strings).
    for key in inf.strings().keys() {
        assert!(text.contains(&format!("%{key}%")), "%{key}% is never used");
    }
}

#[test]
fn the_add_interface_lines_are_the_subdevices_categories_with_their_names() {
    let (_, inf) = written();
    let lines = inf.all("Device.NT.Interfaces", "AddInterface");
    let got: Vec<(String, String, String)> = lines
        .iter()
        .map(|f| {
            assert_eq!(f.len(), 3, "{f:?}");
            (inf.resolve(&f[0]), inf.resolve(&f[1]), f[2].clone())
        })
        .collect();
    let g = |c: GUID| c.to_string();
    assert_eq!(
        got,
        [
            (g(KSCATEGORY_AUDIO), "Uart".into(), "Interface.Uart".into()),
            (g(KSCATEGORY_RENDER), "Uart".into(), "Interface.Uart".into()),
            (
                g(KSCATEGORY_CAPTURE),
                "Uart".into(),
                "Interface.Uart".into()
            ),
            (
                g(KSCATEGORY_AUDIO),
                "Cable".into(),
                "Interface.Cable".into()
            ),
            (
                g(KSCATEGORY_RENDER),
                "Cable".into(),
                "Interface.Cable".into()
            ),
        ]
    );
    // The reference strings are exactly the subdevice names, and each subdevice's categories
    // are its descriptor's.
    for s in subdevices() {
        let categories: Vec<String> = got
            .iter()
            .filter(|(_, name, _)| name == s.name)
            .map(|(c, _, _)| c.clone())
            .collect();
        let d = s.topology.descriptor();
        // SAFETY: the static category table of CategoryCount GUIDs.
        let declared =
            unsafe { core::slice::from_raw_parts(d.Categories, d.CategoryCount as usize) };
        let declared: Vec<String> = declared.iter().map(|c| c.to_string()).collect();
        assert_eq!(categories, declared, "{}", s.name);
    }
    // Each interface's AddReg: the KS proxy and the friendly name.
    for (name, friendly) in [("Uart", "mxf MPU-401"), ("Cable", "mxf cable")] {
        let reg = inf.all(&format!("Interface.{name}.AddReg"), "");
        let rows: Vec<Vec<String>> = reg
            .iter()
            .map(|f| f.iter().map(|x| inf.resolve(x)).collect())
            .collect();
        assert_eq!(
            rows,
            [
                vec![
                    "HKR".to_string(),
                    String::new(),
                    "CLSID".into(),
                    String::new(),
                    CLSID_Proxy.to_string()
                ],
                vec![
                    "HKR".to_string(),
                    String::new(),
                    "FriendlyName".into(),
                    String::new(),
                    friendly.into()
                ],
            ],
            "{name}"
        );
    }
}

#[test]
fn version_install_and_service_sections_say_what_a_dmus_driver_needs() {
    let (text, inf) = written();
    assert_eq!(inf.value("Version", "Signature"), "\"$WINDOWS NT$\"");
    assert_eq!(inf.value("Version", "Class"), "MEDIA");
    assert_eq!(
        inf.value("Version", "ClassGuid").to_lowercase(),
        "{4d36e96c-e325-11ce-bfc1-08002be10318}"
    );
    assert_eq!(
        inf.value("Version", "ClassGuid"),
        GUID_DEVCLASS_MEDIA.to_string()
    );
    assert_eq!(
        inf.resolve(&inf.value("Version", "Provider")),
        "mxf \"sample\" 100% Rust"
    );
    assert_eq!(inf.value("Version", "DriverVer"), "06/01/2026,1.2.3.4");
    assert_eq!(inf.value("Version", "CatalogFile"), "mxfuart.cat");
    assert_eq!(inf.value("Version", "PnpLockdown"), "1");

    assert_eq!(inf.value("Device.NT", "Include"), "ks.inf,wdmaudio.inf");
    assert_eq!(
        inf.value("Device.NT", "Needs"),
        "KS.Registration,WDMAUDIO.Registration"
    );
    let reg: Vec<String> = inf
        .all("Device.AddReg", "")
        .iter()
        .map(|f| f.join(","))
        .collect();
    for line in [
        "HKR,,AssociatedFilters,,\"wdmaud,swmidi\"",
        "HKR,,Driver,,mxfuart.sys",
        "HKR,Drivers,SubClasses,,\"midi\"",
        "HKR,Drivers\\midi\\wdmaud.drv,Driver,,wdmaud.drv",
    ] {
        assert!(reg.contains(&line.to_string()), "{line} in {reg:?}");
    }
    assert_eq!(
        inf.all("Device.CopyFiles", ""),
        [vec!["mxfuart.sys".to_string()]]
    );
    assert_eq!(inf.value("SourceDisksFiles", "mxfuart.sys"), "1");
    assert_eq!(inf.value("DestinationDirs", "DefaultDestDir"), "12");

    assert_eq!(
        inf.all("Device.NT.Services", "AddService"),
        [vec![
            "mxfuart".to_string(),
            "0x00000002".into(),
            "Service.Install".into()
        ]]
    );
    assert_eq!(
        inf.value("Device.NT.Services", "Needs"),
        "WDMAUDIO.Registration.NT.Services"
    );
    for (key, value) in [
        ("ServiceType", "1"),
        ("StartType", "3"),
        ("ErrorControl", "1"),
        ("ServiceBinary", "%12%\\mxfuart.sys"),
    ] {
        assert_eq!(inf.value("Service.Install", key), value, "{key}");
    }
    // The string with a quote and a percent sign is escaped in [Strings] only.
    assert!(text.contains("ProviderName=\"mxf \"\"sample\"\" 100%% Rust\""));
}

#[test]
fn other_platforms_and_image_names() {
    let mut d = driver();
    d.architecture = Architecture::Arm64;
    d.sys_file = Some("other_name.sys");
    let mut text = String::new();
    write_inf(&mut text, &d, &subdevices()[..1]).expect("the INF");
    let inf = Inf::parse(&text);
    assert!(inf.has("Models.NTarm64") && !inf.has("Models.NTamd64"));
    assert_eq!(
        inf.value("Service.Install", "ServiceBinary"),
        "%12%\\other_name.sys"
    );
    assert_eq!(
        inf.all("Device.CopyFiles", ""),
        [vec!["other_name.sys".to_string()]]
    );
    // One subdevice: only its categories' strings.
    let strings = inf.strings();
    assert!(strings.contains_key("KSCATEGORY_CAPTURE") && strings.contains_key("KSNAME_Uart"));
    assert!(!strings.contains_key("KSNAME_Cable"));
}

#[test]
fn what_cannot_go_into_an_inf_is_refused() {
    let subs = subdevices();
    let write = |d: &Driver<'_>, s: &[Subdevice<'_>]| write_inf(&mut String::new(), d, s);
    assert_eq!(write(&driver(), &[]), Err(InfError::NoSubdevice));
    assert_eq!(
        write(&driver(), &[subs[0], subs[0]]),
        Err(InfError::DuplicateSubdevice)
    );
    let mut bad_name = subs[0];
    bad_name.name = "Uart 2";
    assert_eq!(
        write(&driver(), &[bad_name]),
        Err(InfError::Identifier("subdevice name"))
    );
    let mut bad_friendly = subs[0];
    bad_friendly.friendly_name = "two\nlines";
    assert_eq!(
        write(&driver(), &[bad_friendly]),
        Err(InfError::Text("friendly name"))
    );
    /// A change to a good driver, and the error it makes.
    type Case = (fn(&mut Driver<'static>), InfError);
    let cases: [Case; 7] = [
        (
            |d| d.service = "mxf-uart",
            InfError::Identifier("service name"),
        ),
        (|d| d.provider = "", InfError::Text("provider")),
        (|d| d.description = "a\tb", InfError::Text("description")),
        (
            |d| d.hardware_id = "ROOT\\a,b",
            InfError::Format("hardware id"),
        ),
        (
            |d| d.sys_file = Some("mxfuart.dll"),
            InfError::Format(".sys name"),
        ),
        (
            |d| d.date = "2026-06-01",
            InfError::Format("date (MM/DD/YYYY)"),
        ),
        (
            |d| d.version = "1.2.3",
            InfError::Format("version (a.b.c.d)"),
        ),
    ];
    for (change, error) in cases {
        let mut d = driver();
        change(&mut d);
        assert_eq!(write(&d, &subs), Err(error));
    }
    // A writer that fails.
    struct Full;
    impl core::fmt::Write for Full {
        fn write_str(&mut self, _: &str) -> core::fmt::Result {
            Err(core::fmt::Error)
        }
    }
    assert_eq!(write_inf(&mut Full, &driver(), &subs), Err(InfError::Write));
}

/// Checks the structure of a driver crate's INF as its `*-inf` binary writes it: every
/// referenced section and string exists, no string is unused, and the `AddInterface` lines
/// are, per subdevice in order, its descriptor's categories with its name as reference string.
fn check_driver_inf(driver: &Driver<'_>, subdevices: &[Subdevice<'_>]) {
    let mut text = String::new();
    write_inf(&mut text, driver, subdevices).expect("the INF");
    let inf = Inf::parse(&text);
    for (name, lines) in &inf.sections {
        if name == "Strings" {
            continue;
        }
        for l in lines {
            inf.resolve(&l.key);
            for f in &l.fields {
                inf.resolve(f);
            }
        }
    }
    for (_, lines) in &inf.sections {
        for l in lines {
            let named: Vec<&String> = match l.key.as_str() {
                "AddReg" | "CopyFiles" => l.fields.iter().collect(),
                "AddInterface" | "AddService" => vec![&l.fields[2]],
                _ => continue,
            };
            for section in named {
                assert!(inf.has(section), "[{section}] is missing:\n{text}");
            }
        }
    }
    for key in inf.strings().keys() {
        assert!(text.contains(&format!("%{key}%")), "%{key}% is never used");
    }
    let got: Vec<(String, String)> = inf
        .all("Device.NT.Interfaces", "AddInterface")
        .iter()
        .map(|f| (inf.resolve(&f[0]), inf.resolve(&f[1])))
        .collect();
    let mut want = Vec::new();
    for s in subdevices {
        let d = s.topology.descriptor();
        // SAFETY: the static category table of CategoryCount GUIDs.
        let categories =
            unsafe { core::slice::from_raw_parts(d.Categories, d.CategoryCount as usize) };
        want.extend(
            categories
                .iter()
                .map(|c| (c.to_string(), s.name.to_string())),
        );
        let reg = inf.all(&format!("Interface.{}.AddReg", s.name), "");
        assert_eq!(inf.resolve(&reg[1][4]), s.friendly_name, "{}", s.name);
    }
    assert_eq!(got, want);
    let service = driver.service;
    assert_eq!(
        inf.value("Service.Install", "ServiceBinary"),
        format!("%12%\\{service}.sys")
    );
}

#[test]
fn the_virtual_midi_drivers_inf_is_whole() {
    use mxf::driver::Driver as _;
    let vmidi: Vec<_> = mxf_driver_vmidi::VirtualMidi::SUBDEVICES
        .iter()
        .map(|s| s.inf_subdevice())
        .collect();
    assert_eq!(vmidi.len(), 3);
    for s in &vmidi {
        // Render and capture: the three categories of every cable.
        assert_eq!(s.topology.descriptor().CategoryCount, 3, "{}", s.name);
    }
    check_driver_inf(&mxf_driver_vmidi::INF, &vmidi);
}

//! The modules of ledger-core form no cycle: no module depends, through any chain of `use`
//! declarations and paths, on itself. A child using `super::Item` defined in its parent
//! depends on the parent; a path through a re-export depends on the module that defines the
//! item. `analysis` says exactly what counts as a dependency.
//!
//! The fixture tests check the analysis on small crates written to a temporary directory;
//! `ledger_core_has_no_module_cycles` checks the real crate and, when it fails, prints every
//! cycle and the lines of code making each edge of one.

#![allow(clippy::unwrap_used, clippy::expect_used)]

#[path = "module_graph/analysis.rs"]
mod analysis;

use std::fs;
use std::path::Path;

use analysis::{analyze, ModuleGraph};

/// Writes `files` (path relative to `src/`, contents) as a crate and analyzes it.
fn fixture(files: &[(&str, &str)]) -> ModuleGraph {
    let dir = tempfile::tempdir().expect("temporary directory");
    let src = dir.path().join("src");
    for (path, contents) in files {
        let path = src.join(path);
        fs::create_dir_all(path.parent().expect("a file has a parent")).expect("create dir");
        fs::write(&path, contents).expect("write fixture file");
    }
    analyze(&src).unwrap_or_else(|e| panic!("fixture does not analyze: {e}"))
}

fn cycles(graph: &ModuleGraph) -> Vec<Vec<String>> {
    graph.cycles()
}

fn cycle(names: &[&str]) -> Vec<String> {
    names.iter().map(|&n| n.to_owned()).collect()
}

#[test]
fn a_use_cycle_between_two_modules_is_found() {
    let graph = fixture(&[
        ("lib.rs", "mod a;\nmod b;\n"),
        ("a.rs", "use crate::b::B;\n\npub struct A(B);\n"),
        ("b.rs", "pub struct B;\n\nfn f(_: crate::a::A) {}\n"),
    ]);
    assert_eq!(cycles(&graph), vec![cycle(&["crate::a", "crate::b"])]);
    let report = graph.cycle_report().expect("a report");
    assert!(
        report.contains("crate::a -> crate::b -> crate::a"),
        "{report}"
    );
    assert!(report.contains("src/a.rs:1: use crate::b::B"), "{report}");
    assert!(report.contains("src/b.rs:3: crate::a::A"), "{report}");
}

#[test]
fn a_child_using_super_items_its_parent_re_exports_from_it_is_a_cycle() {
    let graph = fixture(&[
        ("lib.rs", "pub mod governance;\n"),
        (
            "governance/mod.rs",
            "mod refusal;\n\npub use self::refusal::Refusal;\n\npub const TABLE: &str = \"t\";\n",
        ),
        (
            "governance/refusal.rs",
            "use super::TABLE;\n\npub struct Refusal(&'static str);\n\npub const R: Refusal = Refusal(TABLE);\n",
        ),
    ]);
    assert!(graph.has_edge("crate::governance", "crate::governance::refusal"));
    assert!(graph.has_edge("crate::governance::refusal", "crate::governance"));
    assert_eq!(
        cycles(&graph),
        vec![cycle(&["crate::governance", "crate::governance::refusal"])]
    );
    let report = graph.cycle_report().expect("a report");
    assert!(
        report.contains("src/governance/refusal.rs:1: use super::TABLE"),
        "{report}"
    );
    assert!(
        report.contains("src/governance/mod.rs:3: use self::refusal::Refusal"),
        "{report}"
    );
}

#[test]
fn a_super_path_in_an_expression_counts() {
    let graph = fixture(&[
        ("lib.rs", "mod p;\n"),
        (
            "p/mod.rs",
            "mod c;\n\npub fn shorten() {}\n\npub use c::run;\n",
        ),
        ("p/c.rs", "pub fn run() {\n    super::shorten();\n}\n"),
    ]);
    assert_eq!(cycles(&graph), vec![cycle(&["crate::p", "crate::p::c"])]);
}

#[test]
fn a_path_through_root_re_exports_to_a_leaf_module_is_no_cycle() {
    let graph = fixture(&[
        (
            "lib.rs",
            "pub mod error;\npub mod governance;\npub mod ledger;\n\n\
             pub use error::{Error, Result};\npub use governance::Refusal;\npub use ledger::Ledger;\n",
        ),
        (
            "error.rs",
            "pub enum Error {\n    Refused(crate::governance::Refusal),\n}\n\
             pub type Result<T> = std::result::Result<T, Error>;\n",
        ),
        (
            "governance/mod.rs",
            "mod refusal;\npub use self::refusal::Refusal;\n\n\
             pub fn check(_: &crate::Ledger) -> crate::Result<()> { Ok(()) }\n",
        ),
        ("governance/refusal.rs", "pub struct Refusal;\n"),
        (
            "ledger.rs",
            "use crate::{Error, Result};\n\npub struct Ledger;\n\n\
             fn f(_: Error) -> Result<()> { Err(crate::Error::Refused(crate::Refusal)) }\n",
        ),
    ]);
    assert_eq!(cycles(&graph), Vec::<Vec<String>>::new());
    assert!(graph.cycle_report().is_none());
    // Every reference goes to the module defining the item, through two re-exports for
    // `crate::governance::Refusal`.
    assert!(graph.has_edge("crate::error", "crate::governance::refusal"));
    assert!(!graph.has_edge("crate::error", "crate::governance"));
    assert!(graph.has_edge("crate::governance", "crate::ledger"));
    assert!(graph.has_edge("crate::governance", "crate::error"));
    assert!(graph.has_edge("crate::ledger", "crate::error"));
    assert!(graph.has_edge("crate::ledger", "crate::governance::refusal"));
    // The re-exports are edges of the root; nothing depends on the root.
    assert!(graph.has_edge("crate", "crate::error"));
    assert!(graph.has_edge("crate", "crate::ledger"));
    assert!(graph.edge_names().iter().all(|(_, to)| to != "crate"));
    // `mod x;` is no edge.
    assert!(!graph.has_edge("crate", "crate::governance"));
    // ... but a re-export is.
    let shown: Vec<String> = graph
        .sites("crate::governance", "crate::governance::refusal")
        .iter()
        .map(ToString::to_string)
        .collect();
    assert_eq!(
        shown,
        vec!["src/governance/mod.rs:2: use self::refusal::Refusal"]
    );
}

#[test]
fn an_expression_path_counts() {
    let graph = fixture(&[
        ("lib.rs", "mod a;\nmod b;\n"),
        ("a.rs", "pub fn f() -> u8 {\n    crate::b::g()\n}\n"),
        (
            "b.rs",
            "pub fn g() -> u8 {\n    0\n}\n\npub fn h() -> u8 {\n    crate::a::f() + 1\n}\n",
        ),
    ]);
    assert_eq!(cycles(&graph), vec![cycle(&["crate::a", "crate::b"])]);
    let sites = graph.sites("crate::b", "crate::a");
    assert_eq!(
        sites.iter().map(ToString::to_string).collect::<Vec<_>>(),
        vec!["src/b.rs:6: crate::a::f"]
    );
}

#[test]
fn paths_in_macros_types_patterns_and_serde_attributes_count() {
    let graph = fixture(&[
        ("lib.rs", "mod a;\nmod b;\nmod c;\nmod d;\nmod e;\n"),
        ("a.rs", "pub const Z: u8 = 0;\npub fn f() -> u8 { 1 }\npub fn g() -> String { format!(\"{}\", crate::b::X) }\n"),
        ("b.rs", "pub const X: u8 = 1;\nfn t(_: Vec<crate::c::T>) {}\n"),
        ("c.rs", "pub struct T;\nfn m(x: u8) -> bool {\n    matches!(x, crate::d::K)\n}\n"),
        (
            "d.rs",
            "pub const K: u8 = 1;\n#[derive(serde::Serialize)]\nstruct S {\n    #[serde(serialize_with = \"crate::e::ser\")]\n    v: u8,\n}\n",
        ),
        ("e.rs", "pub fn ser() {}\nfn p(x: u8) {\n    if let crate::a::Z = x {}\n}\n"),
    ]);
    for (from, to) in [("a", "b"), ("b", "c"), ("c", "d"), ("d", "e"), ("e", "a")] {
        assert!(
            graph.has_edge(&format!("crate::{from}"), &format!("crate::{to}")),
            "{from} -> {to}: {:?}",
            graph.edge_names()
        );
    }
    assert_eq!(
        cycles(&graph),
        vec![cycle(&[
            "crate::a", "crate::b", "crate::c", "crate::d", "crate::e"
        ])]
    );
}

#[test]
fn use_groups_globs_renames_and_self_make_edges() {
    let graph = fixture(&[
        ("lib.rs", "mod hub;\nmod a;\nmod b;\nmod c;\nmod d;\n"),
        (
            "hub.rs",
            "use crate::{a::{self as alpha, A}, b::*};\nuse crate::c::C as Sea;\npub use crate::d::{self};\n",
        ),
        ("a.rs", "pub struct A;\n"),
        ("b.rs", "pub struct B;\n"),
        ("c.rs", "pub struct C;\n"),
        ("d.rs", "pub struct D;\n"),
    ]);
    for to in ["a", "b", "c", "d"] {
        assert!(
            graph.has_edge("crate::hub", &format!("crate::{to}")),
            "{to}"
        );
    }
    let shown: Vec<String> = graph
        .sites("crate::hub", "crate::a")
        .iter()
        .map(ToString::to_string)
        .collect();
    assert_eq!(
        shown,
        vec![
            "src/hub.rs:1: use crate::a as alpha",
            "src/hub.rs:1: use crate::a::A"
        ]
    );
    assert!(cycles(&graph).is_empty());
}

#[test]
fn a_path_through_an_imported_module_resolves_to_the_defining_module() {
    // `outer` imports module `mid`, which re-exports `leaf::L` by a glob; `mid::L` is `leaf`'s.
    let graph = fixture(&[
        ("lib.rs", "mod outer;\nmod mid;\n"),
        (
            "outer.rs",
            "use crate::mid;\n\nfn f() -> mid::L { mid::L }\n",
        ),
        ("mid/mod.rs", "mod leaf;\npub use leaf::*;\n"),
        (
            "mid/leaf.rs",
            "pub struct L;\n\nfn g() { let _ = crate::outer::h; }\n",
        ),
    ]);
    assert!(graph.has_edge("crate::outer", "crate::mid"));
    assert!(graph.has_edge("crate::outer", "crate::mid::leaf"));
    assert!(graph.has_edge("crate::mid::leaf", "crate::outer"));
    assert_eq!(
        cycles(&graph),
        vec![
            cycle(&["crate::mid::leaf", "crate::outer"]),
            cycle(&["crate::mid", "crate::mid::leaf", "crate::outer"]),
        ]
    );
}

#[test]
fn test_modules_and_test_only_items_do_not_count() {
    let graph = fixture(&[
        ("lib.rs", "mod a;\nmod b;\n"),
        (
            "a.rs",
            "pub fn f() {}\n\n#[cfg(test)]\nmod tests {\n    use super::*;\n    use crate::b::g;\n}\n\n\
             #[cfg(test)]\nmod more_tests;\n\n#[cfg(all(test, feature = \"x\"))]\nuse crate::b::h;\n\n\
             #[test]\nfn t() { crate::b::g(); }\n",
        ),
        ("b.rs", "use crate::a::f;\n\npub fn g() { f() }\npub fn h() {}\n"),
    ]);
    assert!(cycles(&graph).is_empty(), "{:?}", graph.edge_names());
    assert!(!graph.module_names().contains("crate::a::tests"));
    assert!(graph.has_edge("crate::b", "crate::a"));
    assert!(!graph.has_edge("crate::a", "crate::b"));
}

#[test]
fn a_feature_gated_use_counts() {
    let graph = fixture(&[
        ("lib.rs", "mod a;\nmod b;\n"),
        (
            "a.rs",
            "#[cfg(feature = \"x\")]\nuse crate::b::B;\npub struct A;\n",
        ),
        (
            "b.rs",
            "#[cfg(not(test))]\nuse crate::a::A;\npub struct B;\n",
        ),
    ]);
    assert_eq!(cycles(&graph), vec![cycle(&["crate::a", "crate::b"])]);
}

#[test]
fn inline_modules_are_modules() {
    let graph = fixture(&[
        (
            "lib.rs",
            "mod outer {\n    pub mod inner {\n        pub fn f() {\n            super::g();\n        }\n    }\n\n\
             pub fn g() {}\n\n    pub fn h() {\n        inner::f();\n    }\n\n    mod deep;\n}\n\n\
             mod other {\n    pub(crate) mod helper {\n        use super::*;\n    }\n    pub fn x() {}\n}\n",
        ),
        ("outer/deep.rs", "pub fn d() { crate::outer::inner::f() }\n"),
    ]);
    let names = graph.module_names();
    for name in [
        "crate",
        "crate::outer",
        "crate::outer::inner",
        "crate::outer::deep",
        "crate::other",
        "crate::other::helper",
    ] {
        assert!(names.contains(name), "{name} in {names:?}");
    }
    assert_eq!(
        cycles(&graph),
        vec![cycle(&["crate::outer", "crate::outer::inner"])]
    );
    assert!(graph.has_edge("crate::outer::deep", "crate::outer::inner"));
    assert!(graph.has_edge("crate::other::helper", "crate::other"));
    assert!(!graph.has_edge("crate::other", "crate::other::helper"));
    let report = graph.cycle_report().expect("a report");
    assert!(report.contains("src/lib.rs:4: super::g"), "{report}");
    assert!(report.contains("src/lib.rs:11: inner::f"), "{report}");
}

#[test]
fn a_module_inside_a_function_body_is_a_module_of_its_own() {
    let graph = fixture(&[
        ("lib.rs", "mod a;\nmod b;\n"),
        (
            "a.rs",
            "pub struct A;\n\npub fn f() {\n    mod helper {\n        pub fn h() -> super::A { super::A }\n        \
             pub fn g() { crate::b::g() }\n    }\n    helper::h();\n}\n",
        ),
        ("b.rs", "pub fn g() {}\npub fn k() { crate::a::f() }\n"),
    ]);
    assert!(graph.module_names().contains("crate::a::{block}::helper"));
    assert!(graph.has_edge("crate::a", "crate::a::{block}::helper"));
    assert!(graph.has_edge("crate::a::{block}::helper", "crate::a"));
    assert_eq!(
        cycles(&graph),
        vec![
            cycle(&["crate::a", "crate::a::{block}::helper"]),
            cycle(&["crate::a", "crate::a::{block}::helper", "crate::b"]),
        ]
    );
}

#[test]
fn self_edges_external_crates_and_mod_declarations_are_no_edges() {
    let graph = fixture(&[
        ("lib.rs", "pub mod a;\npub mod b;\n"),
        (
            "a.rs",
            "use std::fmt;\nuse serde::Serialize;\nuse self::Kind::*;\n\npub enum Kind { One }\n\n\
             pub fn f() -> Kind { self::Kind::One }\nfn g(_: &dyn fmt::Debug) {}\n",
        ),
        ("b.rs", "pub use ledger_store::Store;\n\npub fn s() -> ::std::string::String { String::new() }\n"),
    ]);
    assert!(graph.edge_names().is_empty(), "{:?}", graph.edge_names());
}

#[test]
fn three_cycles_in_one_component_are_all_listed() {
    let graph = fixture(&[
        ("lib.rs", "mod a;\nmod b;\nmod c;\n"),
        (
            "a.rs",
            "use crate::b::B;\nuse crate::c::C;\npub struct A;\n",
        ),
        (
            "b.rs",
            "use crate::a::A;\nuse crate::c::C;\npub struct B;\n",
        ),
        ("c.rs", "use crate::a::A;\npub struct C;\n"),
    ]);
    let mut found = cycles(&graph);
    found.sort();
    assert_eq!(
        found,
        vec![
            cycle(&["crate::a", "crate::b"]),
            cycle(&["crate::a", "crate::b", "crate::c"]),
            cycle(&["crate::a", "crate::c"]),
        ]
    );
}

#[test]
fn a_component_with_too_many_cycles_lists_a_cycle_through_each_edge() {
    // Six modules each using all the others: 409 elementary cycles.
    let names = ["a", "b", "c", "d", "e", "f"];
    let lib: String = names.iter().map(|n| format!("mod {n};\n")).collect();
    let bodies: Vec<(String, String)> = names
        .iter()
        .map(|&n| {
            let uses: String = names
                .iter()
                .filter(|&&m| m != n)
                .map(|m| format!("use crate::{m}::T as T{m};\n"))
                .collect();
            (format!("{n}.rs"), format!("{uses}pub struct T;\n"))
        })
        .collect();
    let mut files: Vec<(&str, &str)> = vec![("lib.rs", &lib)];
    files.extend(bodies.iter().map(|(p, c)| (p.as_str(), c.as_str())));
    let graph = fixture(&files);
    let found = cycles(&graph);
    // One two-module cycle per pair covers every edge.
    assert_eq!(found.len(), 15, "{found:?}");
    for (from, to) in graph.edge_names() {
        assert!(
            found.iter().any(|c| {
                let i = c.iter().position(|m| *m == from);
                i.is_some_and(|i| c[(i + 1) % c.len()] == to)
            }),
            "{from} -> {to} on no listed cycle"
        );
    }
    let report = graph.cycle_report().expect("a report");
    assert!(report.contains("it has more than 100 cycles"), "{report}");
    assert!(
        report.contains("src/a.rs:2: use crate::c::T as Tc"),
        "{report}"
    );
}

#[test]
fn a_missing_module_file_is_an_error() {
    let dir = tempfile::tempdir().expect("temporary directory");
    let src = dir.path().join("src");
    fs::create_dir_all(&src).expect("create dir");
    fs::write(src.join("lib.rs"), "mod gone;\n").expect("write");
    let error = analyze(&src).expect_err("a missing module file");
    assert!(error.contains("module `gone`"), "{error}");
}

#[test]
fn ledger_core_has_no_module_cycles() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let graph = analyze(&src).unwrap_or_else(|e| panic!("{e}"));
    // The analysis saw the crate: the modules it must have found are there.
    let names = graph.module_names();
    for name in [
        "crate::ledger",
        "crate::state",
        "crate::governance",
        "crate::governance::handle",
        "crate::audit",
        "crate::audit::governance",
    ] {
        assert!(names.contains(name), "{name} missing from {names:?}");
    }
    if let Some(report) = graph.cycle_report() {
        panic!("{report}");
    }
}

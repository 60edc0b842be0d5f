//! ARCHITECTURE.md's checkable invariants, read from the source as
//! rust-analyzer's tidy test does: a rule broken here fails the suite, not
//! a review months later.

use std::path::{Path, PathBuf};

const ROOT: &str = env!("CARGO_MANIFEST_DIR");

/// One source file: its path below `src/`, and its code without the test
/// module at its end and without comment lines.
struct Source {
    path: String,
    code: Vec<(usize, String)>,
}

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let p = entry.unwrap().path();
        if p.is_dir() {
            rust_files(&p, out);
        } else if p.extension().is_some_and(|e| e == "rs") {
            out.push(p);
        }
    }
}

/// Modules declared `#[cfg(test)] mod name;`: test code in a file of its
/// own (`src/core/replication/fixture.rs`, `src/core/decision_table.rs`).
fn test_only(path: &Path) -> bool {
    let Some(stem) = path.file_stem().and_then(|s| s.to_str()) else {
        return false;
    };
    let dir = path.parent().unwrap();
    let parents = [
        dir.join("mod.rs"),
        dir.join("lib.rs"),
        dir.with_extension("rs"),
    ];
    parents.iter().any(|p| {
        let text = std::fs::read_to_string(p).unwrap_or_default();
        let lines: Vec<&str> = text.lines().map(str::trim).collect();
        lines
            .windows(2)
            .any(|w| w[0] == "#[cfg(test)]" && w[1] == format!("mod {stem};"))
    })
}

fn sources() -> Vec<Source> {
    let src = Path::new(ROOT).join("src");
    let mut files = Vec::new();
    rust_files(&src, &mut files);
    files.sort();
    files
        .into_iter()
        .filter(|p| !test_only(p))
        .map(|p| {
            let text = std::fs::read_to_string(&p).unwrap();
            let code = text
                .lines()
                .enumerate()
                .take_while(|(_, l)| l.trim() != "#[cfg(test)]")
                .filter(|(_, l)| !l.trim_start().starts_with("//"))
                .map(|(i, l)| (i + 1, l.to_string()))
                .collect();
            Source {
                path: p.strip_prefix(&src).unwrap().display().to_string(),
                code,
            }
        })
        .collect()
}

/// Every `path:line: text` of the code (outside `allowed` files) that
/// contains one of `needles`.
fn offenders(needles: &[&str], applies: impl Fn(&str) -> bool) -> Vec<String> {
    sources()
        .iter()
        .filter(|s| applies(&s.path))
        .flat_map(|s| {
            s.code
                .iter()
                .filter(|(_, l)| needles.iter().any(|n| l.contains(n)))
                .map(|(i, l)| format!("src/{}:{i}: {}", s.path, l.trim()))
                .collect::<Vec<_>>()
        })
        .collect()
}

#[test]
fn nothing_in_core_does_io() {
    let io = [
        "std::fs",
        "std::process",
        "std::env",
        "std::net",
        "std::thread",
        "std::io",
        "Instant",
        "SystemTime",
    ];
    let found = offenders(&io, |p| p.starts_with("core/"));
    assert!(found.is_empty(), "I/O in core/:\n{}", found.join("\n"));
}

#[test]
fn parameters_are_read_only_through_the_configuration() {
    let found = offenders(&["OCF_RESKEY_"], |p| {
        p != "config.rs" && !p.starts_with("ocf/")
    });
    assert!(
        found.is_empty(),
        "OCF_RESKEY_ read outside config.rs and ocf/:\n{}",
        found.join("\n")
    );
}

#[test]
fn values_are_quoted_only_through_core_quote() {
    let quoting = [r#"replace('\'', "#, r#"replace('"', "#, r#"replace('\\', "#];
    let found = offenders(&quoting, |p| p != "core/quote.rs");
    assert!(
        found.is_empty(),
        "quoting outside core/quote.rs:\n{}",
        found.join("\n")
    );
}

/// The function around line `line` of `s`.
fn enclosing_fn(s: &Source, line: usize) -> String {
    s.code
        .iter()
        .rev()
        .filter(|(i, _)| *i <= line)
        .find_map(|(_, l)| {
            let rest = l.split("fn ").nth(1)?;
            let name: String = rest
                .chars()
                .take_while(|c| c.is_alphanumeric() || *c == '_')
                .collect();
            (!name.is_empty() && l.contains('(')).then_some(name)
        })
        .unwrap_or_default()
}

/// Every place an action reads crm_mon is named in ARCHITECTURE.md, which
/// says how often each runs: once per action, except where it says why.
#[test]
fn every_crm_mon_read_of_an_action_is_documented() {
    let doc = std::fs::read_to_string(Path::new(ROOT).join("ARCHITECTURE.md")).unwrap();
    let section = doc
        .split("### Where `crm_mon` is read")
        .nth(1)
        .expect("ARCHITECTURE.md has a section \"Where `crm_mon` is read\"");
    let section = section.split("\n#").next().unwrap();
    let mut missing = Vec::new();
    for s in sources().iter().filter(|s| s.path.starts_with("actions/")) {
        for (i, l) in &s.code {
            if l.contains("cluster_view()") {
                let f = enclosing_fn(s, *i);
                let named = format!("`{}::{f}`", s.path.trim_end_matches(".rs"));
                if !section.contains(&named) {
                    missing.push(format!("src/{}:{i} in {named}", s.path));
                }
            }
        }
    }
    assert!(
        missing.is_empty(),
        "crm_mon read where ARCHITECTURE.md does not say:\n{}",
        missing.join("\n")
    );
}

/// tests/integration/labs.list names exactly the tests that take the lab
/// guard (the benchmarks aside: ignored, run by their scripts), so that
/// scripts/test.sh runs every lab test, in the lab process.
#[test]
fn the_lab_list_names_every_lab_test() {
    let dir = Path::new(ROOT).join("tests/integration");
    let list: std::collections::BTreeSet<String> = std::fs::read_to_string(dir.join("labs.list"))
        .unwrap()
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .map(str::to_string)
        .collect();
    let mut found = std::collections::BTreeSet::new();
    let mut files = Vec::new();
    rust_files(&dir, &mut files);
    for f in files {
        let module = f.file_stem().unwrap().to_str().unwrap().to_string();
        if module == "bench_lab" {
            continue;
        }
        let text = std::fs::read_to_string(&f).unwrap();
        let mut current_fn = None;
        for line in text.lines() {
            if let Some(rest) = line.trim_start().strip_prefix("fn ") {
                current_fn = rest.split('(').next().map(str::to_string);
            }
            if line.contains("lab_guard()") && !line.contains("pub fn lab_guard") {
                if let Some(f) = &current_fn {
                    found.insert(format!("{module}::{f}"));
                }
            }
        }
    }
    assert_eq!(
        list, found,
        "tests/integration/labs.list against the tests that take the lab guard"
    );
}

//! Meta-data: the checked-in copy is the binary's output, and it validates
//! against both schemas the tools use.

use crate::support::Agent;
use std::io::Write;
use std::process::{Command, Stdio};

fn metadata() -> String {
    let out = Agent::new().run("meta-data");
    assert_eq!(out.rc, 0);
    out.stdout
}

#[test]
fn checked_in_copy_is_current() {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/ocf-metadata/pgsql.xml");
    let checked_in = std::fs::read_to_string(path).unwrap();
    assert!(
        checked_in == metadata(),
        "ocf-metadata/pgsql.xml is stale: run `target/debug/pgsql meta-data > ocf-metadata/pgsql.xml`"
    );
}

fn xmllint(args: &[&str], cwd: &str, input: &str) -> (bool, String) {
    let mut child = Command::new("xmllint")
        .args(args)
        .current_dir(cwd)
        .stdin(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("xmllint (libxml2-utils) is installed");
    child
        .stdin
        .take()
        .unwrap()
        .write_all(input.as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// As ocf-tester checks it: `xmllint --valid` against ra-api-1.dtd, which
/// the DOCTYPE names (its internal subset adds OCF 1.1's reload-agent).
#[test]
fn validates_against_ra_api_1_dtd() {
    let (ok, err) = xmllint(
        &["--noout", "--valid", "-"],
        "/usr/share/resource-agents",
        &metadata(),
    );
    assert!(ok, "{err}");
    assert!(err.is_empty(), "{err}");
}

#[test]
fn validates_against_the_ocf_1_1_relaxng() {
    let (ok, err) = xmllint(
        &[
            "--noout",
            "--relaxng",
            "/usr/share/pcs/data/ocf-1.1.rng",
            "-",
        ],
        "/",
        &metadata(),
    );
    assert!(ok, "{err}");
}

/// resource-agents 4.12's schema predates OCF 1.1's `reloadable`
/// parameter attribute (the OCF 1.1 schema above has it, and Pacemaker 2.1
/// reads it): everything else must pass it as it is.
#[test]
fn validates_against_resource_agents_metadata_rng() {
    let md = metadata();
    assert!(md.contains(" reloadable=\"1\">"));
    let (ok, err) = xmllint(
        &[
            "--noout",
            "--relaxng",
            "/usr/share/resource-agents/metadata.rng",
            "-",
        ],
        "/",
        &md.replace(" reloadable=\"1\">", ">"),
    );
    assert!(ok, "{err}");
}

#[test]
fn advertises_the_ocf_1_1_actions_and_roles() {
    let md = metadata();
    assert!(md.contains("<version>1.1</version>"));
    assert!(md.contains("<action name=\"reload-agent\""));
    assert!(md.contains("role=\"Promoted\""));
    for legacy in ["\"methods\"", "\"status\"", "Master", "Slave"] {
        assert!(!md.contains(legacy), "meta-data mentions {legacy}");
    }
    // The two monitors differ in interval, as Pacemaker requires.
    assert!(md.contains("<action name=\"monitor\" timeout=\"30s\" interval=\"30s\""));
    assert!(md.contains(
        "<action name=\"monitor\" timeout=\"30s\" interval=\"29s\" depth=\"0\" role=\"Promoted\""
    ));
}

/// The documents an administrator reads, and the examples they copy.
fn user_documents() -> Vec<(String, String)> {
    let root = env!("CARGO_MANIFEST_DIR");
    let mut paths = vec![format!("{root}/README.md"), format!("{root}/lab/README.md")];
    for dir in ["docs", "crm-examples", "doc"] {
        for e in std::fs::read_dir(format!("{root}/{dir}")).unwrap() {
            paths.push(e.unwrap().path().display().to_string());
        }
    }
    paths.sort();
    paths
        .into_iter()
        .map(|p| {
            let text = std::fs::read_to_string(&p).unwrap();
            (p.trim_start_matches(root).to_string(), text)
        })
        .collect()
}

/// What the documents state about a parameter's default: "`name` (…
/// default `value` …)", "`name` (… default value …)" or "`name` (… empty
/// by default …)".
fn stated_defaults(text: &str, name: &str) -> Vec<String> {
    let opening = format!("`{name}` (");
    let mut found = Vec::new();
    for (at, _) in text.match_indices(&opening) {
        let inside = &text[at + opening.len()..];
        let inside = &inside[..inside.find(')').unwrap_or(inside.len())];
        let inside = inside.replace('\n', " ");
        if inside.contains("empty by default") {
            found.push(String::new());
        } else if let Some((_, after)) = inside.split_once("default ") {
            let word = after.trim_start_matches('`');
            let word: String = word
                .chars()
                .take_while(|c| !matches!(c, '`' | ',' | ';' | ' ' | ':'))
                .collect();
            found.push(word);
        }
    }
    found
}

/// The values the documents show for a parameter: `name=value` where
/// `name` starts a word (a quoted value as the shell would read it).
/// Placeholders (`<…>`, `…`) and empty values (pcs's way to remove a
/// parameter) are left out.
fn shown_values(text: &str, name: &str) -> Vec<String> {
    let pattern = format!("{name}=");
    let mut values = Vec::new();
    for (at, _) in text.match_indices(&pattern) {
        let before = text[..at].chars().next_back();
        if before.is_some_and(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-') {
            continue;
        }
        let rest = &text[at + pattern.len()..];
        let value = match rest.chars().next() {
            Some(q @ ('"' | '\'')) => rest[1..].split(q).next().unwrap_or("").to_string(),
            _ => rest
                .chars()
                .take_while(|c| !c.is_whitespace() && !matches!(c, '`' | ',' | ')' | ';' | '|'))
                .collect::<String>()
                // The end of a sentence is not part of the value.
                .trim_end_matches(['.', ':'])
                .to_string(),
        };
        if value.is_empty() || value.contains('<') || value.contains('…') || value.contains("...")
        {
            continue;
        }
        values.push(value);
    }
    values
}

/// Where the documents repeat what the parameter table (and so the
/// meta-data) says, they agree with it: every default they state is the
/// table's, and every `name=value` they show is a value the agent accepts.
#[test]
fn the_documents_agree_with_the_parameter_table() {
    let mut wrong = Vec::new();
    let mut checked = 0;
    for (file, text) in user_documents() {
        for p in rustpg::params::PARAMS {
            for stated in stated_defaults(&text, p.name) {
                checked += 1;
                if stated != p.default {
                    wrong.push(format!(
                        "{file}: {} defaults to {:?}, not {stated:?}",
                        p.name, p.default
                    ));
                }
            }
            for value in shown_values(&text, p.name) {
                checked += 1;
                if let Err(e) = rustpg::config::check_kind(p, &value) {
                    wrong.push(format!("{file}: {}", e.reason()));
                }
            }
        }
    }
    assert!(wrong.is_empty(), "{wrong:#?}");
    assert!(
        checked > 50,
        "only {checked} claims found: is the parsing broken?"
    );
}

#[test]
fn claims_are_found_as_written() {
    let text = "`auto_rewind` (ours, default `false`) and `pgport` (default 5432), \
                `replication_hosts` (ours, empty by default; 13+), rep_mode=sync \
                node_list=\"pg01 pg02\" auto_rewind= pgdata=<dir> xrep_mode=no \
                (rep_mode=quorum: ANY k) auto_resync=true.";
    assert_eq!(stated_defaults(text, "auto_rewind"), ["false"]);
    assert_eq!(stated_defaults(text, "pgport"), ["5432"]);
    assert_eq!(stated_defaults(text, "replication_hosts"), [""]);
    assert_eq!(shown_values(text, "rep_mode"), ["sync", "quorum"]);
    assert_eq!(shown_values(text, "auto_resync"), ["true"]);
    assert_eq!(shown_values(text, "node_list"), ["pg01 pg02"]);
    assert!(shown_values(text, "auto_rewind").is_empty());
    assert!(shown_values(text, "pgdata").is_empty());
}

/// What administrators read speaks to them: no rule code of
/// docs/compatibility.md (R31, P3, M1: that document is the reviewers'
/// record, and the only one that uses them), no issue number and no test
/// seed.
#[test]
fn user_documents_use_no_internal_codes() {
    let internal = |word: &str| {
        let w = word.trim_matches(|c: char| !c.is_ascii_alphanumeric());
        let code = w.len() >= 2
            && w.len() <= 3
            && matches!(w.as_bytes()[0], b'R' | b'P' | b'M')
            && w[1..].bytes().all(|b| b.is_ascii_digit());
        code
    };
    let mut found = Vec::new();
    for (file, text) in user_documents() {
        if file.ends_with("docs/compatibility.md") {
            continue;
        }
        let words: Vec<&str> = text.split_whitespace().collect();
        for (i, w) in words.iter().enumerate() {
            let next_is_number = words.get(i + 1).is_some_and(|n| {
                n.trim_end_matches([',', '.', ')', ':'])
                    .parse::<u32>()
                    .is_ok()
            });
            let numbered =
                ["issue", "Issue", "seed", "Seed", "seeds"].contains(w) && next_is_number;
            if internal(w) || numbered {
                found.push(format!("{file}: {w} {}", words.get(i + 1).unwrap_or(&"")));
            }
        }
    }
    assert!(found.is_empty(), "{found:#?}");
}

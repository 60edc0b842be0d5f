//! Render the agent's man page, `ocf_<provider>_<agent>(7)` in the layout
//! of resource-agents' `ocf_heartbeat_*(7)`, from the tables the meta-data
//! is rendered from: the parameters (name, descriptions, kind, default,
//! required, unique, reloadable) and the advertised actions with their
//! timeouts. Pure: the page is a string; `doc/ocf_rustpg_pgsql.7` is its
//! reviewed copy, checked by the test below.

use super::action::Action;
use super::metadata::{self, ActionSpec, AgentInfo};
use crate::params::{Kind, ParamSpec};

/// What the page says beyond the tables.
#[derive(Debug)]
pub struct PageInfo<'a> {
    /// The OCF provider, as in `ocf:<provider>:<agent>`.
    pub provider: &'a str,
    /// What every action does, by action name.
    pub action_text: &'a [(&'a str, &'a str)],
    /// Paragraphs of the DESCRIPTION after the agent's long description,
    /// as roff source.
    pub description_roff: &'a str,
    /// The EXAMPLE section's body, as roff source.
    pub example_roff: &'a str,
    /// The SEE ALSO section's body, as roff source.
    pub see_also_roff: &'a str,
}

/// `text` as roff text lines: backslashes, hyphens (as `\-`, so that
/// option and attribute names copy as typed), quotes and the characters
/// groff would typeset as something else escaped, and a line that would
/// start with a control character guarded.
pub fn escape(text: &str) -> String {
    text.lines()
        .map(str::trim)
        .filter(|line| !line.is_empty())
        .map(|line| {
            let mut out = String::with_capacity(line.len() + 8);
            if line.starts_with(['.', '\'']) {
                out.push_str("\\&");
            }
            for c in line.chars() {
                match c {
                    '\\' => out.push_str("\\e"),
                    '-' => out.push_str("\\-"),
                    '\'' => out.push_str("\\(aq"),
                    '`' => out.push_str("\\(ga"),
                    '~' => out.push_str("\\(ti"),
                    '^' => out.push_str("\\(ha"),
                    c => out.push(c),
                }
            }
            out
        })
        .collect::<Vec<_>>()
        .join("\n")
}

/// A sentence: the text with a full stop unless it ends with one.
fn sentence(text: &str) -> String {
    let t = text.trim_end();
    if t.ends_with(['.', '!', '?']) {
        t.to_string()
    } else {
        format!("{t}.")
    }
}

/// The values a kind takes, in words.
fn values(kind: Kind) -> String {
    match kind {
        Kind::Str => "Text.".into(),
        Kind::Path => "An absolute path.".into(),
        Kind::Program => "An absolute path, or a program name found on PATH.".into(),
        Kind::Int { min, max } => format!("A whole number from {min} to {max}."),
        Kind::Bool => "true or false (yes, no, on, off, 1 and 0 too).".into(),
        Kind::Choice(words) => match words.split_last() {
            Some((last, [])) => format!("Only {last}."),
            Some((last, rest)) => format!("One of {} or {last}.", rest.join(", ")),
            None => "No value.".into(),
        },
    }
}

/// One parameter: `name = type [default] (marks)`, the short description,
/// the values, then the long description.
fn parameter(x: &mut String, p: &ParamSpec) {
    let mut tag = format!(
        "\\fB{}\\fP = \\fI{}\\fP",
        escape(p.name),
        p.kind.content_type()
    );
    if !p.default.is_empty() {
        tag.push_str(&format!(" [{}]", escape(p.default)));
    }
    let marks: Vec<&str> = [
        (metadata::required(p), "required"),
        (metadata::unique(p), "unique"),
        (p.reloadable, "reloadable"),
    ]
    .into_iter()
    .filter_map(|(set, word)| set.then_some(word))
    .collect();
    if !marks.is_empty() {
        tag.push_str(&format!(" ({})", marks.join(", ")));
    }
    x.push_str(&format!(".TP\n{tag}\n"));
    x.push_str(&format!("{}\n", escape(&sentence(p.shortdesc))));
    let default = if p.default.is_empty() {
        " Empty by default."
    } else {
        ""
    };
    x.push_str(&format!(
        ".br\n{}\n",
        escape(&format!("{}{default}", values(p.kind)))
    ));
    x.push_str(&format!(".IP\n{}\n", escape(p.longdesc)));
}

/// The text of an action, from `page.action_text`.
fn action_text<'a>(page: &PageInfo<'a>, name: &str) -> Option<&'a str> {
    page.action_text
        .iter()
        .find(|(n, _)| *n == name)
        .map(|(_, t)| *t)
}

/// The name an action's text goes by: `monitor`, or `monitor Promoted`
/// for a monitor with a role.
fn action_key(a: &ActionSpec) -> String {
    match a.role {
        Some(r) => format!("{} {r}", a.name),
        None => a.name.to_string(),
    }
}

/// One advertised action: its name (and role), what it does, and the
/// suggested timeout and interval.
fn action(x: &mut String, page: &PageInfo, a: &ActionSpec) {
    let role = a
        .role
        .map(|r| format!(" (role {})", escape(r)))
        .unwrap_or_default();
    let text = action_text(page, &action_key(a));
    x.push_str(&format!(".TP\n\\fB{}\\fP{role}\n", escape(a.name)));
    if let Some(t) = text {
        x.push_str(&format!("{}\n", escape(t)));
    }
    let mut suggested = format!("Suggested minimum timeout: {}s.", a.timeout_secs);
    if let Some(i) = a.interval_secs {
        suggested.push_str(&format!(" Suggested interval: {i}s."));
    }
    x.push_str(&format!("{}\n", escape(&suggested)));
}

/// The page of `agent`, in roff (man(7) macros).
pub fn render(agent: &AgentInfo, page: &PageInfo) -> String {
    let id = format!("ocf:{}:{}", page.provider, agent.name);
    let title = format!("ocf_{}_{}", page.provider, agent.name);
    let mut x = String::new();
    x.push_str(".\\\" Generated from the agent's parameter and action tables; do not edit.\n");
    x.push_str(&format!(
        ".TH {} 7 \"\" \"{} {}\" \"OCF resource agents\"\n",
        escape(&title.to_uppercase()),
        escape(page.provider),
        escape(agent.version)
    ));
    x.push_str(".nr HY 0\n.nh\n.ad l\n");
    x.push_str(&format!(
        ".SH NAME\n{} \\- {}\n",
        escape(&title),
        escape(agent.shortdesc)
    ));
    let id_roff = escape(&id);
    x.push_str(&format!(
        ".SH SYNOPSIS\n\
         .B crm configure primitive\n\
         .I ID\n\
         .B {id_roff}\n\
         .RB [ params\\ \\fIPARAMETER\\fP=\\fIVALUE\\fP\\ ...\\& ]\n\
         .RB [ op\\ \\fIACTION\\fP\\ \\fIOPTION\\fP=\\fIVALUE\\fP\\ ...\\& ]\\ ...\n\
         .br\n\
         .B pcs resource create\n\
         .I ID\n\
         .B {id_roff}\n\
         .RI [ PARAMETER = VALUE \\ ...\\& ]\n\
         .RB [ op\\ \\fIACTION\\fP\\ \\fIOPTION\\fP=\\fIVALUE\\fP\\ ...\\& ]\\ ...\n"
    ));
    x.push_str(&format!(
        ".SH DESCRIPTION\n{}\n{}",
        escape(agent.longdesc),
        page.description_roff
    ));
    x.push_str(".SH \"SUPPORTED PARAMETERS\"\n");
    let required = agent
        .params
        .iter()
        .filter(|p| metadata::required(p))
        .count();
    x.push_str(&escape(&format!(
        "Each parameter is shown as name = type [default]. {}",
        if required == 0 {
            "The meta-data marks none required: what a mode needs is said in the \
             descriptions below, and the agent refuses a configuration that lacks it."
        } else {
            "Those marked required must be set."
        }
    )));
    x.push('\n');
    if agent.params.iter().any(|p| p.reloadable) {
        x.push_str(&escape(
            "A change of one marked reloadable restarts nothing: Pacemaker asks the \
             agent to reload (reload-agent) instead; any other change restarts the resource.",
        ));
        x.push('\n');
    }
    for p in agent.params {
        parameter(&mut x, p);
    }
    x.push_str(".SH \"SUPPORTED ACTIONS\"\n");
    x.push_str("This resource agent supports the following actions (operations):\n");
    for a in agent.actions {
        action(&mut x, page, a);
    }
    let unadvertised: Vec<Action> = Action::ALL
        .into_iter()
        .filter(|a| !agent.actions.iter().any(|s| s.name == a.name()))
        .collect();
    if !unadvertised.is_empty() {
        x.push_str(".PP\n");
        x.push_str(&escape(
            "It also answers these, which the meta-data does not advertise (a \
             configuration tool would make them operations):",
        ));
        x.push('\n');
        for a in unadvertised {
            x.push_str(&format!(".TP\n\\fB{}\\fP\n", escape(a.name())));
            if let Some(t) = action_text(page, a.name()) {
                x.push_str(&format!("{}\n", escape(t)));
            }
        }
    }
    x.push_str(&format!(".SH EXAMPLE\n{}", page.example_roff));
    x.push_str(&format!(".SH \"SEE ALSO\"\n{}", page.see_also_roff));
    x
}

/// What each of ocf:rustpg:pgsql's actions does; a monitor with a role is
/// named `monitor ROLE`.
pub const PGSQL_ACTIONS: &[(&str, &str)] = &[
    (
        "start",
        "Starts PostgreSQL with pg_ctl: the instance with rep_mode=none, a standby of \
         master_ip in the replication modes (a promote then makes one of them the primary).",
    ),
    (
        "stop",
        "Stops PostgreSQL with pg_ctl stop -m fast, then -m immediate after stop_escalate \
         seconds (stop_escalate_in_slave for a standby), always within the operation's \
         timeout.",
    ),
    (
        "monitor",
        "Checks that PostgreSQL runs and answers monitor_sql. In the replication modes it \
         returns 8 (running promoted) on the primary and keeps the node attributes up to \
         date: the primary's monitor publishes its standbys' data-status and promotion \
         scores and, with rep_mode=sync or quorum, sets synchronous_standby_names.",
    ),
    (
        "monitor Promoted",
        "The monitor of the promoted instance. Its interval must differ from the other \
         monitor's.",
    ),
    (
        "promote",
        "Makes a standby the primary, only when it can prove that the node holds every \
         commit the former primary acknowledged. The new primary's first monitor records \
         the promotion in <resource>-promotions.",
    ),
    (
        "demote",
        "Makes the primary a standby: a fast shutdown whose checkpoint the synchronous \
         standby receives, recorded in PGSQL.lock, then a start as a standby of master_ip. \
         The lock goes once the node streams from the new primary past that checkpoint.",
    ),
    (
        "notify",
        "Acts on the promotable clone's notifications of start, stop, promote and demote, \
         as the stock agent does; the clone needs notify=true.",
    ),
    (
        "reload-agent",
        "Applies a change of a reloadable parameter without a restart: every action reads \
         the parameters afresh.",
    ),
    ("meta-data", "Prints the agent's meta-data XML."),
    (
        "validate-all",
        "Checks the parameters and their consistency; with OCF_CHECK_LEVEL=10, also this \
         host: the database owner, the data directory and the programs.",
    ),
    (
        "status",
        "Whether PostgreSQL runs, from its postmaster.pid only (kept from the stock agent).",
    ),
    ("usage", "Prints the list of actions."),
];

const PGSQL_DESCRIPTION: &str = r#".PP
Pacemaker runs the agent as
.B /usr/lib/ocf/resource.d/rustpg/pgsql
.I ACTION
with the parameters in
.BI OCF_RESKEY_ PARAMETER
environment variables.
It needs root (or the database owner) and runs every PostgreSQL program
as the database owner,
.IR pgdba .
.PP
In the replication modes the resource is a promotable clone of one
instance per node of
.IR node_list ,
with a virtual IP
.RI ( master_ip )
that follows the promoted instance.
PostgreSQL itself (replication users, pg_hba.conf, the standbys' base
backups) is prepared beforehand, as for the stock agent.
.BR rustpgctl (8)
shows every node's role and attributes, explains why a node is or is not
promotable, and moves the primary role to the synchronous standby.
"#;

const PGSQL_EXAMPLE: &str = r#"A single instance:
.PP
.EX
crm configure primitive pgsql ocf:rustpg:pgsql \e
    params pgdata=/var/lib/pgsql/data socketdir=/run/postgresql \e
    op start timeout=60s op stop timeout=60s \e
    op monitor interval=10s timeout=30s
.EE
.PP
Three nodes with synchronous replication and a virtual IP for the
primary, loaded with
.BR "crm configure load update" :
.PP
.EX
primitive Postgresql ocf:rustpg:pgsql \e
    params rep_mode=sync node_list="pg01 pg02 pg03" \e
        master_ip=10.0.0.100 repuser=repl \e
        pgdata=/var/lib/pgsql/data tmpdir=/var/lib/pgsql/tmp \e
    op start timeout=120s op stop timeout=120s \e
    op promote timeout=120s op demote timeout=120s \e
    op monitor interval=4s timeout=60s \e
    op monitor interval=3s role=Promoted timeout=60s \e
    op notify timeout=90s
clone msPostgresql Postgresql \e
    meta promotable=true promoted\-max=1 promoted\-node\-max=1 \e
        clone\-max=3 clone\-node\-max=1 notify=true
primitive PostgresqlVIP IPaddr2 \e
    params ip=10.0.0.100 cidr_netmask=24 \e
    op monitor interval=10s
colocation vip\-with\-primary inf: PostgresqlVIP msPostgresql:Promoted
order vip\-after\-promote 0: msPostgresql:promote PostgresqlVIP:start \e
    symmetrical=false
order vip\-after\-demote 0: msPostgresql:demote PostgresqlVIP:stop \e
    symmetrical=false
.EE
.PP
The same resource with pcs:
.PP
.EX
pcs resource create Postgresql ocf:rustpg:pgsql \e
    rep_mode=sync node_list="pg01 pg02 pg03" master_ip=10.0.0.100 \e
    repuser=repl pgdata=/var/lib/pgsql/data tmpdir=/var/lib/pgsql/tmp \e
    op start timeout=120s stop timeout=120s \e
    promote timeout=120s demote timeout=120s \e
    monitor interval=4s timeout=60s \e
    monitor interval=3s role=Promoted timeout=60s \e
    notify timeout=90s \e
    promotable msPostgresql promoted\-max=1 promoted\-node\-max=1 \e
    clone\-max=3 clone\-node\-max=1 notify=true
.EE
.PP
Complete configurations, with fencing, PgBouncer and the settings the
packages recommend, are in
.IR /usr/share/doc/rustpg/examples/ .
"#;

const PGSQL_SEE_ALSO: &str = r#".BR rustpgctl (8),
.BR crm (8),
.BR pcs (8),
.BR crm_mon (8),
.BR crm_resource (8),
.BR ocf_heartbeat_pgsql (7),
.BR ocf_heartbeat_IPaddr2 (7),
.BR pg_ctl (1),
.BR pg_rewind (1),
.I /usr/share/doc/rustpg/
"#;

/// `ocf_rustpg_pgsql(7)`: the page the packages install.
pub fn pgsql_manpage() -> String {
    render(
        &AgentInfo {
            name: "pgsql",
            version: env!("CARGO_PKG_VERSION"),
            shortdesc: crate::params::AGENT_SHORTDESC,
            longdesc: crate::params::AGENT_LONGDESC,
            params: crate::params::PARAMS,
            actions: crate::params::ACTIONS,
        },
        &PageInfo {
            provider: "rustpg",
            action_text: PGSQL_ACTIONS,
            description_roff: PGSQL_DESCRIPTION,
            example_roff: PGSQL_EXAMPLE,
            see_also_roff: PGSQL_SEE_ALSO,
        },
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::params::{ACTIONS, PARAMS};

    const PAGE: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/doc/ocf_rustpg_pgsql.7");

    /// The page the packages install is the tables' own, reviewed as a
    /// diff (`UPDATE_SNAPSHOTS=1 cargo test --lib` rewrites it).
    #[test]
    fn the_agent_page_is_current() {
        let page = pgsql_manpage();
        if std::env::var_os("UPDATE_SNAPSHOTS").is_some() {
            std::fs::write(PAGE, &page).unwrap();
        }
        let reviewed = std::fs::read_to_string(PAGE).unwrap_or_default();
        assert!(
            reviewed == page,
            "doc/ocf_rustpg_pgsql.7 is stale: run UPDATE_SNAPSHOTS=1 cargo test --lib and review its diff"
        );
    }

    #[test]
    fn every_parameter_is_on_the_page_with_its_type_default_and_marks() {
        let page = pgsql_manpage();
        for p in PARAMS {
            let name = format!("\\fB{}\\fP = ", escape(p.name));
            let line = page
                .lines()
                .find(|l| l.starts_with(&name))
                .unwrap_or_else(|| panic!("no entry for {}", p.name));
            assert!(line.contains(p.kind.content_type()), "{}'s type", p.name);
            assert_eq!(
                line.contains(&format!(" [{}]", escape(p.default))),
                !p.default.is_empty(),
                "{}'s default",
                p.name
            );
            assert_eq!(line.contains("reloadable"), p.reloadable, "{}", p.name);
            assert_eq!(
                line.contains("required"),
                metadata::required(p),
                "{}",
                p.name
            );
            assert_eq!(line.contains("unique"), metadata::unique(p), "{}", p.name);
            assert!(page.contains(&escape(p.longdesc)), "{}'s longdesc", p.name);
        }
    }

    #[test]
    fn every_action_is_described() {
        let page = PageInfo {
            provider: "rustpg",
            action_text: PGSQL_ACTIONS,
            description_roff: "",
            example_roff: "",
            see_also_roff: "",
        };
        for a in ACTIONS {
            let name = action_key(a);
            assert!(action_text(&page, &name).is_some(), "no text for {name}");
        }
        for a in Action::ALL {
            assert!(
                action_text(&page, a.name()).is_some(),
                "no text for {}",
                a.name()
            );
        }
        for (name, _) in PGSQL_ACTIONS {
            let known = ACTIONS.iter().any(|a| action_key(a) == *name)
                || Action::ALL.iter().any(|a| a.name() == *name);
            assert!(known, "text for an action the agent does not have: {name}");
        }
        let rendered = pgsql_manpage();
        for a in ACTIONS {
            assert!(
                rendered.contains(&format!(".TP\n\\fB{}\\fP", escape(a.name))),
                "{}",
                a.name
            );
            assert!(rendered.contains(&format!("Suggested minimum timeout: {}s.", a.timeout_secs)));
        }
    }

    /// `groff -ww` finds nothing to warn about (where groff is installed).
    #[test]
    fn the_page_renders_without_warnings() {
        use std::io::Write;
        use std::process::{Command, Stdio};
        let Ok(mut groff) = Command::new("groff")
            .args(["-man", "-Tutf8", "-ww", "-z"])
            .stdin(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
        else {
            eprintln!("groff is not installed: the page's rendering is not checked");
            return;
        };
        let page = pgsql_manpage();
        groff
            .stdin
            .take()
            .unwrap()
            .write_all(page.as_bytes())
            .unwrap();
        let out = groff.wait_with_output().unwrap();
        let warnings = String::from_utf8_lossy(&out.stderr);
        assert!(out.status.success() && warnings.is_empty(), "{warnings}");
    }

    #[test]
    fn roff_is_escaped() {
        assert_eq!(escape(".start"), "\\&.start");
        assert_eq!(escape("'quoted'"), "\\&\\(aqquoted\\(aq");
        assert_eq!(escape("a\\b --to -m"), "a\\eb \\-\\-to \\-m");
        assert_eq!(escape("~postgres `x` ^"), "\\(tipostgres \\(gax\\(ga \\(ha");
        assert_eq!(escape("one\n  .two\n\nthree"), "one\n\\&.two\nthree");
    }
}

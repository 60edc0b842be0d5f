//! Quoting for every format a value can end up in. Every value the agent
//! writes into PostgreSQL configuration, a conninfo string, an SQL literal,
//! `synchronous_standby_names` or the `pg_ctl -o` string goes through one
//! of these.

/// A libpq conninfo value: `'...'` with `\` and `'` backslash-escaped.
pub fn conninfo_value(v: &str) -> String {
    backslash_quoted("'", v)
}

/// `open` + `v` with `\` and `'` backslash-escaped + `'`.
fn backslash_quoted(open: &str, v: &str) -> String {
    let mut out = String::with_capacity(v.len() + open.len() + 1);
    out.push_str(open);
    for c in v.chars() {
        if c == '\\' || c == '\'' {
            out.push('\\');
        }
        out.push(c);
    }
    out.push('\'');
    out
}

/// A `key=value` conninfo pair with the value quoted.
pub fn conninfo_pair(key: &str, value: &str) -> String {
    format!("{key}={}", conninfo_value(value))
}

/// A libpq conninfo string read back into its `(key, value)` pairs, in
/// order (later keys win in libpq), with libpq's rules: whitespace between
/// pairs and around `=`, values bare or in `'...'`, `\` escaping the next
/// character in both. `None` when it is not valid conninfo.
pub fn parse_conninfo(s: &str) -> Option<Vec<(String, String)>> {
    let mut pairs = Vec::new();
    let mut chars = s.chars().peekable();
    loop {
        while chars.next_if(|c| c.is_whitespace()).is_some() {}
        if chars.peek().is_none() {
            return Some(pairs);
        }
        let mut key = String::new();
        while let Some(c) = chars.next_if(|c| *c != '=' && !c.is_whitespace()) {
            key.push(c);
        }
        while chars.next_if(|c| c.is_whitespace()).is_some() {}
        if key.is_empty() || chars.next() != Some('=') {
            return None;
        }
        while chars.next_if(|c| c.is_whitespace()).is_some() {}
        let mut value = String::new();
        if chars.next_if_eq(&'\'').is_some() {
            loop {
                match chars.next()? {
                    '\\' => value.push(chars.next()?),
                    '\'' => break,
                    c => value.push(c),
                }
            }
        } else {
            while let Some(c) = chars.next_if(|c| !c.is_whitespace()) {
                if c == '\\' {
                    value.push(chars.next()?);
                } else {
                    value.push(c);
                }
            }
        }
        pairs.push((key, value));
    }
}

/// A postgresql.conf string literal: `'...'` with `'` doubled and `\`
/// escaped, because the GUC parser processes backslash escapes.
pub fn guc_string(v: &str) -> String {
    let mut out = String::with_capacity(v.len() + 2);
    out.push('\'');
    for c in v.chars() {
        match c {
            '\'' => out.push_str("''"),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            c => out.push(c),
        }
    }
    out.push('\'');
    out
}

/// The value of a postgresql.conf line's string literal, as the GUC
/// parser reads it (`'` doubled or backslash-escaped, `\n`, `\r`, `\t`,
/// other escaped characters as they are); the inverse of [`guc_string`].
/// `None`: not a complete quoted literal.
pub fn guc_unquote(literal: &str) -> Option<String> {
    let mut chars = literal.trim().chars().peekable();
    if chars.next()? != '\'' {
        return None;
    }
    let mut value = String::new();
    while let Some(c) = chars.next() {
        match c {
            '\'' if chars.next_if_eq(&'\'').is_some() => value.push('\''),
            '\'' => return chars.all(char::is_whitespace).then_some(value),
            '\\' => match chars.next()? {
                'n' => value.push('\n'),
                'r' => value.push('\r'),
                't' => value.push('\t'),
                other => value.push(other),
            },
            c => value.push(c),
        }
    }
    None
}

/// A label value in Prometheus's text exposition format, quotes
/// included: backslash, double quote and newline escaped.
pub fn prometheus_label(v: &str) -> String {
    let escaped = v
        .replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n");
    format!("\"{escaped}\"")
}

/// An SQL string literal that reads the same whatever
/// `standard_conforming_strings` says: `E'...'` with `\` and `'`
/// backslash-escaped. For the statements that take no parameters
/// (`ALTER SYSTEM`).
pub fn sql_literal(v: &str) -> String {
    backslash_quoted("E'", v)
}

/// A standby's name in `synchronous_standby_names`: `"..."` with `"`
/// doubled, so that any `application_name` is one name.
pub fn standby_name(v: &str) -> String {
    format!("\"{}\"", v.replace('"', "\"\""))
}

/// A POSIX shell word: `'...'` with each `'` written as `'\''`. Used only for
/// the `-o` string that pg_ctl hands to `/bin/sh`.
pub fn shell_word(v: &str) -> String {
    format!("'{}'", v.replace('\'', r"'\''"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn conninfo_reads_back_what_libpq_reads() {
        let pairs = |s: &str| {
            parse_conninfo(s).map(|v| {
                v.into_iter()
                    .map(|(k, v)| format!("{k}={v}"))
                    .collect::<Vec<_>>()
            })
        };
        assert_eq!(
            pairs("host='10.0.0.1' port = 5432 user=repl passfile=/var/lib/postgresql/.pgpass"),
            Some(vec![
                "host=10.0.0.1".into(),
                "port=5432".into(),
                "user=repl".into(),
                "passfile=/var/lib/postgresql/.pgpass".into()
            ])
        );
        assert_eq!(
            pairs(r"a='it\'s \\ x' b=c\ d"),
            Some(vec![r"a=it's \ x".into(), "b=c d".into()])
        );
        assert_eq!(pairs("  "), Some(vec![]));
        assert_eq!(pairs("a='open"), None);
        assert_eq!(pairs("novalue"), None);
        assert_eq!(pairs("=x"), None);
        // Whatever conninfo_pair writes, parse_conninfo reads back.
        for v in ["", "a b", "it's", r"back\slash", "x=y"] {
            assert_eq!(
                parse_conninfo(&conninfo_pair("k", v)),
                Some(vec![("k".into(), v.into())])
            );
        }
    }

    #[test]
    fn conninfo_escapes_quote_and_backslash() {
        assert_eq!(conninfo_value("plain"), "'plain'");
        assert_eq!(conninfo_value(""), "''");
        assert_eq!(conninfo_value("a b"), "'a b'");
        assert_eq!(conninfo_value(r"it's\x"), r"'it\'s\\x'");
        assert_eq!(conninfo_pair("host", "10.0.0.1"), "host='10.0.0.1'");
    }

    #[test]
    fn guc_unquote_reads_what_guc_string_and_alter_system_write() {
        for v in [
            "x",
            "it's",
            r"a\b",
            "two\nlines",
            r#"ANY 2 ("pg02", "pg03")"#,
            "",
        ] {
            assert_eq!(guc_unquote(&guc_string(v)).as_deref(), Some(v));
        }
        // ALTER SYSTEM doubles quotes and backslashes the same way.
        assert_eq!(guc_unquote(r"'it''s a\\b'").as_deref(), Some(r"it's a\b"));
        assert_eq!(guc_unquote(r"'it\'s'").as_deref(), Some("it's"));
        assert_eq!(guc_unquote("'x'  ").as_deref(), Some("x"));
        for bad in ["x", "'x", "'x' y", "", r"'x\"] {
            assert_eq!(guc_unquote(bad), None, "{bad}");
        }
    }

    #[test]
    fn guc_strings_double_quotes_and_escape_backslashes() {
        assert_eq!(guc_string("x"), "'x'");
        assert_eq!(guc_string("it's"), "'it''s'");
        assert_eq!(guc_string(r"a\b"), r"'a\\b'");
        assert_eq!(guc_string("two\nlines"), r"'two\nlines'");
    }

    #[test]
    fn conninfo_inside_guc_is_two_layers() {
        let conninfo = conninfo_pair("password", r"p'w\d");
        assert_eq!(conninfo, r"password='p\'w\\d'");
        assert_eq!(guc_string(&conninfo), r"'password=''p\\''w\\\\d'''");
    }

    #[test]
    fn shell_words_survive_hostile_text() {
        assert_eq!(shell_word("/etc/pg.conf"), "'/etc/pg.conf'");
        assert_eq!(shell_word("a'b"), r"'a'\''b'");
        assert_eq!(shell_word("$(rm -rf /); `x`"), "'$(rm -rf /); `x`'");
    }

    /// Runs a real /bin/sh: whatever we quote comes back verbatim.
    #[test]
    fn shell_words_round_trip_through_sh() {
        for v in [
            "simple",
            "a b",
            "it's",
            "$(echo pwned)",
            "`id`",
            "x\ny",
            "\\",
            "\"q\"",
        ] {
            let out = std::process::Command::new("/bin/sh")
                .arg("-c")
                .arg(format!("printf %s {}", shell_word(v)))
                .output()
                .unwrap();
            assert_eq!(String::from_utf8(out.stdout).unwrap(), v);
        }
    }

    #[test]
    fn sql_literals_and_standby_names() {
        assert_eq!(
            sql_literal(r#"FIRST 1 ("a'b\c")"#),
            r#"E'FIRST 1 ("a\'b\\c")'"#
        );
        assert_eq!(sql_literal(""), "E''");
        assert_eq!(standby_name(r#"pg"01"#), r#""pg""01""#);
    }
}

//! `.pgpass` lookup, as libpq does it: the first line whose
//! `host:port:database:user` fields match (`*` matches anything) wins.

/// Split one line into its five fields, honouring `\:` and `\\`.
fn fields(line: &str) -> Option<[String; 5]> {
    let mut out: Vec<String> = vec![String::new()];
    let mut chars = line.chars();
    while let Some(c) = chars.next() {
        match c {
            '\\' => out.last_mut()?.push(chars.next().unwrap_or('\\')),
            ':' if out.len() < 5 => out.push(String::new()),
            c => out.last_mut()?.push(c),
        }
    }
    out.try_into().ok()
}

/// The password for a connection, from the text of a pgpass file. For a
/// Unix-socket connection libpq matches the host field against `localhost`
/// and against the socket directory; pass both as `hosts`.
pub fn lookup(text: &str, hosts: &[&str], port: u16, database: &str, user: &str) -> Option<String> {
    let port = port.to_string();
    text.lines()
        .filter(|l| !l.trim_start().starts_with('#') && !l.trim().is_empty())
        .filter_map(fields)
        .find(|[h, p, d, u, _]| {
            let m = |field: &str, want: &str| field == "*" || field == want;
            (h == "*" || hosts.contains(&h.as_str())) && m(p, &port) && m(d, database) && m(u, user)
        })
        .map(|[.., password]| password)
}

#[cfg(test)]
mod tests {
    use super::*;

    const FILE: &str = "\
# comment
db1:5432:*:repl:replpw
localhost:5433:template1:postgres:first
*:*:*:postgres:fallback
*:*:*:we\\:ird:co\\:lon\\\\pw
";

    #[test]
    fn first_matching_line_wins() {
        assert_eq!(
            lookup(FILE, &["localhost"], 5433, "template1", "postgres").as_deref(),
            Some("first")
        );
        assert_eq!(
            lookup(FILE, &["localhost"], 5432, "template1", "postgres").as_deref(),
            Some("fallback")
        );
        assert_eq!(
            lookup(FILE, &["db1"], 5432, "x", "repl").as_deref(),
            Some("replpw")
        );
        assert_eq!(lookup(FILE, &["db2"], 5432, "x", "repl"), None);
    }

    #[test]
    fn escapes_are_honoured() {
        assert_eq!(
            lookup(FILE, &["h"], 1, "d", "we:ird").as_deref(),
            Some("co:lon\\pw")
        );
    }

    #[test]
    fn short_lines_are_skipped() {
        assert_eq!(lookup("a:b:c\n", &["a"], 1, "c", "x"), None);
    }

    mod fuzz {
        use super::super::*;
        use proptest::prelude::*;

        fn escape(f: &str) -> String {
            f.replace('\\', "\\\\").replace(':', "\\:")
        }

        proptest! {
            #[test]
            fn fuzz_pgpass_arbitrary_text_never_panics(
                text in ".{0,200}", host in ".{0,8}", port in any::<u16>(),
                db in ".{0,8}", user in ".{0,8}",
            ) {
                let _ = lookup(&text, &[&host, "localhost"], port, &db, &user);
            }

            /// Any line written with libpq's escapes is found again, with the
            /// password exact.
            #[test]
            fn fuzz_pgpass_escaped_line_round_trips(
                host in "[^*#\n\r]{1,8}", port in any::<u16>(),
                db in "[^*\n\r]{1,8}", user in "[^*\n\r]{1,8}", password in "[^\n\r]{0,12}",
            ) {
                let line = [host.as_str(), &port.to_string(), &db, &user, &password]
                    .map(escape)
                    .join(":");
                prop_assume!(!line.trim().is_empty() && !line.trim_start().starts_with('#'));
                let text = format!("# comment\n{line}\n");
                prop_assert_eq!(lookup(&text, &[&host], port, &db, &user), Some(password));
            }
        }
    }
}

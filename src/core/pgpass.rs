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
}

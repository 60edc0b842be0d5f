//! Sizes as operators write them: `16MB`, `512kB`, `1GiB`, or bytes.
//! Units are PostgreSQL's (`kB`, `MB`, `GB`, `TB`: powers of 1024), with
//! the `KiB`/`MiB`/`GiB`/`TiB` spellings and `B` accepted too, in any
//! case.

/// Bytes in a size, or why it is not one.
pub fn parse_bytes(text: &str) -> Result<u64, String> {
    let t = text.trim();
    let split = t.find(|c: char| !c.is_ascii_digit()).unwrap_or(t.len());
    let (digits, unit) = t.split_at(split);
    let n: u64 = digits
        .parse()
        .map_err(|_| format!("{text:?} is not a size (say 16MB, 512kB or a number of bytes)"))?;
    let shift = match unit.trim().to_ascii_lowercase().as_str() {
        "" | "b" => 0,
        "k" | "kb" | "kib" => 10,
        "m" | "mb" | "mib" => 20,
        "g" | "gb" | "gib" => 30,
        "t" | "tb" | "tib" => 40,
        _ => {
            return Err(format!(
                "{text:?}: unknown unit {:?} (B, kB, MB, GB or TB)",
                unit.trim()
            ))
        }
    };
    n.checked_mul(1u64 << shift)
        .ok_or_else(|| format!("{text:?} is too large"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_with_and_without_units() {
        assert_eq!(parse_bytes("16777216"), Ok(16 << 20));
        assert_eq!(parse_bytes("16MB"), Ok(16 << 20));
        assert_eq!(parse_bytes("16 MiB"), Ok(16 << 20));
        assert_eq!(parse_bytes("512kB"), Ok(512 << 10));
        assert_eq!(parse_bytes("1gb"), Ok(1 << 30));
        assert_eq!(parse_bytes("0"), Ok(0));
        assert!(parse_bytes("16XB").unwrap_err().contains("unknown unit"));
        assert!(parse_bytes("MB").unwrap_err().contains("not a size"));
        assert!(parse_bytes("-1").is_err());
        assert!(parse_bytes("99999999999TB")
            .unwrap_err()
            .contains("too large"));
    }
}

//! WAL positions: PostgreSQL's `X/Y` text and the stock agent's 16-hex-digit
//! attribute format.

use std::fmt;
use std::str::FromStr;

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Lsn(pub u64);

impl Lsn {
    /// The attribute format of `<rsc>-xlog-loc` and `<rsc>-master-baseline`:
    /// each half zero-padded to 8 upper-case hex digits, concatenated.
    pub fn to_hex16(self) -> String {
        format!("{:016X}", self.0)
    }

    /// Parse the attribute format back; exactly 16 hex digits.
    pub fn from_hex16(s: &str) -> Option<Lsn> {
        if s.len() != 16 || !s.bytes().all(|b| b.is_ascii_hexdigit()) {
            return None;
        }
        u64::from_str_radix(s, 16).ok().map(Lsn)
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("not a WAL position: {0:?}")]
pub struct LsnParseError(pub String);

impl FromStr for Lsn {
    type Err = LsnParseError;

    /// PostgreSQL's `pg_lsn` text: two hex numbers of at most 8 digits.
    fn from_str(s: &str) -> Result<Lsn, LsnParseError> {
        let err = || LsnParseError(s.to_string());
        let (hi, lo) = s.split_once('/').ok_or_else(err)?;
        let half = |h: &str| {
            if h.is_empty() || h.len() > 8 || !h.bytes().all(|b| b.is_ascii_hexdigit()) {
                return None;
            }
            u32::from_str_radix(h, 16).ok()
        };
        let (hi, lo) = (half(hi).ok_or_else(err)?, half(lo).ok_or_else(err)?);
        Ok(Lsn((u64::from(hi) << 32) | u64::from(lo)))
    }
}

impl fmt::Display for Lsn {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:X}/{:X}", self.0 >> 32, self.0 & 0xFFFF_FFFF)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn hex16_matches_the_stock_agent() {
        // Observed on the stock agent: 0/1511B00 -> 0000000001511B00.
        let lsn: Lsn = "0/1511B00".parse().unwrap();
        assert_eq!(lsn.to_hex16(), "0000000001511B00");
        let lsn: Lsn = "1A/FF".parse().unwrap();
        assert_eq!(lsn.to_hex16(), "0000001A000000FF");
    }

    #[test]
    fn garbage_is_rejected() {
        for bad in [
            "",
            "/",
            "0/",
            "/0",
            "0/1/2",
            "g/0",
            "123456789/0",
            "-1/0",
            " 0/1",
            "0x1/2",
        ] {
            assert!(bad.parse::<Lsn>().is_err(), "{bad:?}");
        }
        for bad in [
            "",
            "0",
            "000000000151 1B00",
            "0000000001511B0G",
            "00000000001511B00",
        ] {
            assert_eq!(Lsn::from_hex16(bad), None, "{bad:?}");
        }
    }

    #[test]
    fn lower_case_input_is_accepted() {
        assert_eq!("a/b".parse::<Lsn>().unwrap(), Lsn(0xA_0000_000B));
        assert_eq!(Lsn::from_hex16("000000000000abcd"), Some(Lsn(0xABCD)));
    }

    proptest! {
        #[test]
        fn text_round_trips(v: u64) {
            prop_assert_eq!(Lsn(v).to_string().parse::<Lsn>().unwrap(), Lsn(v));
            prop_assert_eq!(Lsn::from_hex16(&Lsn(v).to_hex16()), Some(Lsn(v)));
        }

        #[test]
        fn hex16_order_is_lsn_order(a: u64, b: u64) {
            // The stock agent compares these strings with sort: keep that true.
            prop_assert_eq!(Lsn(a).to_hex16().cmp(&Lsn(b).to_hex16()), a.cmp(&b));
        }
    }

    mod fuzz {
        use super::super::*;
        use proptest::prelude::*;

        proptest! {
            /// Any text: no panic, and whatever parses prints back to a form
            /// that parses to the same position.
            #[test]
            fn fuzz_lsn_arbitrary_text(s in prop_oneof![".{0,20}", "[0-9a-fA-F/ x+-]{0,20}"]) {
                if let Ok(l) = s.parse::<Lsn>() {
                    prop_assert_eq!(l.to_string().parse::<Lsn>(), Ok(l));
                }
                if let Some(l) = Lsn::from_hex16(&s) {
                    prop_assert_eq!(l.to_hex16(), s.to_ascii_uppercase());
                }
            }
        }
    }
}

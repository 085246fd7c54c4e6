//! Text formatting that renders identically on the server and in the browser (no local time
//! zones, no "n minutes ago" that would differ between the two and break hydration).

use chrono::{DateTime, Utc};

pub fn timestamp(at: &DateTime<Utc>) -> String {
    at.format("%Y-%m-%d %H:%M UTC").to_string()
}

pub fn optional_timestamp(at: &Option<DateTime<Utc>>, none: &str) -> String {
    at.as_ref().map(timestamp).unwrap_or_else(|| none.to_owned())
}

/// 103412 -> "103,412".
pub fn count(n: i64) -> String {
    let digits = n.unsigned_abs().to_string();
    let mut out = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    if n < 0 {
        format!("-{out}")
    } else {
        out
    }
}

/// Percent-encodes a query value.
pub fn query_value(raw: &str) -> String {
    let mut out = String::new();
    for b in raw.bytes() {
        match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => out.push(b as char),
            b' ' => out.push('+'),
            _ => out.push_str(&format!("%{b:02X}")),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_are_grouped_by_thousands() {
        assert_eq!(count(0), "0");
        assert_eq!(count(999), "999");
        assert_eq!(count(1000), "1,000");
        assert_eq!(count(103412), "103,412");
        assert_eq!(count(-1234567), "-1,234,567");
    }

    #[test]
    fn query_values_are_encoded() {
        assert_eq!(query_value("ada lovelace&x=1"), "ada+lovelace%26x%3D1");
    }
}

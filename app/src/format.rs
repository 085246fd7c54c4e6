//! Text formatting that renders identically on the server and in the browser (no local time
//! zones, no "n minutes ago" that would differ between the two and break hydration).

use chrono::{DateTime, Datelike, Timelike, Utc};

/// "2026-11-29 14:05 UTC". Written out rather than with chrono's `format`, whose strftime
/// interpreter would otherwise ship in the browser bundle for this one pattern.
pub fn timestamp(at: &DateTime<Utc>) -> String {
    format!(
        "{:04}-{:02}-{:02} {:02}:{:02} UTC",
        at.year(),
        at.month(),
        at.day(),
        at.hour(),
        at.minute()
    )
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

/// A query value as a form would send it (spaces as `+`, the rest percent-encoded).
pub fn query_value(raw: &str) -> String {
    form_urlencoded::byte_serialize(raw.as_bytes()).collect()
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
    fn timestamps_read_the_same_everywhere_in_utc_to_the_minute() {
        let at = DateTime::parse_from_rfc3339("2026-03-04T05:06:59.9+02:00")
            .unwrap()
            .with_timezone(&Utc);
        assert_eq!(timestamp(&at), "2026-03-04 03:06 UTC");
        let far = DateTime::parse_from_rfc3339("0999-12-31T23:59:00Z")
            .unwrap()
            .with_timezone(&Utc);
        assert_eq!(timestamp(&far), "0999-12-31 23:59 UTC");
    }

    #[test]
    fn query_values_are_encoded() {
        assert_eq!(query_value("ada lovelace&x=1"), "ada+lovelace%26x%3D1");
    }
}

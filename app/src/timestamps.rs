//! Timestamps sent to the browser, as the RFC 3339 text chrono writes (`2026-11-29T04:33:12.123Z`).
//!
//! Written by chrono as usual; read back by this small parser instead of chrono's general one,
//! which was the largest single library in the browser bundle after the views themselves.

use chrono::{DateTime, NaiveDate, TimeDelta, Utc};
use serde::{de::Error, Deserialize, Deserializer, Serialize, Serializer};

pub fn serialize<S: Serializer>(at: &DateTime<Utc>, serializer: S) -> Result<S::Ok, S::Error> {
    at.serialize(serializer)
}

pub fn deserialize<'de, D: Deserializer<'de>>(deserializer: D) -> Result<DateTime<Utc>, D::Error> {
    let text = String::deserialize(deserializer)?;
    parse(&text).ok_or_else(|| D::Error::custom(format_args!("not an RFC 3339 timestamp: {text:?}")))
}

/// The same, for a timestamp that may be missing (`null`).
pub mod optional {
    use super::*;

    pub fn serialize<S: Serializer>(at: &Option<DateTime<Utc>>, serializer: S) -> Result<S::Ok, S::Error> {
        at.serialize(serializer)
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Option<DateTime<Utc>>, D::Error> {
        match Option::<String>::deserialize(deserializer)? {
            None => Ok(None),
            Some(text) => parse(&text)
                .map(Some)
                .ok_or_else(|| D::Error::custom(format_args!("not an RFC 3339 timestamp: {text:?}"))),
        }
    }
}

/// `YYYY-MM-DDTHH:MM:SS`, an optional fraction of a second, then `Z` or an offset `±HH:MM`.
pub fn parse(text: &str) -> Option<DateTime<Utc>> {
    let bytes = text.as_bytes();
    let number = |from: usize, to: usize| -> Option<u32> {
        let digits = text.get(from..to)?;
        digits
            .bytes()
            .all(|b| b.is_ascii_digit())
            .then(|| digits.parse().ok())?
    };
    let separators = [(4, b'-'), (7, b'-'), (13, b':'), (16, b':')];
    if bytes.len() < 20
        || separators.iter().any(|&(at, want)| bytes[at] != want)
        || !matches!(bytes[10], b'T' | b't' | b' ')
    {
        return None;
    }
    let date = NaiveDate::from_ymd_opt(number(0, 4)? as i32, number(5, 7)?, number(8, 10)?)?;
    let (hour, minute, second) = (number(11, 13)?, number(14, 16)?, number(17, 19)?);
    let mut rest = &text[19..];
    let mut nanos = 0;
    if let Some(fraction) = rest.strip_prefix('.') {
        let digits = fraction.bytes().take_while(u8::is_ascii_digit).count();
        if digits == 0 {
            return None;
        }
        for (place, digit) in fraction.bytes().take(digits.min(9)).enumerate() {
            nanos += u32::from(digit - b'0') * 10u32.pow(8 - place as u32);
        }
        rest = &fraction[digits..];
    }
    let offset_minutes = match rest.as_bytes() {
        [b'Z' | b'z'] => 0,
        [sign @ (b'+' | b'-'), _, _, b':', _, _] => {
            let (hours, minutes) = (
                number(text.len() - 5, text.len() - 3)?,
                number(text.len() - 2, text.len())?,
            );
            if hours > 23 || minutes > 59 {
                return None;
            }
            let minutes = i64::from(hours * 60 + minutes);
            if *sign == b'-' {
                -minutes
            } else {
                minutes
            }
        }
        _ => return None,
    };
    let local = date.and_hms_nano_opt(hour, minute, second, nanos)?;
    let utc = local.checked_sub_signed(TimeDelta::minutes(offset_minutes))?;
    Some(DateTime::from_naive_utc_and_offset(utc, Utc))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn chrono_reads(text: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(text).unwrap().with_timezone(&Utc)
    }

    #[test]
    fn what_chrono_writes_is_read_back_to_the_nanosecond() {
        for text in [
            "2026-11-29T04:33:12Z",
            "2026-11-29T04:33:12.5Z",
            "2026-11-29T04:33:12.123456Z",
            "2026-11-29T04:33:12.123456789Z",
            "1999-12-31T23:59:59.999999999Z",
        ] {
            let at = chrono_reads(text);
            assert_eq!(parse(text), Some(at), "{text}");
            let written = serde_json::to_string(&at).unwrap();
            assert_eq!(parse(written.trim_matches('"')), Some(at), "{written}");
        }
    }

    #[test]
    fn offsets_are_turned_into_utc() {
        for text in [
            "2026-03-01T01:30:00+02:00",
            "2026-02-28T22:15:00-01:15",
            "2026-02-28T23:30:00.25+00:00",
        ] {
            assert_eq!(parse(text), Some(chrono_reads(text)), "{text}");
        }
    }

    #[test]
    fn anything_else_is_refused() {
        for text in [
            "",
            "2026-11-29",
            "2026-11-29T04:33:12",
            "2026-11-29T04:33:12.Z",
            "2026-13-01T00:00:00Z",
            "2026-02-30T00:00:00Z",
            "2026-11-29T24:00:00Z",
            "2026-11-29T04:33:12+2:00",
            "2026-11-29T04:33:12+24:00",
            "2026-11-29T04:33:12Zjunk",
            "+026-11-29T04:33:12Z",
            "2026-11-29T04:33:1٣Z",
        ] {
            assert_eq!(parse(text), None, "{text:?}");
        }
    }

    #[test]
    fn rows_keep_their_timestamps_across_the_wire() {
        let at = chrono_reads("2026-11-29T04:33:12.123456Z");
        let invite = InviteStatusWire {
            sent_at: at,
            expires_at: at,
            expired: false,
        };
        let json = serde_json::to_string(&invite).unwrap();
        assert_eq!(
            json,
            r#"{"sent_at":"2026-11-29T04:33:12.123456Z","expires_at":"2026-11-29T04:33:12.123456Z","expired":false}"#
        );
        assert_eq!(serde_json::from_str::<InviteStatusWire>(&json).unwrap(), invite);
        let none: Option<DateTime<Utc>> =
            optional::deserialize(&mut serde_json::Deserializer::from_str("null")).unwrap();
        assert_eq!(none, None);
    }

    type InviteStatusWire = crate::users::InviteStatus;
}

//! A minimal JSON writer straight into a `String`. Pages of up to 999 people are written on
//! every request; building `serde_json::Value` trees for them costs several times more (a map
//! and an allocation per field) and the fakes crate itself is compiled unoptimised in dev
//! builds, where the benchmarks may run it.

use std::fmt::Write;

/// Appends `s` as a JSON string literal.
pub(crate) fn string(buf: &mut String, s: &str) {
    buf.push('"');
    let mut start = 0;
    for (i, b) in s.bytes().enumerate() {
        let escape = match b {
            b'"' => "\\\"",
            b'\\' => "\\\\",
            b'\n' => "\\n",
            b'\r' => "\\r",
            b'\t' => "\\t",
            0..=0x1f => "",
            _ => continue,
        };
        buf.push_str(&s[start..i]);
        if escape.is_empty() {
            let _ = write!(buf, "\\u{b:04x}");
        } else {
            buf.push_str(escape);
        }
        start = i + 1;
    }
    buf.push_str(&s[start..]);
    buf.push('"');
}

/// An object being written; [`Obj::end`] closes it.
pub(crate) struct Obj<'a> {
    buf: &'a mut String,
    first: bool,
}

impl<'a> Obj<'a> {
    pub(crate) fn new(buf: &'a mut String) -> Obj<'a> {
        buf.push('{');
        Obj { buf, first: true }
    }

    fn key(&mut self, k: &str) {
        if !self.first {
            self.buf.push(',');
        }
        self.first = false;
        string(self.buf, k);
        self.buf.push(':');
    }

    pub(crate) fn str(&mut self, k: &str, v: &str) -> &mut Self {
        self.key(k);
        string(self.buf, v);
        self
    }

    /// The string, or `null` when `None`.
    pub(crate) fn str_or_null(&mut self, k: &str, v: Option<&str>) -> &mut Self {
        match v {
            Some(v) => self.str(k, v),
            None => self.raw(k, "null"),
        }
    }

    /// The string, or no key at all when `None`.
    pub(crate) fn opt_str(&mut self, k: &str, v: Option<&str>) -> &mut Self {
        if let Some(v) = v {
            self.str(k, v);
        }
        self
    }

    pub(crate) fn bool(&mut self, k: &str, v: bool) -> &mut Self {
        self.raw(k, if v { "true" } else { "false" })
    }

    pub(crate) fn int(&mut self, k: &str, v: i64) -> &mut Self {
        self.key(k);
        let _ = write!(self.buf, "{v}");
        self
    }

    /// `v` must already be valid JSON.
    pub(crate) fn raw(&mut self, k: &str, v: &str) -> &mut Self {
        self.key(k);
        self.buf.push_str(v);
        self
    }

    pub(crate) fn obj(&mut self, k: &str, f: impl FnOnce(&mut Obj)) -> &mut Self {
        self.key(k);
        let mut inner = Obj::new(self.buf);
        f(&mut inner);
        inner.end();
        self
    }

    pub(crate) fn end(self) {
        self.buf.push('}');
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_through_serde() {
        let mut buf = String::new();
        let mut o = Obj::new(&mut buf);
        o.str("a", "q\"uo\\te\n\u{1}é")
            .str_or_null("b", None)
            .opt_str("c", None)
            .bool("d", true)
            .int("e", -3)
            .obj("f", |o| {
                o.str("g", "h");
            });
        o.end();
        let v: serde_json::Value = serde_json::from_str(&buf).unwrap();
        assert_eq!(
            v,
            serde_json::json!({"a": "q\"uo\\te\n\u{1}é", "b": null, "d": true, "e": -3, "f": {"g": "h"}})
        );
    }
}

//! Email addresses, parsed once at the edge so the rest of the code never re-checks them.

use crate::error::{Error, Result};
use std::fmt;

#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct EmailAddress(String);

impl EmailAddress {
    /// Accepts what people actually type (surrounding spaces, upper-case domains) and refuses
    /// what can never receive mail. Not a full RFC 5322 parser on purpose: the invite email
    /// is the real proof of an address.
    pub fn parse(raw: &str) -> Result<Self> {
        let trimmed = raw.trim();
        if trimmed.is_empty() {
            return Err(Error::invalid("email", "Enter an email address."));
        }
        if trimmed.len() > 254 {
            return Err(Error::invalid(
                "email",
                "That email address is too long (254 characters at most).",
            ));
        }
        let Some((local, domain)) = trimmed.rsplit_once('@') else {
            return Err(Error::invalid(
                "email",
                format!("\u{201c}{trimmed}\u{201d} is missing an @."),
            ));
        };
        let bad = |why: &str| Err(Error::invalid("email", format!("\u{201c}{trimmed}\u{201d} {why}")));
        if local.is_empty() || local.len() > 64 {
            return bad("needs a name before the @.");
        }
        if trimmed
            .chars()
            .any(|c| c.is_whitespace() || c.is_control() || c == '<' || c == '>' || c == ',' || c == ';')
        {
            return bad("contains characters an address cannot have.");
        }
        if local.contains('@') || local.starts_with('.') || local.ends_with('.') || local.contains("..") {
            return bad("is not a valid address.");
        }
        let labels: Vec<&str> = domain.split('.').collect();
        if labels.len() < 2
            || labels.iter().any(|l| {
                l.is_empty()
                    || l.len() > 63
                    || l.starts_with('-')
                    || l.ends_with('-')
                    || !l.chars().all(|c| c.is_alphanumeric() || c == '-')
            })
        {
            return bad("does not have a valid domain after the @.");
        }
        Ok(EmailAddress(format!("{local}@{}", domain.to_lowercase())))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for EmailAddress {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_address_with_spaces_and_a_capitalised_domain_is_normalised() {
        assert_eq!(
            EmailAddress::parse("  Ada@Example.COM ").unwrap().as_str(),
            "Ada@example.com"
        );
    }

    #[test]
    fn addresses_that_cannot_receive_mail_are_refused_with_a_reason() {
        for raw in [
            "",
            "ada",
            "@example.com",
            "ada@",
            "ada@localhost",
            "a da@example.com",
            "ada@exa..mple.com",
            "ada@-x.com",
            "a..b@example.com",
        ] {
            let err = EmailAddress::parse(raw).unwrap_err();
            assert!(matches!(err, Error::Invalid { field: "email", .. }), "{raw}: {err:?}");
        }
    }
}

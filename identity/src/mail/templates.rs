//! The mails Rollcall sends, as plain text and HTML. Rendered at send time from current data.

use chrono::{DateTime, Utc};

#[derive(Debug, Clone, PartialEq)]
pub struct Mail {
    pub to: String,
    pub subject: String,
    pub text: String,
    pub html: String,
}

pub struct InviteMail<'a> {
    pub to: &'a str,
    pub recipient_name: &'a str,
    pub org_name: &'a str,
    pub inviter: &'a str,
    pub link: &'a str,
    pub expires_at: DateTime<Utc>,
}

pub fn invite_subject(inviter: &str, org_name: &str) -> String {
    format!("{inviter} invited you to join {org_name}")
}

pub fn invite(mail: &InviteMail<'_>) -> Mail {
    let expires = mail.expires_at.format("%-d %B %Y at %H:%M UTC").to_string();
    let greeting = greeting(mail.recipient_name);
    let text = format!(
        "{greeting},\n\n{inviter} invited you to join {org} on Rollcall.\n\nAccept the invitation:\n{link}\n\n\
         The link works once and expires on {expires}. If it has expired, ask {inviter} to send a new one.\n\
         If you were not expecting this, you can ignore this email.\n",
        inviter = mail.inviter,
        org = mail.org_name,
        link = mail.link,
    );
    let e = html_escape;
    let html = frame(
        &format!("Join {}", e(mail.org_name)),
        &format!(
            r#"<p>{greeting},</p>
<p>{inviter} invited you to join <strong>{org}</strong>.</p>
<p style="margin:24px 0"><a href="{link}" style="background:#3b5bdb;color:#fff;padding:10px 18px;border-radius:6px;text-decoration:none;font-weight:600">Accept invitation</a></p>
<p style="color:#57606a">The link works once and expires on {expires}. If it has expired, ask {inviter} to send a new one.</p>
<p style="color:#57606a;word-break:break-all">Or paste this address into your browser: {link}</p>
<p style="color:#57606a">If you were not expecting this, you can ignore this email.</p>"#,
            org = e(mail.org_name),
            greeting = e(&greeting),
            inviter = e(mail.inviter),
            link = e(mail.link),
            expires = e(&expires),
        ),
    );
    Mail {
        to: mail.to.to_owned(),
        subject: invite_subject(mail.inviter, mail.org_name),
        text,
        html,
    }
}

pub struct AccessLinkMail<'a> {
    pub to: &'a str,
    pub recipient_name: &'a str,
    pub org_name: &'a str,
    /// Why the person needs a new way in ("Google sign-in was turned off").
    pub reason: &'a str,
    pub link: &'a str,
    pub expires_at: DateTime<Utc>,
}

pub fn access_link_subject(org_name: &str) -> String {
    format!("Set up a new way to sign in to {org_name}")
}

/// After an integration was disabled: a one-time link to set a password or link another provider.
pub fn access_link(mail: &AccessLinkMail<'_>) -> Mail {
    let expires = mail.expires_at.format("%-d %B %Y at %H:%M UTC").to_string();
    let greeting = greeting(mail.recipient_name);
    let text = format!(
        "{greeting},\n\n{reason} in {org}, and it was your way to sign in.\n\n\
         Set a password or connect another account here:\n{link}\n\n\
         The link works once and expires on {expires}. If it has expired, ask an admin of {org} for help.\n",
        reason = mail.reason,
        org = mail.org_name,
        link = mail.link,
    );
    let e = html_escape;
    let html = frame(
        "Set up a new way to sign in",
        &format!(
            r#"<p>{greeting},</p>
<p>{reason} in <strong>{org}</strong>, and it was your way to sign in.</p>
<p style="margin:24px 0"><a href="{link}" style="background:#3b5bdb;color:#fff;padding:10px 18px;border-radius:6px;text-decoration:none;font-weight:600">Set a password or connect an account</a></p>
<p style="color:#57606a">The link works once and expires on {expires}.</p>
<p style="color:#57606a;word-break:break-all">Or paste this address into your browser: {link}</p>"#,
            org = e(mail.org_name),
            greeting = e(&greeting),
            reason = e(mail.reason),
            link = e(mail.link),
            expires = e(&expires),
        ),
    );
    Mail {
        to: mail.to.to_owned(),
        subject: access_link_subject(mail.org_name),
        text,
        html,
    }
}

/// Every mail's HTML around its `body`: one card with the brand and `heading` (both already
/// escaped HTML).
fn frame(heading: &str, body: &str) -> String {
    format!(
        r#"<!doctype html><html><body style="margin:0;padding:24px;background:#f7f8fa;font:14px/1.5 system-ui,-apple-system,'Segoe UI',Roboto,Arial,sans-serif;color:#1b1f24">
<table role="presentation" width="100%" style="max-width:520px;margin:0 auto;background:#fff;border:1px solid #d9dde3;border-radius:6px"><tr><td style="padding:32px">
<p style="margin:0 0 16px;font-weight:700;color:#3b5bdb">Rollcall</p>
<h1 style="font-size:20px;margin:0 0 16px">{heading}</h1>
{body}
</td></tr></table></body></html>"#
    )
}

/// "Hello Ada", or "Hello" for someone whose name we do not know.
fn greeting(name: &str) -> String {
    match name.trim() {
        "" => "Hello".to_owned(),
        name => format!("Hello {name}"),
    }
}

pub fn html_escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            _ => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_invite_mail_names_the_org_the_inviter_the_link_and_the_expiry_and_escapes_html() {
        let mail = invite(&InviteMail {
            to: "mo@acme.test",
            recipient_name: "Mo",
            org_name: "Acme <Labs>",
            inviter: "Ada",
            link: "https://id.acme.test/invite/abc",
            expires_at: "2026-12-05T10:00:00Z".parse().unwrap(),
        });
        assert_eq!(mail.subject, "Ada invited you to join Acme <Labs>");
        assert!(
            mail.text.contains("https://id.acme.test/invite/abc") && mail.text.contains("5 December 2026 at 10:00 UTC")
        );
        assert!(mail.html.contains("Acme &lt;Labs&gt;") && !mail.html.contains("Acme <Labs>"));
    }

    #[test]
    fn an_access_link_mail_says_why_carries_the_link_and_escapes_html() {
        let mail = access_link(&AccessLinkMail {
            to: "mo@acme.test",
            recipient_name: "",
            org_name: "Acme <Labs>",
            reason: "Slack sign-in was turned off",
            link: "https://id.acme.test/access/abc",
            expires_at: "2026-12-13T10:00:00Z".parse().unwrap(),
        });
        assert_eq!(mail.subject, "Set up a new way to sign in to Acme <Labs>");
        assert!(mail.text.starts_with("Hello,\n") && mail.text.contains("Slack sign-in was turned off in Acme <Labs>"));
        assert!(mail.text.contains("https://id.acme.test/access/abc") && mail.text.contains("13 December 2026"));
        assert!(mail
            .html
            .contains("<h1 style=\"font-size:20px;margin:0 0 16px\">Set up a new way to sign in</h1>"));
        assert!(mail.html.contains("Acme &lt;Labs&gt;") && !mail.html.contains("Acme <Labs>"));
        assert_eq!(mail.html.matches("<!doctype html>").count(), 1);
    }
}

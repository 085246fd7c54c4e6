//! The users table's rows, written as one HTML string by the same function on the server and in
//! the browser.
//!
//! Why not a `view!` per row: a page is 50 rows of seven cells, and building that as a reactive
//! view tree (a closure per checkbox and per row, a component per status chip) was most of the
//! Users page's server time. The rows hold no state of their own: which are selected lives in
//! the island's signals, a checkbox change reaches it through one listener on the table body,
//! and [`mark_selected`] paints the selection back onto the rows.

use super::UserListRow;
use crate::format;
use uuid::Uuid;

/// The `<tr>`s for one page of users. `is_selected` bakes the current selection in, so rows
/// that replace others (the next page) show it from their first paint.
pub fn rows_html(users: &[UserListRow], is_selected: impl Fn(Uuid) -> bool) -> String {
    let mut out = String::with_capacity(users.len() * 480);
    for user in users {
        push_row(&mut out, user, is_selected(user.id));
    }
    out
}

fn push_row(out: &mut String, user: &UserListRow, selected: bool) {
    out.push_str(if selected {
        "<tr class=\"selected\"><td class=\"select\"><input type=\"checkbox\" aria-label=\"Select "
    } else {
        "<tr><td class=\"select\"><input type=\"checkbox\" aria-label=\"Select "
    });
    escape_into(out, &user.display_name);
    out.push_str(if selected {
        "\" checked></td><td><a href=\"/users/"
    } else {
        "\"></td><td><a href=\"/users/"
    });
    out.push_str(user.id.hyphenated().encode_lower(&mut Uuid::encode_buffer()));
    out.push_str("\">");
    escape_into(out, &user.display_name);
    out.push_str("</a></td><td>");
    escape_into(out, &user.email);
    out.push_str("</td><td>");
    out.push_str(user.role.label());
    out.push_str("</td><td><span class=\"");
    out.push_str(user.status.chip_class());
    out.push_str("\">");
    out.push_str(user.status.label());
    out.push_str("</span>");
    if let Some(invite) = &user.invite {
        out.push_str("<span class=\"problem\">sent ");
        out.push_str(&format::timestamp(&invite.sent_at));
        if invite.expired {
            out.push_str(", link expired");
        } else {
            out.push_str(", expires ");
            out.push_str(&format::timestamp(&invite.expires_at));
        }
        out.push_str("</span>");
    }
    out.push_str("</td><td>");
    escape_into(out, user.source.label());
    out.push_str("</td><td>");
    out.push_str(&format::optional_timestamp(&user.last_login_at, "Never"));
    out.push_str("</td></tr>");
}

/// Escapes text for an HTML text node or a double-quoted attribute value.
pub fn escape_into(out: &mut String, text: &str) {
    let mut start = 0;
    for (i, byte) in text.bytes().enumerate() {
        let entity = match byte {
            b'&' => "&amp;",
            b'<' => "&lt;",
            b'>' => "&gt;",
            b'"' => "&quot;",
            b'\'' => "&#39;",
            _ => continue,
        };
        out.push_str(&text[start..i]);
        out.push_str(entity);
        start = i + 1;
    }
    out.push_str(&text[start..]);
}

/// The user a checkbox change in the table body is about, and whether it is now checked.
#[cfg(feature = "hydrate")]
pub fn changed_row(ev: &leptos::ev::Event) -> Option<(Uuid, bool)> {
    use wasm_bindgen::JsCast;
    let input = ev.target()?.dyn_into::<web_sys::HtmlInputElement>().ok()?;
    let row = input.closest("tr").ok()??;
    Some((row_user(&row)?, input.checked()))
}

/// The user a row is about, read from its link to their profile (`/users/{id}`). The id is not
/// repeated in an attribute of the row: a second copy was a tenth of the page's bytes.
#[cfg(feature = "hydrate")]
fn row_user(row: &web_sys::Element) -> Option<Uuid> {
    let link = row.query_selector("a[href^='/users/']").ok()??;
    Uuid::parse_str(link.get_attribute("href")?.strip_prefix("/users/")?).ok()
}

/// The ids of the rows the server rendered into the users table, in order. The island's first
/// summary arrives without them (see `UsersPageSummary::ids`): each row links to its user.
#[cfg(feature = "hydrate")]
pub fn ids_on_screen() -> Vec<Uuid> {
    let Some(body) = leptos::prelude::document()
        .query_selector("table.data tbody")
        .ok()
        .flatten()
    else {
        return Vec::new();
    };
    let rows = body.children();
    (0..rows.length()).filter_map(|i| row_user(&rows.item(i)?)).collect()
}

/// Shows the selection on the rows already in the table: the row's highlight and its checkbox.
#[cfg(feature = "hydrate")]
pub fn mark_selected(body: &web_sys::Element, is_selected: impl Fn(Uuid) -> bool) {
    use wasm_bindgen::JsCast;
    let rows = body.children();
    for i in 0..rows.length() {
        let Some(row) = rows.item(i) else { continue };
        let Some(id) = row_user(&row) else {
            continue;
        };
        let selected = is_selected(id);
        let _ = if selected {
            row.set_attribute("class", "selected")
        } else {
            row.remove_attribute("class")
        };
        let checkbox = row
            .query_selector("input[type=checkbox]")
            .ok()
            .flatten()
            .and_then(|el| el.dyn_into::<web_sys::HtmlInputElement>().ok());
        if let Some(checkbox) = checkbox {
            checkbox.set_checked(selected);
        }
    }
}

/// These pin the rows' exact HTML, an implementation detail for performance: the rows are
/// written as HTML by hand rather than rendered as views (see the module doc), so these tests
/// are what keeps that HTML equal to what the views would write.
#[cfg(test)]
mod tests {
    use super::super::InviteStatus;
    use super::*;
    use chrono::{TimeZone, Utc};
    use people::{Role, Source, Status};

    fn user(name: &str, email: &str) -> UserListRow {
        UserListRow {
            id: Uuid::from_u128(0x1234),
            display_name: name.to_owned(),
            email: email.to_owned(),
            role: Role::Member,
            status: Status::Active,
            source: Source::Manual,
            last_login_at: None,
            invite: None,
        }
    }

    #[test]
    fn names_and_emails_cannot_inject_markup() {
        let html = rows_html(
            &[user(
                "<script>alert(\"x\")</script> & 'co'",
                "a\"><img src=x onerror=alert(1)>@b.test",
            )],
            |_| false,
        );
        assert!(!html.contains("<script"), "{html}");
        assert!(!html.contains("<img"), "{html}");
        assert!(html.contains("&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt; &amp; &#39;co&#39;"));
        assert!(html.contains("aria-label=\"Select &lt;script&gt;"));
    }

    #[test]
    fn a_row_links_to_its_user_whose_id_the_selection_reads_from_the_link() {
        let html = rows_html(&[user("Ada Lovelace", "ada@acme.test")], |_| false);
        let id = "00000000-0000-0000-0000-000000001234";
        assert!(html.starts_with("<tr><td class=\"select\">"), "{html}");
        assert!(html.contains(&format!("<a href=\"/users/{id}\">Ada Lovelace</a>")));
        assert!(html.contains("<input type=\"checkbox\" aria-label=\"Select Ada Lovelace\">"));
        assert!(html.contains("<td>ada@acme.test</td><td>Member</td>"));
        assert!(html.contains("<span class=\"chip chip-active\">Active</span>"));
        assert!(html.ends_with("<td>Added by hand</td><td>Never</td></tr>"));
    }

    #[test]
    fn selected_rows_are_highlighted_and_checked_from_their_first_paint() {
        let html = rows_html(&[user("Ada Lovelace", "ada@acme.test")], |_| true);
        assert!(html.starts_with("<tr class=\"selected\"><td"), "{html}");
        assert!(html.contains("aria-label=\"Select Ada Lovelace\" checked>"));
    }

    #[test]
    fn an_open_invitation_says_when_it_was_sent_and_whether_its_link_expired() {
        let sent_at = Utc.with_ymd_and_hms(2026, 11, 1, 9, 30, 0).unwrap();
        let expires_at = Utc.with_ymd_and_hms(2026, 11, 8, 9, 30, 0).unwrap();
        let mut invited = user("Lin", "lin@acme.test");
        invited.status = Status::Invited;
        invited.invite = Some(InviteStatus {
            sent_at,
            expires_at,
            expired: false,
        });
        let html = rows_html(std::slice::from_ref(&invited), |_| false);
        assert!(html.contains(
            "<span class=\"chip chip-invited\">Invited</span><span class=\"problem\">sent 2026-11-01 09:30 UTC, expires 2026-11-08 09:30 UTC</span>"
        ));
        invited.invite = Some(InviteStatus {
            sent_at,
            expires_at,
            expired: true,
        });
        let html = rows_html(&[invited], |_| false);
        assert!(html.contains("sent 2026-11-01 09:30 UTC, link expired</span>"));
    }

    #[test]
    fn last_sign_in_is_shown_in_utc() {
        let mut seen = user("Ada", "ada@acme.test");
        seen.last_login_at = Some(Utc.with_ymd_and_hms(2026, 11, 29, 14, 5, 59).unwrap());
        assert!(rows_html(&[seen], |_| false).ends_with("<td>2026-11-29 14:05 UTC</td></tr>"));
    }
}

//! Who to invite, as typed or uploaded: pasted lists and CSV files.

use super::InviteRequest;
use crate::error::{Error, Result};
use crate::users::Role;

/// Splits pasted text on commas, semicolons, spaces and new lines.
pub fn parse_list(text: &str) -> Vec<InviteRequest> {
    text.split(|c: char| c == ',' || c == ';' || c.is_whitespace())
        .map(|s| s.trim().trim_start_matches('<').trim_end_matches('>'))
        .filter(|s| !s.is_empty())
        .enumerate()
        .map(|(i, email)| InviteRequest {
            line: i + 1,
            email: email.to_owned(),
            given_name: String::new(),
            family_name: String::new(),
            role: None,
        })
        .collect()
}

/// Reads `email, given name, family name, role` rows. A first line naming an `email` column is
/// a header and may order the columns freely; without one, that order is assumed.
pub fn parse_csv(text: &str) -> Result<Vec<InviteRequest>> {
    let mut lines = text
        .lines()
        .enumerate()
        .filter(|(_, l)| !l.trim().is_empty())
        .peekable();
    let mut columns = [0usize, 1, 2, 3];
    if let Some((_, first)) = lines.peek() {
        let header: Vec<String> = split_csv_line(first)
            .iter()
            .map(|h| h.trim().to_lowercase().replace(['_', '-'], " "))
            .collect();
        if header
            .iter()
            .any(|h| h == "email" || h == "email address" || h == "e mail")
        {
            let find = |names: &[&str]| {
                header
                    .iter()
                    .position(|h| names.contains(&h.as_str()))
                    .unwrap_or(usize::MAX)
            };
            columns = [
                find(&["email", "email address", "e mail"]),
                find(&["given name", "first name", "firstname", "given", "first"]),
                find(&["family name", "last name", "lastname", "surname", "family", "last"]),
                find(&["role"]),
            ];
            lines.next();
        }
    }
    let mut requests = Vec::new();
    for (index, line) in lines {
        let fields = split_csv_line(line);
        let get = |i: usize| fields.get(i).map(|f| f.trim().to_owned()).unwrap_or_default();
        let role_text = get(columns[3]).to_lowercase();
        let role = match role_text.as_str() {
            "" => None,
            "admin" | "administrator" => Some(Role::Admin),
            "member" | "user" => Some(Role::Member),
            other => {
                return Err(Error::invalid(
                    "csv",
                    format!(
                        "Line {}: the role \u{201c}{other}\u{201d} is neither admin nor member.",
                        index + 1
                    ),
                ))
            }
        };
        requests.push(InviteRequest {
            line: index + 1,
            email: get(columns[0]),
            given_name: get(columns[1]),
            family_name: get(columns[2]),
            role,
        });
    }
    Ok(requests)
}

/// Splits one CSV line, honouring double quotes (with "" as an escaped quote).
fn split_csv_line(line: &str) -> Vec<String> {
    let mut fields = vec![String::new()];
    let mut quoted = false;
    let mut chars = line.chars().peekable();
    while let Some(c) = chars.next() {
        match (c, quoted) {
            ('"', true) if chars.peek() == Some(&'"') => {
                chars.next();
                fields.last_mut().expect("one field").push('"');
            }
            ('"', _) => quoted = !quoted,
            (',', false) | (';', false) => fields.push(String::new()),
            (c, _) => fields.last_mut().expect("one field").push(c),
        }
    }
    fields
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pasted_lists_split_on_commas_spaces_and_new_lines() {
        let emails: Vec<String> = parse_list("a@x.co, b@x.co\n<c@x.co>; d@x.co  e@x.co\n\n")
            .into_iter()
            .map(|r| r.email)
            .collect();
        assert_eq!(emails, ["a@x.co", "b@x.co", "c@x.co", "d@x.co", "e@x.co"]);
    }

    #[test]
    fn csv_with_a_header_maps_columns_by_name() {
        let rows = parse_csv("Last name,Email,First name,Role\n\"O'Neil, Jr\",jo@x.co,Jo,Admin\nSmith,sam@x.co,Sam,\n")
            .unwrap();
        assert_eq!(rows.len(), 2);
        assert_eq!(
            (
                rows[0].email.as_str(),
                rows[0].given_name.as_str(),
                rows[0].family_name.as_str()
            ),
            ("jo@x.co", "Jo", "O'Neil, Jr")
        );
        assert_eq!(rows[0].role, Some(Role::Admin));
        assert_eq!((rows[1].line, rows[1].role), (3, None));
    }

    #[test]
    fn csv_without_a_header_is_email_given_family_role() {
        let rows = parse_csv("jo@x.co,Jo,Jones,member").unwrap();
        assert_eq!(
            (rows[0].family_name.as_str(), rows[0].role),
            ("Jones", Some(Role::Member))
        );
    }

    #[test]
    fn an_unknown_role_in_csv_names_its_line() {
        let err = parse_csv("email,role\na@x.co,admin\nb@x.co,owner").unwrap_err();
        assert!(err.to_string().starts_with("Line 3"), "{err}");
    }
}

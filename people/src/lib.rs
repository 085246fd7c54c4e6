//! What a person in a workspace is, in the words both sides use: their [`Role`], their
//! [`Status`], where they came from ([`Source`]), how they are named ([`display_name`]), and
//! the orders a list of them is read in ([`UserSort`]).
//! Shared by the engine (`identity`, which stores them; `sqlx` feature) and the UI (`app`,
//! which shows them and sends them to the browser), so each is defined exactly once.

use serde::{Deserialize, Serialize};

/// What someone may do in their workspace.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(
    feature = "sqlx",
    derive(sqlx::Type),
    sqlx(type_name = "text", rename_all = "lowercase")
)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    Admin,
    Member,
}

impl Role {
    pub const ALL: [Role; 2] = [Role::Admin, Role::Member];

    /// As stored and as written in URLs, forms and CSV files.
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Admin => "admin",
            Role::Member => "member",
        }
    }

    pub fn label(self) -> &'static str {
        match self {
            Role::Admin => "Admin",
            Role::Member => "Member",
        }
    }

    pub fn parse(raw: &str) -> Option<Role> {
        Role::ALL.into_iter().find(|role| role.as_str() == raw)
    }
}

/// Where someone is in their life in the workspace.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(
    feature = "sqlx",
    derive(sqlx::Type),
    sqlx(type_name = "text", rename_all = "lowercase")
)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    /// Known to the workspace (added by hand or from a directory), not yet invited.
    Imported,
    Invited,
    Active,
    /// Cannot sign in; nothing is deleted, and reactivation restores them.
    Deactivated,
    /// Kept for provisioning history, never listed.
    Deleted,
}

impl Status {
    /// The statuses the Users tab lists and filters by, in the order its filter offers them.
    pub const LISTED: [Status; 4] = [Status::Active, Status::Invited, Status::Imported, Status::Deactivated];

    pub fn as_str(self) -> &'static str {
        match self {
            Status::Imported => "imported",
            Status::Invited => "invited",
            Status::Active => "active",
            Status::Deactivated => "deactivated",
            Status::Deleted => "deleted",
        }
    }

    pub fn label(self) -> &'static str {
        match self {
            Status::Imported => "Imported",
            Status::Invited => "Invited",
            Status::Active => "Active",
            Status::Deactivated => "Deactivated",
            Status::Deleted => "Deleted",
        }
    }

    /// The status chip's classes, shared by the chip component and the rows written as HTML.
    pub fn chip_class(self) -> &'static str {
        match self {
            Status::Imported => "chip chip-imported",
            Status::Invited => "chip chip-invited",
            Status::Active => "chip chip-active",
            Status::Deactivated => "chip chip-deactivated",
            Status::Deleted => "chip chip-deleted",
        }
    }

    pub fn parse(raw: &str) -> Option<Status> {
        Status::LISTED
            .into_iter()
            .chain([Status::Deleted])
            .find(|status| status.as_str() == raw)
    }
}

/// How someone came into the workspace.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(
    feature = "sqlx",
    derive(sqlx::Type),
    sqlx(type_name = "text", rename_all = "lowercase")
)]
#[serde(rename_all = "lowercase")]
pub enum Source {
    Manual,
    Invite,
    Google,
    Microsoft,
    Slack,
    Scim,
}

impl Source {
    pub fn label(self) -> &'static str {
        match self {
            Source::Manual => "Added by hand",
            Source::Invite => "Invitation",
            Source::Google => "Google Workspace",
            Source::Microsoft => "Microsoft Entra ID",
            Source::Slack => "Slack",
            Source::Scim => "SCIM",
        }
    }
}

/// The orders the list of people can be read in; the Users tab keeps it in its URL (`?sort=`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum UserSort {
    #[default]
    Name,
    Email,
    Role,
    Status,
    Created,
    LastLogin,
}

impl UserSort {
    pub const ALL: [UserSort; 6] = [
        UserSort::Name,
        UserSort::Email,
        UserSort::Role,
        UserSort::Status,
        UserSort::Created,
        UserSort::LastLogin,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            UserSort::Name => "name",
            UserSort::Email => "email",
            UserSort::Role => "role",
            UserSort::Status => "status",
            UserSort::Created => "created",
            UserSort::LastLogin => "last_login",
        }
    }

    /// Anything unknown reads as the default order.
    pub fn parse(raw: &str) -> UserSort {
        UserSort::ALL
            .into_iter()
            .find(|sort| sort.as_str() == raw)
            .unwrap_or_default()
    }
}

/// How a person is named everywhere (lists, mail, the audit log): their names, or their email
/// when they have none.
pub fn display_name(given: &str, family: &str, email: &str) -> String {
    let name = format!("{} {}", given.trim(), family.trim());
    let name = name.trim();
    if name.is_empty() {
        email.to_owned()
    } else {
        name.to_owned()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_person_without_names_is_displayed_by_email() {
        assert_eq!(display_name(" ", "", "a@b.co"), "a@b.co");
        assert_eq!(display_name("Ada", "Lovelace", "a@b.co"), "Ada Lovelace");
        assert_eq!(display_name("Mary Ann", "", "m@b.co"), "Mary Ann");
    }

    #[test]
    fn every_role_and_status_reads_back_from_its_stored_text() {
        for role in Role::ALL {
            assert_eq!(Role::parse(role.as_str()), Some(role));
        }
        for status in Status::LISTED.into_iter().chain([Status::Deleted]) {
            assert_eq!(Status::parse(status.as_str()), Some(status));
        }
        for sort in UserSort::ALL {
            assert_eq!(UserSort::parse(sort.as_str()), sort);
        }
        assert_eq!(UserSort::parse("shoe size"), UserSort::Name);
        assert_eq!(Role::parse("owner"), None);
        assert_eq!(Status::parse("Active"), None);
    }

    #[test]
    fn the_wire_form_is_the_stored_form() {
        assert_eq!(serde_json::to_string(&Status::Deactivated).unwrap(), "\"deactivated\"");
        assert_eq!(serde_json::to_string(&Source::Scim).unwrap(), "\"scim\"");
    }
}

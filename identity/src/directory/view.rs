//! The import view: what the last reads saw of a directory, each person beside the Rollcall
//! person they are (or would be) — already imported, ready to import, changed since import,
//! removed or suspended upstream, or skipped with the reason — searched, filtered and paged in
//! the database, with the counts of each state. A person is matched by upstream id, and for
//! one not imported yet by email (case-insensitive) to someone who has no account of that
//! directory yet (whom an import links instead of duplicating).

use crate::error::Result;
use crate::providers::Provider;
use crate::Db;
use chrono::{DateTime, Utc};
use sqlx::FromRow;
use uuid::Uuid;

/// A directory person's state beside Rollcall.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum EntryState {
    Imported,
    Ready,
    Changed,
    Removed,
    Skipped,
}

impl EntryState {
    pub const ALL: [EntryState; 5] = [
        EntryState::Ready,
        EntryState::Changed,
        EntryState::Imported,
        EntryState::Removed,
        EntryState::Skipped,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            EntryState::Imported => "imported",
            EntryState::Ready => "ready",
            EntryState::Changed => "changed",
            EntryState::Removed => "removed",
            EntryState::Skipped => "skipped",
        }
    }

    pub fn parse(s: &str) -> Option<EntryState> {
        EntryState::ALL.into_iter().find(|e| e.as_str() == s)
    }

    pub fn label(self) -> &'static str {
        match self {
            EntryState::Imported => "Already imported",
            EntryState::Ready => "Ready to import",
            EntryState::Changed => "Changed since import",
            EntryState::Removed => "Removed or suspended upstream",
            EntryState::Skipped => "Skipped",
        }
    }
}

/// Which directory people: by state, a search over name and email, and a group (Google org
/// unit, Graph or Slack user type).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Filter {
    pub state: Option<EntryState>,
    pub search: Option<String>,
    pub group: Option<String>,
}

/// The SQL of every directory person of one workspace and provider with their state. `$1` the
/// workspace, `$2` the provider; the provider's key in `external_ids` is a literal (from the
/// enum, never input) so the upstream-id index serves the join.
pub(crate) fn states_sql(provider: Provider) -> String {
    let key = provider.as_str();
    format!(
        "select e.*, u.id as user_id, u.email as user_email, u.given_name as user_given,
                u.family_name as user_family, u.status as user_status, m.id as match_id,
                case
                  when u.id is not null and (e.removed_at is not null or e.skip_reason in ('suspended', 'deleted', 'archived'))
                    then case when u.status = 'deactivated' then 'imported' else 'removed' end
                  when e.removed_at is not null then null
                  when e.skip_reason is not null then 'skipped'
                  when u.id is null and (m.external_ids ? '{key}' or m.role = 'admin' or m.status = 'deleted') then 'skipped'
                  when u.id is null then 'ready'
                  when (u.given_name, u.family_name, lower(u.email)) is distinct from (e.given_name, e.family_name, lower(e.email))
                    then 'changed'
                  else 'imported'
                end as state
         from directory_entries e
         left join users u on u.org_id = e.org_id and u.external_ids ->> '{key}' = e.upstream_id
         left join users m on u.id is null and m.org_id = e.org_id and lower(m.email) = lower(e.email)
         where e.org_id = $1 and e.provider = $2"
    )
}

/// The filter's clauses over `states_sql`'s rows (aliased `s`), from `$first` on, and their values.
pub(crate) fn filter_sql(filter: &Filter, first: usize) -> (String, Vec<String>) {
    let mut clauses = vec!["s.state is not null".to_owned()];
    let mut binds = Vec::new();
    if let Some(state) = filter.state {
        binds.push(state.as_str().to_owned());
        clauses.push(format!("s.state = ${}", first + binds.len() - 1));
    }
    if let Some(search) = filter.search.as_deref().map(str::trim).filter(|s| !s.is_empty()) {
        let escaped = search
            .to_lowercase()
            .replace('\\', "\\\\")
            .replace('%', "\\%")
            .replace('_', "\\_");
        binds.push(format!("%{escaped}%"));
        clauses.push(format!(
            "lower(s.given_name || ' ' || s.family_name || ' ' || coalesce(s.email, '')) like ${}",
            first + binds.len() - 1
        ));
    }
    if let Some(group) = filter.group.as_deref().filter(|g| !g.is_empty()) {
        binds.push(group.to_owned());
        clauses.push(format!(
            "coalesce(s.org_unit, s.user_type) = ${}",
            first + binds.len() - 1
        ));
    }
    (clauses.join(" and "), binds)
}

/// One directory person in the view.
#[derive(Debug, Clone, FromRow)]
pub struct Entry {
    pub upstream_id: String,
    pub email: Option<String>,
    pub given_name: String,
    pub family_name: String,
    pub skip_reason: Option<String>,
    pub org_unit: Option<String>,
    pub user_type: Option<String>,
    pub removed_at: Option<DateTime<Utc>>,
    pub state: String,
    pub user_id: Option<Uuid>,
    pub user_email: Option<String>,
    pub user_given: Option<String>,
    pub user_family: Option<String>,
    pub user_status: Option<String>,
    /// Not imported yet, but someone in Rollcall has this email: an import links them.
    pub match_id: Option<Uuid>,
}

impl Entry {
    /// What differs between Rollcall and the directory, as "field: Rollcall → directory".
    pub fn differences(&self) -> Vec<String> {
        let mut out = Vec::new();
        if self.user_id.is_none() {
            return out;
        }
        let rollcall_name = format!(
            "{} {}",
            self.user_given.as_deref().unwrap_or(""),
            self.user_family.as_deref().unwrap_or("")
        );
        let upstream_name = format!("{} {}", self.given_name, self.family_name);
        if rollcall_name.trim() != upstream_name.trim() {
            out.push(format!("name: {} → {}", rollcall_name.trim(), upstream_name.trim()));
        }
        let (mine, theirs) = (
            self.user_email.as_deref().unwrap_or(""),
            self.email.as_deref().unwrap_or(""),
        );
        if !mine.eq_ignore_ascii_case(theirs) {
            out.push(format!("email: {mine} → {theirs}"));
        }
        out
    }

    /// Why this person is skipped, in words.
    pub fn skip_label(&self) -> Option<String> {
        if self.state != "skipped" {
            return None;
        }
        Some(match self.skip_reason.as_deref() {
            Some(reason) => super::SkipReason::parse(reason)
                .map(|r| r.label().to_owned())
                .unwrap_or_else(|| reason.to_owned()),
            None => {
                "email belongs to a workspace admin or another directory person: link from their profile".to_owned()
            }
        })
    }
}

/// A page of the view.
#[derive(Debug, Clone)]
pub struct ViewPage {
    pub entries: Vec<Entry>,
    /// How many match the filter, across pages.
    pub matching: i64,
    /// How many there are in each state (search and group applied, state not).
    pub counts: Vec<(EntryState, i64)>,
    /// Groups to filter by (org units, user types), with how many each.
    pub groups: Vec<(String, i64)>,
}

/// Largest page of the view.
pub const MAX_PAGE: i64 = 200;

/// A page of the workspace's directory people for `provider`, `offset` into those matching.
pub async fn page(
    db: &Db,
    org_id: Uuid,
    provider: Provider,
    filter: &Filter,
    offset: i64,
    limit: i64,
) -> Result<ViewPage> {
    let states = states_sql(provider);
    let (clauses, binds) = filter_sql(filter, 3);
    let sql = format!(
        "with s as materialized ({states})
         select s.upstream_id, s.email, s.given_name, s.family_name, s.skip_reason, s.org_unit, s.user_type,
                s.removed_at, s.state, s.user_id, s.user_email, s.user_given, s.user_family, s.user_status, s.match_id
         from s where {clauses}
         order by lower(s.family_name), lower(s.given_name), s.upstream_id
         limit {limit} offset {offset}",
        limit = limit.clamp(1, MAX_PAGE),
        offset = offset.max(0),
    );
    let mut query = sqlx::query_as::<_, Entry>(&sql).bind(org_id).bind(provider.as_str());
    for b in &binds {
        query = query.bind(b);
    }
    let entries = query.fetch_all(db).await?;

    // Counts by state under the same search and group (not state), and the groups.
    let unstated = Filter {
        state: None,
        ..filter.clone()
    };
    let (clauses, binds) = filter_sql(&unstated, 3);
    let sql = format!(
        "with s as materialized ({states})
         select s.state, count(*) from s where {clauses} group by s.state"
    );
    let mut query = sqlx::query_as::<_, (String, i64)>(&sql)
        .bind(org_id)
        .bind(provider.as_str());
    for b in &binds {
        query = query.bind(b);
    }
    let by_state = query.fetch_all(db).await?;
    let counts: Vec<(EntryState, i64)> = EntryState::ALL
        .into_iter()
        .map(|state| {
            let n = by_state
                .iter()
                .find(|(s, _)| s == state.as_str())
                .map_or(0, |(_, n)| *n);
            (state, n)
        })
        .collect();
    let matching = match filter.state {
        Some(state) => counts.iter().find(|(s, _)| *s == state).map_or(0, |(_, n)| *n),
        None => counts.iter().map(|(_, n)| n).sum(),
    };
    let groups: Vec<(String, i64)> = sqlx::query_as(
        "select coalesce(org_unit, user_type) as g, count(*) from directory_entries
         where org_id = $1 and provider = $2 and removed_at is null and coalesce(org_unit, user_type) is not null
         group by g order by g limit 100",
    )
    .bind(org_id)
    .bind(provider.as_str())
    .fetch_all(db)
    .await?;
    Ok(ViewPage {
        entries,
        matching,
        counts,
        groups,
    })
}

/// A fetch, for the progress bar and the card's last run.
#[derive(Debug, Clone, FromRow)]
pub struct FetchStatus {
    pub id: i64,
    pub pages: i32,
    pub people: i32,
    pub removed: i32,
    pub created_at: DateTime<Utc>,
    pub started_at: Option<DateTime<Utc>>,
    pub finished_at: Option<DateTime<Utc>>,
    pub failed_at: Option<DateTime<Utc>>,
    pub last_error: Option<String>,
    pub requested_by: Option<String>,
    /// The directory's size when known: the previous full read's count.
    pub expected: Option<i32>,
}

impl FetchStatus {
    pub fn running(&self) -> bool {
        self.finished_at.is_none() && self.failed_at.is_none()
    }
}

/// The latest fetch of the workspace's directory, if any.
pub async fn latest_fetch(db: &Db, org_id: Uuid, provider: Provider) -> Result<Option<FetchStatus>> {
    Ok(sqlx::query_as(
        "select f.id, f.pages, f.people, f.removed, f.created_at, f.started_at, f.finished_at, f.failed_at,
                f.last_error, f.requested_by,
                (select count(*)::int from directory_entries e
                  where e.org_id = f.org_id and e.provider = f.provider and e.removed_at is null) as expected
         from directory_fetches f where f.org_id = $1 and f.provider = $2
         order by f.id desc limit 1",
    )
    .bind(org_id)
    .bind(provider.as_str())
    .fetch_optional(db)
    .await?)
}

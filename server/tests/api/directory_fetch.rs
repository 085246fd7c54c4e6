//! Reading directories page by page (identity::directory) against the fake Google Directory,
//! Microsoft Graph and Slack APIs (`fakes::directory`): to the last page with nobody twice,
//! each skip reason, rate limits ridden out, and failures that need a person told apart.

use fakes::directory::{generate, DirectoryFlavor, FakeDirectory, Fault, PersonKind};
use identity::directory::{
    fetch_page, graph_app_token, with_retries, Backoff, DirectorySource, FetchError, SkipReason,
};
use std::collections::{HashMap, HashSet};
use std::time::Duration;

fn source(fake: &FakeDirectory, delta: bool) -> DirectorySource {
    match fake.flavor() {
        DirectoryFlavor::Google => DirectorySource::Google {
            base: fake.base_url(),
            customer: "my_customer".into(),
        },
        DirectoryFlavor::Microsoft => DirectorySource::Graph {
            base: fake.base_url(),
            delta,
        },
        DirectoryFlavor::Slack => DirectorySource::Slack { base: fake.base_url() },
    }
}

fn quick() -> Backoff {
    Backoff {
        first: Duration::from_millis(5),
        max: Duration::from_millis(200),
        max_attempts: 10,
    }
}

/// Every page from the first (or `from`), retrying what passes; returns the people by id, the
/// removed ids, the delta link and how many waits there were.
async fn read_all(
    fake: &FakeDirectory,
    delta: bool,
    from: Option<String>,
) -> Result<
    (
        HashMap<String, identity::directory::DirectoryUser>,
        Vec<(String, bool)>,
        Option<String>,
        usize,
    ),
    FetchError,
> {
    let http = reqwest::Client::new();
    let source = source(fake, delta);
    let mut cursor = from;
    let mut people = HashMap::new();
    let mut removed = Vec::new();
    let mut waits = 0;
    loop {
        let page = with_retries(
            quick(),
            |_, _| waits += 1,
            || fetch_page(&http, &source, fake.token(), cursor.as_deref()),
        )
        .await?;
        for user in page.users {
            let id = user.upstream_id.clone();
            assert!(people.insert(id.clone(), user).is_none(), "{id} listed twice");
        }
        removed.extend(page.removed);
        match page.next {
            Some(next) => cursor = Some(next),
            None => return Ok((people, removed, page.delta_link, waits)),
        }
    }
}

#[tokio::test]
async fn each_directory_is_read_to_its_last_page_with_nobody_twice_and_each_skip_reason() {
    for flavor in [
        DirectoryFlavor::Google,
        DirectoryFlavor::Microsoft,
        DirectoryFlavor::Slack,
    ] {
        let people = generate(flavor, 2_345, 7);
        let fake = FakeDirectory::start(flavor, people.clone()).await;
        let (read, _, _, _) = read_all(&fake, false, None).await.unwrap();
        // Google and Graph list the deleted only on request (or not at all); Slack lists them.
        let listed: HashSet<&str> = people
            .iter()
            .filter(|p| flavor == DirectoryFlavor::Slack || p.kind != PersonKind::Deleted)
            .map(|p| p.id.as_str())
            .collect();
        let got: HashSet<&str> = read.keys().map(String::as_str).collect();
        assert_eq!(got, listed, "{flavor:?}");
        let reasons: HashSet<SkipReason> = read.values().filter_map(|u| u.skip).collect();
        let expected: &[SkipReason] = match flavor {
            DirectoryFlavor::Google => &[SkipReason::Suspended, SkipReason::Archived],
            DirectoryFlavor::Microsoft => &[SkipReason::Suspended, SkipReason::Guest],
            DirectoryFlavor::Slack => &[
                SkipReason::Slackbot,
                SkipReason::Deleted,
                SkipReason::Bot,
                SkipReason::Guest,
            ],
        };
        for reason in expected {
            assert!(reasons.contains(reason), "{flavor:?}: no {reason:?} in {reasons:?}");
        }
        let importable = read.values().filter(|u| u.skip.is_none()).count();
        assert!(importable > 2_000, "{flavor:?}: {importable}");
        assert!(read.values().filter(|u| u.skip.is_none()).all(|u| u.email.is_some()));
    }
}

#[tokio::test]
async fn rate_limits_and_passing_failures_are_ridden_out_with_fractional_retry_after() {
    for flavor in [
        DirectoryFlavor::Google,
        DirectoryFlavor::Microsoft,
        DirectoryFlavor::Slack,
    ] {
        let fake = FakeDirectory::start(flavor, generate(flavor, 1_200, 3)).await;
        fake.inject(Fault::RateLimited {
            retry_after: "0.05".into(),
            times: 3,
        });
        fake.inject(Fault::ServerError { status: 502, times: 1 });
        fake.inject(Fault::ServerError { status: 503, times: 1 });
        if flavor == DirectoryFlavor::Google {
            fake.inject(Fault::GoogleRateLimit403 { times: 2 });
        }
        let (read, _, _, waits) = read_all(&fake, false, None).await.unwrap();
        assert!(read.len() > 1_000, "{flavor:?}");
        assert!(waits >= 5, "{flavor:?}: {waits} waits");
    }
}

#[tokio::test]
async fn a_revoked_grant_is_reported_at_once_and_never_retried() {
    for flavor in [
        DirectoryFlavor::Google,
        DirectoryFlavor::Microsoft,
        DirectoryFlavor::Slack,
    ] {
        let fake = FakeDirectory::start(flavor, generate(flavor, 50, 1)).await;
        fake.inject(Fault::RevokedToken);
        let before = fake.requests();
        let err = read_all(&fake, false, None).await.unwrap_err();
        assert_eq!(err, FetchError::Revoked, "{flavor:?}");
        assert_eq!(fake.requests() - before, 1, "{flavor:?}: retried a revoked token");
    }
}

#[tokio::test]
async fn empty_pages_mid_way_and_a_missing_users_key_do_not_end_the_read_early() {
    let people = generate(DirectoryFlavor::Google, 1_600, 5);
    let fake = FakeDirectory::start(DirectoryFlavor::Google, people).await;
    let (all, _, _, _) = read_all(&fake, false, None).await.unwrap();
    fake.inject(Fault::EmptyPageMidway);
    fake.inject(Fault::MissingUsersKey);
    let (again, _, _, _) = read_all(&fake, false, None).await.unwrap();
    assert_eq!(again.len(), all.len());
}

#[tokio::test]
async fn graph_delta_reads_everyone_then_only_changes_with_removed_people() {
    let mut people = generate(DirectoryFlavor::Microsoft, 700, 9);
    let fake = FakeDirectory::start(DirectoryFlavor::Microsoft, people.clone()).await;
    // An app-only token by client credentials, as the import will get one.
    let http = reqwest::Client::new();
    let token = graph_app_token(
        &http,
        &fake.origin(),
        &fake.org(),
        fake.client_id(),
        fake.client_secret(),
    )
    .await
    .unwrap();
    assert_eq!(token, fake.token());
    let (first, _, delta, _) = read_all(&fake, true, None).await.unwrap();
    let listed = people.iter().filter(|p| p.kind != PersonKind::Deleted).count();
    assert_eq!(first.len(), listed);
    let delta = delta.expect("a delta link on the last page");
    let gone_at = people.iter().position(|p| p.kind == PersonKind::Member).unwrap();
    let gone = people.remove(gone_at).id;
    let renamed = people.iter().rposition(|p| p.kind == PersonKind::Member).unwrap();
    people[renamed].given_name = "Renamed".into();
    fake.set_people(people.clone());
    let (changes, removed, next_delta, _) = read_all(&fake, true, Some(delta)).await.unwrap();
    assert!(removed.contains(&(gone.clone(), true)), "{removed:?}");
    assert_eq!(
        changes.get(&people[renamed].id).map(|u| u.given_name.as_str()),
        Some("Renamed")
    );
    assert!(changes.len() < 5, "a delta read returned {} people", changes.len());
    assert!(next_delta.is_some());
    // An expired delta link asks for a full read again.
    fake.inject(Fault::DeltaTokenExpired);
    let err = read_all(&fake, true, next_delta).await.unwrap_err();
    assert_eq!(err, FetchError::DeltaExpired);
    // A next link to another host is never followed.
    let err = fetch_page(
        &http,
        &source(&fake, true),
        fake.token(),
        Some("https://evil.example/v1.0/users"),
    )
    .await
    .unwrap_err();
    assert!(matches!(err, FetchError::Refused(_)), "{err:?}");
}

#[tokio::test]
async fn without_the_email_scope_slack_people_come_without_email_and_are_skipped_as_such() {
    let fake = FakeDirectory::start(DirectoryFlavor::Slack, generate(DirectoryFlavor::Slack, 300, 2)).await;
    fake.inject(Fault::MissingScope);
    let (read, _, _, _) = read_all(&fake, false, None).await.unwrap();
    assert!(read.values().all(|u| u.email.is_none()));
    assert!(read.values().any(|u| u.skip == Some(SkipReason::NoEmail)));
}

mod durable {
    use super::*;
    use crate::helpers::*;
    use identity::directory::fetches::{self, Outcome, QUEUE};
    use identity::providers::Provider;

    async fn entries(app: &TestApp) -> (i64, i64) {
        sqlx::query_as("select count(*), count(*) filter (where removed_at is not null) from directory_entries")
            .fetch_one(&app.db)
            .await
            .unwrap()
    }

    #[tokio::test]
    async fn a_fetch_stopped_mid_way_resumes_from_its_last_page_on_another_worker_with_nobody_twice() {
        let app = spawn_app().await;
        app.first_admin().await;
        let org = app.org_id("acme").await;
        let people = generate(DirectoryFlavor::Google, 1_300, 11);
        let listed = people.iter().filter(|p| p.kind != PersonKind::Deleted).count() as i64;
        let fake = FakeDirectory::start(DirectoryFlavor::Google, people.clone()).await;
        let source = source(&fake, false);
        let http = reqwest::Client::new();

        let id = fetches::enqueue(&app.db, org, Provider::Google, false).await.unwrap();
        // Asking again while it is under way gives the same fetch.
        assert_eq!(
            fetches::enqueue(&app.db, org, Provider::Google, false).await.unwrap(),
            id
        );
        let first = identity::jobs::claim(&app.db, &QUEUE, 10).await.unwrap();
        assert_eq!(first.len(), 1);
        // One page written, then the worker "dies".
        let outcome = fetches::run(&app.db, &http, &first[0], &source, fake.token(), quick(), Some(1))
            .await
            .unwrap();
        assert_eq!(outcome, Outcome::Paused);
        assert_eq!(entries(&app).await.0, 500);
        // While its lease lasts, nobody else gets the fetch.
        assert!(identity::jobs::claim(&app.db, &QUEUE, 10).await.unwrap().is_empty());
        // Its lease runs out; another worker takes over and finishes from the saved cursor.
        sqlx::query("update directory_fetches set locked_until = now() - interval '1 second'")
            .execute(&app.db)
            .await
            .unwrap();
        let requests_before = fake.requests();
        let second = identity::jobs::claim(&app.db, &QUEUE, 10).await.unwrap();
        assert_eq!(second.len(), 1);
        let outcome = fetches::run(&app.db, &http, &second[0], &source, fake.token(), quick(), None)
            .await
            .unwrap();
        assert_eq!(
            outcome,
            Outcome::Finished {
                pages: 3,
                people: listed as i32
            }
        );
        assert_eq!(fake.requests() - requests_before, 2, "the first page was read again");
        assert_eq!(entries(&app).await, (listed, 0));
        // The first worker wakes up: its lease is gone, it writes nothing.
        let outcome = fetches::run(&app.db, &http, &first[0], &source, fake.token(), quick(), None)
            .await
            .unwrap();
        assert_eq!(outcome, Outcome::LostLease);
        assert_eq!(entries(&app).await, (listed, 0));

        // A later full read: whoever the directory no longer lists is marked removed upstream.
        let mut fewer = people.clone();
        let gone: Vec<_> = fewer
            .iter()
            .filter(|p| p.kind == PersonKind::Member)
            .take(3)
            .map(|p| p.id.clone())
            .collect();
        fewer.retain(|p| !gone.contains(&p.id));
        fake.set_people(fewer);
        fetches::enqueue(&app.db, org, Provider::Google, false).await.unwrap();
        let third = identity::jobs::claim(&app.db, &QUEUE, 10).await.unwrap();
        fetches::run(&app.db, &http, &third[0], &source, fake.token(), quick(), None)
            .await
            .unwrap();
        assert_eq!(entries(&app).await, (listed, 3));
        let removed: Vec<String> =
            sqlx::query_scalar("select upstream_id from directory_entries where removed_at is not null order by 1")
                .fetch_all(&app.db)
                .await
                .unwrap();
        let mut gone = gone;
        gone.sort();
        assert_eq!(removed, gone);
    }

    #[tokio::test]
    async fn a_graph_delta_fetch_starts_from_the_last_ones_link_and_marks_only_reported_removals() {
        let app = spawn_app().await;
        app.first_admin().await;
        let org = app.org_id("acme").await;
        let mut people = generate(DirectoryFlavor::Microsoft, 450, 4);
        let listed = people.iter().filter(|p| p.kind != PersonKind::Deleted).count() as i64;
        let fake = FakeDirectory::start(DirectoryFlavor::Microsoft, people.clone()).await;
        let http = reqwest::Client::new();
        let source = source(&fake, true);
        fetches::enqueue(&app.db, org, Provider::Microsoft, true).await.unwrap();
        let claim = identity::jobs::claim(&app.db, &QUEUE, 1).await.unwrap();
        fetches::run(&app.db, &http, &claim[0], &source, fake.token(), quick(), None)
            .await
            .unwrap();
        assert_eq!(entries(&app).await, (listed, 0));

        let gone_at = people.iter().position(|p| p.kind == PersonKind::Member).unwrap();
        let gone = people.remove(gone_at).id;
        fake.set_people(people);
        let id = fetches::enqueue(&app.db, org, Provider::Microsoft, true).await.unwrap();
        let cursor: Option<String> = sqlx::query_scalar("select cursor from directory_fetches where id = $1")
            .bind(id)
            .fetch_one(&app.db)
            .await
            .unwrap();
        assert!(
            cursor.is_some_and(|c| c.contains("delta")),
            "the delta read starts from the kept link"
        );
        let claim = identity::jobs::claim(&app.db, &QUEUE, 1).await.unwrap();
        let outcome = fetches::run(&app.db, &http, &claim[0], &source, fake.token(), quick(), None)
            .await
            .unwrap();
        assert!(
            matches!(outcome, Outcome::Finished { people, .. } if people < 5),
            "{outcome:?}"
        );
        // Only the person the delta reported is removed; a delta read never sweeps the rest.
        let removed: Vec<String> =
            sqlx::query_scalar("select upstream_id from directory_entries where removed_at is not null")
                .fetch_all(&app.db)
                .await
                .unwrap();
        assert_eq!(removed, [gone]);
    }
}

//! Attacks on password sign-in: guessing in parallel to slip past the throttle, resetting a
//! lockout from another workspace, oversized input that dodges counting, and sending a person
//! elsewhere after they sign in.

use crate::helpers::*;
use identity::auth::{sign_in, Attempt, ThrottlePolicy};
use identity::Error;

fn policy() -> ThrottlePolicy {
    ThrottlePolicy {
        window_secs: 900,
        max_failures_per_account: 5,
        max_failures_per_ip: 50,
    }
}

fn attempt<'a>(email: &'a str, password: &str, workspace: Option<&'a str>, ip: &'a str) -> Attempt<'a> {
    Attempt {
        email,
        password: password.to_owned().into(),
        workspace,
        ip: Some(ip),
    }
}

#[tokio::test]
async fn twenty_wrong_passwords_sent_at_once_get_no_more_tries_than_the_limit() {
    let app = spawn_app().await;
    app.first_admin().await;
    let db = app.db.clone();
    let guesses: Vec<_> = (0..20)
        .map(|n| {
            let db = db.clone();
            tokio::spawn(async move {
                sign_in(
                    &db,
                    &policy(),
                    attempt("ada@acme.test", &format!("guess number {n}"), None, "198.51.100.1"),
                )
                .await
            })
        })
        .collect();
    let mut checked = 0;
    let mut refused = 0;
    for guess in guesses {
        match guess.await.unwrap() {
            Err(Error::InvalidCredentials) => checked += 1,
            Err(Error::RateLimited { .. }) | Err(Error::Busy) => refused += 1,
            other => panic!("unexpected: {:?}", other.err()),
        }
    }
    // Attempts are counted before any password is checked, one statement each: exactly the
    // limit's worth are checked, however they interleave.
    assert_eq!(checked, 5, "{checked} passwords were checked against a limit of 5");
    assert_eq!(checked + refused, 20);
}

#[tokio::test]
async fn signing_in_to_another_workspace_does_not_reset_this_ones_lockout() {
    let app = spawn_app_with(|s| s.open_signup = true).await;
    app.first_admin().await;
    // The same email is an admin of a second workspace, with the same password.
    app.another_workspace("Beta", "ada@acme.test").await;
    let beta = sqlx::query_scalar::<_, String>("select slug from orgs where name = 'Beta'")
        .fetch_one(&app.db)
        .await
        .unwrap();
    for n in 0..4 {
        let guess = sign_in(
            &app.db,
            &policy(),
            attempt("ada@acme.test", &format!("wrong {n}"), Some("acme"), "198.51.100.2"),
        )
        .await;
        assert!(matches!(guess, Err(Error::InvalidCredentials)));
    }
    // Ada signs in to Beta: her own attempt is forgiven, the four guesses are not.
    let real = sign_in(
        &app.db,
        &policy(),
        attempt("ada@acme.test", PASSWORD, Some(&beta), "203.0.113.9"),
    )
    .await;
    assert!(real.is_ok(), "{:?}", real.err());
    let fifth = sign_in(
        &app.db,
        &policy(),
        attempt("ada@acme.test", "wrong 5", Some("acme"), "198.51.100.2"),
    )
    .await;
    assert!(matches!(fifth, Err(Error::InvalidCredentials)));
    let sixth = sign_in(
        &app.db,
        &policy(),
        attempt("ada@acme.test", "wrong 6", Some("acme"), "198.51.100.2"),
    )
    .await;
    assert!(
        matches!(sixth, Err(Error::RateLimited { .. })),
        "a sign-in elsewhere gave the guesser more tries: {:?}",
        sixth.err()
    );
}

#[tokio::test]
async fn an_oversized_email_is_a_counted_failure_not_an_error_that_skips_counting() {
    let app = spawn_app().await;
    app.first_admin().await;
    let huge = format!("{}@acme.test", "a".repeat(100_000));
    let strict = ThrottlePolicy {
        max_failures_per_ip: 3,
        ..policy()
    };
    for _ in 0..3 {
        let res = sign_in(
            &app.db,
            &strict,
            attempt(&huge, "anything at all", None, "198.51.100.3"),
        )
        .await;
        assert!(matches!(res, Err(Error::InvalidCredentials)), "{:?}", res.err());
    }
    let res = sign_in(
        &app.db,
        &strict,
        attempt(&huge, "anything at all", Some(&"w".repeat(5_000)), "198.51.100.3"),
    )
    .await;
    assert!(matches!(res, Err(Error::RateLimited { .. })), "{:?}", res.err());
    let longest_key: i32 = sqlx::query_scalar("select coalesce(max(length(key)), 0) from login_throttle")
        .fetch_one(&app.db)
        .await
        .unwrap();
    assert!(longest_key < 300, "an oversized email reached the throttle's keys");
}

#[tokio::test]
async fn after_signing_in_a_crafted_next_never_leads_off_the_site() {
    let app = spawn_app().await;
    app.first_admin().await;
    for next in [
        "/\t/evil.example",
        "/\n/evil.example",
        "//evil.example",
        "/\\evil.example",
        "/%2f/evil.example",
        "https://evil.example",
    ] {
        let res = app
            .browser()
            .form(
                "/auth/login",
                &[("email", "ada@acme.test"), ("password", PASSWORD), ("next", next)],
            )
            .await;
        assert_eq!(res.status(), 303, "{next:?}");
        assert_eq!(location(&res), "/", "{next:?}");
    }
    let res = app
        .browser()
        .form(
            "/auth/login",
            &[
                ("email", "ada@acme.test"),
                ("password", PASSWORD),
                ("next", "/activity"),
            ],
        )
        .await;
    assert_eq!(location(&res), "/activity");
}

#[tokio::test]
async fn ended_throttle_and_rate_limit_windows_are_purged_and_current_ones_kept() {
    // Left alone, every address and account ever tried would keep a row for good. On a database
    // of its own with no server, whose housekeeping would purge them first.
    let db = sqlx::PgPool::connect(&fresh_database().await).await.unwrap();
    for (table, key, age) in [
        ("login_throttle", "old-account", "16 minutes"),
        ("login_throttle", "current-account", "1 minute"),
        ("rate_windows", "old-workspace", "25 hours"),
        ("rate_windows", "current-workspace", "23 hours"),
    ] {
        let column = if table == "login_throttle" { "failures" } else { "used" };
        sqlx::query(&format!(
            "insert into {table} (key, window_started_at, {column}) values ($1, now() - $2::interval, 3)"
        ))
        .bind(key)
        .bind(age)
        .execute(&db)
        .await
        .unwrap();
    }
    assert_eq!(
        identity::auth::throttle::purge_expired(&db, &policy()).await.unwrap(),
        1
    );
    assert_eq!(identity::db::rate_window::purge_ended(&db).await.unwrap(), 1);
    let left: Vec<String> =
        sqlx::query_scalar("select key from login_throttle union all select key from rate_windows order by 1")
            .fetch_all(&db)
            .await
            .unwrap();
    assert_eq!(left, ["current-account", "current-workspace"]);
}

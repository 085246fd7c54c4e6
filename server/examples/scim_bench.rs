//! Replays Entra ID's provisioning mix against a SCIM server (see `bench/scim`), for Rollcall and
//! the reference server side by side: each of the clients runs one phase at a time for the
//! given seconds after a warm-up, and every request's round trip is timed.
//!
//! ```text
//! scim_bench <name> <SCIM base URL> <token> <clients> <seconds> <phases>
//! ```
//!
//! Phases (comma-separated): `create` (POST /Users, new people), `lookup` (GET /Users?filter=
//! userName eq "…" for people created earlier, or `seeded:N` people `seed-<n>@bench.test`),
//! `mix` (Entra's cycle per person: lookup that finds nobody, create, PATCH attributes, PATCH
//! active false). Prints `name value unit` lines: `<name>_<phase>_per_second`,
//! `<name>_<phase>_p50`, `_p99`, and `<name>_<phase>_5xx` (with other failures counted apart).

use serde_json::json;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

struct Shared {
    base: String,
    token: String,
    next: AtomicUsize,
    created: Mutex<Vec<String>>,
    server_errors: AtomicUsize,
    other_errors: AtomicUsize,
    run: String,
}

#[tokio::main]
async fn main() {
    let args: Vec<String> = std::env::args().collect();
    let name = args.get(1).expect("name").clone();
    let base = args.get(2).expect("SCIM base URL").trim_end_matches('/').to_owned();
    let token = args.get(3).expect("token").clone();
    let clients: usize = args.get(4).map_or(32, |a| a.parse().unwrap());
    let seconds: u64 = args.get(5).map_or(10, |a| a.parse().unwrap());
    let phases = args.get(6).cloned().unwrap_or_else(|| "create,lookup,mix".into());
    let shared = Arc::new(Shared {
        base,
        token,
        next: AtomicUsize::new(0),
        created: Mutex::new(Vec::new()),
        server_errors: AtomicUsize::new(0),
        other_errors: AtomicUsize::new(0),
        run: format!(
            "{:x}",
            std::process::id() as u64 * 7919 + Instant::now().elapsed().as_nanos() as u64
        ),
    });
    for phase in phases.split(',') {
        let (phase, seeded) = match phase.split_once(':') {
            Some(("seeded", n)) => ("lookup", n.parse::<usize>().ok()),
            _ => (phase, None),
        };
        let label = if seeded.is_some() { "lookup_seeded" } else { phase };
        shared.server_errors.store(0, Ordering::Relaxed);
        shared.other_errors.store(0, Ordering::Relaxed);
        let (per_second, samples, by_kind) = run_phase(&shared, phase, seeded, clients, seconds).await;
        let pct = |p: f64| {
            if samples.is_empty() {
                return f64::NAN;
            }
            samples[((samples.len() as f64 * p).ceil() as usize).clamp(1, samples.len()) - 1]
        };
        println!("{name}_{label}_per_second {per_second:.0} requests/s");
        println!("{name}_{label}_p50 {:.2} ms", pct(0.50));
        println!("{name}_{label}_p99 {:.2} ms", pct(0.99));
        println!(
            "{name}_{label}_5xx {} responses",
            shared.server_errors.load(Ordering::Relaxed)
        );
        println!(
            "{name}_{label}_other_failures {} responses",
            shared.other_errors.load(Ordering::Relaxed)
        );
        if phase == "mix" {
            // Which of the cycle's requests make the tail.
            for (kind, mut ms) in MIX_KINDS.iter().zip(by_kind) {
                ms.sort_by(|a, b| a.partial_cmp(b).unwrap());
                if let Some(p99) = ms.get(((ms.len() as f64 * 0.99).ceil() as usize).clamp(1, ms.len().max(1)) - 1) {
                    println!("{name}_mix_{kind}_p99 {p99:.2} ms");
                }
            }
        }
    }
}

/// The requests of the mix's cycle, in order.
const MIX_KINDS: [&str; 4] = ["lookup", "create", "patch", "deactivate"];

async fn run_phase(
    shared: &Arc<Shared>,
    phase: &str,
    seeded: Option<usize>,
    clients: usize,
    seconds: u64,
) -> (f64, Vec<f64>, Vec<Vec<f64>>) {
    let measuring = Arc::new(AtomicBool::new(false));
    let stop = Arc::new(AtomicBool::new(false));
    let mut tasks = Vec::new();
    for _ in 0..clients {
        let (shared, measuring, stop, phase) = (shared.clone(), measuring.clone(), stop.clone(), phase.to_owned());
        tasks.push(tokio::spawn(async move {
            let client = reqwest::Client::builder().pool_max_idle_per_host(4).build().unwrap();
            let mut samples = Vec::new();
            let mut by_kind = vec![Vec::new(); MIX_KINDS.len()];
            let mut done = 0usize;
            while !stop.load(Ordering::Relaxed) {
                let timed = match phase.as_str() {
                    "create" => create(&client, &shared).await.map(|(ms, _)| vec![ms]),
                    "lookup" => lookup(&client, &shared, seeded).await.map(|ms| vec![ms]),
                    _ => mix(&client, &shared).await,
                };
                match timed {
                    Some(ms) if measuring.load(Ordering::Relaxed) => {
                        done += ms.len();
                        if ms.len() == MIX_KINDS.len() {
                            for (kind, m) in by_kind.iter_mut().zip(&ms) {
                                kind.push(*m);
                            }
                        }
                        samples.extend(ms);
                    }
                    _ => {}
                }
            }
            (samples, done, by_kind)
        }));
    }
    tokio::time::sleep(Duration::from_secs(2)).await;
    measuring.store(true, Ordering::Relaxed);
    let started = Instant::now();
    tokio::time::sleep(Duration::from_secs(seconds)).await;
    measuring.store(false, Ordering::Relaxed);
    let elapsed = started.elapsed().as_secs_f64();
    stop.store(true, Ordering::Relaxed);
    let mut all = Vec::new();
    let mut kinds = vec![Vec::new(); MIX_KINDS.len()];
    let mut total = 0;
    for t in tasks {
        let (s, n, by_kind) = t.await.unwrap();
        all.extend(s);
        for (into, from) in kinds.iter_mut().zip(by_kind) {
            into.extend(from);
        }
        total += n;
    }
    all.sort_by(|a, b| a.partial_cmp(b).unwrap());
    (total as f64 / elapsed, all, kinds)
}

/// Sends `request` with the token (and `body` as SCIM JSON, if any), timed to the last byte of
/// the answer; `None` when it never came, or its status was not one of `expected` (counted).
async fn timed(
    shared: &Shared,
    request: reqwest::RequestBuilder,
    body: Option<serde_json::Value>,
    expected: &[u16],
) -> Option<(String, f64)> {
    let mut request = request.bearer_auth(&shared.token);
    if let Some(body) = body {
        request = request
            .header("content-type", "application/scim+json")
            .body(body.to_string());
    }
    let started = Instant::now();
    let res = request.send().await.ok()?;
    let status = res.status();
    let text = res.text().await.ok()?;
    let ms = started.elapsed().as_secs_f64() * 1000.0;
    check(shared, status, expected).then_some((text, ms))
}

fn check(shared: &Shared, status: reqwest::StatusCode, expected: &[u16]) -> bool {
    if expected.contains(&status.as_u16()) {
        return true;
    }
    let counter = if status.is_server_error() {
        &shared.server_errors
    } else {
        &shared.other_errors
    };
    if counter.fetch_add(1, Ordering::Relaxed) < 3 {
        eprintln!("unexpected status {status}");
    }
    false
}

async fn create(client: &reqwest::Client, shared: &Shared) -> Option<(f64, String)> {
    let n = shared.next.fetch_add(1, Ordering::Relaxed);
    let user_name = format!("u{n}-{}@bench.test", shared.run);
    let body = json!({
        "schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"],
        "userName": user_name, "active": true, "displayName": format!("Person {n}"),
        "name": {"givenName": "Person", "familyName": format!("{n}")},
        "emails": [{"value": user_name, "type": "work", "primary": true}],
        "externalId": format!("ext-{n}-{}", shared.run)
    });
    let (text, ms) = timed(
        shared,
        client.post(format!("{}/Users", shared.base)),
        Some(body),
        &[201],
    )
    .await?;
    let id = serde_json::from_str::<serde_json::Value>(&text).ok()?["id"]
        .as_str()?
        .to_owned();
    let mut created = shared.created.lock().unwrap();
    if created.len() < 200_000 {
        created.push(user_name);
    }
    Some((ms, id))
}

async fn lookup(client: &reqwest::Client, shared: &Shared, seeded: Option<usize>) -> Option<f64> {
    let n = shared.next.fetch_add(1, Ordering::Relaxed);
    let user_name = match seeded {
        Some(count) => format!("seed-{}@bench.test", (n.wrapping_mul(2_654_435_761)) % count.max(1)),
        None => {
            let created = shared.created.lock().unwrap();
            if created.is_empty() {
                return None;
            }
            created[n % created.len()].clone()
        }
    };
    let filter = format!("userName eq \"{user_name}\"");
    let request = client
        .get(format!("{}/Users", shared.base))
        .query(&[("filter", filter.as_str())]);
    let (text, ms) = timed(shared, request, None, &[200]).await?;
    let found = serde_json::from_str::<serde_json::Value>(&text).ok()?["totalResults"].as_i64();
    if found != Some(1) {
        shared.other_errors.fetch_add(1, Ordering::Relaxed);
        return None;
    }
    Some(ms)
}

/// Entra's cycle for one new person: the lookup that finds nobody, create, a PATCH of changed
/// attributes, then deprovisioning (PATCH active false).
async fn mix(client: &reqwest::Client, shared: &Shared) -> Option<Vec<f64>> {
    let mut out = Vec::new();
    let probe = format!(
        "userName eq \"nobody-{}-{}@bench.test\"",
        shared.next.fetch_add(1, Ordering::Relaxed),
        shared.run
    );
    let request = client
        .get(format!("{}/Users", shared.base))
        .query(&[("filter", probe.as_str())]);
    out.push(timed(shared, request, None, &[200]).await?.1);
    let (ms, id) = create(client, shared).await?;
    out.push(ms);
    for ops in [
        json!([{"op": "replace", "path": "displayName", "value": "Renamed"}, {"op": "add", "path": "title", "value": "Engineer"}]),
        json!([{"op": "replace", "path": "active", "value": false}]),
    ] {
        let body = json!({"schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"], "Operations": ops});
        let request = client.patch(format!("{}/Users/{id}", shared.base));
        out.push(timed(shared, request, Some(body), &[200, 204]).await?.1);
    }
    Some(out)
}

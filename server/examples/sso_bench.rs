//! Drives complete provider sign-ins against a running Rollcall and a fake provider (see
//! `bench/sso`): each client starts a sign-in (`/auth/google/start`), authorizes at the fake
//! (which answers at once), and calls back; the callback's answer must be a new session.
//!
//! ```text
//! sso_bench <rollcall base URL> <clients> <seconds> <people>
//! ```
//!
//! Prints `name value unit` lines: sign-ins per second, and the callback's server time (its
//! `Server-Timing: app` part, which leaves out the time spent waiting on the provider) at p50
//! and p99, with the callback's whole round trip beside them.

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

#[derive(Default)]
struct Samples {
    app_ms: Vec<f64>,
    provider_ms: Vec<f64>,
    round_trip_ms: Vec<f64>,
}

#[tokio::main]
async fn main() {
    let args: Vec<String> = std::env::args().collect();
    let base = args.get(1).expect("rollcall base URL").trim_end_matches('/').to_owned();
    let clients: usize = args.get(2).map_or(32, |a| a.parse().unwrap());
    let seconds: u64 = args.get(3).map_or(10, |a| a.parse().unwrap());
    let people: usize = args.get(4).map_or(1000, |a| a.parse().unwrap());

    let warm_up = Duration::from_secs(2);
    let measuring = Arc::new(AtomicBool::new(false));
    let stop = Arc::new(AtomicBool::new(false));
    let next_person = Arc::new(AtomicUsize::new(0));
    let failures = Arc::new(AtomicUsize::new(0));
    let mut tasks = Vec::new();
    for _ in 0..clients {
        let (base, measuring, stop, next_person, failures) = (
            base.clone(),
            measuring.clone(),
            stop.clone(),
            next_person.clone(),
            failures.clone(),
        );
        tasks.push(tokio::spawn(async move {
            // One browser per client: its connections are kept alive, and the cookie binding its
            // sign-ins is kept; each sign-in starts without a session.
            let browser = reqwest::Client::builder()
                .redirect(reqwest::redirect::Policy::none())
                .build()
                .unwrap();
            let mut binding = String::new();
            let mut samples = Samples::default();
            let mut completed = 0usize;
            let mut all_done = 0usize;
            while !stop.load(Ordering::Relaxed) {
                let person = next_person.fetch_add(1, Ordering::Relaxed) % people;
                match sign_in(&browser, &mut binding, &base, person).await {
                    Ok((app, provider, round_trip)) if measuring.load(Ordering::Relaxed) => {
                        samples.app_ms.push(app);
                        samples.provider_ms.push(provider);
                        samples.round_trip_ms.push(round_trip);
                        completed += 1;
                        all_done += 1;
                    }
                    Ok(_) => all_done += 1,
                    Err(why) => {
                        if failures.fetch_add(1, Ordering::Relaxed) < 3 {
                            eprintln!("sign-in failed: {why}");
                        }
                    }
                }
            }
            (samples, completed, all_done)
        }));
    }
    tokio::time::sleep(warm_up).await;
    measuring.store(true, Ordering::Relaxed);
    let started = Instant::now();
    tokio::time::sleep(Duration::from_secs(seconds)).await;
    measuring.store(false, Ordering::Relaxed);
    let elapsed = started.elapsed().as_secs_f64();
    stop.store(true, Ordering::Relaxed);

    let mut all = Samples::default();
    let mut completed = 0;
    let mut everything = 0;
    for task in tasks {
        let (samples, n, all_done) = task.await.unwrap();
        everything += all_done;
        all.app_ms.extend(samples.app_ms);
        all.provider_ms.extend(samples.provider_ms);
        all.round_trip_ms.extend(samples.round_trip_ms);
        completed += n;
    }
    let failed = failures.load(Ordering::Relaxed);
    println!("sso_sign_ins {:.0} sign-ins/s", completed as f64 / elapsed);
    println!("sso_callback_app_p50 {:.2} ms", percentile(&mut all.app_ms, 50.0));
    println!("sso_callback_app_p99 {:.2} ms", percentile(&mut all.app_ms, 99.0));
    println!(
        "sso_callback_provider_p50 {:.2} ms",
        percentile(&mut all.provider_ms, 50.0)
    );
    println!(
        "sso_callback_round_trip_p50 {:.2} ms",
        percentile(&mut all.round_trip_ms, 50.0)
    );
    println!(
        "sso_callback_round_trip_p99 {:.2} ms",
        percentile(&mut all.round_trip_ms, 99.0)
    );
    println!("sso_failed {failed} sign-ins");
    // For the CPU figures bench/sso works out: every sign-in of the run, warm-up included.
    println!("sso_all_sign_ins {everything} sign-ins");
    if failed > 0 || completed == 0 {
        std::process::exit(1);
    }
}

/// One complete sign-in; returns the callback's app and provider times (from `Server-Timing`)
/// and its round trip, in ms. `binding` is the browser's sign-in cookie (`name=value`).
async fn sign_in(
    browser: &reqwest::Client,
    binding: &mut String,
    base: &str,
    person: usize,
) -> Result<(f64, f64, f64), String> {
    let start = browser
        .get(format!("{base}/auth/google/start?login_hint=person{person}@bench.test"))
        .header("cookie", binding.as_str())
        .send()
        .await
        .map_err(|e| e.to_string())?;
    if let Some(cookie) = start
        .headers()
        .get_all("set-cookie")
        .iter()
        .filter_map(|c| c.to_str().ok())
        .find(|c| c.starts_with("rollcall_oidc="))
    {
        *binding = cookie.split(';').next().unwrap_or_default().to_owned();
    }
    let authorize = location(&start).ok_or_else(|| format!("start answered {}", start.status()))?;
    let answer = browser.get(authorize).send().await.map_err(|e| e.to_string())?;
    let callback = location(&answer).ok_or_else(|| format!("authorize answered {}", answer.status()))?;
    let sent = Instant::now();
    let done = browser
        .get(callback)
        .header("cookie", binding.as_str())
        .send()
        .await
        .map_err(|e| e.to_string())?;
    let round_trip = sent.elapsed().as_secs_f64() * 1000.0;
    let landed = location(&done).unwrap_or_default();
    let signed_in = done.headers().get_all("set-cookie").iter().any(|c| {
        c.to_str()
            .is_ok_and(|c| c.starts_with("rollcall_session=") && !c.contains("Max-Age=0"))
    });
    if !signed_in || landed.starts_with("/auth/problem") {
        return Err(format!("callback landed on {landed} without a session"));
    }
    let timing = done
        .headers()
        .get("server-timing")
        .and_then(|t| t.to_str().ok())
        .unwrap_or_default()
        .to_owned();
    let part = |name: &str| -> f64 {
        timing
            .split(',')
            .find_map(|p| p.trim().strip_prefix(name)?.strip_prefix(";dur=")?.parse().ok())
            .unwrap_or(f64::NAN)
    };
    Ok((part("app"), part("provider"), round_trip))
}

fn location(res: &reqwest::Response) -> Option<String> {
    res.headers()
        .get("location")
        .and_then(|l| l.to_str().ok())
        .map(str::to_owned)
}

fn percentile(values: &mut [f64], p: f64) -> f64 {
    if values.is_empty() {
        return f64::NAN;
    }
    values.sort_by(|a, b| a.total_cmp(b));
    let rank = ((p / 100.0) * (values.len() - 1) as f64).round() as usize;
    values[rank]
}

//! What a fake directory holds between requests (snapshots of the people, pending faults,
//! Graph delta rounds, Slack install codes), the opaque page tokens, and small helpers the
//! three flavors share.

use std::collections::{HashMap, VecDeque};
use std::sync::atomic::AtomicUsize;
use std::sync::{Arc, Mutex, MutexGuard, OnceLock, PoisonError};
use std::time::{Instant, SystemTime, UNIX_EPOCH};

use axum::http::header::AUTHORIZATION;
use axum::http::HeaderMap;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use base64::Engine;
use sha2::{Digest, Sha256};

use super::{DirectoryFlavor, DirectoryPerson, Fault, PersonKind};

/// How many generations of the people (one per [`set_people`](super::FakeDirectory::set_people))
/// stay servable. Page tokens and delta links name their generation, so a listing that started
/// before a `set_people` finishes over the people it started with; tokens of older
/// generations are refused as expired.
const RETAINED_GENERATIONS: usize = 16;
/// Graph delta rounds kept ready (each holds the snapshots it compares).
const RETAINED_ROUNDS: usize = 16;

/// State shared by a [`FakeDirectory`](super::FakeDirectory) handle and its server task.
pub(crate) struct Shared {
    pub flavor: DirectoryFlavor,
    /// `http://127.0.0.1:PORT`, without Slack's `/api`.
    pub origin: String,
    pub token: String,
    pub client_id: String,
    pub client_secret: String,
    /// Keys the page tokens' checksums, so a token from another fake (or made up) is refused.
    salt: [u8; 16],
    pub requests: AtomicUsize,
    state: Mutex<State>,
}

/// Everything that changes while the fake runs. Held only briefly: handlers clone the `Arc`s
/// they need and render outside the lock.
pub(crate) struct State {
    /// Google domain, Entra tenant ID or Slack team ID.
    pub org: String,
    next_generation: u64,
    /// Oldest first; the last is the current directory.
    snapshots: VecDeque<Arc<Snapshot>>,
    pub faults: Faults,
    pub rounds: VecDeque<(RoundKey, Arc<DeltaRound>)>,
    pub slack_codes: HashMap<String, SlackGrant>,
}

/// The people as of one `set_people`, with indexes built on first use.
pub(crate) struct Snapshot {
    pub generation: u64,
    pub people: Vec<DirectoryPerson>,
    /// Google `orderBy` email, givenName, familyName: indexes into `people`, ascending.
    orders: [OnceLock<Vec<u32>>; 3],
    by_id: OnceLock<HashMap<String, u32>>,
}

impl Snapshot {
    fn new(generation: u64, people: Vec<DirectoryPerson>) -> Snapshot {
        Snapshot {
            generation,
            people,
            orders: Default::default(),
            by_id: OnceLock::new(),
        }
    }

    /// Indexes into `people` sorted by Google `orderBy` key `which` (0 email, 1 givenName,
    /// 2 familyName), ties broken by ID so the order is total and stable.
    pub fn order(&self, which: usize) -> &[u32] {
        self.orders[which].get_or_init(|| {
            let key = |p: &DirectoryPerson| -> String {
                match which {
                    0 => p.email.as_deref().unwrap_or_default().to_lowercase(),
                    1 => p.given_name.to_lowercase(),
                    _ => p.family_name.to_lowercase(),
                }
            };
            let mut keyed: Vec<(String, &str, u32)> = self
                .people
                .iter()
                .enumerate()
                .map(|(i, p)| (key(p), p.id.as_str(), i as u32))
                .collect();
            keyed.sort_unstable();
            keyed.into_iter().map(|(_, _, i)| i).collect()
        })
    }

    pub fn by_id(&self) -> &HashMap<String, u32> {
        self.by_id.get_or_init(|| {
            self.people
                .iter()
                .enumerate()
                .map(|(i, p)| (p.id.clone(), i as u32))
                .collect()
        })
    }
}

/// Faults waiting for the next list requests.
#[derive(Default)]
pub(crate) struct Faults {
    /// Counted outages, served in injection order.
    outages: VecDeque<(Outage, usize)>,
    pub revoked: bool,
    pub missing_scope: bool,
    pub not_authorized: bool,
    pub consent_denied: bool,
    empty_pages: usize,
    missing_keys: usize,
    delta_expired: usize,
}

/// A failure that replaces a whole list response.
#[derive(Clone, Debug)]
pub(crate) enum Outage {
    RateLimited(String),
    Google403,
    Server(u16),
}

impl Faults {
    pub fn add(&mut self, fault: Fault) {
        match fault {
            Fault::RateLimited { retry_after, times } => self.outage(Outage::RateLimited(retry_after), times),
            Fault::GoogleRateLimit403 { times } => self.outage(Outage::Google403, times),
            Fault::ServerError { status, times } => self.outage(Outage::Server(status), times),
            Fault::RevokedToken => self.revoked = true,
            Fault::MissingScope => self.missing_scope = true,
            Fault::NotAuthorized => self.not_authorized = true,
            Fault::ConsentDenied => self.consent_denied = true,
            Fault::EmptyPageMidway => self.empty_pages += 1,
            Fault::MissingUsersKey => self.missing_keys += 1,
            Fault::DeltaTokenExpired => self.delta_expired += 1,
        }
    }

    fn outage(&mut self, outage: Outage, times: usize) {
        if times > 0 {
            self.outages.push_back((outage, times));
        }
    }

    /// The outage this request gets, if one is pending.
    pub fn take_outage(&mut self) -> Option<Outage> {
        let (outage, left) = self.outages.front_mut()?;
        let outage = outage.clone();
        *left -= 1;
        if *left == 0 {
            self.outages.pop_front();
        }
        Some(outage)
    }

    pub fn take_empty_page(&mut self) -> bool {
        take(&mut self.empty_pages)
    }

    pub fn take_missing_key(&mut self) -> bool {
        take(&mut self.missing_keys)
    }

    pub fn take_delta_expired(&mut self) -> bool {
        take(&mut self.delta_expired)
    }
}

fn take(count: &mut usize) -> bool {
    let pending = *count > 0;
    *count = count.saturating_sub(1);
    pending
}

/// Identifies a Graph delta round: changes from `base` (`None`: everything) to `target`, as
/// seen through `select`.
#[derive(Clone, PartialEq, Eq, Hash, Debug)]
pub(crate) struct RoundKey {
    pub base: Option<u64>,
    pub target: u64,
    pub select: String,
}

/// One Graph delta round, computed once and paged through.
pub(crate) struct DeltaRound {
    pub target: Arc<Snapshot>,
    pub base: Option<Arc<Snapshot>>,
    pub entries: Vec<DeltaEntry>,
}

pub(crate) enum DeltaEntry {
    /// New or changed: `target`'s index in the target snapshot, `base` in the base one.
    Changed {
        target: u32,
        base: Option<u32>,
    },
    Removed {
        id: String,
        reason: &'static str,
    },
}

/// An outstanding Slack install code.
pub(crate) struct SlackGrant {
    pub redirect_uri: String,
    pub scope: String,
    pub issued: Instant,
}

impl Shared {
    pub fn new(
        flavor: DirectoryFlavor,
        origin: String,
        org: String,
        people: Vec<DirectoryPerson>,
        token: String,
    ) -> Shared {
        let flavor_name = flavor.name();
        let mut salt = [0u8; 16];
        rand::RngCore::fill_bytes(&mut rand::thread_rng(), &mut salt);
        let mut snapshots = VecDeque::new();
        snapshots.push_back(Arc::new(Snapshot::new(1, people)));
        Shared {
            flavor,
            origin,
            token,
            client_id: format!("fake-{flavor_name}-client"),
            client_secret: format!("fake-{flavor_name}-secret"),
            salt,
            requests: AtomicUsize::new(0),
            state: Mutex::new(State {
                org,
                next_generation: 2,
                snapshots,
                faults: Faults::default(),
                rounds: VecDeque::new(),
                slack_codes: HashMap::new(),
            }),
        }
    }

    /// The state, even after a panic elsewhere poisoned the lock.
    pub fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// A page token carrying `payload`, with a checksum. Slack's cursors are padded standard
    /// base64 as the real ones are (`dXNlcjpVMEc5V0ZYTlo=`), so a client must URL-encode them;
    /// the others are URL-safe.
    pub fn seal(&self, payload: &str) -> String {
        let mut sealed = format!("{payload}~{}", self.checksum(payload));
        match self.flavor {
            DirectoryFlavor::Slack => {
                // Always padded: a client that forgets to URL-encode the `=` must fail every time.
                while sealed.len() % 3 != 2 {
                    sealed.push('-');
                }
                STANDARD.encode(sealed)
            }
            _ => URL_SAFE_NO_PAD.encode(sealed),
        }
    }

    /// The payload of a token [`seal`](Self::seal) made, or `None`.
    pub fn open(&self, token: &str) -> Option<String> {
        let raw = match self.flavor {
            DirectoryFlavor::Slack => STANDARD.decode(token).ok()?,
            _ => URL_SAFE_NO_PAD.decode(token).ok()?,
        };
        let text = String::from_utf8(raw).ok()?;
        let (payload, sum) = text.trim_end_matches('-').rsplit_once('~')?;
        (sum == self.checksum(payload)).then(|| payload.to_owned())
    }

    fn checksum(&self, payload: &str) -> String {
        let digest = Sha256::new()
            .chain_update(self.salt)
            .chain_update(payload.as_bytes())
            .finalize();
        digest[..6].iter().map(|b| format!("{b:02x}")).collect()
    }
}

impl State {
    pub fn current(&self) -> Arc<Snapshot> {
        self.snapshots
            .back()
            .expect("a fake directory always has people")
            .clone()
    }

    pub fn snapshot(&self, generation: u64) -> Option<Arc<Snapshot>> {
        self.snapshots.iter().find(|s| s.generation == generation).cloned()
    }

    pub fn people(&self) -> Vec<DirectoryPerson> {
        self.current().people.clone()
    }

    pub fn set_people(&mut self, people: Vec<DirectoryPerson>) {
        let generation = self.next_generation;
        self.next_generation += 1;
        self.snapshots.push_back(Arc::new(Snapshot::new(generation, people)));
        while self.snapshots.len() > RETAINED_GENERATIONS {
            self.snapshots.pop_front();
        }
    }

    pub fn round(&self, key: &RoundKey) -> Option<Arc<DeltaRound>> {
        self.rounds.iter().find(|(k, _)| k == key).map(|(_, r)| r.clone())
    }

    pub fn keep_round(&mut self, key: RoundKey, round: Arc<DeltaRound>) {
        if self.round(&key).is_none() {
            self.rounds.push_back((key, round));
        }
        while self.rounds.len() > RETAINED_ROUNDS {
            self.rounds.pop_front();
        }
    }
}

/// The token of an `Authorization: Bearer` header (scheme case-insensitive).
pub(crate) fn bearer(headers: &HeaderMap) -> Option<&str> {
    let value = headers.get(AUTHORIZATION)?.to_str().ok()?;
    let (scheme, token) = value.split_once(' ')?;
    scheme.eq_ignore_ascii_case("bearer").then(|| token.trim())
}

pub(crate) fn now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or_default()
}

/// `2021-03-04T05:06:07Z`, or with `.000` milliseconds as Google writes its times.
pub(crate) fn rfc3339(secs: u64, millis: bool) -> String {
    let days = (secs / 86_400) as i64;
    let rem = secs % 86_400;
    // Howard Hinnant's civil_from_days.
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    let (h, m, s) = (rem / 3600, rem / 60 % 60, rem % 60);
    let frac = if millis { ".000" } else { "" };
    format!("{year:04}-{month:02}-{day:02}T{h:02}:{m:02}:{s:02}{frac}Z")
}

/// A small stable hash (FNV-1a) for etags and per-person variation.
pub(crate) fn fnv(parts: &[&str]) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for part in parts {
        for b in part.bytes().chain([0xff]) {
            h ^= u64::from(b);
            h = h.wrapping_mul(0x0100_0000_01b3);
        }
    }
    h
}

/// The part of an email before the `@`, lower-cased and reduced to `[a-z0-9._-]`.
pub(crate) fn local_part(person: &DirectoryPerson) -> String {
    let source = match &person.email {
        Some(email) => email.split('@').next().unwrap_or_default().to_owned(),
        None => format!("{}.{}", person.given_name, person.family_name),
    };
    let cleaned: String = source
        .to_lowercase()
        .chars()
        .filter(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-'))
        .collect();
    let cleaned = cleaned.trim_matches('.').to_owned();
    if cleaned.is_empty() {
        format!("user{}", fnv(&[&person.id]) % 100_000)
    } else {
        cleaned
    }
}

/// Whether the person is active in the flavor's terms (not suspended, archived or deleted).
pub(crate) fn disabled(kind: PersonKind) -> bool {
    matches!(kind, PersonKind::Suspended | PersonKind::Archived | PersonKind::Deleted)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dates() {
        assert_eq!(rfc3339(0, true), "1970-01-01T00:00:00.000Z");
        assert_eq!(rfc3339(951_782_400, false), "2000-02-29T00:00:00Z");
        assert_eq!(rfc3339(1_700_000_000, false), "2023-11-14T22:13:20Z");
    }

    #[test]
    fn tokens_round_trip_and_refuse_tampering() {
        for flavor in [DirectoryFlavor::Google, DirectoryFlavor::Slack] {
            let s = Shared::new(flavor, "http://x".into(), "o".into(), Vec::new(), "t".into());
            let t = s.seal("1.200");
            assert_eq!(s.open(&t).as_deref(), Some("1.200"));
            let other = Shared::new(flavor, "http://x".into(), "o".into(), Vec::new(), "t".into());
            assert_eq!(other.open(&t), None);
            assert_eq!(s.open("bm9wZQ"), None);
        }
    }
}

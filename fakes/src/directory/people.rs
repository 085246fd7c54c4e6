//! The people a fake directory holds, and a deterministic generator of directories of any size
//! that look like a real organisation's.

use std::collections::{HashMap, HashSet};

use super::DirectoryFlavor;
use crate::{Flavor, Persona};

/// One person (or bot) in a fake directory. Each flavor maps the fields onto its own API's
/// fields; see [`PersonKind`] for what each kind becomes.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct DirectoryPerson {
    /// The upstream ID: Google `id` (a numeric string, = OIDC `sub`), Graph `id` (a GUID, =
    /// `oid`), Slack member `id` (`U…`, = OIDC `sub`). Must be unique within a directory.
    pub id: String,
    /// Google `primaryEmail`, Graph `mail` (`null` when `None`), Slack `profile.email`.
    pub email: Option<String>,
    /// Google `name.givenName`, Graph `givenName`, Slack `profile.first_name`; may be empty.
    pub given_name: String,
    /// Google `name.familyName`, Graph `surname`, Slack `profile.last_name`; may be empty.
    pub family_name: String,
    pub kind: PersonKind,
    /// Google `orgUnitPath` (`None` is the root, `/`). Not shown by Graph or Slack.
    pub org_unit: Option<String>,
    /// Google `organizations[0].department`, Graph `department`. Not shown by Slack.
    pub department: Option<String>,
    /// Google `organizations[0].title`, Graph `jobTitle`, Slack `profile.title`.
    pub job_title: Option<String>,
    /// Creation time, Unix seconds: Google `creationTime`, Graph `createdDateTime`, Slack
    /// `updated`.
    pub created: u64,
}

impl DirectoryPerson {
    /// An ordinary member with no org unit, department or title.
    pub fn new(
        id: impl Into<String>,
        email: Option<&str>,
        given_name: impl Into<String>,
        family_name: impl Into<String>,
    ) -> DirectoryPerson {
        DirectoryPerson {
            id: id.into(),
            email: email.map(str::to_owned),
            given_name: given_name.into(),
            family_name: family_name.into(),
            kind: PersonKind::Member,
            org_unit: None,
            department: None,
            job_title: None,
            created: 1_600_000_000,
        }
    }

    /// The same person with another kind.
    pub fn kind(mut self, kind: PersonKind) -> DirectoryPerson {
        self.kind = kind;
        self
    }

    /// `given family`, trimmed (empty when both are).
    pub fn full_name(&self) -> String {
        format!("{} {}", self.given_name, self.family_name).trim().to_owned()
    }
}

/// What a directory entry is. Kinds an API has no notion of are shown as plain active members
/// by that flavor (a Google "bot" is an ordinary user), and [`generate`] never makes them.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum PersonKind {
    /// An active, ordinary user.
    Member,
    /// Active; Google `isAdmin: true`, Slack `is_admin: true`. Graph has no such flag (admin
    /// roles are directory roles), so a Graph admin is a plain member.
    Admin,
    /// Graph `userType: "Guest"` (UPN `…#EXT#@…onmicrosoft.com`); Slack multi-channel guest
    /// (`is_restricted: true`). Google has no guests.
    Guest,
    /// Slack single-channel guest: `is_restricted` and `is_ultra_restricted` both true. Graph
    /// shows a guest.
    SingleChannelGuest,
    /// Google `suspended: true` (`suspensionReason: "ADMIN"`); Graph `accountEnabled: false`
    /// (still listed, never `@removed`); Slack has no suspension: `deleted: true`.
    Suspended,
    /// Google `archived: true`; Graph `accountEnabled: false`; Slack `deleted: true`.
    Archived,
    /// Google: listed only with `showDeleted=true` (with `deletionTime`); Graph: soft-deleted,
    /// absent from `/users`, and `@removed` with reason `changed` in a delta; Slack:
    /// `deleted: true` (deactivated), still listed.
    Deleted,
    /// Slack bot user: `is_bot: true`, `profile.bot_id`, no email.
    Bot,
    /// Slack workspace app user: `is_app_user: true`, `is_bot: false`.
    AppUser,
    /// Slack's built-in `USLACKBOT`: `is_bot: false`, no email. Give it the ID `USLACKBOT`.
    Slackbot,
    /// Slack invited user who has not joined yet: `is_invited_user: true`.
    Invited,
}

/// The domain [`generate`] gives its people's emails, and the org domain of a fresh
/// [`FakeDirectory`](super::FakeDirectory) for Google.
pub const DEFAULT_DOMAIN: &str = "example.com";

/// A directory of `n` people shaped like a real organisation's in `flavor`, the same for the
/// same arguments. Emails are at [`DEFAULT_DOMAIN`]; see [`generate_in`].
pub fn generate(flavor: DirectoryFlavor, n: usize, seed: u64) -> Vec<DirectoryPerson> {
    generate_in(flavor, DEFAULT_DOMAIN, n, seed)
}

/// [`generate`] with emails at `domain` (guests' emails are at other domains).
///
/// The first person is always Ada Lovelace, `ada@DOMAIN`, an admin: the person a fresh
/// [`FakeIdp`](crate::FakeIdp) signs in as (`ada@example.com`), so a test that connects a
/// directory as the default persona is its administrator. IDs with an email are derived from
/// it exactly as [`Persona::from_login_hint`] derives a subject, so signing in with
/// `login_hint=EMAIL` is the same upstream ID as the directory entry.
///
/// Roughly: Google 93% members, 1% admins, 3% suspended, 1% archived, 2% deleted; Microsoft
/// 84% members, 2% members without a mailbox (`mail: null`), 1% admins, 6% guests, 3% disabled,
/// 2% soft-deleted; Slack Slackbot (second entry), 2% bots, 0.5% app users, 3% guests, 2%
/// single-channel guests, 4% deactivated, 1% invited (no name yet), 1% admins, the rest members.
/// People get departments, titles and Google org units in proportions a company might have.
pub fn generate_in(flavor: DirectoryFlavor, domain: &str, n: usize, seed: u64) -> Vec<DirectoryPerson> {
    let mut rng = SplitMix64(seed ^ 0x5eed_d1ec_7023_u64.wrapping_mul(flavor as u64 + 1));
    let mut people = Vec::with_capacity(n);
    let mut ids = HashSet::with_capacity(n);
    // How many people already have each email local part, for `ada.lovelace2`, ...
    let mut locals: HashMap<String, u32> = HashMap::new();
    let mut bot_names: HashMap<&str, u32> = HashMap::new();
    for i in 0..n {
        let created = 1_420_070_400 + rng.below(11 * 365 * 86_400);
        if i == 0 {
            locals.insert("ada".into(), 1);
            let email = format!("ada@{domain}");
            let mut ada = DirectoryPerson::new(
                upstream_id(flavor, Some(&email), &mut rng, &mut ids),
                Some(&email),
                "Ada",
                "Lovelace",
            )
            .kind(PersonKind::Admin);
            ada.created = created;
            ada.department = Some("Engineering".into());
            ada.job_title = Some("Head of Engineering".into());
            ada.org_unit = Some("/Engineering".into());
            people.push(ada);
            continue;
        }
        if flavor == DirectoryFlavor::Slack && i == 1 {
            ids.insert("USLACKBOT".to_owned());
            let mut bot = DirectoryPerson::new("USLACKBOT", None, "Slackbot", "").kind(PersonKind::Slackbot);
            bot.created = 0;
            people.push(bot);
            continue;
        }
        let kind = pick_kind(flavor, rng.below(1000));
        if matches!(kind, PersonKind::Bot | PersonKind::AppUser) {
            let name = BOTS[rng.below(BOTS.len() as u64) as usize];
            let count = bot_names.entry(name).or_default();
            *count += 1;
            let given = if *count == 1 {
                name.to_owned()
            } else {
                format!("{name} {count}")
            };
            let mut bot = DirectoryPerson::new(upstream_id(flavor, None, &mut rng, &mut ids), None, given, "");
            bot.kind = kind;
            bot.created = created;
            people.push(bot);
            continue;
        }
        let (given, given_ascii) = GIVEN[rng.below(GIVEN.len() as u64) as usize];
        let (family, family_ascii) = FAMILY[rng.below(FAMILY.len() as u64) as usize];
        let guest = matches!(kind, PersonKind::Guest | PersonKind::SingleChannelGuest);
        let mut local = format!("{given_ascii}.{family_ascii}");
        let seen = locals.entry(local.clone()).or_default();
        *seen += 1;
        if *seen > 1 {
            local.push_str(&seen.to_string());
        }
        // Members without a mailbox exist only in Microsoft directories (unlicensed accounts).
        let mailbox = !(flavor == DirectoryFlavor::Microsoft && kind == PersonKind::Member && rng.below(1000) < 23);
        let email = mailbox.then(|| {
            let at = if guest {
                GUEST_DOMAINS[rng.below(GUEST_DOMAINS.len() as u64) as usize]
            } else {
                domain
            };
            format!("{local}@{at}")
        });
        let mut person = DirectoryPerson::new(
            upstream_id(flavor, email.as_deref(), &mut rng, &mut ids),
            email.as_deref(),
            given,
            family,
        );
        person.kind = kind;
        person.created = created;
        if kind == PersonKind::Invited {
            // Slack shows invitees with empty names until they join.
            person.given_name.clear();
            person.family_name.clear();
        }
        if !guest {
            let dept = pick_department(rng.below(1000));
            person.department = dept.name.map(str::to_owned);
            person.org_unit = Some(dept.org_units[rng.below(dept.org_units.len() as u64) as usize].to_owned());
            if let Some(titles) = dept.titles {
                person.job_title = Some(titles[rng.below(titles.len() as u64) as usize].to_owned());
            }
        }
        people.push(person);
    }
    people
}

/// A unique upstream ID in the flavor's shape. With an email, the subject a fake IdP derives
/// from that email as a login hint; the rare collision (Slack IDs hold 40 bits) and people
/// without email get random ones.
fn upstream_id(
    flavor: DirectoryFlavor,
    email: Option<&str>,
    rng: &mut SplitMix64,
    ids: &mut HashSet<String>,
) -> String {
    if let Some(email) = email {
        let id = Persona::from_login_hint(Flavor::from(flavor), email, None).subject;
        if ids.insert(id.clone()) {
            return id;
        }
    }
    loop {
        let id = match flavor {
            DirectoryFlavor::Google => format!("1{:020}", rng.next_u64()),
            DirectoryFlavor::Microsoft => {
                let mut bytes = [0u8; 16];
                bytes[..8].copy_from_slice(&rng.next_u64().to_be_bytes());
                bytes[8..].copy_from_slice(&rng.next_u64().to_be_bytes());
                uuid::Builder::from_random_bytes(bytes).into_uuid().to_string()
            }
            DirectoryFlavor::Slack => format!("U{:010X}", rng.next_u64() & 0xff_ffff_ffff),
        };
        if ids.insert(id.clone()) {
            return id;
        }
    }
}

/// The kind for a draw in 0..1000.
fn pick_kind(flavor: DirectoryFlavor, r: u64) -> PersonKind {
    use PersonKind::*;
    let table: &[(u64, PersonKind)] = match flavor {
        DirectoryFlavor::Google => &[(10, Admin), (40, Suspended), (50, Archived), (70, Deleted)],
        DirectoryFlavor::Microsoft => &[(10, Admin), (70, Guest), (100, Suspended), (120, Deleted)],
        DirectoryFlavor::Slack => &[
            (10, Admin),
            (30, Bot),
            (35, AppUser),
            (65, Guest),
            (85, SingleChannelGuest),
            (125, Deleted),
            (135, Invited),
        ],
    };
    table
        .iter()
        .find(|(below, _)| r < *below)
        .map_or(Member, |(_, kind)| *kind)
}

struct Department {
    /// Out of 1000, cumulative.
    below: u64,
    name: Option<&'static str>,
    org_units: &'static [&'static str],
    titles: Option<&'static [&'static str]>,
}

const DEPARTMENTS: &[Department] = &[
    Department {
        below: 300,
        name: Some("Engineering"),
        org_units: &[
            "/Engineering",
            "/Engineering",
            "/Engineering/Platform",
            "/Engineering/Mobile",
        ],
        titles: Some(&[
            "Software Engineer",
            "Senior Software Engineer",
            "Staff Engineer",
            "Engineering Manager",
            "QA Engineer",
        ]),
    },
    Department {
        below: 500,
        name: Some("Sales"),
        org_units: &["/Sales", "/Sales/EMEA", "/Sales/Americas", "/Sales/APAC"],
        titles: Some(&["Account Executive", "Sales Development Representative", "Sales Manager"]),
    },
    Department {
        below: 650,
        name: Some("Support"),
        org_units: &["/Support"],
        titles: Some(&["Support Specialist", "Support Lead"]),
    },
    Department {
        below: 750,
        name: Some("Marketing"),
        org_units: &["/Marketing"],
        titles: Some(&["Marketing Manager", "Content Writer", "Designer"]),
    },
    Department {
        below: 850,
        name: Some("Operations"),
        org_units: &["/Operations"],
        titles: Some(&["Operations Analyst", "Office Manager"]),
    },
    Department {
        below: 900,
        name: Some("Finance"),
        org_units: &["/Finance"],
        titles: Some(&["Accountant", "Financial Controller"]),
    },
    Department {
        below: 950,
        name: Some("People"),
        org_units: &["/People"],
        titles: Some(&["Recruiter", "People Partner"]),
    },
    Department {
        below: 980,
        name: Some("Legal"),
        org_units: &["/Legal"],
        titles: Some(&["Counsel"]),
    },
    // Some people sit at the root with nothing filled in, as in every real directory.
    Department {
        below: 1000,
        name: None,
        org_units: &["/"],
        titles: None,
    },
];

fn pick_department(r: u64) -> &'static Department {
    DEPARTMENTS
        .iter()
        .find(|d| r < d.below)
        .unwrap_or(&DEPARTMENTS[DEPARTMENTS.len() - 1])
}

/// (display, ASCII for the email). Accents and an apostrophe on purpose: clients must escape
/// and compare them correctly.
const GIVEN: &[(&str, &str)] = &[
    ("Alice", "alice"),
    ("Bob", "bob"),
    ("Carol", "carol"),
    ("David", "david"),
    ("Emma", "emma"),
    ("Farid", "farid"),
    ("Grace", "grace"),
    ("Hiro", "hiro"),
    ("Ines", "ines"),
    ("José", "jose"),
    ("Kwame", "kwame"),
    ("Leila", "leila"),
    ("Mateo", "mateo"),
    ("Nadia", "nadia"),
    ("Oscar", "oscar"),
    ("Priya", "priya"),
    ("Quentin", "quentin"),
    ("Rosa", "rosa"),
    ("Sven", "sven"),
    ("Tariq", "tariq"),
    ("Uma", "uma"),
    ("Viktor", "viktor"),
    ("Wen", "wen"),
    ("Ximena", "ximena"),
    ("Yusuf", "yusuf"),
    ("Zoë", "zoe"),
    ("Łukasz", "lukasz"),
    ("Søren", "soren"),
    ("Aoife", "aoife"),
    ("Chloé", "chloe"),
    ("Björn", "bjorn"),
    ("Amara", "amara"),
    ("Ben", "ben"),
    ("Chen", "chen"),
    ("Dmitri", "dmitri"),
    ("Elena", "elena"),
    ("Femi", "femi"),
    ("Giulia", "giulia"),
    ("Hannah", "hannah"),
    ("Ivan", "ivan"),
    ("Jun", "jun"),
    ("Kai", "kai"),
    ("Lucía", "lucia"),
    ("Mohammed", "mohammed"),
    ("Noor", "noor"),
    ("Olga", "olga"),
    ("Pedro", "pedro"),
    ("Rahul", "rahul"),
    ("Sara", "sara"),
    ("Tomás", "tomas"),
    ("Yara", "yara"),
    ("Zeynep", "zeynep"),
    ("Anna-Lena", "anna-lena"),
    ("Mary Jo", "maryjo"),
];

const FAMILY: &[(&str, &str)] = &[
    ("Smith", "smith"),
    ("Garcia", "garcia"),
    ("Müller", "muller"),
    ("Nguyen", "nguyen"),
    ("Kowalski", "kowalski"),
    ("O'Brien", "obrien"),
    ("Rossi", "rossi"),
    ("Tanaka", "tanaka"),
    ("Okafor", "okafor"),
    ("Silva", "silva"),
    ("Johansson", "johansson"),
    ("Patel", "patel"),
    ("Kim", "kim"),
    ("Dubois", "dubois"),
    ("Novak", "novak"),
    ("Hernández", "hernandez"),
    ("Yilmaz", "yilmaz"),
    ("Ivanova", "ivanova"),
    ("Cohen", "cohen"),
    ("Mensah", "mensah"),
    ("Østergaard", "ostergaard"),
    ("Walsh", "walsh"),
    ("Chen", "chen"),
    ("Singh", "singh"),
    ("Ahmed", "ahmed"),
    ("Brown", "brown"),
    ("Costa", "costa"),
    ("Fischer", "fischer"),
    ("Haddad", "haddad"),
    ("Jansen", "jansen"),
    ("Lopez", "lopez"),
    ("Martin", "martin"),
    ("Nakamura", "nakamura"),
    ("Petrov", "petrov"),
    ("Quinn", "quinn"),
    ("Reyes", "reyes"),
    ("Schmidt", "schmidt"),
    ("Takahashi", "takahashi"),
    ("Van der Berg", "vanderberg"),
    ("Wright", "wright"),
    ("Zhang", "zhang"),
    ("Da Silva", "dasilva"),
    ("Abara", "abara"),
    ("Björk", "bjork"),
    ("Lefèvre", "lefevre"),
    ("Moreau", "moreau"),
    ("Sato", "sato"),
    ("Wójcik", "wojcik"),
];

const GUEST_DOMAINS: &[&str] = &["partner.example", "agency.example", "contractor.example", "gmail.com"];

const BOTS: &[&str] = &[
    "GitHub",
    "Jira Cloud",
    "Google Drive",
    "Polly",
    "Standup Bot",
    "PagerDuty",
    "Zapier",
    "Rollcall",
];

/// A tiny, fast, stable PRNG (the `rand` crate promises no stability of its generators across
/// versions, and a generated directory must be the same in every run).
struct SplitMix64(u64);

impl SplitMix64 {
    fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    /// Uniform enough in 0..n for n far below 2^64.
    fn below(&mut self, n: u64) -> u64 {
        self.next_u64() % n.max(1)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn deterministic_unique_and_mixed() {
        for flavor in [
            DirectoryFlavor::Google,
            DirectoryFlavor::Microsoft,
            DirectoryFlavor::Slack,
        ] {
            let a = generate(flavor, 5000, 7);
            assert_eq!(a, generate(flavor, 5000, 7));
            assert_ne!(a, generate(flavor, 5000, 8));
            let ids: HashSet<_> = a.iter().map(|p| &p.id).collect();
            assert_eq!(ids.len(), a.len());
            let emails: HashSet<_> = a.iter().filter_map(|p| p.email.as_deref()).collect();
            assert_eq!(emails.len(), a.iter().filter(|p| p.email.is_some()).count());
            let members = a.iter().filter(|p| p.kind == PersonKind::Member).count();
            assert!((4000..4800).contains(&members), "{flavor:?}: {members} members");
            assert_eq!(a[0].email.as_deref(), Some("ada@example.com"));
            assert_eq!(
                a[0].id,
                Persona::from_login_hint(Flavor::from(flavor), "ada@example.com", None).subject
            );
        }
        let slack = generate(DirectoryFlavor::Slack, 1000, 1);
        assert_eq!(slack[1].id, "USLACKBOT");
        assert!(slack.iter().any(|p| p.kind == PersonKind::Bot && p.email.is_none()));
        let graph = generate(DirectoryFlavor::Microsoft, 1000, 1);
        assert!(graph.iter().any(|p| p.kind == PersonKind::Member && p.email.is_none()));
        assert!(graph.iter().any(|p| p.kind == PersonKind::Guest));
        let google = generate(DirectoryFlavor::Google, 1000, 1);
        assert!(google.iter().all(|p| p.email.is_some()));
        assert!(google.iter().any(|p| p.kind == PersonKind::Suspended));
    }
}

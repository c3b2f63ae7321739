//! Users as pure functions of `(seed, index)`: identity, personal data, demographics and taste.

use std::fmt::Write as _;

use crate::CanaryConfig;
use crate::names::{self, COUNTRIES, DOMAINS, GENRE_WEIGHTS, GENRES};
use crate::rng::{self, Rng};
use crate::tracks::Catalog;

/// Subscription plan; a public, low-cardinality attribute.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Plan {
    Free,
    Premium,
}

impl Plan {
    /// Wire spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            Plan::Free => "free",
            Plan::Premium => "premium",
        }
    }
}

/// Client the event came from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Device {
    Ios,
    Android,
    Web,
    Desktop,
}

impl Device {
    /// All devices, in schema order.
    pub const ALL: [Device; 4] = [Device::Ios, Device::Android, Device::Web, Device::Desktop];
    /// Market share used for users' primary devices (same order as [`Device::ALL`]).
    const WEIGHTS: [f64; 4] = [35.0, 40.0, 15.0, 10.0];

    /// Wire spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            Device::Ios => "ios",
            Device::Android => "android",
            Device::Web => "web",
            Device::Desktop => "desktop",
        }
    }
}

/// Number of favourite genres per user.
pub const FAVOURITE_GENRES: usize = 3;

/// Chance a play/skip/like follows the user's taste rather than the global chart.
const TASTE_FOLLOW: f64 = 0.8;
/// How a user's listening splits across favourite genres, most preferred first.
const TASTE_SPLIT: [f64; FAVOURITE_GENRES] = [0.6, 0.3, 0.1];

/// One user. Every field is derived from `(seed, index)`, so nothing is ever stored.
#[derive(Clone, Debug, PartialEq)]
pub struct User {
    pub index: u64,
    /// Email address; also the user's external id (the event `subject`).
    pub email: String,
    pub name: String,
    /// IPv4 most of the time, IPv6 (documentation prefix) sometimes.
    pub ip: String,
    /// ISO 3166-1 alpha-2.
    pub country: &'static str,
    pub birth_year: i32,
    pub plan: Plan,
    /// Indexes into [`names::GENRES`], most preferred first, distinct.
    pub genres: [usize; FAVOURITE_GENRES],
    /// The device this user mostly listens on.
    pub device: Device,
}

impl User {
    /// The external id applications send as `subject`: the email address, because that is
    /// what real tenants key customers by (and why it must never be stored in the clear).
    pub fn external_id(&self) -> &str {
        &self.email
    }

    /// A track this user would plausibly play, with its genre: from a favourite genre
    /// most of the time, which is the signal recommenders learn.
    pub fn pick_track(&self, r: &mut Rng, catalog: &Catalog) -> (u64, &'static str) {
        let genre = if r.chance(TASTE_FOLLOW) {
            self.genres[r.weighted(&TASTE_SPLIT)]
        } else {
            r.weighted(GENRE_WEIGHTS)
        };
        let track = catalog.pick(r, genre);
        (track, GENRES[catalog.genre_of(track)])
    }
}

/// The canary email of user `i`: unique per `(prefix, i)`, and never a substring of
/// another user's (the `@` ends the number).
pub fn canary_email(prefix: &str, i: u64) -> String {
    format!("canary-{prefix}-{i}@example.org")
}

/// The canary full name of user `i`, e.g. `Canaryabc7 Morson`. Independent of the seed so
/// tests can compute it from `(prefix, i)` alone; the space ends the number, so it is
/// never a substring of another user's.
pub fn canary_name(prefix: &str, i: u64) -> String {
    let mut r = Rng::derive(0, rng::domain::CANARY, i);
    format!("Canary{prefix}{i} {}", names::last_name(&mut r))
}

/// User `index` under `seed`. Draws happen in a fixed order whether or not canary mode
/// is on, so canary data differs from normal data only in the personal strings.
pub fn user(seed: u64, index: u64, canary: Option<&CanaryConfig>) -> User {
    let mut r = Rng::derive(seed, rng::domain::USER, index);
    let email_word = names::word(&mut r, 1, 3);
    let domain = DOMAINS[r.index(DOMAINS.len())];
    let first = names::first_name(&mut r);
    let last = names::last_name(&mut r);
    let ip = ip_address(&mut r);
    let country_weights: [f64; COUNTRIES.len()] = std::array::from_fn(|k| COUNTRIES[k].1);
    let country = COUNTRIES[r.weighted(&country_weights)].0;
    let birth_year = birth_year(&mut r);
    let plan = if r.chance(0.3) {
        Plan::Premium
    } else {
        Plan::Free
    };
    let genres = favourite_genres(&mut r);
    let device = Device::ALL[r.weighted(&Device::WEIGHTS)];
    let (email, name) = match canary {
        Some(c) => (
            canary_email(&c.prefix, index),
            canary_name(&c.prefix, index),
        ),
        None => (
            format!("user{index}.{email_word}@{domain}"),
            format!("{first} {last}"),
        ),
    };
    User {
        index,
        email,
        name,
        ip,
        country,
        birth_year,
        plan,
        genres,
        device,
    }
}

/// Birth years 1950..=2010, skewed young the way streaming audiences are.
fn birth_year(r: &mut Rng) -> i32 {
    if r.chance(0.7) {
        r.range(1985, 2008) as i32
    } else {
        r.range(1950, 2010) as i32
    }
}

/// Three distinct genres, drawn by overall popularity so tastes match the market.
fn favourite_genres(r: &mut Rng) -> [usize; FAVOURITE_GENRES] {
    let mut out = [usize::MAX; FAVOURITE_GENRES];
    let mut filled = 0;
    // Bounded retries keep this a fixed-cost function; the fallback walks the table.
    for _ in 0..32 {
        if filled == FAVOURITE_GENRES {
            break;
        }
        let g = r.weighted(GENRE_WEIGHTS);
        if !out[..filled].contains(&g) {
            out[filled] = g;
            filled += 1;
        }
    }
    let mut g = 0;
    while filled < FAVOURITE_GENRES {
        if !out[..filled].contains(&g) {
            out[filled] = g;
            filled += 1;
        }
        g += 1;
    }
    out
}

/// A plausible public IPv4 (85%) or an IPv6 from the documentation prefix 2001:db8::/32.
fn ip_address(r: &mut Rng) -> String {
    let bits = r.next_u64();
    let mut s = String::with_capacity(24);
    if r.chance(0.15) {
        let _ = write!(
            s,
            "2001:db8:{:x}:{:x}::{:x}",
            bits & 0xffff,
            (bits >> 16) & 0xffff,
            (bits >> 32) & 0xffff
        );
    } else {
        // Skip 0, 10, 127 and 224+ so addresses look routable.
        let first = [
            23, 31, 37, 45, 62, 77, 81, 86, 91, 95, 103, 109, 151, 176, 185, 188, 193, 201,
        ][(bits % 18) as usize];
        let _ = write!(
            s,
            "{first}.{}.{}.{}",
            (bits >> 8) & 0xff,
            (bits >> 16) & 0xff,
            ((bits >> 24) & 0xff).max(1)
        );
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn users_are_deterministic_and_unique() {
        let mut seen = std::collections::HashSet::new();
        for i in 0..5000 {
            let u = user(5, i, None);
            assert_eq!(u, user(5, i, None));
            assert!(seen.insert(u.email.clone()), "duplicate {}", u.email);
            assert!(u.email.starts_with(&format!("user{i}.")));
            assert!((1950..=2010).contains(&u.birth_year));
            let mut g = u.genres.to_vec();
            g.dedup();
            assert_eq!(g.len(), FAVOURITE_GENRES);
        }
        assert_ne!(user(5, 0, None), user(6, 0, None));
    }

    #[test]
    fn canary_changes_only_personal_strings() {
        let c = CanaryConfig {
            prefix: "t1".into(),
        };
        let plain = user(3, 12, None);
        let can = user(3, 12, Some(&c));
        assert_eq!(can.email, canary_email("t1", 12));
        assert_eq!(can.name, canary_name("t1", 12));
        assert!(can.name.contains("Canaryt112"));
        assert_eq!(
            (plain.country, plain.genres, plain.ip),
            (can.country, can.genres, can.ip)
        );
        assert!(!canary_email("t1", 123).contains(&canary_email("t1", 12)));
        assert!(!canary_name("t1", 123).contains(&canary_name("t1", 12)));
    }

    #[test]
    fn ip_mix_has_both_families() {
        let v6 = (0..2000)
            .filter(|i| user(1, *i, None).ip.contains(':'))
            .count();
        assert!((150..450).contains(&v6), "{v6}");
    }
}

//! Search-query text: what users type, plus the emails and phone numbers some of them paste in.
//!
//! Free text is where personal data hides in real event streams, so a fixed share of
//! queries carries an email (the user's own half the time, so erasure tests can find it)
//! or a phone number from ranges reserved for fiction.

use crate::names::{self, DOMAINS, QUERY_MOODS};
use crate::rng::Rng;
use crate::tracks::Catalog;
use crate::users::User;

/// Share of search queries carrying an email address.
pub const QUERY_EMAIL_SHARE: f64 = 0.03;
/// Share of search queries carrying a phone number.
pub const QUERY_PHONE_SHARE: f64 = 0.02;

/// A search query; some carry an email (the user's own or a stranger's) or a phone
/// number, so the PII scanner has something to find in free text.
pub fn search_query(rng: &mut Rng, catalog: &Catalog, u: &User) -> String {
    let roll = rng.unit();
    if roll < QUERY_EMAIL_SHARE {
        let email = if rng.chance(0.5) {
            u.email.clone()
        } else {
            let a = names::word(rng, 1, 2);
            let b = names::word(rng, 1, 3);
            let d = DOMAINS[rng.index(DOMAINS.len())];
            format!("{a}.{b}{}@{d}", rng.below(100))
        };
        return match rng.below(5) {
            0 => email,
            1 => format!("contact {email}"),
            2 => format!("send playlist to {email}"),
            3 => format!("{email} password reset"),
            _ => format!("is {email} my account"),
        };
    }
    if roll < QUERY_EMAIL_SHARE + QUERY_PHONE_SHARE {
        let phone = phone(rng);
        return match rng.below(4) {
            0 => phone,
            1 => format!("call me at {phone}"),
            2 => format!("my number is {phone}"),
            _ => format!("text {phone} the playlist"),
        };
    }
    let (track, genre) = u.pick_track(rng, catalog);
    let t = catalog.track(track);
    let mood = QUERY_MOODS[rng.index(QUERY_MOODS.len())];
    match rng.below(6) {
        0 | 1 => t.artist.to_lowercase(),
        2 => t.title.to_lowercase(),
        3 => format!("{mood} {genre}"),
        4 => format!("{genre} for {mood}"),
        _ => {
            // A half-typed title, as search-as-you-type sends.
            let lower = t.title.to_lowercase();
            let keep = (lower.len() / 2).max(1);
            lower
                .chars()
                .take(keep)
                .collect::<String>()
                .trim_end()
                .to_string()
        }
    }
}

/// A phone number from ranges reserved for fiction (UK 020 7946 0xxx, US 555-01xx).
fn phone(rng: &mut Rng) -> String {
    let uk = rng.below(1000);
    let us = rng.below(100);
    match rng.below(5) {
        0 => format!("+44 20 7946 0{uk:03}"),
        1 => format!("020 7946 0{uk:03}"),
        2 => format!("+1 202-555-01{us:02}"),
        3 => format!("(202) 555-01{us:02}"),
        _ => format!("+1202555{:04}", 100 + us),
    }
}

//! Hand-written syllable and vocabulary tables, and the word builders that combine them.
//!
//! Everything is made up here on purpose: no list is copied from another project, and
//! invented names cannot collide with real people or real artists.

use crate::rng::Rng;

/// Openings for given names.
const FIRST_HEAD: &[&str] = &[
    "Al", "Be", "Ca", "Da", "El", "Fa", "Gi", "Ha", "Io", "Ja", "Ka", "Le", "Ma", "Ni", "Or", "Pa",
    "Ri", "Sa", "Ta", "Vi", "Yu", "Ze", "Mi", "No", "Ro", "Lu", "Te", "An",
];

/// Endings for given names.
const FIRST_TAIL: &[&str] = &[
    "na", "ra", "lo", "ric", "sa", "den", "mir", "tan", "ya", "no", "lia", "ron", "vin", "ssa",
    "ko", "del", "ma", "ri", "sio", "bel", "to", "nie",
];

/// Openings for family names.
const LAST_HEAD: &[&str] = &[
    "Bran", "Cor", "Dal", "Fen", "Gar", "Hol", "Kes", "Lind", "Mor", "Nor", "Pel", "Quin", "Ros",
    "Sel", "Tor", "Var", "Wes", "Yar", "Zol", "Ash", "Bel", "Cas", "Dor", "Mar",
];

/// Middles for family names (sometimes skipped).
const LAST_MID: &[&str] = &["a", "e", "i", "o", "en", "ar", "il", "ov", "and", "er"];

/// Endings for family names.
const LAST_TAIL: &[&str] = &[
    "son", "berg", "ez", "ani", "ova", "er", "ley", "ton", "wick", "ard", "ski", "elli", "ing",
    "ford", "vak", "dottir",
];

/// Syllables for invented words (track titles, artist names, email words).
const WORD_SYL: &[&str] = &[
    "ka", "lo", "mi", "ra", "ven", "tor", "sa", "lu", "nee", "zor", "pa", "shi", "mar", "el",
    "dun", "qui", "ro", "ta", "vel", "om", "ish", "cae", "bri", "fen", "gal", "hu", "jin", "kel",
    "ny", "os", "pri", "sol", "tem", "ur", "vo", "wyn", "xa", "yel", "zu", "dra",
];

/// Reserved-for-documentation domains (RFC 2606 / RFC 6761), so no generated address is real.
pub const DOMAINS: &[&str] = &[
    "example.com",
    "example.net",
    "example.org",
    "mail.example",
    "inbox.test",
    "post.test",
];

/// The twenty genres; the catalog spreads tracks evenly across them.
pub const GENRES: &[&str] = &[
    "pop",
    "rock",
    "hip-hop",
    "electronic",
    "rnb",
    "latin",
    "indie",
    "country",
    "k-pop",
    "metal",
    "jazz",
    "classical",
    "folk",
    "reggae",
    "blues",
    "soul",
    "punk",
    "lofi",
    "ambient",
    "afrobeats",
];

/// How much of all listening each genre attracts (relative weights, same order as [`GENRES`]).
pub const GENRE_WEIGHTS: &[f64] = &[
    18.0, 12.0, 14.0, 9.0, 6.0, 7.0, 5.0, 4.0, 4.0, 3.0, 2.5, 2.5, 2.0, 1.5, 1.2, 1.5, 1.3, 2.0,
    1.0, 2.0,
];

/// ISO 3166-1 alpha-2 codes with a skewed share of users, as a real service would see.
pub const COUNTRIES: &[(&str, f64)] = &[
    ("US", 25.0),
    ("GB", 10.0),
    ("DE", 8.0),
    ("BR", 7.0),
    ("FR", 6.0),
    ("IN", 6.0),
    ("JP", 5.0),
    ("MX", 4.0),
    ("CA", 4.0),
    ("ES", 3.5),
    ("IT", 3.0),
    ("AU", 2.5),
    ("NL", 2.5),
    ("SE", 2.0),
    ("PL", 2.0),
    ("KR", 2.0),
    ("TR", 1.5),
    ("AR", 1.5),
    ("NG", 1.0),
    ("ZA", 1.0),
    ("IE", 0.8),
    ("NO", 0.7),
    ("FI", 0.5),
    ("PT", 0.5),
    ("NZ", 0.4),
    ("KE", 0.3),
];

/// Moods and activities that make search queries read like real ones.
pub const QUERY_MOODS: &[&str] = &[
    "chill",
    "workout",
    "focus",
    "party",
    "sleep",
    "road trip",
    "rainy day",
    "study",
    "dinner",
    "morning",
    "sad",
    "happy",
    "throwback",
    "summer",
];

/// Capitalizes the first ASCII letter.
fn capitalize(s: &mut str) {
    if let Some(first) = s.get_mut(0..1) {
        first.make_ascii_uppercase();
    }
}

/// A given name such as "Kalia".
pub fn first_name(rng: &mut Rng) -> String {
    let mut s = String::with_capacity(8);
    s.push_str(FIRST_HEAD[rng.index(FIRST_HEAD.len())]);
    s.push_str(FIRST_TAIL[rng.index(FIRST_TAIL.len())]);
    s
}

/// A family name such as "Morenberg".
pub fn last_name(rng: &mut Rng) -> String {
    let mut s = String::with_capacity(12);
    s.push_str(LAST_HEAD[rng.index(LAST_HEAD.len())]);
    let mid = rng.index(LAST_MID.len() * 2);
    if mid < LAST_MID.len() {
        s.push_str(LAST_MID[mid]);
    }
    s.push_str(LAST_TAIL[rng.index(LAST_TAIL.len())]);
    s
}

/// A lowercase invented word of `min..=max` syllables, such as "velomi".
pub fn word(rng: &mut Rng, min: u64, max: u64) -> String {
    let n = rng.range(min, max);
    let mut s = String::with_capacity(n as usize * 3);
    for _ in 0..n {
        s.push_str(WORD_SYL[rng.index(WORD_SYL.len())]);
    }
    s
}

/// A capitalized invented word, for titles and artist names.
pub fn title_word(rng: &mut Rng) -> String {
    let mut w = word(rng, 1, 3);
    capitalize(&mut w);
    w
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tables_line_up() {
        assert_eq!(GENRES.len(), 20);
        assert_eq!(GENRES.len(), GENRE_WEIGHTS.len());
        let mut sorted: Vec<_> = GENRES.to_vec();
        sorted.sort_unstable();
        sorted.dedup();
        assert_eq!(sorted.len(), GENRES.len(), "genres must be unique");
        assert!(COUNTRIES.iter().all(|(c, _)| c.len() == 2));
    }

    #[test]
    fn words_are_plain_ascii() {
        // The NDJSON writer relies on generated words needing no JSON escaping.
        let mut r = Rng::new(3);
        for _ in 0..1000 {
            for w in [
                first_name(&mut r),
                last_name(&mut r),
                word(&mut r, 1, 4),
                title_word(&mut r),
            ] {
                assert!(!w.is_empty());
                assert!(w.bytes().all(|b| b.is_ascii_alphanumeric()), "{w}");
            }
        }
    }
}

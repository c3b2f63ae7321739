//! The track catalog: tracks as pure functions of their index, genres assigned by a seeded permutation, and Zipf-like popularity.
//!
//! To pick "a popular rock track" without storing per-genre lists, the catalog works in
//! *slots*: slot `rank * G + genre` is the `rank`-th most popular track of `genre`
//! (`G` = number of genres). A seeded affine permutation maps slots to track numbers and
//! back, so ids carry no hint of genre or popularity and everything stays O(1) in memory.

use crate::names::{self, GENRES};
use crate::rng::{self, Rng};

/// Zipf exponent for popularity within a genre: the top few tracks take a large share of
/// plays and a long tail is played rarely, as on real services.
pub const ZIPF_EXPONENT: f64 = 1.1;

const GENRE_COUNT: usize = GENRES.len();

/// One catalog entry. Tracks are items, never personal data.
#[derive(Clone, Debug, PartialEq)]
pub struct Track {
    pub index: u64,
    /// `trk_{index}`.
    pub id: String,
    pub title: String,
    pub artist: String,
    pub genre: &'static str,
    pub duration_ms: u32,
}

/// Catalog-wide parameters derived from `(seed, tracks)`.
#[derive(Clone, Debug)]
pub struct Catalog {
    seed: u64,
    n: u64,
    /// Permutation slot → track: `(mul * slot + add) mod n`, with `mul` coprime to `n`.
    mul: u64,
    add: u64,
    /// Inverse of `mul` modulo `n`, for track → slot.
    mul_inv: u64,
    /// Tracks per genre.
    counts: [u64; GENRE_COUNT],
    /// `(count + 1)^(1 - s)` per genre, precomputed for the Zipf inverse CDF.
    zipf_top: [f64; GENRE_COUNT],
}

impl Catalog {
    /// The catalog of `tracks` tracks (at least 1) under `seed`.
    pub fn new(seed: u64, tracks: u64) -> Self {
        let n = tracks.max(1);
        let g = GENRE_COUNT as u64;
        let counts: [u64; GENRE_COUNT] =
            std::array::from_fn(|k| (n.saturating_sub(k as u64)).div_ceil(g));
        let zipf_top = std::array::from_fn(|k| ((counts[k] + 1) as f64).powf(1.0 - ZIPF_EXPONENT));
        let mut r = Rng::derive(seed, rng::domain::CATALOG, 0);
        let mut mul = 1;
        // Random multipliers are coprime to n often enough that 64 tries always suffice in
        // practice; 1 (identity order) is a correct fallback.
        for _ in 0..64 {
            let cand = r.below(n).max(1);
            if gcd(cand, n) == 1 {
                mul = cand;
                break;
            }
        }
        let add = r.below(n);
        Catalog {
            seed,
            n,
            mul,
            add,
            mul_inv: mod_inverse(mul, n),
            counts,
            zipf_top,
        }
    }

    /// Number of tracks.
    pub fn len(&self) -> u64 {
        self.n
    }

    /// Never true: a catalog has at least one track.
    pub fn is_empty(&self) -> bool {
        false
    }

    fn slot_to_track(&self, slot: u64) -> u64 {
        ((u128::from(self.mul) * u128::from(slot) + u128::from(self.add)) % u128::from(self.n))
            as u64
    }

    fn track_to_slot(&self, track: u64) -> u64 {
        let shifted =
            (u128::from(track) + u128::from(self.n) - u128::from(self.add)) % u128::from(self.n);
        ((u128::from(self.mul_inv) * shifted) % u128::from(self.n)) as u64
    }

    /// Genre index (into [`GENRES`]) of track `track`.
    pub fn genre_of(&self, track: u64) -> usize {
        (self.track_to_slot(track) % GENRE_COUNT as u64) as usize
    }

    /// Popularity rank of a track within its genre (0 = most played).
    pub fn rank_of(&self, track: u64) -> u64 {
        self.track_to_slot(track) / GENRE_COUNT as u64
    }

    /// Draws a track of `genre`, popular ones far more often (Zipf via the continuous
    /// inverse CDF: one `powf`, no tables). Falls back to another genre when the catalog
    /// is too small to have tracks in this one.
    pub fn pick(&self, r: &mut Rng, genre: usize) -> u64 {
        let genre = if self.counts[genre] == 0 {
            genre % self.n as usize
        } else {
            genre
        };
        let count = self.counts[genre];
        let u = r.unit();
        let x = (1.0 + u * (self.zipf_top[genre] - 1.0)).powf(1.0 / (1.0 - ZIPF_EXPONENT));
        let rank = (x as u64).saturating_sub(1).min(count - 1);
        self.slot_to_track(rank * GENRE_COUNT as u64 + genre as u64)
    }

    /// Duration alone: the first draw of the track's stream, cheap enough for every play.
    pub fn duration_ms(&self, track: u64) -> u32 {
        let mut r = Rng::derive(self.seed, rng::domain::TRACK, track);
        draw_duration(&mut r, self.genre_of(track))
    }

    /// The full catalog entry for `track` (callers keep `track < len()`).
    pub fn track(&self, track: u64) -> Track {
        let genre = self.genre_of(track);
        let mut r = Rng::derive(self.seed, rng::domain::TRACK, track);
        let duration_ms = draw_duration(&mut r, genre);
        let words = r.range(2, 4);
        let mut title = String::new();
        for k in 0..words {
            if k > 0 {
                title.push(' ');
            }
            title.push_str(&names::title_word(&mut r));
        }
        // Each genre has about one artist per six tracks; artists are named by their own
        // stream so all of an artist's tracks agree on the name.
        let artists = (self.counts[genre] / 6).max(1);
        let artist_no = r.below(artists);
        Track {
            index: track,
            id: format!("trk_{track}"),
            title,
            artist: artist_name(self.seed, artist_no * GENRE_COUNT as u64 + genre as u64),
            genre: GENRES[genre],
            duration_ms,
        }
    }

    /// All tracks in id order, for loading an item catalog.
    pub fn iter(&self) -> impl Iterator<Item = Track> + '_ {
        (0..self.n).map(|j| self.track(j))
    }
}

/// 2–7 minutes, centred near 3.5; classical and ambient run longer.
fn draw_duration(r: &mut Rng, genre: usize) -> u32 {
    let base = 120_000 + (r.below(150_000) + r.below(150_000)) as u32;
    match GENRES[genre] {
        "classical" | "ambient" => base * 2,
        _ => base,
    }
}

/// "Velomi", "The Karo", "Sol Tembri" and the like.
fn artist_name(seed: u64, artist: u64) -> String {
    let mut r = Rng::derive(seed, rng::domain::ARTIST, artist);
    let a = names::title_word(&mut r);
    match r.below(10) {
        0..=4 => a,
        5..=7 => format!("{a} {}", names::title_word(&mut r)),
        _ => format!("The {a}"),
    }
}

fn gcd(mut a: u64, mut b: u64) -> u64 {
    while b != 0 {
        (a, b) = (b, a % b);
    }
    a
}

/// Inverse of `a` modulo `n` by the extended Euclidean algorithm (`a` coprime to `n`).
fn mod_inverse(a: u64, n: u64) -> u64 {
    if n == 1 {
        return 0;
    }
    let (mut old_r, mut r) = (i128::from(a), i128::from(n));
    let (mut old_s, mut s) = (1i128, 0i128);
    while r != 0 {
        let q = old_r / r;
        (old_r, r) = (r, old_r - q * r);
        (old_s, s) = (s, old_s - q * s);
    }
    old_s.rem_euclid(i128::from(n)) as u64
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn permutation_round_trips() {
        for n in [1, 2, 7, 20, 21, 100, 9973, 10_000] {
            let c = Catalog::new(42, n);
            let mut seen = vec![false; n as usize];
            for slot in 0..n {
                let t = c.slot_to_track(slot);
                assert!(!seen[t as usize], "n={n}: collision");
                seen[t as usize] = true;
                assert_eq!(c.track_to_slot(t), slot);
            }
        }
    }

    #[test]
    fn picks_respect_genre_and_popularity() {
        let c = Catalog::new(7, 10_000);
        let mut r = Rng::new(1);
        let mut top = 0;
        for _ in 0..20_000 {
            let t = c.pick(&mut r, 3);
            assert!(t < 10_000);
            assert_eq!(c.genre_of(t), 3);
            if c.rank_of(t) < 10 {
                top += 1;
            }
        }
        // 10 of 500 tracks should take a large share of plays.
        assert!(top > 20_000 / 4, "top-10 share too small: {top}");
    }

    #[test]
    fn tiny_catalog_still_picks() {
        let c = Catalog::new(1, 3);
        let mut r = Rng::new(1);
        for g in 0..GENRE_COUNT {
            assert!(c.pick(&mut r, g) < 3);
        }
    }

    #[test]
    fn tracks_are_stable() {
        let c = Catalog::new(11, 500);
        let t = c.track(17);
        assert_eq!(t, Catalog::new(11, 500).track(17));
        assert_eq!(t.id, "trk_17");
        assert_eq!(t.duration_ms, c.duration_ms(17));
        assert!((2..=4).contains(&t.title.split(' ').count()));
        assert_eq!(c.iter().count(), 500);
    }
}

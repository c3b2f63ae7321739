//! Context words: words near a candidate that say what it is ("phone"), or that it is something else ("order").

use crate::limits::{PII_CONTEXT_AFTER_BYTES, PII_CONTEXT_BEFORE_BYTES};

/// The context words of one recognizer and how much they move its confidence.
pub(super) struct ContextWords {
    /// Words that say the span is this entity; the nearest one raises confidence by `boost`.
    pub positive: WordList,
    /// Words that say the span is something else, read before it; lower confidence by
    /// `penalty` when nearer than any positive word.
    pub negative: WordList,
    pub boost: f32,
    pub penalty: f32,
}

/// A list of lowercase words (or short phrases) in a small open-addressing hash table
/// keyed by [`key_at`], built at compile time by `word_list!`: a word in the text is
/// looked up with one hash and usually one probe; only entries whose key matches are
/// compared in full.
pub(super) struct WordList {
    pub words: &'static [&'static str],
    /// Keys by slot; 0 marks an empty slot (a real key has a non-zero length byte).
    pub slots: &'static [u64; WORD_SLOTS],
    /// For each occupied slot, the index of its word in `words`.
    pub index: &'static [u16; WORD_SLOTS],
}

/// Slots of a [`WordList`] table: at most half are used, so probe chains stay short.
pub(super) const WORD_SLOTS: usize = 256;
const _: () = assert!(WORD_SLOTS.is_power_of_two() && WORD_SLOTS <= 1 << 16);

/// The slot where a key's probe chain starts.
#[inline]
const fn slot_of(key: u64) -> usize {
    let h = key.wrapping_mul(0x9e37_79b9_7f4a_7c15);
    let h = (h ^ (h >> 31)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    // The top bits, as many as index the table.
    (h >> (64 - WORD_SLOTS.trailing_zeros())) as usize
}

/// Longest run of letters and digits a key counts; longer words match no entry.
const KEY_RUN_MAX: usize = 32;

/// The key of the word at byte `j` of `bytes`: the length of its leading run of ASCII
/// letters and digits (top byte) and the run's first seven bytes, lowercased.
#[inline(always)]
fn key_at(bytes: &[u8], j: usize) -> u64 {
    let mut key = 0u64;
    let mut run = 0usize;
    while run < KEY_RUN_MAX {
        match bytes.get(j + run) {
            Some(&b) if b.is_ascii_alphanumeric() => {
                if run < 7 {
                    key |= u64::from(b | 0x20) << (8 * run);
                }
                run += 1;
            }
            _ => break,
        }
    }
    key | ((run as u64) << 56)
}

/// The hash table of `words` (for `word_list!`): keys as [`key_at`] computes them for text.
pub(super) const fn word_table(words: &[&str]) -> ([u64; WORD_SLOTS], [u16; WORD_SLOTS]) {
    assert!(
        words.len() <= WORD_SLOTS / 2,
        "word list too long for its table"
    );
    let mut slots = [0u64; WORD_SLOTS];
    let mut index = [0u16; WORD_SLOTS];
    let mut k = 0;
    while k < words.len() {
        let w = words[k].as_bytes();
        let mut key = 0u64;
        let mut run = 0usize;
        while run < w.len() && run < KEY_RUN_MAX && w[run].is_ascii_alphanumeric() {
            if run < 7 {
                key |= ((w[run] | 0x20) as u64) << (8 * run);
            }
            run += 1;
        }
        // Words are looked up at ASCII word starts only.
        assert!(
            run > 0,
            "a listed word must start with an ASCII letter or digit"
        );
        key |= (run as u64) << 56;
        let mut slot = slot_of(key);
        while slots[slot] != 0 {
            slot = (slot + 1) % WORD_SLOTS;
        }
        slots[slot] = key;
        index[slot] = k as u16;
        k += 1;
    }
    (slots, index)
}

/// The hash key of the word at a word start, to look it up in several [`WordList`]s.
pub(super) struct WordKey {
    at: usize,
    key: u64,
    slot: usize,
}

impl WordKey {
    /// The key of the word at byte `j` (a word start).
    #[inline]
    pub fn at(text: &str, j: usize) -> WordKey {
        let key = key_at(text.as_bytes(), j);
        WordKey {
            at: j,
            key,
            slot: slot_of(key),
        }
    }
}

impl WordList {
    /// The first word of the list written at byte `j` (a word start) as a whole word,
    /// ignoring ASCII case.
    #[inline]
    pub fn find_at(&self, text: &str, j: usize) -> Option<&'static str> {
        let key = key_at(text.as_bytes(), j);
        self.find_key(text, j, key, slot_of(key))
    }

    /// As [`WordList::find_at`], with the word's key computed once for several lists.
    #[inline]
    pub fn find_keyed(&self, text: &str, word: &WordKey) -> Option<&'static str> {
        self.find_key(text, word.at, word.key, word.slot)
    }

    /// Whether `word` (ASCII, any case) is in the list.
    pub fn contains(&self, word: &[u8]) -> bool {
        if word.is_empty()
            || word.len() >= KEY_RUN_MAX
            || !word.iter().all(u8::is_ascii_alphanumeric)
        {
            return false;
        }
        let key = key_at(word, 0);
        let mut slot = slot_of(key);
        loop {
            match self.slots[slot] {
                0 => return false,
                k if k == key
                    && self.words[usize::from(self.index[slot])]
                        .as_bytes()
                        .eq_ignore_ascii_case(word) =>
                {
                    return true;
                }
                _ => slot = (slot + 1) % WORD_SLOTS,
            }
        }
    }

    /// As [`WordList::find_at`], with the key of the word at `j` already computed.
    #[inline(always)]
    fn find_key(&self, text: &str, j: usize, key: u64, first_slot: usize) -> Option<&'static str> {
        let mut slot = first_slot;
        loop {
            match self.slots[slot] {
                0 => return None,
                k if k == key => {
                    let word = self.words[usize::from(self.index[slot])];
                    if word_at(text, j, word) {
                        return Some(word);
                    }
                }
                _ => {}
            }
            slot = (slot + 1) % WORD_SLOTS;
        }
    }
}

/// Whether `c` continues a word (so a match ending before it is not a whole word).
fn is_word_char(c: char) -> bool {
    c.is_alphanumeric() || c == '_'
}

/// The char that ends just before byte `i` (which must be a char boundary).
pub(super) fn char_before(text: &str, i: usize) -> Option<char> {
    text.get(..i).and_then(|s| s.chars().next_back())
}

/// The char that starts at byte `i` (which must be a char boundary).
pub(super) fn char_at(text: &str, i: usize) -> Option<char> {
    text.get(i..).and_then(|s| s.chars().next())
}

/// Whether byte `i` starts a word: the char before it (if any) is not a word char.
#[inline]
pub(super) fn is_word_start(text: &str, i: usize) -> bool {
    let bytes = text.as_bytes();
    match i.checked_sub(1).and_then(|j| bytes.get(j)) {
        None => true,
        Some(&b) if b < 0x80 => !(b.is_ascii_alphanumeric() || b == b'_'),
        Some(_) => !word_char_before(text, i),
    }
}

#[cold]
fn word_char_before(text: &str, i: usize) -> bool {
    char_before(text, i).is_some_and(is_word_char)
}

/// Whether byte `i` ends a word: no word char starts there.
#[inline]
pub(super) fn is_word_end(text: &str, i: usize) -> bool {
    match text.as_bytes().get(i) {
        None => true,
        Some(&b) if b < 0x80 => !(b.is_ascii_alphanumeric() || b == b'_'),
        Some(_) => !word_char_at(text, i),
    }
}

#[cold]
fn word_char_at(text: &str, i: usize) -> bool {
    char_at(text, i).is_some_and(is_word_char)
}

/// Whether `word` (lowercase) is written at byte `j` of `text` as a whole word, ignoring ASCII case.
///
/// `j` must be the start of a word; only its end is checked here.
pub(super) fn word_at(text: &str, j: usize, word: &str) -> bool {
    let bytes = text.as_bytes();
    let w = word.as_bytes();
    let Some(candidate) = bytes.get(j..j + w.len()) else {
        return false;
    };
    candidate
        .iter()
        .zip(w)
        .all(|(a, b)| a.to_ascii_lowercase() == *b)
        && is_word_end(text, j + w.len())
}

/// The confidence of a candidate at `start..end` with `base`, and the positive words that raised it.
///
/// Looks at up to [`PII_CONTEXT_BEFORE_BYTES`] before the span and [`PII_CONTEXT_AFTER_BYTES`]
/// after it, within the span's sentence. The nearest context word decides: a positive one
/// (before or after: "call 415…", "415… is my mobile") adds `boost`; a negative one, read
/// before the span only ("order 415…"), subtracts `penalty`. Clamped to 0..=1.
pub(super) fn score(
    text: &str,
    start: usize,
    end: usize,
    base: f32,
    words: &ContextWords,
) -> (f32, Vec<&'static str>) {
    let bytes = text.as_bytes();
    let mut positive: Vec<&'static str> = Vec::new();
    #[inline(always)]
    fn visit(
        text: &str,
        j: usize,
        distance: usize,
        before: bool,
        words: &ContextWords,
        positive: &mut Vec<&'static str>,
        nearest: &mut (usize, usize),
    ) {
        let key = key_at(text.as_bytes(), j);
        let slot = slot_of(key);
        if let Some(w) = words.positive.find_key(text, j, key, slot) {
            nearest.0 = nearest.0.min(distance);
            if !positive.contains(&w) {
                positive.push(w);
            }
        } else if before && words.negative.find_key(text, j, key, slot).is_some() {
            nearest.1 = nearest.1.min(distance);
        }
    }
    // (nearest positive, nearest negative) distances.
    let mut nearest = (usize::MAX, usize::MAX);
    // Backward from the span to the window's edge or the sentence's start, word by word.
    let low = start.saturating_sub(PII_CONTEXT_BEFORE_BYTES);
    let mut j = start;
    while j > low {
        j -= 1;
        match CLASS[usize::from(bytes[j])] {
            ALNUM => {
                while j > low && CLASS[usize::from(bytes[j - 1])] == ALNUM {
                    j -= 1;
                }
                if bytes[j].is_ascii_alphabetic() && is_word_start(text, j) {
                    visit(text, j, start - j, true, words, &mut positive, &mut nearest);
                }
            }
            STOP if sentence_ends_at(bytes, j) => break,
            _ => {}
        }
    }
    // Forward from the span to the window's edge or the sentence's end, word by word.
    let high = end.saturating_add(PII_CONTEXT_AFTER_BYTES).min(bytes.len());
    let mut j = end;
    while j < high {
        match CLASS[usize::from(bytes[j])] {
            ALNUM => {
                if bytes[j].is_ascii_alphabetic() && is_word_start(text, j) {
                    visit(text, j, j - end, false, words, &mut positive, &mut nearest);
                }
                while j < high && CLASS[usize::from(bytes[j])] == ALNUM {
                    j += 1;
                }
                continue;
            }
            STOP if sentence_ends_at(bytes, j) => break,
            _ => {}
        }
        j += 1;
    }
    let (nearest_positive, nearest_negative) = nearest;
    let confidence = if !positive.is_empty() && nearest_positive <= nearest_negative {
        base + words.boost
    } else if nearest_negative < usize::MAX {
        positive.clear();
        base - words.penalty
    } else {
        base
    };
    (confidence.clamp(0.0, 1.0), positive)
}

/// Byte classes for the context scan: ASCII letters and digits, bytes that may end a
/// sentence, and the rest.
const OTHER: u8 = 0;
const ALNUM: u8 = 1;
const STOP: u8 = 2;
static CLASS: [u8; 256] = {
    let mut table = [OTHER; 256];
    let mut b = 0;
    while b < 256 {
        let c = b as u8;
        table[b] = if c.is_ascii_alphanumeric() {
            ALNUM
        } else if matches!(c, b'.' | b'!' | b'?' | b'\n') {
            STOP
        } else {
            OTHER
        };
        b += 1;
    }
    table
};

/// Whether a sentence ends at byte `j`: a newline; `!` or `?` before white space; `.`
/// before white space and a capital (so "no. 123" and "Tel. 030" go on).
#[inline]
pub(super) fn sentence_ends_at(bytes: &[u8], j: usize) -> bool {
    let space_after = || bytes.get(j + 1).is_some_and(u8::is_ascii_whitespace);
    match bytes[j] {
        b'\n' => true,
        b'!' | b'?' => space_after(),
        b'.' => space_after() && bytes.get(j + 2).is_some_and(u8::is_ascii_uppercase),
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const LIST: WordList = word_list![
        "social",
        "social security",
        "ssn",
        "né",
        "d.o.b",
        "telephone"
    ];

    #[test]
    fn every_listed_word_is_found_as_a_whole_word_in_any_case() {
        for (text, expect) in [
            ("SSN: 1", Some("ssn")),
            ("Social Security number", Some("social")),
            ("né le", Some("né")),
            ("D.O.B 1985", Some("d.o.b")),
            ("Telephone", Some("telephone")),
            ("ssns", None),
            ("née", None),
            ("telephones", None),
            ("socialite", None),
        ] {
            assert_eq!(LIST.find_at(text, 0), expect, "{text:?}");
        }
        assert!(LIST.contains(b"SSN") && !LIST.contains(b"ss") && !LIST.contains(b""));
    }

    #[test]
    fn context_stays_in_the_sentence_and_the_nearest_word_decides() {
        const WORDS: ContextWords = ContextWords {
            positive: word_list!["phone"],
            negative: word_list!["order"],
            boost: 0.25,
            penalty: 0.25,
        };
        let at = |text: &str, span: &str| {
            let start = text.find(span).unwrap_or(0);
            score(text, start, start + span.len(), 0.5, &WORDS)
        };
        assert_eq!(at("phone 123", "123"), (0.75, vec!["phone"]));
        assert_eq!(at("order 123", "123"), (0.25, vec![]));
        assert_eq!(at("phone for order 123", "123").0, 0.25);
        assert_eq!(at("order by phone 123", "123").0, 0.75);
        assert_eq!(at("My phone broke. Order 123", "123").0, 0.25);
        assert_eq!(at("123 is my phone", "123").0, 0.75);
        // Negative words count only before the span.
        assert_eq!(at("123 order", "123").0, 0.5);
    }
}

//! Dates of birth: a calendar date that follows a birth keyword ("born", "date of birth", "DOB", "geboren", "né", "fecha de nacimiento") closely.
//!
//! Keywords: English "born", "birth", "birthday", "birthdate", "DOB"; German "geboren",
//! "geb.", "Geburt", "Geburtsdatum", "Geburtstag"; French "né(e)", "naissance", "DDN";
//! Spanish "nacido/nacida", "nací", "nació", "nacimiento", "F. nac.", "cumpleaños".
//!
//! A date alone is not personal; a date of birth is. So the trigger is the keyword, and
//! the date must come within [`PII_DOB_WINDOW_BYTES`] after it, in the same sentence,
//! with at most one word between them other than connectors ("on", "is", "am", "le",
//! "el") and weekdays ("geboren am Montag, dem 12.03.1985"); after a place preposition
//! ("in", "à", "en", "bei") up to three capitalized words of a place name may stand there
//! too ("born in New York on ...", "né à Paris le ...", "nacida en San Sebastián el ...").
//! A word that names another kind of date ("delivered", "appointment", "Termin",
//! "livraison", "pedido", "party") ends the search, and a birthday right after such a
//! word ("fiesta de cumpleaños el ...") is not someone's birth date.
//! Most keywords may also follow their date with only connectors between ("am 14.03.1985
//! geboren", "1985-03-14 is my date of birth").
//! Dates: `1985-03-14`, `14.03.1985`, `03/14/85` (day and month either way round),
//! `14 March 1985`, `14th of March, 1985`, `March 14, 1985`, `14. März 1985`,
//! `14 mars 1985`, `1er mai 1990`, `3 de marzo de 1987`, `1º de mayo de 1990`, with month
//! names and common abbreviations in English, German, French and Spanish; the day must
//! exist in that month, a four-digit year lie in 1900..=2030.
//!
//! [`PII_DOB_WINDOW_BYTES`]: crate::limits::PII_DOB_WINDOW_BYTES

use super::context::{WordKey, WordList, is_word_end, is_word_start, sentence_ends_at};
use super::{PiiEntity, PiiFinding};
use crate::limits::PII_DOB_WINDOW_BYTES;

/// Words that announce a date of birth (lowercase, whole words).
const KEYWORDS: WordList = word_list![
    "born",
    "birth",
    "birthday",
    "birthdate",
    "bday",
    "b-day",
    "dob",
    "d.o.b",
    "geboren",
    "geb",
    "geburtsdatum",
    "geburtstag",
    "geburt",
    "né",
    "née",
    "nee",
    "naissance",
    "naiss",
    "ddn",
    "nacimiento",
    "nacido",
    "nacida",
    "nací",
    "naci",
    "nació",
    "nacio",
    "nac",
    "cumpleaños",
];

/// Keywords that name a yearly day, not a birth: a party or a gift may fall on it.
const BIRTHDAY_KEYWORDS: &[&str] = &["birthday", "bday", "b-day", "geburtstag", "cumpleaños"];

const BASE: f32 = 0.9;

/// Earliest and latest plausible four-digit birth year (no clock is read).
const YEAR_MIN: u32 = 1900;
const YEAR_MAX: u32 = 2030;

/// Looks for a date of birth next to a birth keyword at byte `i` (a word start).
pub(super) fn at_word(text: &str, i: usize, out: &mut Vec<PiiFinding>) {
    // Every keyword starts with one of these pairs of bytes (`0xe3` is `é`'s first byte,
    // with bit 5 set): most words are turned away here.
    let bytes = text.as_bytes();
    let Some(&second) = bytes.get(i + 1) else {
        return;
    };
    if !matches!(
        (bytes[i] | 0x20, second | 0x20),
        (b'b', b'o' | b'i' | b'd' | b'-')
            | (b'd', b'o' | b'.' | b'd')
            | (b'g', b'e')
            | (b'n', b'a' | b'e' | 0xe3)
            | (b'c', b'u')
    ) {
        return;
    }
    let Some(keyword) = KEYWORDS.find_at(text, i) else {
        return;
    };
    // "Geburtstagsfeier" is one word; "fiesta de cumpleaños", "party for my birthday" are not.
    if BIRTHDAY_KEYWORDS.contains(&keyword) && not_birth_before(text, i) {
        return;
    }
    // A date just before the keyword ("1985-03-14 is my date of birth") that no earlier
    // keyword has claimed, or the first date after it; the nearer one when both.
    let before = AFTER_DATE_KEYWORDS
        .contains(&keyword)
        .then(|| date_just_before(text, i))
        .flatten()
        .filter(|&(start, _)| {
            !out.iter()
                .any(|f| f.entity == PiiEntity::DateOfBirth && f.start == start)
        });
    let after = date_after(text, i + keyword.len());
    let chosen = match (before, after) {
        (Some(b), Some(a)) => Some(if i - b.1 <= a.0 - (i + keyword.len()) {
            b
        } else {
            a
        }),
        (b, a) => b.or(a),
    };
    if let Some((start, end)) = chosen {
        out.push(finding(start, end, keyword));
    }
}

/// The first date within [`PII_DOB_WINDOW_BYTES`] after byte `from`, in the same sentence,
/// with at most [`OTHER_WORDS_MAX`] words other than connectors and weekdays before it,
/// and up to [`PLACE_WORDS_MAX`] capitalized words after a place preposition; none that
/// names another kind of date.
fn date_after(text: &str, from: usize) -> Option<(usize, usize)> {
    let bytes = text.as_bytes();
    let to = (from + PII_DOB_WINDOW_BYTES).min(bytes.len());
    let mut other_words = 0;
    // Capitalized words still taken for a place name ("in New York City").
    let mut place_words = 0;
    let mut j = from;
    while j < to {
        let b = bytes[j];
        if sentence_ends(bytes, j) {
            return None;
        }
        let digit_start = b.is_ascii_digit() && !bytes[j - 1].is_ascii_digit();
        let word_start = b.is_ascii_alphabetic() && is_word_start(text, j);
        if (digit_start || word_start)
            && let Some(end) = parse_date(text, j)
        {
            return Some((j, end));
        }
        if word_start {
            let word_len: usize = text[j..]
                .chars()
                .take_while(|c| c.is_alphabetic())
                .map(char::len_utf8)
                .sum();
            let word = WordKey::at(text, j);
            if PLACE_PREPOSITIONS.find_keyed(text, &word).is_some() {
                place_words = PLACE_WORDS_MAX;
            } else if CONNECTORS.find_keyed(text, &word).is_some()
                || WEEKDAYS.find_keyed(text, &word).is_some()
            {
                // "Frankfurt am Main", "Rio de Janeiro": a connector may stand in a place name.
            } else if NOT_BIRTH.find_keyed(text, &word).is_some() {
                return None;
            } else if place_words > 0 && b.is_ascii_uppercase() {
                place_words -= 1;
            } else {
                other_words += 1;
                if other_words > OTHER_WORDS_MAX {
                    return None;
                }
            }
            j += word_len;
            continue;
        }
        // `à`, French for "in" before a town: a place preposition too.
        if b == 0xc3
            && bytes.get(j + 1) == Some(&0xa0)
            && is_word_start(text, j)
            && is_word_end(text, j + 2)
        {
            place_words = PLACE_WORDS_MAX;
            j += 2;
            continue;
        }
        j += 1;
    }
    None
}

/// Whether a word that names another kind of date stands among the two words before the
/// keyword at byte `i`, in the same sentence ("fiesta de cumpleaños", "Feier zum Geburtstag").
fn not_birth_before(text: &str, i: usize) -> bool {
    let bytes = text.as_bytes();
    let mut j = i;
    for _ in 0..2 {
        // Back over spaces and punctuation to the end of the word before, within the sentence.
        let mut gap = 0;
        while j > 0 && !bytes[j - 1].is_ascii_alphabetic() {
            j -= 1;
            gap += 1;
            if gap > 3 || sentence_ends(bytes, j) {
                return false;
            }
        }
        let end = j;
        while j > 0 && end - j < 16 && bytes[j - 1].is_ascii_alphabetic() {
            j -= 1;
        }
        if j == end || !is_word_start(text, j) {
            return false;
        }
        if NOT_BIRTH.find_at(text, j).is_some() {
            return true;
        }
    }
    false
}

fn finding(start: usize, end: usize, keyword: &'static str) -> PiiFinding {
    PiiFinding {
        entity: PiiEntity::DateOfBirth,
        start,
        end,
        confidence: BASE,
        context: vec![keyword],
    }
}

/// Longest date written out, in bytes ("14th of September, 1985" has 23).
const DATE_BYTES_MAX: usize = 28;

/// Most connector words between a date and a keyword after it ("... is my date of birth").
const CONNECTORS_BEFORE_MAX: usize = 4;

/// Keywords that may also follow their date. Not "birthday": "on 2023-03-14 my birthday
/// party" names a party's date.
const AFTER_DATE_KEYWORDS: &[&str] = &[
    "born",
    "birth",
    "birthdate",
    "dob",
    "d.o.b",
    "geboren",
    "geb",
    "geburtsdatum",
    "geburt",
    "né",
    "née",
    "nee",
    "naissance",
    "naiss",
    "ddn",
    "nacimiento",
    "nacido",
    "nacida",
    "nací",
    "naci",
    "nació",
    "nacio",
    "nac",
];

/// A date that ends shortly before the keyword at byte `i`: only spaces and up to
/// [`CONNECTORS_BEFORE_MAX`] connector words between ("am 14.03.1985 geboren",
/// "1985-03-14 is my date of birth"); any other word or punctuation, and it is not.
fn date_just_before(text: &str, i: usize) -> Option<(usize, usize)> {
    let bytes = text.as_bytes();
    let mut end = i;
    let mut words = 0;
    loop {
        let spaces_end = end;
        while end > 0 && bytes[end - 1] == b' ' {
            end -= 1;
        }
        if end == spaces_end {
            return None;
        }
        let mut word_start = end;
        while word_start > 0 && bytes[word_start - 1].is_ascii_alphabetic() {
            word_start -= 1;
        }
        if word_start == end || !is_word_start(text, word_start) {
            break;
        }
        if words == CONNECTORS_BEFORE_MAX || CONNECTORS.find_at(text, word_start).is_none() {
            return None;
        }
        words += 1;
        end = word_start;
    }
    (end.saturating_sub(DATE_BYTES_MAX)..end).find_map(|j| {
        let b = bytes[j];
        let starts = (b.is_ascii_digit() && (j == 0 || !bytes[j - 1].is_ascii_digit()))
            || (b.is_ascii_alphabetic() && is_word_start(text, j));
        (starts && parse_date(text, j) == Some(end)).then_some((j, end))
    })
}

/// Words that may stand between a keyword and its date ("born on", "date of birth is",
/// "geboren am", "née le", "nacido el").
const CONNECTORS: WordList = word_list![
    "is", "was", "on", "in", "at", "am", "um", "le", "la", "du", "de", "of", "the", "my", "his",
    "her", "their", "your", "date", "day", "as", "listed", "ist", "war", "der", "des", "den",
    "dem", "est", "il", "elle", "i", "me", "be", "he", "she", "were", "and", "datum", "ich", "bin",
    "wurde", "mein", "meine", "sein", "seine", "ihr", "ihre", "zu", "zum", "und", "je", "suis",
    "ma", "sa", "mon", "son", "au", "e", "et", "el", "del", "mi", "su", "es", "fue", "yo", "soy",
    "a", "al", "y", "fecha", "lugar",
];

/// Weekdays, which may stand before a date ("geboren am Montag, dem 12.03.1985").
const WEEKDAYS: WordList = word_list![
    "monday",
    "tuesday",
    "wednesday",
    "thursday",
    "friday",
    "saturday",
    "sunday",
    "mon",
    "tue",
    "wed",
    "thu",
    "fri",
    "sat",
    "sun",
    "montag",
    "dienstag",
    "mittwoch",
    "donnerstag",
    "freitag",
    "samstag",
    "sonnabend",
    "sonntag",
    "lundi",
    "mardi",
    "mercredi",
    "jeudi",
    "vendredi",
    "samedi",
    "dimanche",
    "lunes",
    "martes",
    "miércoles",
    "miercoles",
    "jueves",
    "viernes",
    "sábado",
    "sabado",
    "domingo",
];

/// Words before a place name ("born in Lyon", "nacida en Sevilla"); `à` is matched apart.
const PLACE_PREPOSITIONS: WordList = word_list!["in", "at", "near", "en", "im", "bei", "zu"];

/// Words that name another kind of date: the date near them is not a birth date.
const NOT_BIRTH: WordList = word_list![
    "appointment",
    "delivery",
    "delivered",
    "shipped",
    "ordered",
    "order",
    "invoice",
    "invoiced",
    "renewal",
    "renewed",
    "booked",
    "booking",
    "party",
    "due",
    "expires",
    "expiry",
    "expired",
    "issued",
    "valid",
    "gift",
    "meeting",
    "termin",
    "lieferung",
    "geliefert",
    "bestellt",
    "bestellung",
    "rechnung",
    "feier",
    "gültig",
    "ausgestellt",
    "rendez",
    "livraison",
    "livré",
    "livrée",
    "commande",
    "facture",
    "fête",
    "expire",
    "valable",
    "délivré",
    "délivrée",
    "cita",
    "entrega",
    "entregado",
    "pedido",
    "factura",
    "fiesta",
    "vence",
    "caduca",
    "expedido",
    "emitido",
    "regalo",
    "reunión",
];

/// Most other words between a keyword and its date ("born abroad on ..."); more, and the
/// date is taken for something else ("birthday dinner booked for ...").
const OTHER_WORDS_MAX: usize = 1;

/// Most capitalized words of a place name after a place preposition.
const PLACE_WORDS_MAX: usize = 3;

/// A sentence ends at byte `j` (see [`sentence_ends_at`]), or a clause at `;`.
fn sentence_ends(bytes: &[u8], j: usize) -> bool {
    bytes[j] == b';' || sentence_ends_at(bytes, j)
}

/// Reads a date starting at byte `j`; returns the byte offset past it.
pub(super) fn parse_date(text: &str, j: usize) -> Option<usize> {
    let end = if text.as_bytes()[j].is_ascii_digit() {
        numeric(text, j).or_else(|| day_month_year(text, j))
    } else {
        month_day_year(text, j)
    }?;
    is_word_end(text, end).then_some(end)
}

/// Reads an ASCII number of at most `max` digits at byte `k`: (value, digit count).
fn number(bytes: &[u8], k: usize, max: usize) -> Option<(u32, usize)> {
    let len = bytes[k.min(bytes.len())..]
        .iter()
        .take_while(|b| b.is_ascii_digit())
        .count();
    if len == 0 || len > max {
        return None;
    }
    let value = bytes[k..k + len]
        .iter()
        .fold(0, |acc, &d| acc * 10 + u32::from(d - b'0'));
    Some((value, len))
}

/// `yyyy-mm-dd`, `dd.mm.yyyy`, `mm/dd/yy` and the like, one separator throughout.
fn numeric(text: &str, j: usize) -> Option<usize> {
    let bytes = text.as_bytes();
    let (a, a_len) = number(bytes, j, 4)?;
    let sep = *bytes.get(j + a_len)?;
    if !matches!(sep, b'.' | b'/' | b'-') {
        return None;
    }
    let (b, b_len) = number(bytes, j + a_len + 1, 2)?;
    let k = j + a_len + 1 + b_len;
    if bytes.get(k) != Some(&sep) {
        return None;
    }
    let (c, c_len) = number(bytes, k + 1, 4)?;
    let end = k + 1 + c_len;
    let ok = if a_len == 4 {
        c_len <= 2 && valid(a, b, c)
    } else {
        a_len <= 2
            && matches!(c_len, 2 | 4)
            && (valid_any_year(c, c_len, b, a) || valid_any_year(c, c_len, a, b))
    };
    ok.then_some(end)
}

/// `14 March 1985`, `14th of March, 1985`, `14. März 1985`, `14-Mar-1985`,
/// `3 de marzo de 1987`, `1er mai 1990`.
fn day_month_year(text: &str, j: usize) -> Option<usize> {
    let bytes = text.as_bytes();
    let (day, day_len) = number(bytes, j, 2)?;
    let mut k = skip_ordinal(bytes, j + day_len);
    if bytes.get(k) == Some(&b'.') {
        k += 1;
    }
    k = skip_one_of(bytes, k, b" -")?;
    k = skip_particle(text, k);
    let (month, month_end) = month_at(text, k)?;
    k = month_end;
    if bytes.get(k) == Some(&b',') {
        k += 1;
    }
    k = skip_one_of(bytes, k, b" -")?;
    k = skip_particle(text, k);
    let (year, year_len) = number(bytes, k, 4)?;
    (year_len == 4 && valid(year, month, day)).then_some(k + year_len)
}

/// `March 14, 1985`, `Mar. 14th 1985`.
fn month_day_year(text: &str, j: usize) -> Option<usize> {
    let bytes = text.as_bytes();
    let (month, mut k) = month_at(text, j)?;
    k = skip_one_of(bytes, k, b" ")?;
    let (day, day_len) = number(bytes, k, 2)?;
    k = skip_ordinal(bytes, k + day_len);
    if bytes.get(k) == Some(&b',') {
        k += 1;
    }
    k = skip_one_of(bytes, k, b" ")?;
    let (year, year_len) = number(bytes, k, 4)?;
    (year_len == 4 && valid(year, month, day)).then_some(k + year_len)
}

/// Past an ordinal suffix at byte `k`: `st`, `nd`, `rd`, `th`, French `er` (`1er`),
/// Spanish `º` or `°` (`1º`).
fn skip_ordinal(bytes: &[u8], k: usize) -> usize {
    match bytes.get(k..k + 2) {
        Some(s)
            if [b"st", b"nd", b"rd", b"th", b"er"]
                .iter()
                .any(|o| s.eq_ignore_ascii_case(*o))
                || s == "º".as_bytes()
                || s == "°".as_bytes() =>
        {
            k + 2
        }
        _ => k,
    }
}

/// Past `of `, `de ` or `del ` at byte `k` (`14th of March`, `3 de marzo de 1987`).
fn skip_particle(text: &str, k: usize) -> usize {
    ["of ", "de ", "del "]
        .iter()
        .find(|p| {
            text.get(k..k + p.len())
                .is_some_and(|s| s.eq_ignore_ascii_case(p))
        })
        .map_or(k, |p| k + p.len())
}

fn skip_one_of(bytes: &[u8], k: usize, allowed: &[u8]) -> Option<usize> {
    bytes.get(k).filter(|b| allowed.contains(b)).map(|_| k + 1)
}

/// Month names in English (with three-letter abbreviations), German, French and Spanish
/// (with their common abbreviations).
const MONTHS: &[(&str, u32)] = &[
    ("january", 1),
    ("february", 2),
    ("march", 3),
    ("april", 4),
    ("may", 5),
    ("june", 6),
    ("july", 7),
    ("august", 8),
    ("september", 9),
    ("october", 10),
    ("november", 11),
    ("december", 12),
    ("jan", 1),
    ("feb", 2),
    ("mar", 3),
    ("apr", 4),
    ("jun", 6),
    ("jul", 7),
    ("aug", 8),
    ("sep", 9),
    ("sept", 9),
    ("oct", 10),
    ("nov", 11),
    ("dec", 12),
    ("januar", 1),
    ("jänner", 1),
    ("februar", 2),
    ("märz", 3),
    ("maerz", 3),
    ("mai", 5),
    ("juni", 6),
    ("juli", 7),
    ("oktober", 10),
    ("dezember", 12),
    ("janvier", 1),
    ("février", 2),
    ("fevrier", 2),
    ("mars", 3),
    ("avril", 4),
    ("juin", 6),
    ("juillet", 7),
    ("août", 8),
    ("aout", 8),
    ("septembre", 9),
    ("octobre", 10),
    ("novembre", 11),
    ("décembre", 12),
    ("decembre", 12),
    ("mär", 3),
    ("mrz", 3),
    ("okt", 10),
    ("dez", 12),
    ("jän", 1),
    ("janv", 1),
    ("févr", 2),
    ("fevr", 2),
    ("avr", 4),
    ("juil", 7),
    ("déc", 12),
    ("enero", 1),
    ("febrero", 2),
    ("marzo", 3),
    ("abril", 4),
    ("mayo", 5),
    ("junio", 6),
    ("julio", 7),
    ("agosto", 8),
    ("septiembre", 9),
    ("setiembre", 9),
    ("octubre", 10),
    ("noviembre", 11),
    ("diciembre", 12),
    ("ene", 1),
    ("abr", 4),
    ("ago", 8),
    ("dic", 12),
];

/// First bytes of the month names, in either case: other words are turned away at once.
static MONTH_INITIALS: [bool; 256] = {
    let mut table = [false; 256];
    let mut k = 0;
    while k < MONTHS.len() {
        let b = MONTHS[k].0.as_bytes()[0];
        table[b as usize] = true;
        table[b.to_ascii_uppercase() as usize] = true;
        k += 1;
    }
    table
};

/// The month named at byte `k` (a whole word, an abbreviation may end with `.`), and the
/// byte offset past the name.
fn month_at(text: &str, k: usize) -> Option<(u32, usize)> {
    let rest = text.get(k..)?;
    let word_len: usize = rest
        .chars()
        .take_while(|c| c.is_alphabetic())
        .take(10)
        .map(char::len_utf8)
        .sum();
    if word_len < 3
        || !MONTH_INITIALS[usize::from(rest.as_bytes()[0])]
        || !is_word_end(text, k + word_len)
    {
        return None;
    }
    let word = &rest[..word_len];
    let same = |name: &str| {
        name.len() == word.len()
            && if word.is_ascii() {
                name.as_bytes().eq_ignore_ascii_case(word.as_bytes())
            } else {
                name.chars().eq(word.chars().flat_map(char::to_lowercase))
            }
    };
    let &(name, month) = MONTHS.iter().find(|(name, _)| same(name))?;
    let mut end = k + word_len;
    if name.chars().count() <= 4 && text.as_bytes().get(end) == Some(&b'.') {
        end += 1;
    }
    Some((month, end))
}

/// Whether year `y` (four digits, 1900..=2030), month `m` and day `d` make a date.
fn valid(y: u32, m: u32, d: u32) -> bool {
    (YEAR_MIN..=YEAR_MAX).contains(&y)
        && (1..=12).contains(&m)
        && (1..=days_in_month(y, m)).contains(&d)
}

/// As [`valid`], where the year may have two digits (any century).
fn valid_any_year(y: u32, y_len: usize, m: u32, d: u32) -> bool {
    if y_len == 2 {
        // 2000 is a leap year, so February 29 passes for "00"; 19xx/20xx agree otherwise.
        return valid(2000 + y, m, d) || valid(1900 + y, m, d);
    }
    valid(y, m, d)
}

fn days_in_month(y: u32, m: u32) -> u32 {
    match m {
        1 | 3 | 5 | 7 | 8 | 10 | 12 => 31,
        4 | 6 | 9 | 11 => 30,
        2 if (y.is_multiple_of(4) && !y.is_multiple_of(100)) || y.is_multiple_of(400) => 29,
        2 => 28,
        _ => 0,
    }
}

//! Phone numbers: E.164 (`+`, an assigned country code, 8 to 15 digits) and common national formats.
//!
//! National formats: North American `(415) 555-2671`, `415-555-2671`, `415.555.2671`,
//! `1 415 555 2671` (area and exchange codes start with 2 to 9); trunk-prefix numbers
//! as written in the UK, Germany, France and most of Europe (`020 7946 0958`,
//! `030/12345678`, `030 / 1234567`, `06 12 34 56 78`: a leading 0, 10 to 12 digits, an
//! area code group of 2 to 5 digits; 9 digits only next to a phone word); Spanish numbers
//! (nine digits from 6 to 9: `91 123 45 67`, `912 34 56 78`, `612 345 678`, the last only
//! as a number of its own and, for a landline, next to a phone word); and Indian mobiles
//! (`98765 43210`, ten digits from 6 to 9). `00` may stand for `+`. A bare digit run
//! (`0612345678`, `612345678`) is reported only next to a word such as "phone", "call",
//! "Tel.", "Handy", "portable", "móvil" or "llámame"; any number next to "order",
//! "invoice", "ticket", "Bestellung", "commande" or "pedido" is taken for an id, and one
//! followed by a currency (`612 345 678 €`) for an amount. Dates (`01.02.2023`) are not
//! numbers.

use super::context::{ContextWords, score};
use super::numbers::Range;
use super::{PiiEntity, PiiFinding};

const WORDS: ContextWords = ContextWords {
    positive: word_list![
        "phone",
        "phones",
        "telephone",
        "tel",
        "mobile",
        "cell",
        "cellphone",
        "call",
        "calls",
        "called",
        "calling",
        "reach",
        "reachable",
        "text",
        "texted",
        "sms",
        "whatsapp",
        "signal",
        "fax",
        "landline",
        "contact",
        "ring",
        "dial",
        "hotline",
        "voicemail",
        "telefon",
        "telefonnummer",
        "handy",
        "mobil",
        "mobilnummer",
        "rufnummer",
        "anrufen",
        "téléphone",
        "telephone",
        "portable",
        "numéro",
        "appeler",
        "appelez",
        // English, German, French and Spanish abbreviations and words.
        "ph",
        "mob",
        "cel",
        "tél",
        "fon",
        "telefono",
        "teléfono",
        "tlf",
        "tfno",
        "telf",
        "handynummer",
        "festnetz",
        "mobiltelefon",
        "erreichbar",
        "ruf",
        "rufen",
        "anruf",
        "fixe",
        "joindre",
        "appelle",
        "rappeler",
        "movil",
        "móvil",
        "celular",
        "fijo",
        "llámame",
        "llamame",
        "llámeme",
        "llamar",
        "llama",
        "llamada",
        "llámenos",
        "número",
        "wasap",
    ],
    negative: word_list![
        "order",
        "orders",
        "invoice",
        "ticket",
        "tracking",
        "ref",
        "reference",
        "account",
        "acct",
        "id",
        "iban",
        "card",
        "ssn",
        "serial",
        "sku",
        "case",
        "transaction",
        "txn",
        "confirmation",
        "booking",
        "parcel",
        "shipment",
        "po",
        "item",
        "part",
        "isbn",
        "imei",
        "pin",
        "code",
        "bestellung",
        "rechnung",
        "commande",
        "facture",
        // German, French and Spanish ids, and amounts.
        "bestellnummer",
        "kundennummer",
        "auftrag",
        "auftragsnummer",
        "rechnungsnummer",
        "vertragsnummer",
        "sendung",
        "sendungsnummer",
        "vorgang",
        "référence",
        "dossier",
        "colis",
        "suivi",
        "siren",
        "siret",
        "tva",
        "pedido",
        "factura",
        "referencia",
        "expediente",
        "cliente",
        "albarán",
        "seguimiento",
        "dni",
        "nif",
        "plz",
        "zip",
        "amount",
        "total",
        "betrag",
        "montant",
        "importe",
        "eur",
        "usd",
        "inr",
        "rs",
    ],
    boost: 0.25,
    penalty: 0.3,
};

/// `+` and a country code.
const BASE_INTERNATIONAL: f32 = 0.75;
/// `00` and a country code.
const BASE_INTERNATIONAL_00: f32 = 0.6;
/// A grouped North American number.
const BASE_NANP: f32 = 0.65;
/// A grouped trunk-prefix national number.
const BASE_TRUNK: f32 = 0.6;
/// A bare run of 9 to 11 digits shaped like a number: needs a context word.
const BASE_BARE: f32 = 0.35;
/// A grouped number of a common but ambiguous shape (a nine-digit trunk number, a Spanish
/// landline in threes): needs a context word.
const BASE_WEAK: f32 = 0.45;
/// A Spanish mobile in threes (`612 345 678`) or an Indian mobile in fives (`98765 43210`)
/// standing alone.
const BASE_NATIONAL_PLAIN: f32 = 0.5;
/// A Spanish number in pairs (`91 123 45 67`, `612 34 56 78`).
const BASE_SPANISH_PAIRS: f32 = 0.55;

/// A phone number if `range` is one.
pub(super) fn check(range: &Range) -> Option<PiiFinding> {
    let base = shape_base(range)?;
    let (confidence, context) = score(range.text, range.start, range.end, base, &WORDS);
    Some(range.finding(PiiEntity::Phone, confidence, context))
}

/// The base confidence of the range's shape, if it is shaped like a phone number.
fn shape_base(range: &Range) -> Option<f32> {
    let d = range.digits();
    let lens = range.lens();
    if lens.len() > 7 || !range.seps().all(phone_sep) || looks_like_date(range, lens) {
        return None;
    }
    if range.plus {
        return international(d).then_some(BASE_INTERNATIONAL);
    }
    if d.starts_with(b"00") {
        return (lens[0] == 2 || lens[0] >= 4)
            .then_some(())
            .and_then(|()| international(&d[2..]).then_some(BASE_INTERNATIONAL_00));
    }
    let base = nanp(range, d, lens)
        .or_else(|| trunk(range, d, lens))
        .or_else(|| spanish(range, d, lens))
        .or_else(|| indian(range, d, lens))?;
    (!currency_after(range.text, range.end)).then_some(base)
}

/// Whether a currency follows byte `end` (`612 345 678 €`, `98765 43210 EUR`): an amount.
fn currency_after(text: &str, end: usize) -> bool {
    let rest = text.get(end..).unwrap_or("");
    let rest = rest.strip_prefix(' ').unwrap_or(rest);
    if ["€", "$", "£", "₹"].iter().any(|c| rest.starts_with(c)) {
        return true;
    }
    let word_len = rest
        .bytes()
        .take(8)
        .take_while(u8::is_ascii_alphabetic)
        .count();
    let word = &rest.as_bytes()[..word_len];
    CURRENCIES
        .iter()
        .any(|c| c.as_bytes().eq_ignore_ascii_case(word))
}

/// Currency words and codes after an amount.
const CURRENCIES: &[&str] = &[
    "eur", "euro", "euros", "usd", "dollar", "dollars", "inr", "rupee", "rupees", "rs", "chf",
    "gbp", "pesos",
];

fn phone_sep(sep: &str) -> bool {
    matches!(
        sep,
        " " | "-" | "." | "/" | " / " | "(" | ")" | ") " | " (" | ")-" | "-("
    )
}

/// Country code and length rules of E.164, for the digits after `+`.
fn international(d: &[u8]) -> bool {
    (8..=15).contains(&d.len()) && country_code_len(d).is_some()
}

/// Length of the assigned ITU-T country calling code that `d` starts with.
fn country_code_len(d: &[u8]) -> Option<usize> {
    let two = d.get(..2)?;
    match d[0] {
        b'1' | b'7' => Some(1),
        b'0' => None,
        _ if TWO_DIGIT_CODES.contains(&two) => Some(2),
        _ if THREE_DIGIT_PREFIXES.contains(&two) => Some(3),
        _ => None,
    }
}

/// Two-digit country calling codes (zones 2 to 9).
const TWO_DIGIT_CODES: &[&[u8]] = &[
    b"20", b"27", b"30", b"31", b"32", b"33", b"34", b"36", b"39", b"40", b"41", b"43", b"44",
    b"45", b"46", b"47", b"48", b"49", b"51", b"52", b"53", b"54", b"55", b"56", b"57", b"58",
    b"60", b"61", b"62", b"63", b"64", b"65", b"66", b"81", b"82", b"84", b"86", b"90", b"91",
    b"92", b"93", b"94", b"95", b"98",
];

/// First two digits of the three-digit country calling codes.
const THREE_DIGIT_PREFIXES: &[&[u8]] = &[
    b"21", b"22", b"23", b"24", b"25", b"26", b"29", b"35", b"37", b"38", b"42", b"50", b"59",
    b"67", b"68", b"69", b"80", b"85", b"87", b"88", b"96", b"97", b"99",
];

/// North American numbering plan: `(AAA) EEE-NNNN` and friends, optionally after a `1`.
fn nanp(range: &Range, d: &[u8], lens: &[u8]) -> Option<f32> {
    let (national, lens, first_sep) = match (d.len(), lens) {
        (10, _) => (d, lens, 1),
        (11, [1, rest @ ..]) if d[0] == b'1' => (&d[1..], rest, 2),
        (11, [11]) if d[0] == b'1' => (&d[1..], lens, 1),
        _ => return None,
    };
    if !(b'2'..=b'9').contains(&national[0]) || !(b'2'..=b'9').contains(&national[3]) {
        return None;
    }
    match lens {
        [_] => Some(BASE_BARE),
        [3, 3, 4] => {
            let s1 = range.sep(first_sep);
            let s2 = range.sep(first_sep + 1);
            let paren_area = if first_sep == 1 {
                range.lparen
            } else {
                range.sep(1).ends_with('(')
            };
            let ok = if paren_area {
                matches!(s1, ")" | ") " | ")-") && matches!(s2, "-" | " " | ".")
            } else {
                s1 == s2 && matches!(s1, "-" | "." | " ")
            };
            ok.then_some(BASE_NANP)
        }
        _ => None,
    }
}

/// Trunk-prefix national numbers: `0` then a non-zero digit, 10 to 12 digits (9 with a
/// separate area code, as small German towns have them: `04532 1234`).
fn trunk(range: &Range, d: &[u8], lens: &[u8]) -> Option<f32> {
    if !(9..=12).contains(&d.len()) || d[0] != b'0' || d[1] == b'0' {
        return None;
    }
    if lens.len() == 1 {
        return (d.len() >= 10).then_some(BASE_BARE);
    }
    let area_ok = (2..=5).contains(&lens[0]);
    let rest_ok = lens[1..].iter().all(|&l| l >= 2);
    let paren_ok = !range.lparen || matches!(range.sep(1), ")" | ") ");
    let base = if d.len() == 9 {
        if lens[0] < 3 {
            return None;
        }
        BASE_WEAK
    } else {
        BASE_TRUNK
    };
    (area_ok && rest_ok && paren_ok).then_some(base)
}

/// Spanish numbers: nine digits, the first 6 or 7 (mobiles) or 8 or 9 (landlines), bare or
/// in the usual groups, one separator (space, dash or dot) throughout.
fn spanish(range: &Range, d: &[u8], lens: &[u8]) -> Option<f32> {
    if d.len() != 9 || !(b'6'..=b'9').contains(&d[0]) || range.lparen {
        return None;
    }
    let one_sep = |seps: &[&str]| seps.iter().any(|&s| range.all_seps(s));
    match lens {
        [9] => Some(BASE_BARE),
        // `612 345 678` is also how an amount or a French company number (SIREN) is
        // written: only a number of its own, and a landline only next to a phone word.
        [3, 3, 3] if range.whole && one_sep(&[" ", "-"]) => Some(if d[0] <= b'7' {
            BASE_NATIONAL_PLAIN
        } else {
            BASE_WEAK
        }),
        [2, 3, 2, 2] | [3, 2, 2, 2] if one_sep(&[" ", "-", "."]) => Some(BASE_SPANISH_PAIRS),
        _ => None,
    }
}

/// Indian mobiles: ten digits, the first 6 to 9, bare or in two groups of five split by a space.
fn indian(range: &Range, d: &[u8], lens: &[u8]) -> Option<f32> {
    if d.len() != 10 || !(b'6'..=b'9').contains(&d[0]) || range.lparen {
        return None;
    }
    match lens {
        [10] => Some(BASE_BARE),
        // Not `98765-43210`: a range of five-digit numbers (`60000-64999`) is written so.
        [5, 5] if range.whole && range.sep(1) == " " => Some(BASE_NATIONAL_PLAIN),
        _ => None,
    }
}

/// Whether the range starts with a numeric date (`d.m.yyyy`, `m/d/yy`, `yyyy-mm-dd`) standing alone.
fn looks_like_date(range: &Range, lens: &[u8]) -> bool {
    // `06.12.34.56.78` goes on after three groups with the same separator: not a date.
    if lens.len() < 3 || (lens.len() > 3 && range.sep(3) != " ") {
        return false;
    }
    let (s1, s2) = (range.sep(1), range.sep(2));
    let same = s1 == s2 && matches!(s1, "." | "/" | "-");
    let short = |l: u8| (1..=2).contains(&l);
    same && ((short(lens[0]) && short(lens[1]) && matches!(lens[2], 2 | 4))
        || (lens[0] == 4 && short(lens[1]) && short(lens[2])))
}

//! Payment card numbers: 13 to 19 digits, a known issuer prefix for that length, and a valid Luhn check digit.
//!
//! Written whole (`4111111111111111`) or in groups joined by one kind of separator, space
//! or dash, the first group of four digits (`4111 1111 1111 1111`, `3782 822463 10005`).

use super::context::{ContextWords, score};
use super::numbers::Range;
use super::{PiiEntity, PiiFinding};

const WORDS: ContextWords = ContextWords {
    positive: word_list![
        "card",
        "credit",
        "debit",
        "visa",
        "mastercard",
        "amex",
        "american express",
        "discover",
        "maestro",
        "jcb",
        "diners",
        "unionpay",
        "cc",
        "ccn",
        "pan",
        "cvv",
        "cvc",
        "expiry",
        "exp",
        "expires",
        "payment",
        "paid",
        "charged",
        "charge",
        "billing",
        "karte",
        "kreditkarte",
        "carte",
    ],
    negative: word_list![
        "order",
        "invoice",
        "tracking",
        "ref",
        "reference",
        "ticket",
        "isbn",
        "serial",
        "imei",
        "transaction",
        "txn",
        "id",
    ],
    boost: 0.15,
    penalty: 0.35,
};

const BASE: f32 = 0.8;

/// A card number if `range` is one.
pub(super) fn check(range: &Range) -> Option<PiiFinding> {
    let digits = range.digits();
    if !(13..=19).contains(&digits.len()) || range.plus || range.lparen || !grouping_ok(range) {
        return None;
    }
    if !issuer_accepts(digits) || !luhn_valid(digits) || digits.iter().all(|&d| d == digits[0]) {
        return None;
    }
    let (confidence, context) = score(range.text, range.start, range.end, BASE, &WORDS);
    Some(range.finding(PiiEntity::CreditCard, confidence, context))
}

/// One group; or groups joined by one separator (space or dash), the first of four digits,
/// the middle ones of 3 to 6, the last of 1 to 6.
fn grouping_ok(range: &Range) -> bool {
    let lens = range.lens();
    if lens.len() == 1 {
        return true;
    }
    let sep_ok = range.all_seps(" ") || range.all_seps("-");
    let last = lens.len() - 1;
    sep_ok
        && lens[0] == 4
        && lens[1..last].iter().all(|l| (3..=6).contains(l))
        && (1..=6).contains(&lens[last])
}

/// Whether the Luhn check digit (the last digit) is right.
pub(super) fn luhn_valid(digits: &[u8]) -> bool {
    let mut sum = 0u32;
    for (k, &d) in digits.iter().rev().enumerate() {
        let mut v = u32::from(d - b'0');
        if k % 2 == 1 {
            v *= 2;
            if v > 9 {
                v -= 9;
            }
        }
        sum += v;
    }
    sum.is_multiple_of(10)
}

/// The number formed by the first `n` digits.
fn prefix(digits: &[u8], n: usize) -> u32 {
    digits
        .iter()
        .take(n)
        .fold(0, |acc, &d| acc * 10 + u32::from(d - b'0'))
}

/// Whether a known issuer (IIN range) uses numbers of this length with this prefix.
fn issuer_accepts(digits: &[u8]) -> bool {
    let len = digits.len();
    let p1 = prefix(digits, 1);
    let p2 = prefix(digits, 2);
    let p3 = prefix(digits, 3);
    let p4 = prefix(digits, 4);
    let p6 = prefix(digits, 6);
    // Visa.
    (p1 == 4 && matches!(len, 13 | 16 | 19))
        // Mastercard, Mir.
        || (((51..=55).contains(&p2) || (2221..=2720).contains(&p4) || (2200..=2204).contains(&p4)) && len == 16)
        // American Express.
        || ((p2 == 34 || p2 == 37) && len == 15)
        // Discover, UnionPay.
        || ((p4 == 6011 || p2 == 65 || (644..=649).contains(&p3) || (622_126..=622_925).contains(&p6) || p2 == 62)
            && (16..=19).contains(&len))
        // Diners Club.
        || (((300..=305).contains(&p3) || p4 == 3095 || p2 == 36 || p2 == 38 || p2 == 39) && (14..=19).contains(&len))
        // JCB.
        || ((3528..=3589).contains(&p4) && (16..=19).contains(&len))
        // Maestro.
        || (matches!(p4, 5018 | 5020 | 5038 | 5893 | 6304 | 6759 | 6761 | 6762 | 6763) && (13..=19).contains(&len))
}

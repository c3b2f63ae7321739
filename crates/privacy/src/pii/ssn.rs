//! US social security numbers: `AAA-GG-SSSS` under the SSA's rules (area not 000, 666 or 9xx, group not 00, serial not 0000).
//!
//! The dashed form stands on its own; spaced or dotted forms and nine bare digits are
//! reported only next to a word such as "SSN" or "social security".

use super::context::{ContextWords, score};
use super::numbers::Range;
use super::{PiiEntity, PiiFinding};

const WORDS: ContextWords = ContextWords {
    positive: word_list![
        "ssn",
        "ssns",
        "social security",
        "social security number",
        "social",
        "ss",
        "ss#",
        "ssa",
        "taxpayer",
        "itin",
        "tin",
    ],
    negative: word_list![
        "order",
        "invoice",
        "tracking",
        "ref",
        "reference",
        "ticket",
        "account",
        "acct",
        "routing",
        "zip",
        "isbn",
        "part",
        "sku",
        "serial",
        "case",
        "claim",
        "transaction",
        "txn",
        "confirmation",
        "booking",
        "id",
    ],
    boost: 0.3,
    penalty: 0.3,
};

/// Base confidence of `123-45-6789`.
const BASE_DASHED: f32 = 0.7;
/// Base confidence of `123 45 6789` and `123.45.6789`: needs a context word.
const BASE_SPACED: f32 = 0.4;
/// Base confidence of `123456789`: needs a context word.
const BASE_BARE: f32 = 0.3;

/// An SSN if `range` is one.
pub(super) fn check(range: &Range) -> Option<PiiFinding> {
    let digits = range.digits();
    if digits.len() != 9 || range.plus || range.lparen {
        return None;
    }
    let lens = range.lens();
    let base = match lens {
        [9] => BASE_BARE,
        [3, 2, 4] if range.all_seps("-") => BASE_DASHED,
        [3, 2, 4] if range.all_seps(" ") || range.all_seps(".") => BASE_SPACED,
        _ => return None,
    };
    if !valid(digits) {
        return None;
    }
    let (confidence, context) = score(range.text, range.start, range.end, base, &WORDS);
    Some(range.finding(PiiEntity::UsSsn, confidence, context))
}

/// The SSA's structural rules for nine digits, plus: not all one digit.
pub(super) fn valid(digits: &[u8]) -> bool {
    let area = &digits[..3];
    let group = &digits[3..5];
    let serial = &digits[5..9];
    area != b"000"
        && area != b"666"
        && area[0] != b'9'
        && group != b"00"
        && serial != b"0000"
        && !digits.iter().all(|&d| d == digits[0])
}

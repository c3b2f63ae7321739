//! Digit runs: the shared front end of the card, SSN, IPv4 and phone recognizers (and the IBAN trigger).
//!
//! A run is a maximal sequence of digit groups joined by short separators (`415-555-2671`,
//! `+44 (0)20 7946 0958`, `4111 1111 1111 1111`, `192.168.0.1`, `030 / 1234567`), with a
//! leading `+` or `(`. A run glued to a word, an id or an amount (`ORD-4155552671`,
//! `v1.2.3.4`, `#123456789`, `$1,234`) is not a number of its own and is skipped whole;
//! but a run right after `#` may still be a payment card (`#4111 1111 1111 1111`: only the
//! card recognizer is asked, so `order #123456` stays an id). A comma joins digits only as
//! a thousands separator (one to three digits before it, exactly three after): in
//! `+44 20 7946 0958,42` or a CSV row `0612345678,17` the number ends at the comma.
//! Parentheses around a whole run (`(+34 612 345 678)`, `(0612345678)`) are not part of it.
//! A separator with a space is a soft boundary: a run may hold several numbers side by
//! side, so recognizers are tried on sub-ranges of groups that begin and end at soft
//! boundaries, longest first.

use super::context::{char_at, char_before};
use super::{CONFIDENCE_MIN, PiiFinding, card, iban, ip, phone, ssn};

/// Most digit groups read into one run; a longer run is cut at its last space before that.
const RUN_GROUPS_MAX: usize = 16;

/// Most digits in a range handed to a recognizer (a 19-digit card is the longest).
pub(super) const RANGE_DIGITS_MAX: usize = 19;

/// Most groups in a range handed to a recognizer.
const RANGE_GROUPS_MAX: usize = 8;

/// A range of digit groups inside one run, as the recognizers see it.
pub(super) struct Range<'t> {
    pub text: &'t str,
    /// Byte offset of the span: the first digit, or the `+` / `(` before it.
    pub start: usize,
    /// Byte offset just past the last digit.
    pub end: usize,
    /// A `+` stands before the first digit.
    pub plus: bool,
    /// A `(` stands before the first digit.
    pub lparen: bool,
    /// Parentheses enclose the whole run (`(0612345678)`); they are not part of the span.
    pub enclosed: bool,
    /// Byte ranges of the digit groups.
    pub groups: &'t [(usize, usize)],
    /// The range is its whole run (not a part of a list of numbers side by side).
    pub whole: bool,
    /// The digits of all groups, in order.
    pub digits: [u8; RANGE_DIGITS_MAX],
    pub len: usize,
    /// Digit counts of the groups (a range of at most 19 digits has at most 19 groups).
    lens: [u8; RANGE_DIGITS_MAX],
}

impl Range<'_> {
    /// The digits, as ASCII bytes.
    pub fn digits(&self) -> &[u8] {
        &self.digits[..self.len]
    }

    /// Digit counts of the groups.
    pub fn lens(&self) -> &[u8] {
        &self.lens[..self.groups.len()]
    }

    /// The separator between group `k - 1` and group `k`; empty unless 1 ≤ k < groups.
    pub fn sep(&self, k: usize) -> &str {
        match (
            k.checked_sub(1).and_then(|p| self.groups.get(p)),
            self.groups.get(k),
        ) {
            (Some(prev), Some(next)) => self.text.get(prev.1..next.0).unwrap_or(""),
            _ => "",
        }
    }

    /// The separators between groups, in order.
    pub fn seps(&self) -> impl Iterator<Item = &str> + '_ {
        (1..self.groups.len()).map(|k| self.sep(k))
    }

    /// Whether every separator equals `sep`.
    pub fn all_seps(&self, sep: &str) -> bool {
        self.seps().all(|s| s == sep)
    }

    /// Builds a finding for this range's span.
    pub fn finding(
        &self,
        entity: super::PiiEntity,
        confidence: f32,
        context: Vec<&'static str>,
    ) -> PiiFinding {
        PiiFinding {
            entity,
            start: self.start,
            end: self.end,
            confidence,
            context,
        }
    }
}

/// Length of a separator at byte `i`: one of ` - . / ( )`, a parenthesis next to a space
/// or dash (`) `, ` (`, `)-`, `-(`), or a slash between spaces (` / `, as in `030 / 1234567`);
/// 0 if none.
fn separator_len(bytes: &[u8], i: usize) -> usize {
    let single = |b: u8| matches!(b, b' ' | b'-' | b'.' | b'/' | b'(' | b')');
    let paren = |b: u8| matches!(b, b'(' | b')');
    let joiner = |b: u8| matches!(b, b' ' | b'-');
    match (bytes.get(i), bytes.get(i + 1)) {
        (Some(b' '), Some(b'/')) if bytes.get(i + 2) == Some(&b' ') => 3,
        (Some(&a), Some(&b)) if (paren(a) && joiner(b)) || (joiner(a) && paren(b)) => 2,
        (Some(&a), _) if single(a) => 1,
        _ => 0,
    }
}

/// Whether the comma at byte `comma` is a thousands separator: one to three digits before
/// it and exactly three after (`1,234`, `12,345,678`), not a field or decimal separator
/// (`0612345678,17`, `0958,42`).
fn thousands_comma(bytes: &[u8], comma: usize) -> bool {
    let before = bytes[..comma]
        .iter()
        .rev()
        .take(4)
        .take_while(|b| b.is_ascii_digit())
        .count();
    let after = bytes
        .get(comma + 1..)
        .unwrap_or(&[])
        .iter()
        .take(4)
        .take_while(|b| b.is_ascii_digit())
        .count();
    (1..=3).contains(&before) && after == 3
}

/// Whether the run starting at byte `start` is glued to what stands before it.
///
/// `digit_first`: the run starts with a digit (no `+` or `(`).
fn attached_left(text: &str, start: usize, digit_first: bool) -> bool {
    let Some(c) = char_before(text, start) else {
        return false;
    };
    if c.is_alphanumeric()
        || matches!(
            c,
            '_' | '#' | '$' | '€' | '£' | '¥' | '₹' | '@' | '%' | '\\' | '+' | '*'
        )
    {
        return true;
    }
    let before = char_before(text, start - c.len_utf8());
    match c {
        // `ORD-4155552671`, `ver.1.2.3.4`, `x/1234`: the number continues a word.
        '-' | '.' | '/' if digit_first => before.is_some_and(|b| b.is_alphanumeric()),
        // `1,234,567`: thousands.
        ',' if digit_first => thousands_comma(text.as_bytes(), start - 1),
        _ => false,
    }
}

/// Whether the run ending at byte `end` is glued to what follows it.
fn attached_right(text: &str, end: usize) -> bool {
    let Some(c) = char_at(text, end) else {
        return false;
    };
    if c.is_alphanumeric() || matches!(c, '_' | '@' | '%' | '€' | '£' | '$' | '\\' | '*') {
        return true;
    }
    let after = char_at(text, end + c.len_utf8());
    match c {
        // `4155552671.pdf`, `2671-abc`: the number continues into a word.
        '.' | '-' => after.is_some_and(|a| a.is_alphabetic()),
        // `415,555`: thousands.
        ',' => thousands_comma(text.as_bytes(), end),
        _ => false,
    }
}

/// Reads the run whose first digit is at byte `i`, reports what its ranges hold, and
/// returns the byte offset just past the run.
pub(super) fn scan_run(text: &str, i: usize, out: &mut Vec<PiiFinding>) -> usize {
    let bytes = text.as_bytes();
    // An IBAN starts with two letters: `DE89 3704 ...`.
    if i >= 2
        && bytes[i - 2].is_ascii_alphabetic()
        && bytes[i - 1].is_ascii_alphabetic()
        && super::context::is_word_start(text, i - 2)
        && let Some(end) = iban::at(text, i - 2, out)
    {
        return end;
    }

    let mut groups = [(0usize, 0usize); RUN_GROUPS_MAX];
    let mut n = 0;
    let mut pos = i;
    loop {
        let group_start = pos;
        while bytes.get(pos).is_some_and(u8::is_ascii_digit) {
            pos += 1;
        }
        groups[n] = (group_start, pos);
        n += 1;
        if n == RUN_GROUPS_MAX {
            break;
        }
        let sep = separator_len(bytes, pos);
        if sep > 0 && bytes.get(pos + sep).is_some_and(u8::is_ascii_digit) {
            pos += sep;
        } else {
            break;
        }
    }
    let mut end = pos;
    if n == RUN_GROUPS_MAX {
        // The buffer is full: end the run at its last space, and the caller starts a new
        // run after it (`415 555 2671 415 555 2672 ...`). A run of that many groups
        // without a space is no number.
        let space_before = |k: usize| bytes[groups[k - 1].1..groups[k].0].contains(&b' ');
        match (1..n).rev().find(|&k| space_before(k)) {
            Some(k) => {
                n = k;
                end = groups[k - 1].1;
            }
            None => return end,
        }
    }
    let groups = &groups[..n];
    // One group before a colon and a hex digit is a group of an IPv6 address or a time
    // (`2001:db8::1`, `10:30`), not a number of its own.
    if n == 1
        && bytes.get(end) == Some(&b':')
        && bytes
            .get(end + 1)
            .is_some_and(|b| b.is_ascii_hexdigit() || *b == b':')
    {
        return end;
    }

    let mut start = i;
    // A `(` that a `)` right after the run closes encloses the whole number
    // (`(0612345678)`); one closed inside the run is an area code's (`(415) 555-2671`).
    let open = i > 0 && bytes[i - 1] == b'(';
    let enclosed = open && bytes.get(end) == Some(&b')') && !bytes[i..end].contains(&b')');
    let lparen = open && !enclosed;
    if lparen {
        start -= 1;
    }
    let plus = start > 0 && bytes[start - 1] == b'+';
    if plus {
        start -= 1;
    }
    let lead = Lead {
        plus,
        lparen,
        enclosed,
    };
    if !(plus || lparen) && hash_before(text, start) {
        // `#4111 1111 1111 1111`: a card stays a card after `#`; nothing else is asked,
        // so `#123456` and `order #4155552671` stay ids.
        let digits: usize = groups.iter().map(|(s, e)| e - s).sum();
        if digits <= RANGE_DIGITS_MAX
            && n <= RANGE_DIGITS_MAX
            && !attached_right(text, end)
            && let Some(f) = card::check(&make_range(text, groups, 0, n - 1, start, lead))
            && f.confidence >= CONFIDENCE_MIN
        {
            out.push(f);
        }
        return end;
    }
    if attached_left(text, start, !(plus || lparen)) || attached_right(text, end) {
        return end;
    }

    let soft = |k: usize| {
        text.get(groups[k - 1].1..groups[k].0)
            .is_some_and(|sep| sep.contains(' '))
    };
    // Three or more groups of four with one separator (`4346 0902 0700 9151`) are one
    // number: its parts are not numbers of their own.
    let sep_of = |k: usize| text.get(groups[k - 1].1..groups[k].0);
    let quads = n >= 3
        && groups[..n - 1].iter().all(|(s, e)| e - s == 4)
        && (2..n).all(|k| sep_of(k) == sep_of(1));
    if quads {
        // The whole number; or, when it is not one, all but a last group set off by a
        // space (`4111 1111 1111 1111 6 June`).
        let mut digits: usize = groups.iter().map(|(s, e)| e - s).sum();
        let mut last = n - 1;
        loop {
            if digits <= RANGE_DIGITS_MAX
                && let Some(f) = recognize(&make_range(text, groups, 0, last, start, lead))
            {
                out.push(f);
                break;
            }
            if last + 1 < n || !soft(last) {
                break;
            }
            digits -= groups[last].1 - groups[last].0;
            last -= 1;
        }
        return end;
    }
    let mut a = 0;
    while a < n {
        let mut matched_to = None;
        let mut b_end = a;
        let mut digits = 0;
        for (b, &(s, e)) in groups
            .iter()
            .enumerate()
            .take(n.min(a + RANGE_GROUPS_MAX))
            .skip(a)
        {
            digits += e - s;
            if digits > RANGE_DIGITS_MAX {
                break;
            }
            b_end = b + 1;
        }
        for b in (a..b_end).rev() {
            if b + 1 < n && !soft(b + 1) {
                continue;
            }
            let range = make_range(text, groups, a, b, start, lead);
            if let Some(f) = recognize(&range) {
                out.push(f);
                matched_to = Some(b);
                break;
            }
        }
        a = match matched_to {
            Some(b) => b + 1,
            None => (a + 1..n).find(|&k| soft(k)).unwrap_or(n),
        };
    }
    end
}

/// Whether a lone `#` stands right before byte `start` (`#4111...`, not `a#1`, `&#1234;` or `##1`).
fn hash_before(text: &str, start: usize) -> bool {
    let bytes = text.as_bytes();
    start >= 1
        && bytes[start - 1] == b'#'
        && !char_before(text, start - 1)
            .is_some_and(|c| c.is_alphanumeric() || matches!(c, '#' | '&' | '_'))
}

/// What stands before a run's first digit, or around the run.
#[derive(Clone, Copy)]
struct Lead {
    plus: bool,
    lparen: bool,
    enclosed: bool,
}

fn make_range<'t>(
    text: &'t str,
    groups: &'t [(usize, usize)],
    a: usize,
    b: usize,
    run_start: usize,
    lead: Lead,
) -> Range<'t> {
    let bytes = text.as_bytes();
    let mut digits = [0u8; RANGE_DIGITS_MAX];
    let mut lens = [0u8; RANGE_DIGITS_MAX];
    let mut len = 0;
    for (k, &(s, e)) in groups[a..=b].iter().enumerate() {
        if let Some(slot) = lens.get_mut(k) {
            *slot = u8::try_from(e - s).unwrap_or(u8::MAX);
        }
        for &d in &bytes[s..e] {
            if len < RANGE_DIGITS_MAX {
                digits[len] = d;
                len += 1;
            }
        }
    }
    let first = a == 0;
    Range {
        text,
        start: if first { run_start } else { groups[a].0 },
        end: groups[b].1,
        plus: first && lead.plus,
        lparen: first && lead.lparen,
        enclosed: first && lead.enclosed,
        groups: &groups[a..=b.min(a + RANGE_DIGITS_MAX - 1)],
        whole: first && b + 1 == groups.len(),
        digits,
        len,
        lens,
    }
}

/// Tries the number recognizers on one range, most specific first.
fn recognize(range: &Range) -> Option<PiiFinding> {
    [card::check, ssn::check, ip::v4_check, phone::check]
        .into_iter()
        .filter_map(|check| check(range))
        .find(|f| f.confidence >= CONFIDENCE_MIN)
}

//! Writes a labelled PII corpus (NDJSON) for `pii_eval` and `bench/pii_presidio.py`: support-ticket sentences with entities inserted by construction.
//!
//! Usage: `cargo run --release -p steward-privacy --example pii_corpus -- [COUNT] [SEED] > corpus.ndjson`
//!
//! One line per text: `{"text": "...", "labels": [{"entity": "phone", "start": 12,
//! "end": 26, "cstart": 12, "cend": 26}]}` with byte offsets (`start`, `end`) and
//! character offsets (`cstart`, `cend`, for Python).
//!
//! How the labels are made: every text is built from sentence templates. A template with
//! a slot gets a generated entity (a Luhn-valid card with a real issuer prefix, a mod-97
//! valid IBAN, a phone number in one of the common formats, ...), and the inserted span
//! is labelled. Everything else comes from vocabularies that hold no digits and no `@`,
//! so no unlabelled personal data can appear by accident. Hard negatives are inserted the
//! same way but not labelled: Luhn-invalid card numbers, IBANs with wrong check digits,
//! order, ticket and tracking ids (some shaped like phone numbers), version strings shaped
//! like IP addresses, dates without birth context, invalid SSNs, short codes, amounts,
//! times, and URLs without personal parameters. The PRNG is written out (splitmix64), so a
//! seed gives the same corpus everywhere.

use std::fmt::Write as _;
use std::io::{BufWriter, Write};

struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    /// Uniform in `0..n` (n > 0).
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }

    fn range(&mut self, lo: u64, hi_inclusive: u64) -> u64 {
        lo + self.below(hi_inclusive - lo + 1)
    }

    fn pick<'a, T>(&mut self, items: &'a [T]) -> &'a T {
        &items[self.below(items.len() as u64) as usize]
    }

    fn chance(&mut self, percent: u64) -> bool {
        self.below(100) < percent
    }

    fn digits(&mut self, n: usize) -> String {
        (0..n)
            .map(|_| char::from(b'0' + self.below(10) as u8))
            .collect()
    }
}

/// A text under construction and the labels of what was inserted into it.
struct Doc {
    text: String,
    labels: Vec<(&'static str, usize, usize)>,
}

impl Doc {
    fn push(&mut self, s: &str) {
        self.text.push_str(s);
    }

    /// Appends a template, with `value` in place of `{}`; labels it as `entity` if given.
    fn template(&mut self, template: &str, value: &str, entity: Option<&'static str>) {
        let (before, after) = template.split_once("{}").unwrap_or((template, ""));
        self.push(before);
        let start = self.text.len();
        self.push(value);
        if let Some(entity) = entity {
            self.labels.push((entity, start, self.text.len()));
        }
        self.push(after);
    }
}

const FIRST: &[&str] = &[
    "jane", "john", "maria", "li", "ahmed", "sophie", "lukas", "emma", "noah", "olivia", "mateo",
    "chloe", "pierre", "anna", "david", "fatima", "yuki", "oscar", "ines", "tom",
];
const LAST: &[&str] = &[
    "doe", "smith", "garcia", "chen", "khan", "martin", "mueller", "brown", "wilson", "dubois",
    "rossi", "nguyen", "kowalski", "silva", "tanaka", "jensen", "okafor", "murphy",
];
const DOMAINS: &[&str] = &[
    "example.com",
    "mail.example.org",
    "example.co.uk",
    "company.de",
    "corp.example.fr",
    "post.example.net",
    "uni-example.edu",
    "example.io",
];
const HOSTS: &[&str] = &[
    "shop.example.com",
    "app.example.io",
    "www.example.org",
    "portal.example.de",
    "example.net",
];

/// Sentences without digits, `@` or URLs.
const FILLER: &[&str] = &[
    "Hi team,",
    "Thanks for the quick reply.",
    "The app crashes when I open the settings page.",
    "I still have not received my package.",
    "Could you please look into this?",
    "This is the third time I am writing.",
    "Best regards.",
    "The checkout page keeps spinning forever.",
    "I would like to cancel my subscription.",
    "Please escalate this to a manager.",
    "Everything worked fine until last week.",
    "Let me know if you need anything else.",
    "The refund has not arrived yet.",
    "My account was locked after the password reset.",
    "Kind regards from the accounting department.",
    "I attached a screenshot of the error.",
    "The playlist disappeared overnight.",
    "Hallo, ich habe eine Frage zu meiner Bestellung.",
    "Bonjour, merci pour votre aide.",
    "Cheers!",
    "Sorry for the trouble.",
    "It happens on both my laptop and my tablet.",
];

fn email(r: &mut Rng) -> String {
    let first = *r.pick(FIRST);
    let last = *r.pick(LAST);
    let domain = *r.pick(DOMAINS);
    match r.below(5) {
        0 => format!("{first}.{last}@{domain}"),
        1 => format!("{}{last}@{domain}", &first[..1]),
        2 => format!("{first}_{last}{}@{domain}", r.range(1, 99)),
        3 => format!("{first}+support@{domain}"),
        _ => format!("{}.{}@{domain}", capitalize(first), capitalize(last)),
    }
}

fn capitalize(s: &str) -> String {
    let mut c = s.chars();
    c.next()
        .map(|f| f.to_uppercase().chain(c).collect())
        .unwrap_or_default()
}

const US_AREAS: &[&str] = &[
    "212", "213", "305", "312", "404", "415", "503", "512", "602", "617", "646", "702", "713",
    "718", "206", "303", "808", "917", "202", "310",
];

/// A phone number in a common format: US, UK, German or French, national or international.
fn phone(r: &mut Rng) -> String {
    match r.below(14) {
        12 => {
            // Less common writings: a trunk zero in parentheses, dashes after `+`, dots.
            let (a, e, n) = (r.pick(US_AREAS), r.range(201, 989), r.digits(4));
            match r.below(4) {
                0 => format!("+44 (0)20 7{} {}", r.digits(3), r.digits(4)),
                1 => format!("+1-{a}-{e}-{n}"),
                2 => format!("(020) 7{} {}", r.digits(3), r.digits(4)),
                _ => format!("+49 (0)30 {}", r.range(2_000_000, 9_999_999)),
            }
        }
        13 => {
            // Writings the recognizer does not claim: a seven-digit local number and an
            // international number with dots throughout.
            if r.chance(50) {
                format!("{}-{}", r.range(201, 989), r.digits(4))
            } else {
                let pairs: Vec<String> = (0..4).map(|_| r.digits(2)).collect();
                format!("+33.6.{}", pairs.join("."))
            }
        }
        0 | 1 => {
            let (a, e, n) = (r.pick(US_AREAS), r.range(201, 989), r.digits(4));
            match r.below(4) {
                0 => format!("({a}) {e}-{n}"),
                1 => format!("{a}-{e}-{n}"),
                2 => format!("{a}.{e}.{n}"),
                _ => format!("{a} {e} {n}"),
            }
        }
        2 => {
            let (a, e, n) = (r.pick(US_AREAS), r.range(201, 989), r.digits(4));
            match r.below(3) {
                0 => format!("+1 {a} {e} {n}"),
                1 => format!("+1 ({a}) {e}-{n}"),
                _ => format!("+1{a}{e}{n}"),
            }
        }
        3 => format!(
            "1-{}-{}-{}",
            r.pick(US_AREAS),
            r.range(201, 989),
            r.digits(4)
        ),
        4 => {
            // UK: London landlines and mobiles.
            if r.chance(50) {
                format!("020 7{} {}", r.digits(3), r.digits(4))
            } else {
                format!("07{} {}", r.range(400, 999), r.digits(6))
            }
        }
        5 => {
            if r.chance(50) {
                format!("+44 20 7{} {}", r.digits(3), r.digits(4))
            } else {
                format!("+44 7{} {}", r.range(400, 999), r.digits(6))
            }
        }
        6 => {
            // Germany: Berlin, Munich, Hamburg landlines and mobiles.
            let area = *r.pick(&["30", "89", "40", "69", "221"]);
            match r.below(3) {
                0 => format!("0{area} {}", r.range(2_000_000, 9_999_999)),
                1 => format!("0{area}/{}", r.range(2_000_000, 9_999_999)),
                _ => format!(
                    "01{} {}",
                    r.pick(&["51", "60", "70", "71", "76"]),
                    r.range(1_000_000, 99_999_999)
                ),
            }
        }
        7 => {
            let area = *r.pick(&["30", "89", "40", "69"]);
            match r.below(2) {
                0 => format!("+49 {area} {}", r.range(2_000_000, 9_999_999)),
                _ => format!(
                    "+49 1{} {}",
                    r.pick(&["51", "60", "70", "71", "76"]),
                    r.range(1_000_000, 99_999_999)
                ),
            }
        }
        8 => {
            // France: 01-05 landlines, 06-07 mobiles, in pairs.
            let pairs: Vec<String> = (0..4).map(|_| r.digits(2)).collect();
            let lead = r.range(1, 7);
            let sep = if r.chance(70) { " " } else { "." };
            format!("0{lead}{sep}{}", pairs.join(sep))
        }
        9 => {
            let pairs: Vec<String> = (0..4).map(|_| r.digits(2)).collect();
            format!("+33 {} {}", r.range(1, 7), pairs.join(" "))
        }
        10 => format!(
            "+{}{}{}",
            1,
            r.pick(US_AREAS),
            r.range(2_010_000, 9_899_999)
        ),
        _ => format!("{}{}{}", r.pick(US_AREAS), r.range(201, 989), r.digits(4)),
    }
}

fn luhn_digit(body: &str) -> char {
    let sum: u32 = body
        .bytes()
        .rev()
        .enumerate()
        .map(|(k, b)| {
            let v = u32::from(b - b'0') * if k % 2 == 0 { 2 } else { 1 };
            if v > 9 { v - 9 } else { v }
        })
        .sum();
    char::from(b'0' + ((10 - sum % 10) % 10) as u8)
}

/// Card digits with a real issuer prefix; `valid` says whether the Luhn digit is right.
fn card_digits(r: &mut Rng, valid: bool) -> String {
    let (prefix, len) = match r.below(5) {
        0 | 1 => ("4".to_owned(), 16),
        2 => (format!("5{}", r.range(1, 5)), 16),
        3 => (format!("3{}", r.pick(&["4", "7"])), 15),
        _ => ("6011".to_owned(), 16),
    };
    let mut body = prefix;
    let rest = r.digits(len - 1 - body.len());
    body.push_str(&rest);
    let check = luhn_digit(&body);
    let check = if valid {
        check
    } else {
        char::from(b'0' + ((check as u8 - b'0' + 1 + r.below(9) as u8) % 10))
    };
    body.push(check);
    body
}

fn format_card(r: &mut Rng, digits: &str) -> String {
    let sep = match r.below(3) {
        0 => "",
        1 => " ",
        _ => "-",
    };
    let groups: &[usize] = if digits.len() == 15 {
        &[4, 6, 5]
    } else {
        &[4, 4, 4, 4]
    };
    let mut out = String::new();
    let mut at = 0;
    for (k, g) in groups.iter().enumerate() {
        if k > 0 {
            out.push_str(sep);
        }
        out.push_str(&digits[at..at + g]);
        at += g;
    }
    out
}

/// (country, BBAN shape: `n` digits, `a` upper-case letters, `c` letters or digits)
const IBAN_SHAPES: &[(&str, &str)] = &[
    ("DE", "nnnnnnnnnnnnnnnnnn"),
    ("GB", "aaaannnnnnnnnnnnnn"),
    ("FR", "nnnnnnnnnncccccccccccnn"),
    ("NL", "aaaannnnnnnnnn"),
    ("ES", "nnnnnnnnnnnnnnnnnnnn"),
    ("IT", "annnnnnnnnncccccccccccc"),
    ("CH", "nnnnncccccccccccc"),
    ("AT", "nnnnnnnnnnnnnnnn"),
    ("BE", "nnnnnnnnnnnn"),
];

fn iban_check(country: &str, bban: &str) -> u32 {
    let mut rem = 0u32;
    for c in bban.chars().chain(country.chars()).chain("00".chars()) {
        rem = match c {
            '0'..='9' => (rem * 10 + c.to_digit(10).unwrap_or(0)) % 97,
            _ => (rem * 100 + (c as u32 - 'A' as u32 + 10)) % 97,
        };
    }
    98 - rem
}

/// An IBAN; `valid` says whether the check digits are right. Grouped by fours or not.
fn iban(r: &mut Rng, valid: bool) -> String {
    let (country, shape) = *r.pick(IBAN_SHAPES);
    let bban: String = shape
        .chars()
        .map(|k| match k {
            'n' => char::from(b'0' + r.below(10) as u8),
            'a' => char::from(b'A' + r.below(26) as u8),
            _ => {
                if r.chance(70) {
                    char::from(b'0' + r.below(10) as u8)
                } else {
                    char::from(b'A' + r.below(26) as u8)
                }
            }
        })
        .collect();
    let mut check = iban_check(country, &bban);
    if !valid {
        check = (check + 1 + r.below(90) as u32) % 97 + 2;
        if check == iban_check(country, &bban) {
            check = if check == 98 { 2 } else { check + 1 };
        }
    }
    let compact = format!("{country}{check:02}{bban}");
    if r.chance(60) {
        compact
            .as_bytes()
            .chunks(4)
            .map(|c| String::from_utf8_lossy(c).into_owned())
            .collect::<Vec<_>>()
            .join(" ")
    } else {
        compact
    }
}

fn ipv4(r: &mut Rng) -> String {
    let first = *r.pick(&[
        23u64, 45, 64, 81, 91, 103, 145, 178, 185, 203, 212, 10, 172, 192,
    ]);
    format!(
        "{first}.{}.{}.{}",
        r.range(0, 255),
        r.range(0, 255),
        r.range(1, 254)
    )
}

fn ipv6(r: &mut Rng) -> String {
    let form = r.below(3);
    let groups: Vec<String> = (0..8).map(|_| format!("{:x}", r.below(0x10000))).collect();
    match form {
        0 => groups.join(":"),
        1 => format!("2001:db8:{}::{}:{}", groups[0], groups[1], groups[2]),
        _ => format!(
            "fe80::{}:{}:{}:{}",
            groups[0], groups[1], groups[2], groups[3]
        ),
    }
}

/// An SSN under the SSA's rules, dashed or (rarely) spaced.
fn ssn(r: &mut Rng, spaced: bool) -> String {
    let area = loop {
        let a = r.range(1, 899);
        if a != 666 {
            break a;
        }
    };
    let (group, serial) = (r.range(1, 99), r.range(1, 9999));
    let sep = if spaced { " " } else { "-" };
    format!("{area:03}{sep}{group:02}{sep}{serial:04}")
}

const MONTHS_EN: &[&str] = &[
    "January",
    "February",
    "March",
    "April",
    "May",
    "June",
    "July",
    "August",
    "September",
    "October",
    "November",
    "December",
];
const MONTHS_DE: &[&str] = &[
    "Januar",
    "Februar",
    "März",
    "April",
    "Mai",
    "Juni",
    "Juli",
    "August",
    "September",
    "Oktober",
    "November",
    "Dezember",
];
const MONTHS_FR: &[&str] = &[
    "janvier",
    "février",
    "mars",
    "avril",
    "mai",
    "juin",
    "juillet",
    "août",
    "septembre",
    "octobre",
    "novembre",
    "décembre",
];

/// A date in one of the common written formats, from year range `years`.
fn date(r: &mut Rng, years: (u64, u64)) -> String {
    let (y, m, d) = (r.range(years.0, years.1), r.range(1, 12), r.range(1, 28));
    let mi = (m - 1) as usize;
    match r.below(9) {
        0 => format!("{y}-{m:02}-{d:02}"),
        1 => format!("{d:02}.{m:02}.{y}"),
        2 => format!("{m:02}/{d:02}/{y}"),
        3 => format!("{d}/{m}/{y}"),
        4 => format!("{d} {} {y}", MONTHS_EN[mi]),
        5 => format!("{} {d}, {y}", MONTHS_EN[mi]),
        6 => format!("{d}. {} {y}", MONTHS_DE[mi]),
        7 => format!("{d} {} {y}", MONTHS_FR[mi]),
        _ => format!("{d:02}-{m:02}-{y}"),
    }
}

fn percent_encode(s: &str) -> String {
    let mut out = String::new();
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'~') {
            out.push(char::from(b));
        } else {
            let _ = write!(out, "%{b:02X}");
        }
    }
    out
}

/// A URL with a personal query parameter (or fragment token).
fn personal_url(r: &mut Rng) -> String {
    let host = *r.pick(HOSTS);
    let path = *r.pick(&[
        "account/verify",
        "profile",
        "unsubscribe",
        "reset",
        "orders/track",
        "invite/accept",
    ]);
    let first = *r.pick(FIRST);
    let last = *r.pick(LAST);
    let token: String = (0..16)
        .map(|_| char::from(*r.pick(b"abcdefghijklmnopqrstuvwxyz0123456789")))
        .collect();
    let param = match r.below(6) {
        0 => format!("email={}", percent_encode(&email(r))),
        1 => format!("user={first}{last}"),
        2 => format!(
            "firstName={}&lastName={}",
            capitalize(first),
            capitalize(last)
        ),
        3 => format!(
            "phone=%2B1{}{}",
            r.pick(US_AREAS),
            r.range(2_010_000, 9_899_999)
        ),
        4 => format!("token={token}"),
        _ => format!("uid={token}"),
    };
    let extra = if r.chance(40) {
        "&utm_source=newsletter"
    } else {
        ""
    };
    if r.chance(15) {
        format!("https://{host}/{path}#access_token={token}")
    } else {
        format!("https://{host}/{path}?{param}{extra}")
    }
}

/// One labelled sentence with one entity.
fn entity_sentence(r: &mut Rng, doc: &mut Doc) {
    match r.below(8) {
        0 => {
            let t = *r.pick(&[
                "Please send the invoice to {}.",
                "My email is {}",
                "Contact me at {} if anything changes.",
                "{} wrote: the app keeps crashing.",
                "You can reply to {} instead.",
                "Add {} to the ticket, please.",
                "Account {} cannot log in.",
            ]);
            doc.template(t, &email(r), Some("email"));
        }
        1 => {
            let t = *r.pick(&[
                "You can reach me at {}.",
                "Call me on {} after five.",
                "My phone number is {}",
                "Phone: {}",
                "{} is my mobile.",
                "Please text {} when the courier arrives.",
                "Our office line is {}, ask for Anna.",
                "Telefon: {}",
                "Mon portable: {}",
                "I am available at {} most afternoons.",
                "New number {} from today.",
            ]);
            doc.template(t, &phone(r), Some("phone"));
        }
        2 => {
            let t = *r.pick(&[
                "My card {} was charged twice.",
                "I paid with {} yesterday.",
                "Card number: {}",
                "Please refund the amount to {}.",
                "The Visa {} got declined again.",
                "Charge it to {} as usual.",
                "Used {} for the annual plan.",
            ]);
            let digits = card_digits(r, true);
            let card = format_card(r, &digits);
            doc.template(t, &card, Some("credit_card"));
        }
        3 => {
            let t = *r.pick(&[
                "Please refund to IBAN {}.",
                "My bank account is {}",
                "Transfer it to {} please.",
                "{} is the account for the refund.",
                "Bankverbindung: {}",
                "Send the money to {} by Friday.",
            ]);
            let value = iban(r, true);
            doc.template(t, &value, Some("iban"));
        }
        4 => {
            let t = *r.pick(&[
                "Login attempt from {} was blocked.",
                "My IP is {}",
                "I connected from {} yesterday.",
                "The server logs show {} hammering the API.",
                "Requests came from {} all night.",
                "Whitelist {} for me, please.",
            ]);
            let v4 = r.chance(70);
            let value = if v4 { ipv4(r) } else { ipv6(r) };
            if r.chance(10) {
                // With a port, which is not part of the address (IPv6 in brackets).
                let port = r.range(1024, 65_535);
                let (before, after) = t.split_once("{}").unwrap_or((t, ""));
                doc.push(before);
                if !v4 {
                    doc.push("[");
                }
                let start = doc.text.len();
                doc.push(&value);
                doc.labels.push(("ip_address", start, doc.text.len()));
                doc.push(if v4 { ":" } else { "]:" });
                doc.push(&format!("{port}{after}"));
            } else {
                doc.template(t, &value, Some("ip_address"));
            }
        }
        5 if r.chance(10) => {
            let t = *r.pick(&["SSN: {}", "ssn {} on the W-2 form"]);
            let value = ssn(r, false).replace('-', "");
            doc.template(t, &value, Some("us_ssn"));
        }
        5 => {
            let spaced = r.chance(15);
            let t = if spaced {
                *r.pick(&["My social security number is {}.", "SSN: {}"])
            } else {
                *r.pick(&[
                    "SSN {} for the tax form.",
                    "My social security number is {}.",
                    "{} is my SSN.",
                    "Employee record shows {} as the SSN.",
                    "For verification: {}",
                ])
            };
            doc.template(t, &ssn(r, spaced), Some("us_ssn"));
        }
        6 => {
            let t = *r.pick(&[
                "I was born on {}.",
                "DOB: {}",
                "Date of birth {}, please update it.",
                "My birthday is {} and the form says otherwise.",
                "Geburtsdatum: {}",
                "Ich bin am {} geboren.",
                "Née le {}.",
                "The passenger was born {} in Lyon.",
                "Date of birth as listed on my passport: {}",
                "{} is my date of birth, not the one on file.",
            ]);
            // "{} is my date of birth" puts the keyword after the date: a known miss too.
            // "Ich bin am {} geboren" puts the keyword after the date: a known miss.
            let value = date(r, (1940, 2006));
            doc.template(t, &value, Some("date_of_birth"));
        }
        _ => {
            let t = *r.pick(&[
                "The link {} does not work.",
                "I got this link: {}",
                "Clicking {} gives me an error.",
                "Open {} to confirm.",
            ]);
            let value = personal_url(r);
            doc.template(t, &value, Some("url_personal"));
        }
    }
}

/// One unlabelled sentence that looks like it may hold PII and does not.
fn hard_negative(r: &mut Rng, doc: &mut Doc) {
    match r.below(12) {
        0 => {
            let digits = card_digits(r, false);
            let card = format_card(r, &digits);
            let t = *r.pick(&[
                "The number {} on the form is a typo.",
                "Card {} was rejected as invalid.",
                "Reference code {} printed on the box.",
            ]);
            doc.template(t, &card, None);
        }
        1 => {
            let value = match r.below(6) {
                0 => format!("#{}", r.range(10_000, 999_999)),
                1 => format!("ORD-{}-{}", r.range(10_000, 99_999), r.digits(2)),
                2 => format!("INV-{}-{:05}", r.range(2019, 2025), r.range(1, 99_999)),
                3 => format!("1Z{}AA{}", r.digits(3), r.digits(11)),
                4 => format!("T-{}", r.digits(8)),
                _ => format!("{}-{}", r.range(2019, 2025), r.digits(6)),
            };
            let t = *r.pick(&[
                "Order {} has shipped.",
                "Ticket {} is still open.",
                "Tracking number {} shows no movement.",
                "Invoice {} is wrong.",
            ]);
            doc.template(t, &value, None);
        }
        2 => {
            // Phone-shaped ids, named as ids.
            let value = match r.below(3) {
                0 => format!("{}{}{}", r.pick(US_AREAS), r.range(201, 989), r.digits(4)),
                1 => format!("{}-{}-{}", r.pick(US_AREAS), r.range(201, 989), r.digits(4)),
                _ => r.digits(9),
            };
            let t = *r.pick(&[
                "Order number {} is late.",
                "Invoice {} was paid twice.",
                "My order {} never arrived.",
                "Case {} was closed without reply.",
            ]);
            doc.template(t, &value, None);
        }
        3 => {
            let value = format!(
                "{}.{}.{}.{}",
                r.range(1, 12),
                r.range(0, 20),
                r.range(0, 30),
                r.range(0, 200)
            );
            let t = *r.pick(&[
                "Since version {} the app is slow.",
                "I am on build {} now.",
                "Firmware {} broke the pairing.",
                "After the update to v{} nothing loads.",
            ]);
            doc.template(t, &value, None);
        }
        4 => {
            let value = date(r, (2019, 2025));
            let t = *r.pick(&[
                "I ordered it on {}.",
                "It was delivered {} to the wrong door.",
                "The renewal on {} failed.",
                "My appointment is on {}.",
            ]);
            doc.template(t, &value, None);
        }
        5 => {
            let value = iban(r, false);
            let t = *r.pick(&["The IBAN {} was rejected by the bank.", "Is {} correct?"]);
            doc.template(t, &value, None);
        }
        6 => {
            let value = match r.below(4) {
                0 => format!("{}", r.range(1000, 9999)),
                1 => r.digits(6),
                2 => format!("{}-{}", r.digits(4), r.digits(2)),
                _ => format!("{}-{}", r.range(201, 989), r.digits(4)),
            };
            let t = *r.pick(&[
                "My PIN {} does not work.",
                "Use code {} at checkout.",
                "Extension {} never answers.",
                "Room {} is on the left.",
            ]);
            doc.template(t, &value, None);
        }
        7 => {
            let value = format!(
                "https://{}/{}?page={}&lang={}",
                r.pick(HOSTS),
                r.pick(&["help", "docs/setup", "blog"]),
                r.range(1, 9),
                r.pick(&["en", "de", "fr"])
            );
            let t = *r.pick(&["The guide at {} is outdated.", "See {} for details."]);
            doc.template(t, &value, None);
        }
        8 => {
            let area = *r.pick(&["000", "666", "900", "987"]);
            let value = format!("{area}-{:02}-{:04}", r.range(1, 99), r.range(1, 9999));
            let t = *r.pick(&[
                "The form rejected {} as an invalid SSN.",
                "Test record {} is fake.",
            ]);
            doc.template(t, &value, None);
        }
        9 => {
            let (t, value) = match r.below(4) {
                0 => (
                    "The total was {} after tax.",
                    format!(
                        "${},{:03}.{:02}",
                        r.range(1, 99),
                        r.range(0, 999),
                        r.range(0, 99)
                    ),
                ),
                1 => (
                    "It happened at {} today.",
                    format!("{:02}:{:02}", r.range(0, 23), r.range(0, 59)),
                ),
                2 => (
                    "Ship it to ZIP {} please.",
                    format!("{:05}", r.range(1000, 99_999)),
                ),
                _ => (
                    "Ship it to ZIP {} please.",
                    format!("{}-{}", r.digits(5), r.digits(4)),
                ),
            };
            doc.template(t, &value, None);
        }
        10 => {
            let value = format!("{}.{}.{}", r.range(1, 20), r.range(0, 30), r.range(0, 99));
            let t = *r.pick(&["Version {} fixed it.", "Running release {} on Android."]);
            doc.template(t, &value, None);
        }
        _ => {
            let len = r.range(12, 22) as usize;
            let value = r.digits(len);
            let t = *r.pick(&[
                "Transaction {} is pending.",
                "Serial {} is on the back.",
                "Reference {} in the statement.",
            ]);
            doc.template(t, &value, None);
        }
    }
}

fn text(r: &mut Rng) -> Doc {
    let mut doc = Doc {
        text: String::new(),
        labels: Vec::new(),
    };
    let sentences = r.range(1, 3);
    for k in 0..sentences {
        if k > 0 {
            doc.push(" ");
        }
        match r.below(100) {
            0..=54 => entity_sentence(r, &mut doc),
            55..=84 => hard_negative(r, &mut doc),
            _ => {
                let filler = *r.pick(FILLER);
                doc.push(filler);
            }
        }
    }
    doc
}

fn json_string(s: &str, out: &mut String) {
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            c if (c as u32) < 0x20 => {
                let _ = write!(out, "\\u{:04x}", c as u32);
            }
            c => out.push(c),
        }
    }
    out.push('"');
}

fn main() {
    let mut args = std::env::args().skip(1);
    let count: usize = args.next().and_then(|a| a.parse().ok()).unwrap_or(20_000);
    let seed: u64 = args.next().and_then(|a| a.parse().ok()).unwrap_or(7);
    let mut r = Rng(seed);
    let stdout = std::io::stdout();
    let mut out = BufWriter::new(stdout.lock());
    let mut line = String::new();
    for _ in 0..count {
        let doc = text(&mut r);
        line.clear();
        line.push_str("{\"text\":");
        json_string(&doc.text, &mut line);
        line.push_str(",\"labels\":[");
        for (k, (entity, start, end)) in doc.labels.iter().enumerate() {
            if k > 0 {
                line.push(',');
            }
            let cstart = doc.text[..*start].chars().count();
            let cend = cstart + doc.text[*start..*end].chars().count();
            let _ = write!(
                line,
                "{{\"entity\":\"{entity}\",\"start\":{start},\"end\":{end},\"cstart\":{cstart},\"cend\":{cend}}}"
            );
        }
        line.push_str("]}\n");
        if out.write_all(line.as_bytes()).is_err() {
            return;
        }
    }
    let _ = out.flush();
}

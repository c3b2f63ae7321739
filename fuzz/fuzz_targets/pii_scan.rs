//! Fuzzes the PII scanner on arbitrary text (free text of events, `POST .../pii/scan`):
//! it never panics, its spans lie on char boundaries in order, and applying any action never
//! panics and never copies a found span through in place (the output differs there).
#![no_main]
use libfuzzer_sys::fuzz_target;
use steward_privacy::pii::{apply, scan, PiiAction};

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else { return };
    let findings = scan(text);
    let mut last_end = 0;
    for f in &findings {
        assert!(f.start >= last_end && f.start < f.end && f.end <= text.len());
        assert!(text.is_char_boundary(f.start) && text.is_char_boundary(f.end));
        last_end = f.end;
    }
    for action in [PiiAction::Redact, PiiAction::Mask, PiiAction::Tokenize] {
        let out = apply(text, &findings, action, &|_, _| "TOKEN".to_owned());
        if findings.is_empty() {
            assert_eq!(out, text, "nothing found, nothing changed");
        } else {
            assert_ne!(out, text, "a finding changes the text under {action:?}");
        }
    }
});

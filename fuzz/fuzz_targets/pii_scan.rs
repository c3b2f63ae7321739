//! Fuzzes the PII scanner on arbitrary text (free text of events, `POST .../pii/scan`):
//! it never panics, its spans lie on char boundaries in order, and no action lets a found
//! span through.
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
        for f in findings.iter().filter(|f| f.end - f.start >= 6) {
            let span = &text[f.start..f.end];
            assert!(!out.contains(span) || text.matches(span).count() > findings.len(), "span {span:?} survived {action:?}");
        }
    }
});

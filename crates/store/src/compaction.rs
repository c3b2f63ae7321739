//! Choosing which small segments to merge, within one subject range.
//!
//! Subjects are spread over 16 ranges by the top four bits of the pseudonym; a
//! flush writes one segment per range and compaction merges only within a range, so a
//! subject's rows live in 1/16 of the segments: an erasure rewrites 1/16 of the store, and a
//! timeline reads 1/16 of the segments.

use std::collections::BTreeMap;
use steward_crypto::Pseudonym;

use crate::SegmentMeta;
use crate::limits::{
    COMPACTION_INPUT_BYTES_MAX, COMPACTION_SEGMENT_BYTES_MIN, COMPACTION_TRIGGER_SEGMENTS,
};

/// The range of a subject: the top four bits of its pseudonym (uniform: pseudonyms are HMACs).
pub fn subject_range(subject: &Pseudonym) -> u8 {
    subject.as_bytes()[0] >> 4
}

/// The range a segment holds, or None for a segment spanning several (written before ranges).
fn range_of(meta: &SegmentMeta) -> Option<u8> {
    let low = subject_range(&meta.min_subject);
    (low == subject_range(&meta.max_subject)).then_some(low)
}

/// [`pick`] within each subject range (and among the older mixed segments), the first range
/// with work first.
pub fn pick_in_one_range(segments: &[SegmentMeta]) -> Option<Vec<u64>> {
    let mut groups: BTreeMap<Option<u8>, Vec<SegmentMeta>> = BTreeMap::new();
    for meta in segments {
        groups.entry(range_of(meta)).or_default().push(meta.clone());
    }
    groups.values().find_map(|group| pick(group))
}

/// Picks the oldest run of small segments worth merging, within the input bound; None if
/// fewer than the trigger count are small. Pure, so it is tested on plain lists.
pub fn pick(segments: &[SegmentMeta]) -> Option<Vec<u64>> {
    let mut small: Vec<&SegmentMeta> = segments
        .iter()
        .filter(|s| s.bytes < COMPACTION_SEGMENT_BYTES_MIN)
        .collect();
    if small.len() < COMPACTION_TRIGGER_SEGMENTS {
        return None;
    }
    small.sort_by_key(|s| s.id);
    let mut total = 0u64;
    let mut out = Vec::new();
    for s in small {
        if total + s.bytes > COMPACTION_INPUT_BYTES_MAX && out.len() >= 2 {
            break;
        }
        total += s.bytes;
        out.push(s.id);
    }
    (out.len() >= 2).then_some(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use steward_crypto::Pseudonym;

    fn seg(id: u64, bytes: u64) -> SegmentMeta {
        SegmentMeta {
            id,
            rows: 1,
            bytes,
            min_time_us: 0,
            max_time_us: 0,
            max_seq: id,
            min_subject: Pseudonym::from_bytes([0; 32]),
            max_subject: Pseudonym::from_bytes([0; 32]),
            level: 0,
            wrapped_key: None,
        }
    }

    #[test]
    fn merges_stay_within_a_subject_range() {
        let in_range = |id: u64, first_byte: u8| SegmentMeta {
            min_subject: Pseudonym::from_bytes([first_byte; 32]),
            max_subject: Pseudonym::from_bytes([first_byte | 0x0f; 32]),
            ..seg(id, 10)
        };
        // Three small segments in each of two ranges: neither range reaches the trigger.
        let mut metas: Vec<_> = (0..3)
            .map(|i| in_range(i, 0x10))
            .chain((3..6).map(|i| in_range(i, 0x20)))
            .collect();
        assert_eq!(pick_in_one_range(&metas), None);
        metas.push(in_range(6, 0x20));
        assert_eq!(pick_in_one_range(&metas), Some(vec![3, 4, 5, 6]));
        assert_eq!(subject_range(&Pseudonym::from_bytes([0xab; 32])), 0x0a);
    }

    #[test]
    fn picks_small_segments_only_past_the_trigger() {
        let few: Vec<_> = (0..COMPACTION_TRIGGER_SEGMENTS as u64 - 1)
            .map(|i| seg(i, 10))
            .collect();
        assert_eq!(pick(&few), None);
        let mut many: Vec<_> = (0..COMPACTION_TRIGGER_SEGMENTS as u64)
            .map(|i| seg(i, 10))
            .collect();
        many.push(seg(99, COMPACTION_SEGMENT_BYTES_MIN));
        let picked = pick(&many).unwrap();
        assert_eq!(picked.len(), COMPACTION_TRIGGER_SEGMENTS);
        assert!(!picked.contains(&99));
    }
}

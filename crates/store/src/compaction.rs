//! Choosing which small segments to merge.

use crate::limits::{COMPACTION_INPUT_BYTES_MAX, COMPACTION_SEGMENT_BYTES_MIN, COMPACTION_TRIGGER_SEGMENTS};
use crate::SegmentMeta;

/// Picks the oldest run of small segments worth merging, within the input bound; None if
/// fewer than the trigger count are small. Pure, so it is tested on plain lists.
pub fn pick(segments: &[SegmentMeta]) -> Option<Vec<u64>> {
    let mut small: Vec<&SegmentMeta> = segments.iter().filter(|s| s.bytes < COMPACTION_SEGMENT_BYTES_MIN).collect();
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
            id, rows: 1, bytes, min_time_us: 0, max_time_us: 0, max_seq: id,
            min_subject: Pseudonym::from_bytes([0; 32]), max_subject: Pseudonym::from_bytes([0; 32]), level: 0, wrapped_key: None,
        }
    }

    #[test]
    fn picks_small_segments_only_past_the_trigger() {
        let few: Vec<_> = (0..COMPACTION_TRIGGER_SEGMENTS as u64 - 1).map(|i| seg(i, 10)).collect();
        assert_eq!(pick(&few), None);
        let mut many: Vec<_> = (0..COMPACTION_TRIGGER_SEGMENTS as u64).map(|i| seg(i, 10)).collect();
        many.push(seg(99, COMPACTION_SEGMENT_BYTES_MIN));
        let picked = pick(&many).unwrap();
        assert_eq!(picked.len(), COMPACTION_TRIGGER_SEGMENTS);
        assert!(!picked.contains(&99));
    }
}

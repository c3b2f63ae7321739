//! The model file: round trips, damage of any kind refused with a typed error (never a panic),
//! removed users leave no bytes behind (key, vector, seen list), and files written by version 1
//! and version 2 still read.
//!
//! `STEWARD_ML_WRITE_GOLDEN=1 cargo test -p steward-ml --test format` rewrites the committed
//! version-2 files in `tests/data/`; do it only for a deliberate change, and say why. The
//! version-1 files can no longer be written (this build writes version 2): they stay as committed.

mod common;

use common::{TestRng, all_kinds, fit, matrix, planted};
use proptest::prelude::*;
use steward_ml::{
    FormatError, IdMap, Interactions, MatrixLimits, Model, ModelFile, Params, UserKey,
};

fn user_keys(n: u32, seed: u64) -> IdMap<UserKey> {
    let mut rng = TestRng::new(seed);
    let keys: Vec<UserKey> = (0..n)
        .map(|_| std::array::from_fn(|_| rng.next() as u8))
        .collect();
    IdMap::from_ordered(keys, u32::MAX).unwrap()
}

fn item_keys(n: u32) -> IdMap<String> {
    IdMap::from_ordered(
        (0..n)
            .map(|i| {
                if i % 3 == 0 {
                    format!("track-é{i}")
                } else {
                    format!("sku:{i}")
                }
            })
            .collect(),
        u32::MAX,
    )
    .unwrap()
}

fn file_of(model: Model, seed: u64) -> ModelFile {
    let users = if model.algorithm().has_user_rows() {
        user_keys(model.user_count(), seed)
    } else {
        IdMap::new(0)
    };
    let items = item_keys(model.item_count());
    ModelFile::new(model, users, items).unwrap()
}

/// `file_of` with the training section of `m`, the matrix the model was trained on.
fn trained_file_of(model: Model, seed: u64, m: &Interactions) -> ModelFile {
    file_of(model, seed).with_training(m).unwrap()
}

fn assert_same(a: &ModelFile, b: &ModelFile) {
    assert_eq!(a.model(), b.model());
    assert_eq!(a.users().keys(), b.users().keys());
    assert_eq!(a.items().keys(), b.items().keys());
    assert_eq!(a.item_counts(), b.item_counts());
    for row in 0..a.model().user_count() + 1 {
        assert_eq!(a.seen(row), b.seen(row), "row {row}");
    }
}

fn small_files() -> Vec<ModelFile> {
    let m = matrix(
        &[&[(0, 1.0), (2, 2.0)], &[(1, 1.0), (2, 1.0)], &[(3, 4.0)]],
        4,
    );
    all_kinds()
        .into_iter()
        .flat_map(|p| {
            let model = fit(&m, with_factors(p, 2), 1, 5);
            [file_of(model.clone(), 1), trained_file_of(model, 1, &m)]
        })
        .collect()
}

fn with_factors(params: Params, factors: u32) -> Params {
    match params {
        Params::Als(p) => Params::Als(steward_ml::AlsParams { factors, ..p }),
        Params::Bpr(p) => Params::Bpr(steward_ml::BprParams { factors, ..p }),
        other => other,
    }
}

#[test]
fn every_kind_round_trips() {
    let m = planted(2, 8, 12, 6, 1, 3);
    for params in all_kinds().into_iter().chain([common::bpr_popular(8, 3)]) {
        let model = fit(&m, params, 2, 9);
        for file in [file_of(model.clone(), 2), trained_file_of(model, 2, &m)] {
            let bytes = file.to_bytes();
            assert_eq!(bytes[8..12], 2u32.to_le_bytes(), "writes version 2");
            let back = ModelFile::from_bytes(&bytes).unwrap();
            assert_same(&file, &back);
            assert_eq!(back.to_bytes(), bytes);
            assert_eq!(back.item_index("sku:1"), Some(1));
        }
    }
}

/// The training section holds every training user's items and every item's user count; models
/// without user rows hold the counts only.
#[test]
fn the_training_section_holds_seen_items_and_counts() {
    let m = planted(2, 8, 12, 6, 1, 3);
    let counts: Vec<u32> = (0..m.items())
        .map(|i| m.item_users(i).unwrap().0.len() as u32)
        .collect();
    for params in all_kinds() {
        let model = fit(&m, params, 1, 9);
        let plain = file_of(model.clone(), 2);
        assert_eq!((plain.seen(0), plain.item_counts()), (None, None));
        let file = ModelFile::from_bytes(&trained_file_of(model, 2, &m).to_bytes()).unwrap();
        assert_eq!(file.item_counts(), Some(counts.as_slice()), "{params:?}");
        for u in 0..m.users() {
            let want = params
                .algorithm()
                .has_user_rows()
                .then(|| m.user_row(u).unwrap().items);
            assert_eq!(file.seen(u), want, "{params:?} user {u}");
        }
        assert_eq!(file.seen(m.users()), None);
    }
}

#[test]
fn training_data_must_fit_the_model() {
    let m = planted(2, 4, 10, 4, 0, 1);
    let other = planted(2, 5, 10, 4, 0, 1);
    let fewer_items = planted(2, 4, 9, 4, 0, 1);
    let als = file_of(fit(&m, common::als(4, 1), 1, 0), 0);
    assert_eq!(
        als.clone().with_training(&other).unwrap_err(),
        FormatError::TrainingMismatch {
            what: "users",
            matrix: 10,
            model: 8
        }
    );
    assert!(matches!(
        als.with_training(&fewer_items),
        Err(FormatError::TrainingMismatch { what: "items", .. })
    ));
    // Item-kNN and popularity hold no user rows: any users, the same items.
    let popularity = file_of(fit(&m, common::popularity(), 1, 0), 0);
    assert!(popularity.clone().with_training(&other).is_ok());
    assert!(popularity.with_training(&fewer_items).is_err());
}

/// Damage to the training section behind a valid checksum is refused field by field.
#[test]
fn a_damaged_training_section_is_refused() {
    let m = matrix(
        &[&[(0, 1.0), (2, 2.0)], &[(1, 1.0), (2, 1.0)], &[(3, 4.0)]],
        4,
    );
    let file = trained_file_of(fit(&m, with_factors(common::als(2, 1), 2), 1, 5), 1, &m);
    let bytes = file.to_bytes();
    // The section: flag, 3 lengths, 5 indices, 4 counts, before the 4-byte checksum.
    let section = bytes.len() - 4 - (1 + 4 * (3 + 5 + 4));
    assert_eq!(bytes[section], 1);
    let word = |k: usize| section + 1 + 4 * k;
    assert_eq!(
        bytes[word(0)..word(3)],
        [2, 0, 0, 0, 2, 0, 0, 0, 1, 0, 0, 0]
    );
    let damaged = |at: usize, value: u32| {
        let mut b = bytes.clone();
        b[at..at + 4].copy_from_slice(&value.to_le_bytes());
        reseal(&mut b);
        ModelFile::from_bytes(&b)
    };
    let invalid = |r: Result<ModelFile, FormatError>| matches!(r, Err(FormatError::Invalid { .. }));
    assert!(
        invalid(damaged(word(3), 2)),
        "row 0 becomes [2, 2]: not ascending"
    );
    assert!(invalid(damaged(word(4), 0)), "row 0 becomes [0, 0]");
    assert!(invalid(damaged(word(7), 4)), "item 4 of 4 items");
    assert!(invalid(damaged(word(8), 2)), "item 0's count is 1");
    assert!(
        invalid(damaged(word(0), 5)),
        "a list longer than the catalogue"
    );
    assert!(
        invalid(damaged(word(0), 3)),
        "the lists no longer end where the counts begin"
    );
    assert!(invalid(damaged(word(2), u32::MAX)), "a length past the end");
    let mut flag = bytes.clone();
    flag[section] = 2;
    reseal(&mut flag);
    assert!(invalid(ModelFile::from_bytes(&flag)));
    assert!(
        invalid(damaged(word(3), 1)),
        "row 0 becomes [1, 2]: the counts disagree"
    );
    assert!(ModelFile::from_bytes(&bytes).is_ok());
}

/// Recomputes the checksum at the end of `bytes` for its content.
fn reseal(bytes: &mut [u8]) {
    let body = bytes.len() - 4;
    let crc = crc32c(&bytes[..body]);
    bytes[body..].copy_from_slice(&crc.to_le_bytes());
}

#[test]
fn every_single_bit_flip_is_refused() {
    for file in small_files() {
        let bytes = file.to_bytes();
        assert!(bytes.len() < 1024, "{} bytes", bytes.len());
        for bit in 0..bytes.len() * 8 {
            let mut damaged = bytes.clone();
            damaged[bit / 8] ^= 1 << (bit % 8);
            assert!(
                ModelFile::from_bytes(&damaged).is_err(),
                "{:?}: flipping bit {bit} went unnoticed",
                file.model().algorithm()
            );
        }
    }
}

#[test]
fn every_truncation_and_extension_is_refused() {
    for file in small_files() {
        let bytes = file.to_bytes();
        for len in 0..bytes.len() {
            assert!(
                ModelFile::from_bytes(&bytes[..len]).is_err(),
                "cut at {len}"
            );
        }
        let mut longer = bytes.clone();
        longer.push(0);
        assert!(matches!(
            ModelFile::from_bytes(&longer),
            Err(FormatError::Length { .. })
        ));
    }
    assert_eq!(
        ModelFile::from_bytes(b"not a model").unwrap_err(),
        FormatError::NotAModelFile
    );
    let mut future = small_files()[0].to_bytes();
    future[8] = 3;
    assert_eq!(
        ModelFile::from_bytes(&future).unwrap_err(),
        FormatError::UnsupportedVersion {
            version: 3,
            supported: 2
        }
    );
}

/// A user removed from a model file leaves neither their pseudonym, nor their vector, nor their
/// seen list in the bytes written afterwards, nor in the item counts; everyone else keeps theirs,
/// under the same keys.
#[test]
fn a_removed_user_leaves_no_bytes_behind() {
    let m = planted(3, 20, 30, 10, 2, 6);
    for params in [common::als(16, 3), common::bpr(16, 3)] {
        let mut file = trained_file_of(fit(&m, params, 2, 4), 77, &m);
        let f = file.model().factors();
        let vector_bytes = |file: &ModelFile, key: &UserKey| -> Vec<u8> {
            let row = file.user_row(key).unwrap() as usize;
            file.model().user_factors().unwrap()[row * f..(row + 1) * f]
                .iter()
                .flat_map(|v| v.to_le_bytes())
                .collect()
        };
        let seen_of = |file: &ModelFile, key: &UserKey| -> Vec<u32> {
            file.seen(file.user_row(key).unwrap()).unwrap().to_vec()
        };
        let as_bytes =
            |items: &[u32]| -> Vec<u8> { items.iter().flat_map(|i| i.to_le_bytes()).collect() };
        let keys: Vec<UserKey> = file.users().keys().to_vec();
        let (gone, kept) = (keys[17], keys[40]);
        let (gone_vector, kept_vector) = (vector_bytes(&file, &gone), vector_bytes(&file, &kept));
        let gone_seen = seen_of(&file, &gone);
        assert!(
            gone_seen.len() >= 5,
            "a list long enough to be unique in the bytes"
        );
        let counts_before = file.item_counts().unwrap().to_vec();
        let seen_before: Vec<Vec<u32>> = keys.iter().map(|k| seen_of(&file, k)).collect();
        let before = file.to_bytes();
        assert!(
            contains(&before, &gone) && contains(&before, &gone_vector),
            "the search finds them before"
        );
        assert!(
            contains(&before, &as_bytes(&gone_seen)),
            "the search finds the seen list before"
        );

        assert_eq!(file.remove_users(&[gone, gone, [0xAB; 32]]), 1);
        let after = file.to_bytes();
        assert!(
            !contains(&after, &gone),
            "{params:?}: the pseudonym is still in the file"
        );
        assert!(
            !contains(&after, &gone_vector),
            "{params:?}: the vector is still in the file"
        );
        assert!(
            !contains(&after, &as_bytes(&gone_seen)),
            "{params:?}: the seen list is still in the file"
        );
        assert!(contains(&after, &kept) && contains(&after, &kept_vector));

        let mut reread = ModelFile::from_bytes(&after).unwrap();
        assert_eq!(reread.model().user_count(), 59);
        assert_eq!(reread.user_row(&gone), None);
        assert_eq!(vector_bytes(&reread, &kept), kept_vector);
        // Every other user keeps their list, under their key; the counts no longer count `gone`.
        for (key, seen) in keys.iter().zip(&seen_before) {
            if *key != gone {
                assert_eq!(&seen_of(&reread, key), seen);
            }
        }
        assert_eq!(reread.seen(59), None);
        let mut counts = counts_before;
        for &i in &gone_seen {
            counts[i as usize] -= 1;
        }
        assert_eq!(reread.item_counts(), Some(counts.as_slice()));
        assert_eq!(reread.remove_users(&[]), 0);
    }
}

/// The sampler is one optional byte after BPR's fields: absent for uniform (so version-1 files
/// written before it read unchanged), 1 for popularity, anything else refused (one encoding
/// per value).
#[test]
fn the_bpr_sampler_byte_is_canonical() {
    let m = planted(2, 8, 12, 6, 1, 3);
    let uniform = file_of(fit(&m, common::bpr(4, 2), 1, 9), 2).to_bytes();
    let popular = file_of(fit(&m, common::bpr_popular(4, 2), 1, 9), 2).to_bytes();
    assert!(
        matches!(ModelFile::from_bytes(&popular).unwrap().model().params(), Params::Bpr(p) if p.negatives == steward_ml::Negatives::Popularity)
    );
    // The parameter block: after the 32-byte preamble, a u32 length then the fields.
    let len_at = 32;
    assert_eq!(
        u32::from_le_bytes(uniform[len_at..len_at + 4].try_into().unwrap()),
        20
    );
    assert_eq!(
        u32::from_le_bytes(popular[len_at..len_at + 4].try_into().unwrap()),
        21
    );
    assert_eq!(popular[len_at + 4 + 20], 1);
    for value in [0u8, 2, 255] {
        let mut bytes = popular.clone();
        bytes[len_at + 4 + 20] = value;
        let body = bytes.len() - 4;
        let crc = crc32c(&bytes[..body]);
        bytes[body..].copy_from_slice(&crc.to_le_bytes());
        assert!(
            matches!(
                ModelFile::from_bytes(&bytes),
                Err(FormatError::Invalid { .. })
            ),
            "sampler byte {value}"
        );
    }
}

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    haystack.windows(needle.len()).any(|w| w == needle)
}

#[test]
fn files_must_name_exactly_the_model_rows() {
    let m = planted(2, 4, 10, 4, 0, 1);
    let als = fit(&m, common::als(4, 1), 1, 0);
    assert!(matches!(
        ModelFile::new(als.clone(), user_keys(7, 0), item_keys(20)),
        Err(FormatError::CountMismatch { what: "users", .. })
    ));
    assert!(matches!(
        ModelFile::new(als.clone(), user_keys(8, 0), item_keys(19)),
        Err(FormatError::CountMismatch { what: "items", .. })
    ));
    let knn = fit(&m, common::knn(3), 1, 0);
    assert!(
        matches!(
            ModelFile::new(knn, user_keys(8, 0), item_keys(20)),
            Err(FormatError::CountMismatch { what: "users", .. })
        ),
        "item-kNN holds no user rows, so no user keys"
    );
    let mut long = item_keys(20).keys().to_vec();
    long[3] = "x".repeat(1025);
    let long = IdMap::from_ordered(long, u32::MAX).unwrap();
    assert_eq!(
        ModelFile::new(als, user_keys(8, 0), long).unwrap_err(),
        FormatError::ItemKeyTooLong { item: 3, max: 1024 }
    );
}

const GOLDEN: [(&str, u32); 4] = [("als", 0), ("bpr", 1), ("item_knn", 2), ("popularity", 3)];

/// The matrix the committed models were trained on.
fn golden_matrix() -> Interactions {
    let mut b = Interactions::builder(4, 6, MatrixLimits::default()).unwrap();
    for (u, i, w, t) in [
        (0, 0, 1.0, 1),
        (0, 1, 2.0, 2),
        (1, 1, 1.0, 3),
        (1, 2, 1.0, 4),
        (2, 3, 3.0, 5),
        (2, 4, 1.0, 6),
        (3, 5, 1.0, 7),
        (3, 0, 1.0, 8),
    ] {
        b.push_timed(u, i, w, t).unwrap();
    }
    b.build().unwrap()
}

/// The models the committed files hold: trained on a fixed matrix with fixed keys (the
/// version-2 files also hold that matrix's training section).
fn golden_models() -> Vec<ModelFile> {
    let m = golden_matrix();
    let kinds = [
        with_factors(common::als(4, 2), 4),
        with_factors(common::bpr(4, 2), 4),
        common::knn(3),
        Params::Popularity(steward_ml::PopularityParams {
            half_life: Some(4.0),
        }),
    ];
    kinds
        .into_iter()
        .map(|p| trained_file_of(fit(&m, p, 1, 2024), 3, &m))
        .collect()
}

fn golden_path(version: u32, name: &str) -> std::path::PathBuf {
    std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join(format!("tests/data/model_v{version}_{name}.bin"))
}

/// Version-1 files (no training section) read into the same models as today's training, with
/// no seen lists or counts; written again they become version 2 with an empty section.
#[test]
fn version_1_files_still_read() {
    for ((name, _), trained) in GOLDEN.iter().zip(golden_models()) {
        let bytes = std::fs::read(golden_path(1, name)).unwrap();
        assert_eq!(bytes[8..12], 1u32.to_le_bytes());
        let file = ModelFile::from_bytes(&bytes).unwrap();
        assert_eq!(file.model().algorithm().name(), *name);
        assert_eq!(file.model().item_count(), 6);
        assert_eq!(file.model().seed(), 2024);
        assert_eq!(file.items().key(0).map(String::as_str), Some("track-é0"));
        assert_eq!(file.model(), trained.model(), "{name}: the version-1 model");
        assert_eq!(file.users().keys(), trained.users().keys());
        assert_eq!((file.seen(0), file.item_counts()), (None, None));
        let rewritten = file.to_bytes();
        assert_eq!(rewritten[8..12], 2u32.to_le_bytes());
        // The same bytes but for the version, one more byte (no training section), the length
        // and the checksum.
        assert_eq!(rewritten.len(), bytes.len() + 1);
        assert_eq!(rewritten[24..bytes.len() - 4], bytes[24..bytes.len() - 4]);
        assert_eq!(rewritten[bytes.len() - 4], 0);
        assert_same(&ModelFile::from_bytes(&rewritten).unwrap(), &file);
    }
}

#[test]
fn version_2_files_still_read() {
    if std::env::var_os("STEWARD_ML_WRITE_GOLDEN").is_some() {
        for ((name, _), file) in GOLDEN.iter().zip(golden_models()) {
            std::fs::write(golden_path(2, name), file.to_bytes()).unwrap();
        }
    }
    let m = golden_matrix();
    for (name, _) in GOLDEN {
        let bytes = std::fs::read(golden_path(2, name)).unwrap();
        let file = ModelFile::from_bytes(&bytes).unwrap();
        assert_eq!(file.model().algorithm().name(), name);
        assert_eq!(file.model().seed(), 2024);
        assert_eq!(file.item_counts(), Some(&[2, 2, 1, 1, 1, 1][..]));
        if file.model().algorithm().has_user_rows() {
            assert_eq!(file.seen(0), Some(&[0, 1][..]));
            assert_eq!(file.seen(3), Some(&[0, 5][..]));
            assert_eq!(file.seen(3), m.user_row(3).map(|r| r.items));
        } else {
            assert_eq!(file.seen(0), None);
        }
        assert_eq!(
            file.to_bytes(),
            bytes,
            "{name}: reading and writing changed the bytes"
        );
    }
}

/// Training is deterministic across CPUs too (no FMA, fixed reduction order; `exp` and `ln` from
/// the C library, so a different libc could move a last bit): a retrain gives the committed bytes. If a trainer change is deliberate, rewrite the files (see
/// the module doc) and say so in the commit.
#[test]
fn training_reproduces_the_committed_models() {
    for ((name, index), file) in GOLDEN.iter().zip(golden_models()) {
        let committed = std::fs::read(golden_path(2, name)).unwrap();
        assert_eq!(
            file.to_bytes(),
            committed,
            "model {index} ({name}) no longer trains to the committed bytes"
        );
    }
}

/// An arbitrary small model file.
fn arbitrary_file() -> impl Strategy<Value = ModelFile> {
    (
        1u32..6,
        1u32..7,
        prop::collection::vec((0u32..6, 0u32..7, 0f32..5.0), 0..20),
        0usize..5,
        any::<u64>(),
    )
        .prop_map(|(users, items, entries, kind, seed)| {
            let mut b = Interactions::builder(users, items, MatrixLimits::default()).unwrap();
            for (u, i, w) in entries {
                b.push(u % users, i % items, w).unwrap();
            }
            let m = b.build().unwrap();
            let kinds: Vec<Params> = all_kinds()
                .into_iter()
                .chain([common::bpr_popular(3, 2)])
                .collect();
            let params = with_factors(kinds[kind], 1 + (seed % 5) as u32);
            let file = file_of(fit(&m, params, 1, seed), seed);
            if seed % 2 == 0 {
                file.with_training(&m).unwrap()
            } else {
                file
            }
        })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    #[test]
    fn arbitrary_files_round_trip(file in arbitrary_file()) {
        let bytes = file.to_bytes();
        let back = ModelFile::from_bytes(&bytes).unwrap();
        assert_same(&file, &back);
        prop_assert_eq!(back.to_bytes(), bytes);
    }

    /// Damage behind a recomputed checksum (what a bug or an attacker could write) is parsed
    /// field by field: it reads or is refused, never panics.
    #[test]
    fn damage_behind_a_valid_checksum_never_panics(file in arbitrary_file(), at in any::<prop::sample::Index>(), value in any::<u8>(), cut in any::<prop::sample::Index>()) {
        let mut bytes = file.to_bytes();
        let body = bytes.len() - 4;
        bytes[at.index(body)] = value;
        if value % 4 == 0 {
            // Also cut the content short and fix the length field to match.
            let keep = 32 + cut.index(body - 32);
            bytes.truncate(keep);
            let total = (keep + 4) as u64;
            bytes[16..24].copy_from_slice(&total.to_le_bytes());
            bytes.extend_from_slice(&[0; 4]);
        }
        let body = bytes.len() - 4;
        let crc = crc32c(&bytes[..body]);
        bytes[body..].copy_from_slice(&crc.to_le_bytes());
        let _ = ModelFile::from_bytes(&bytes);
    }

    #[test]
    fn arbitrary_bytes_never_panic(mut bytes in prop::collection::vec(any::<u8>(), 0..256), magic in any::<bool>()) {
        if magic && bytes.len() >= 8 {
            bytes[..8].copy_from_slice(b"STWMODEL");
        }
        prop_assert!(ModelFile::from_bytes(&bytes).is_err());
    }
}

/// CRC-32C (Castagnoli), bitwise: the tests' own, so they do not share the code under test.
fn crc32c(bytes: &[u8]) -> u32 {
    let mut crc = !0u32;
    for &b in bytes {
        crc ^= u32::from(b);
        for _ in 0..8 {
            crc = if crc & 1 == 1 {
                (crc >> 1) ^ 0x82F6_3B78
            } else {
                crc >> 1
            };
        }
    }
    !crc
}

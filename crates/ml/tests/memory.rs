//! The up-front memory estimate against what is really allocated: within 2x for the factor
//! matrices and the interaction matrix, an upper bound for item-kNN's neighbour lists.

mod common;

use common::{fit, planted};
use steward_ml::{Algorithm, Params, Shape, estimate_bytes};

fn within_2x(estimate: u64, actual: usize) -> bool {
    let actual = actual as u64;
    estimate <= 2 * actual && actual <= 2 * estimate
}

#[test]
fn estimates_match_real_allocations() {
    let m = planted(4, 300, 100, 25, 3, 12);
    let shape = Shape {
        users: m.users(),
        items: m.items(),
        nnz: m.nnz() as u64,
        timed: true,
    };
    for params in [
        common::als(32, 1),
        common::bpr(24, 1),
        common::knn(20),
        common::popularity(),
    ] {
        let estimate = estimate_bytes(shape, &params, 2);
        let model = fit(&m, params, 2, 0);
        let actual = model.heap_bytes();
        eprintln!(
            "{:?}: model estimate {} B, actual {} B; scratch {} B, peak {} B",
            params.algorithm(),
            estimate.model_bytes,
            actual,
            estimate.scratch_bytes,
            estimate.peak_bytes()
        );
        match params.algorithm() {
            // Lists hold up to `neighbours` per item; sparse data reaches fewer.
            Algorithm::ItemKnn => assert!(actual as u64 <= estimate.model_bytes, "{params:?}"),
            _ => assert!(
                within_2x(estimate.model_bytes, actual),
                "{params:?}: {} vs {actual}",
                estimate.model_bytes
            ),
        }
        assert!(
            within_2x(estimate.matrix_bytes, m.heap_bytes()),
            "matrix: {} vs {}",
            estimate.matrix_bytes,
            m.heap_bytes()
        );
        assert!(estimate.peak_bytes() >= estimate.matrix_bytes + estimate.model_bytes);
        // Writing the file with its training section: the section and the bytes fit the estimate.
        let keys = if model.algorithm().has_user_rows() {
            let keys: Vec<steward_ml::UserKey> = (0..m.users())
                .map(|u| {
                    let mut k = [0u8; 32];
                    k[..4].copy_from_slice(&u.to_le_bytes());
                    k
                })
                .collect();
            steward_ml::IdMap::from_ordered(keys, u32::MAX).unwrap()
        } else {
            steward_ml::IdMap::new(0)
        };
        let items = steward_ml::IdMap::from_ordered(
            (0..m.items()).map(|i| i.to_string()).collect(),
            u32::MAX,
        )
        .unwrap();
        let file = steward_ml::ModelFile::new(model, keys, items)
            .unwrap()
            .with_training(&m)
            .unwrap();
        let section = 4 * m.nnz() as u64 * u64::from(params.algorithm().has_user_rows());
        let written = file.to_bytes().len() as u64;
        assert!(
            written + section <= estimate.file_bytes + 8 * u64::from(m.items()),
            "{params:?}: file {written} + section {section} vs {}",
            estimate.file_bytes
        );
    }
}

#[test]
fn estimates_saturate_instead_of_overflowing() {
    let shape = Shape {
        users: u32::MAX,
        items: u32::MAX,
        nnz: u64::MAX,
        timed: true,
    };
    for algorithm in [
        Algorithm::Als,
        Algorithm::Bpr,
        Algorithm::ItemKnn,
        Algorithm::Popularity,
    ] {
        let estimate = estimate_bytes(shape, &Params::default_for(algorithm), 256);
        assert_eq!(estimate.peak_bytes(), u64::MAX, "{algorithm}");
    }
    let small = estimate_bytes(
        Shape {
            users: 200_000,
            items: 50_000,
            nnz: 7_000_000,
            timed: false,
        },
        &Params::default_for(Algorithm::Als),
        2,
    );
    // 250k rows x 64 factors x 4 B = 64 MB of factors; the matrix is 2 x 56 MB plus pointers.
    assert!(
        (60_000_000..70_000_000).contains(&small.model_bytes),
        "{small:?}"
    );
    assert!(
        (110_000_000..120_000_000).contains(&small.matrix_bytes),
        "{small:?}"
    );
}

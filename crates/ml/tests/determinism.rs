//! Same data, parameters and seed give the same bits, at any thread count; another seed gives
//! another model.

mod common;

use common::{all_kinds, fingerprint, fit, planted};
use steward_ml::{AlsParams, Params};

#[test]
fn same_seed_same_bits_at_every_thread_count() {
    let m = planted(3, 30, 40, 12, 2, 1);
    let mut kinds = all_kinds();
    kinds.push(Params::Als(AlsParams {
        factors: 19,
        iterations: 2,
        ..AlsParams::default()
    }));
    kinds.push(common::bpr_popular(8, 3));
    for params in kinds {
        let reference = fingerprint(&fit(&m, params, 1, 42));
        assert!(!reference.is_empty());
        for threads in [1, 2, 3, 7] {
            assert_eq!(
                fingerprint(&fit(&m, params, threads, 42)),
                reference,
                "{params:?} at {threads} threads"
            );
        }
    }
}

#[test]
fn another_seed_gives_another_factor_model() {
    let m = planted(3, 20, 30, 10, 1, 2);
    for params in [
        common::als(8, 2),
        common::bpr(8, 2),
        common::bpr_popular(8, 2),
    ] {
        assert_ne!(
            fingerprint(&fit(&m, params, 2, 1)),
            fingerprint(&fit(&m, params, 2, 2)),
            "{params:?}"
        );
    }
}

#[test]
fn the_negative_sampler_changes_the_model() {
    let m = planted(3, 20, 30, 10, 1, 2);
    assert_ne!(
        fingerprint(&fit(&m, common::bpr(8, 2), 2, 1)),
        fingerprint(&fit(&m, common::bpr_popular(8, 2), 2, 1))
    );
}

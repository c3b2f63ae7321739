//! Edge cases through the public API: empty and tiny matrices, items nobody touched, k beyond
//! the catalogue, filters and exclusions, bad input refused with typed errors, cancellation.

mod common;

use common::{all_kinds, als, bpr, fit, knn, matrix, popularity};
use steward_ml::limits::K_MAX;
use steward_ml::{
    Algorithm, BprParams, Control, Interactions, MatrixError, MatrixLimits, Model, ModelError,
    Params, PopularityParams, RunConfig, TrainError, UserRef, train,
};

fn user(row: u32, items: &[u32]) -> UserRef<'_> {
    UserRef {
        row: Some(row),
        items,
        vector: None,
    }
}

#[test]
fn empty_matrices_train_every_kind() {
    for (users, items) in [(0, 0), (3, 0), (0, 4), (3, 4)] {
        let m = Interactions::builder(users, items, MatrixLimits::default())
            .unwrap()
            .build()
            .unwrap();
        for params in all_kinds() {
            let model = fit(&m, params, 2, 1);
            assert_eq!(model.item_count(), items);
            let expected_users = if params.algorithm().has_user_rows() {
                users
            } else {
                0
            };
            assert_eq!(model.user_count(), expected_users);
            if users > 0 && items > 0 {
                let out = model.recommend(user(0, &[]), 10, &[], None).unwrap();
                // No interactions: factor models still rank every item; item-kNN reaches none.
                assert_eq!(
                    out.len(),
                    if params.algorithm() == Algorithm::ItemKnn {
                        0
                    } else {
                        items as usize
                    },
                    "{params:?}"
                );
            }
        }
    }
}

#[test]
fn one_user_and_items_never_seen() {
    let m = matrix(&[&[(0, 1.0), (2, 3.0)]], 5);
    for params in all_kinds() {
        let model = fit(&m, params, 1, 3);
        let out = model
            .recommend(user(0, &[0, 2]), 10, &[0, 2], None)
            .unwrap();
        assert!(
            out.iter().all(|&(i, s)| i != 0 && i != 2 && s.is_finite()),
            "{params:?}: {out:?}"
        );
        if params.algorithm() != Algorithm::ItemKnn {
            assert_eq!(
                out.len(),
                3,
                "k beyond the catalogue returns every eligible item"
            );
        }
    }
    let pop = fit(&m, popularity(), 1, 0);
    assert_eq!(pop.popularity().unwrap(), [1.0, 0.0, 3.0, 0.0, 0.0]);
    assert_eq!(
        pop.recommend(UserRef::default(), 2, &[], None).unwrap(),
        vec![(2, 3.0), (0, 1.0)]
    );
}

#[test]
fn scores_agree_with_recommendations_and_filters_apply() {
    let m = common::planted(2, 10, 20, 8, 1, 4);
    for params in all_kinds() {
        let model = fit(&m, params, 2, 9);
        let seen = m.user_row(3).unwrap().items.to_vec();
        let top = model.recommend(user(3, &seen), 10, &seen, None).unwrap();
        let items: Vec<u32> = top.iter().map(|&(i, _)| i).collect();
        let scores = model.score(user(3, &seen), &items).unwrap();
        for ((_, s), t) in top.iter().zip(&scores) {
            assert_eq!(s.to_bits(), t.to_bits(), "{params:?}");
        }
        let even = |i: u32| i.is_multiple_of(2);
        let filtered = model
            .recommend(user(3, &seen), 5, &seen, Some(&even))
            .unwrap();
        assert!(filtered.iter().all(|&(i, _)| i % 2 == 0), "{params:?}");
        let expected: Vec<_> = top
            .iter()
            .filter(|&&(i, _)| i % 2 == 0)
            .take(5)
            .copied()
            .collect();
        assert_eq!(
            filtered[..expected.len().min(filtered.len())],
            expected[..expected.len().min(filtered.len())]
        );
    }
}

#[test]
fn bad_requests_are_typed_errors() {
    let m = matrix(&[&[(0, 1.0)], &[(1, 1.0)]], 3);
    let model = fit(&m, als(4, 1), 1, 0);
    assert_eq!(
        model.recommend(user(2, &[]), 1, &[], None),
        Err(ModelError::UnknownUser { row: 2, users: 2 })
    );
    assert_eq!(
        model.recommend(UserRef::items(&[0]), 1, &[], None),
        Err(ModelError::NeedsUserRow {
            algorithm: Algorithm::Als
        })
    );
    assert_eq!(
        model.recommend(user(0, &[]), K_MAX + 1, &[], None),
        Err(ModelError::KTooLarge {
            k: K_MAX + 1,
            max: K_MAX
        })
    );
    assert_eq!(
        model.recommend(user(0, &[]), 1, &[2, 1], None),
        Err(ModelError::NotAscending { what: "exclude" })
    );
    assert_eq!(
        model.recommend(user(0, &[]), 1, &[1, 1], None),
        Err(ModelError::NotAscending { what: "exclude" })
    );
    assert_eq!(
        model.recommend(user(0, &[]), 1, &[7], None),
        Err(ModelError::UnknownItem { item: 7, items: 3 })
    );
    assert_eq!(
        model.similar_items(3, 1, None),
        Err(ModelError::UnknownItem { item: 3, items: 3 })
    );
    assert_eq!(
        model.score(user(0, &[]), &[0, 9]),
        Err(ModelError::UnknownItem { item: 9, items: 3 })
    );
    assert_eq!(model.recommend(user(0, &[]), 0, &[], None), Ok(vec![]));
    let knn_model = fit(&m, knn(3), 1, 0);
    assert_eq!(
        knn_model.recommend(UserRef::items(&[1, 0]), 1, &[], None),
        Err(ModelError::NotAscending {
            what: "the user's items"
        })
    );
    let pop = fit(&m, popularity(), 1, 0);
    assert!(matches!(
        pop.similar_items(0, 1, None),
        Err(ModelError::Unsupported { .. })
    ));
}

#[test]
fn bad_weights_and_parameters_are_refused() {
    let mut b = Interactions::builder(1, 1, MatrixLimits::default()).unwrap();
    for w in [f32::NAN, f32::INFINITY, -0.5] {
        assert_eq!(b.push(0, 0, w), Err(MatrixError::BadWeight { position: 0 }));
    }
    let limits = MatrixLimits {
        users_max: 10,
        items_max: 10,
        nnz_max: 1,
    };
    let mut b = Interactions::builder(2, 2, limits).unwrap();
    b.push(0, 0, 1.0).unwrap();
    assert_eq!(
        b.push(1, 1, 1.0),
        Err(MatrixError::TooManyInteractions { max: 1 })
    );

    let m = matrix(&[&[(0, 1.0)]], 2);
    let run = RunConfig {
        threads: 1,
        seed: 0,
    };
    let bad = [
        common::als(0, 1),
        Params::Bpr(BprParams {
            learning_rate: 0.0,
            ..BprParams::default()
        }),
        Params::Bpr(BprParams {
            strata: 0,
            ..BprParams::default()
        }),
        common::knn(0),
        common::als(4, 0),
        common::bpr(4, 0),
        Params::Popularity(PopularityParams {
            half_life: Some(f64::NAN),
        }),
    ];
    for params in bad {
        assert!(
            matches!(
                train(&m, &params, &run, &mut |_| Control::Continue),
                Err(TrainError::Params(_))
            ),
            "{params:?}"
        );
    }
    let no_threads = RunConfig {
        threads: 0,
        seed: 0,
    };
    assert!(matches!(
        train(&m, &als(2, 1), &no_threads, &mut |_| Control::Continue),
        Err(TrainError::Params(_))
    ));
    let decayed = Params::Popularity(PopularityParams {
        half_life: Some(10.0),
    });
    assert!(matches!(
        train(&m, &decayed, &run, &mut |_| Control::Continue),
        Err(TrainError::NeedsTimes { .. })
    ));
    let tight = Params::ItemKnn(steward_ml::KnnParams {
        work_max: 0,
        ..steward_ml::KnnParams::default()
    });
    assert_eq!(
        train(&m, &tight, &run, &mut |_| Control::Continue).unwrap_err(),
        TrainError::WorkTooLarge { work: 1, max: 0 }
    );
}

#[test]
fn divergence_is_an_error_not_a_model() {
    let m = common::planted(2, 10, 20, 8, 1, 4);
    let wild = Params::Bpr(BprParams {
        learning_rate: 1e30,
        regularization: 1e30,
        iterations: 3,
        ..BprParams::default()
    });
    assert!(matches!(
        train(
            &m,
            &wild,
            &RunConfig {
                threads: 2,
                seed: 0
            },
            &mut |_| Control::Continue
        ),
        Err(TrainError::Diverged { .. })
    ));
}

#[test]
fn the_callback_sees_every_iteration_and_can_stop() {
    let m = common::planted(2, 10, 20, 8, 1, 4);
    for params in [als(4, 5), bpr(4, 5), knn(5), popularity()] {
        let mut seen = Vec::new();
        let result = train(
            &m,
            &params,
            &RunConfig {
                threads: 2,
                seed: 0,
            },
            &mut |p| {
                seen.push((p.iteration, p.iterations));
                if p.iteration == 2 {
                    Control::Stop
                } else {
                    Control::Continue
                }
            },
        );
        match params.algorithm() {
            Algorithm::Popularity => assert!(result.is_ok() && seen == [(1, 1)]),
            _ => {
                assert_eq!(
                    result.unwrap_err(),
                    TrainError::Cancelled { iteration: 2 },
                    "{params:?}"
                );
                assert_eq!(seen[0].0, 1);
            }
        }
    }
    let mut losses = Vec::new();
    train(
        &m,
        &bpr(4, 3),
        &RunConfig {
            threads: 1,
            seed: 0,
        },
        &mut |p| {
            losses.push(p.loss);
            Control::Continue
        },
    )
    .unwrap();
    assert!(
        losses.iter().all(|l| l.is_finite() && *l > 0.0),
        "BPR reports its mean log-loss: {losses:?}"
    );
}

#[test]
fn popularity_decays_with_its_half_life() {
    let mut b = Interactions::builder(2, 2, MatrixLimits::default()).unwrap();
    b.push_timed(0, 0, 1.0, 100).unwrap();
    b.push_timed(1, 1, 1.0, 80).unwrap();
    b.push_timed(1, 1, 1.0, 90).unwrap();
    let m = b.build().unwrap();
    let model = fit(
        &m,
        Params::Popularity(PopularityParams {
            half_life: Some(10.0),
        }),
        1,
        0,
    );
    // Item 1 is one entry (summed weight 2, latest time 90): 2 · 2^(-10/10) = 1.
    assert_eq!(model.popularity().unwrap(), [1.0, 1.0]);
}

#[test]
fn removing_users_moves_later_rows_down() {
    let m = common::planted(2, 5, 20, 6, 1, 8);
    for params in all_kinds() {
        let mut model = fit(&m, params, 1, 0);
        let before = model.clone();
        if !params.algorithm().has_user_rows() {
            assert_eq!(model.remove_users(&[0, 3]), Ok(0));
            assert_eq!(model, before);
            continue;
        }
        assert_eq!(
            model.remove_users(&[3, 1]),
            Err(ModelError::NotAscending {
                what: "rows to remove"
            })
        );
        assert_eq!(
            model.remove_users(&[10]),
            Err(ModelError::UnknownUser { row: 10, users: 10 })
        );
        assert_eq!(model.remove_users(&[1, 3]), Ok(2));
        assert_eq!(model.user_count(), 8);
        let f = model.factors();
        let (old, new) = (
            before.user_factors().unwrap(),
            model.user_factors().unwrap(),
        );
        for (new_row, old_row) in [(0, 0), (1, 2), (2, 4), (7, 9)] {
            assert_eq!(
                new[new_row * f..(new_row + 1) * f],
                old[old_row * f..(old_row + 1) * f]
            );
        }
        assert_eq!(
            model.recommend(user(1, &[]), 5, &[], None),
            before.recommend(user(2, &[]), 5, &[], None)
        );
    }
}

#[test]
fn a_model_rebuilt_from_its_factors_ranks_the_same_and_bad_factors_are_refused() {
    let m = common::planted(2, 5, 20, 6, 1, 8);
    for params in all_kinds() {
        let model = fit(&m, params, 1, 0);
        let parts = || {
            (
                model.user_factors().unwrap_or(&[]).to_vec(),
                model.item_factors().unwrap_or(&[]).to_vec(),
                model.item_bias().map(<[f32]>::to_vec),
            )
        };
        let (x, y, bias) = parts();
        let rebuilt = Model::from_factors(params, 0, m.users(), m.items(), x, y, bias);
        if !params.algorithm().has_user_rows() {
            assert!(matches!(rebuilt, Err(ModelError::Unsupported { .. })));
            continue;
        }
        assert_eq!(rebuilt.as_ref(), Ok(&model));
        let (x, y, bias) = parts();
        assert!(matches!(
            Model::from_factors(params, 0, m.users() + 1, m.items(), x, y, bias),
            Err(ModelError::BadFactors { .. })
        ));
        let (x, y, bias) = parts();
        let wrong_bias = if bias.is_some() {
            None
        } else {
            Some(vec![0.0; m.items() as usize])
        };
        assert!(matches!(
            Model::from_factors(params, 0, m.users(), m.items(), x, y, wrong_bias),
            Err(ModelError::BadFactors { .. })
        ));
        let (mut x, y, bias) = parts();
        x[3] = f32::NAN;
        assert!(matches!(
            Model::from_factors(params, 0, m.users(), m.items(), x, y, bias),
            Err(ModelError::BadFactors { .. })
        ));
    }
}

//! What a training job is asked for: the data set version, the column roles, the algorithm's
//! parameters and how to evaluate. The parameters are kept in the manifest as JSON (the
//! version's state of record, read again by a retrain), so their JSON form is defined here;
//! errors name our own fields only, never a name or value the caller sent.

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value, json};
use steward_ml::{
    Algorithm, AlsParams, BprParams, KnnParams, Negatives, Params, PopularityParams, Weighting,
};
use steward_privacy::PrivacyClass;

use crate::ServeError;
use crate::limits::EVAL_KS_MAX;

/// Which data set columns play which role.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Columns {
    /// Subject pseudonyms (the `subject` column of events): erasure finds users by them.
    pub user: String,
    pub item: String,
    /// A number per interaction (default 1); duplicates of a (user, item) pair add up.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub weight: Option<String>,
    /// A timestamp (or Unix seconds) per interaction: the time split and time decay need it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub time: Option<String>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SplitKind {
    /// The latest `holdout` fraction of each user's interactions.
    Time,
    /// The latest `holdout` (a count, at least 1) interactions of each user.
    LeaveLast,
    /// A `holdout` fraction of each user's interactions, drawn with `seed`.
    Random,
}

/// How a version is evaluated (metrics at each k beside the popularity baseline).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct EvaluationSpec {
    pub split: SplitKind,
    pub holdout: f64,
    pub k: Vec<usize>,
    pub seed: u64,
}

impl EvaluationSpec {
    pub fn validate(&self) -> Result<(), ServeError> {
        if self.k.is_empty()
            || self.k.len() > EVAL_KS_MAX
            || self
                .k
                .iter()
                .any(|&k| k == 0 || k > steward_ml::limits::K_MAX)
        {
            return Err(ServeError::invalid(
                "invalid_evaluation",
                "evaluation.k",
                format!(
                    "give 1 to {EVAL_KS_MAX} cutoffs, each 1 to {}",
                    steward_ml::limits::K_MAX
                ),
            ));
        }
        let ok = match self.split {
            SplitKind::Time | SplitKind::Random => self.holdout > 0.0 && self.holdout < 1.0,
            SplitKind::LeaveLast => {
                self.holdout >= 1.0
                    && self.holdout.fract() == 0.0
                    && self.holdout <= f64::from(u32::MAX)
            }
        };
        if !ok {
            return Err(ServeError::invalid(
                "invalid_evaluation",
                "evaluation.holdout",
                "time and random splits take a fraction in (0, 1); leave_last a whole count of at least 1",
            ));
        }
        Ok(())
    }

    pub(crate) fn split(&self) -> steward_ml::eval::Split {
        match self.split {
            SplitKind::Time => steward_ml::eval::Split::Time {
                holdout: self.holdout,
            },
            SplitKind::LeaveLast => steward_ml::eval::Split::LeaveLast {
                count: self.holdout as u32,
            },
            SplitKind::Random => steward_ml::eval::Split::Random {
                holdout: self.holdout,
                seed: self.seed,
            },
        }
    }
}

/// A training job as the registry takes it.
#[derive(Clone, Debug)]
pub struct TrainRequest {
    pub name: String,
    pub params: Params,
    pub dataset: String,
    pub dataset_version: u32,
    pub columns: Columns,
    pub evaluation: Option<EvaluationSpec>,
    /// The training seed (results depend on it, never on the thread count).
    pub seed: u64,
    /// The purpose the data set version is read for (default `model_training`).
    pub purpose: String,
    /// The field classes the purpose sees (as the policies decided for the request).
    pub visible: Vec<PrivacyClass>,
    pub trained_by: String,
}

fn object(params: &Value) -> Result<Option<&Map<String, Value>>, ServeError> {
    match params {
        Value::Null => Ok(None),
        Value::Object(map) => Ok(Some(map)),
        _ => Err(ServeError::invalid(
            "invalid_params",
            "params",
            "expected an object",
        )),
    }
}

fn check_keys(
    map: Option<&Map<String, Value>>,
    allowed: &[&str],
    algorithm: Algorithm,
) -> Result<(), ServeError> {
    if let Some(map) = map
        && map.keys().any(|k| !allowed.contains(&k.as_str()))
    {
        // The unknown name is the caller's text: not repeated.
        return Err(ServeError::invalid(
            "invalid_params",
            "params",
            format!("{algorithm} takes only: {}", allowed.join(", ")),
        ));
    }
    Ok(())
}

fn number(
    map: Option<&Map<String, Value>>,
    key: &'static str,
    default: f64,
) -> Result<f64, ServeError> {
    match map.and_then(|m| m.get(key)) {
        None | Some(Value::Null) => Ok(default),
        Some(v) => v
            .as_f64()
            .ok_or_else(|| ServeError::invalid("invalid_params", key, "expected a number")),
    }
}

fn whole(
    map: Option<&Map<String, Value>>,
    key: &'static str,
    default: u32,
) -> Result<u32, ServeError> {
    match map.and_then(|m| m.get(key)) {
        None | Some(Value::Null) => Ok(default),
        Some(v) => v
            .as_u64()
            .and_then(|n| u32::try_from(n).ok())
            .ok_or_else(|| ServeError::invalid("invalid_params", key, "expected a whole number")),
    }
}

fn flag(
    map: Option<&Map<String, Value>>,
    key: &'static str,
    default: bool,
) -> Result<bool, ServeError> {
    match map.and_then(|m| m.get(key)) {
        None | Some(Value::Null) => Ok(default),
        Some(v) => v
            .as_bool()
            .ok_or_else(|| ServeError::invalid("invalid_params", key, "expected true or false")),
    }
}

/// Parameters from their JSON form (`{}` or null: the defaults; ALS computes its loss unless
/// told not to, so progress shows it). Validated against the library's limits.
pub fn params_from_json(algorithm: Algorithm, params: &Value) -> Result<Params, ServeError> {
    let map = object(params)?;
    let parsed = match algorithm {
        Algorithm::Als => {
            check_keys(
                map,
                &[
                    "factors",
                    "regularization",
                    "alpha",
                    "iterations",
                    "cg_steps",
                    "compute_loss",
                ],
                algorithm,
            )?;
            let d = AlsParams::default();
            Params::Als(AlsParams {
                factors: whole(map, "factors", d.factors)?,
                regularization: number(map, "regularization", f64::from(d.regularization))? as f32,
                alpha: number(map, "alpha", f64::from(d.alpha))? as f32,
                iterations: whole(map, "iterations", d.iterations)?,
                cg_steps: whole(map, "cg_steps", d.cg_steps)?,
                compute_loss: flag(map, "compute_loss", true)?,
            })
        }
        Algorithm::Bpr => {
            check_keys(
                map,
                &[
                    "factors",
                    "learning_rate",
                    "regularization",
                    "iterations",
                    "strata",
                    "negatives",
                ],
                algorithm,
            )?;
            let d = BprParams::default();
            Params::Bpr(BprParams {
                factors: whole(map, "factors", d.factors)?,
                learning_rate: number(map, "learning_rate", f64::from(d.learning_rate))? as f32,
                regularization: number(map, "regularization", f64::from(d.regularization))? as f32,
                iterations: whole(map, "iterations", d.iterations)?,
                strata: whole(map, "strata", d.strata)?,
                negatives: match map.and_then(|m| m.get("negatives")) {
                    None | Some(Value::Null) => d.negatives,
                    Some(Value::String(s)) => Negatives::from_name(s).ok_or_else(|| {
                        ServeError::invalid(
                            "invalid_params",
                            "negatives",
                            "expected uniform or popularity",
                        )
                    })?,
                    Some(_) => {
                        return Err(ServeError::invalid(
                            "invalid_params",
                            "negatives",
                            "expected uniform or popularity",
                        ));
                    }
                },
            })
        }
        Algorithm::ItemKnn => {
            check_keys(
                map,
                &["neighbours", "weighting", "k1", "b", "work_max"],
                algorithm,
            )?;
            let d = KnnParams::default();
            let weighting = match map.and_then(|m| m.get("weighting")) {
                None | Some(Value::Null) => Weighting::None,
                Some(Value::String(s)) if s == "none" => Weighting::None,
                Some(Value::String(s)) if s == "tfidf" => Weighting::TfIdf,
                Some(Value::String(s)) if s == "bm25" => Weighting::Bm25 {
                    k1: number(map, "k1", 1.2)? as f32,
                    b: number(map, "b", 0.75)? as f32,
                },
                Some(_) => {
                    return Err(ServeError::invalid(
                        "invalid_params",
                        "weighting",
                        "expected none, tfidf or bm25",
                    ));
                }
            };
            let work_max = match map.and_then(|m| m.get("work_max")) {
                None | Some(Value::Null) => d.work_max,
                Some(v) => v.as_u64().ok_or_else(|| {
                    ServeError::invalid("invalid_params", "work_max", "expected a whole number")
                })?,
            };
            Params::ItemKnn(KnnParams {
                neighbours: whole(map, "neighbours", d.neighbours)?,
                weighting,
                work_max,
            })
        }
        Algorithm::Popularity => {
            check_keys(map, &["half_life_s"], algorithm)?;
            let half_life = match map.and_then(|m| m.get("half_life_s")) {
                None | Some(Value::Null) => None,
                // Times are microseconds in the matrix.
                Some(v) => Some(
                    v.as_f64().ok_or_else(|| {
                        ServeError::invalid(
                            "invalid_params",
                            "half_life_s",
                            "expected a number of seconds",
                        )
                    })? * 1e6,
                ),
            };
            Params::Popularity(PopularityParams { half_life })
        }
    };
    parsed
        .validate()
        .map_err(|e| ServeError::invalid("invalid_params", e.field, e.reason))?;
    Ok(parsed)
}

/// The JSON form of parameters (every field, so a manifest says exactly what was used).
pub fn params_to_json(params: &Params) -> Value {
    match *params {
        Params::Als(p) => {
            json!({"factors": p.factors, "regularization": p.regularization, "alpha": p.alpha, "iterations": p.iterations, "cg_steps": p.cg_steps, "compute_loss": p.compute_loss})
        }
        Params::Bpr(p) => {
            json!({"factors": p.factors, "learning_rate": p.learning_rate, "regularization": p.regularization, "iterations": p.iterations, "strata": p.strata, "negatives": p.negatives.name()})
        }
        Params::ItemKnn(p) => match p.weighting {
            Weighting::None => {
                json!({"neighbours": p.neighbours, "weighting": "none", "work_max": p.work_max})
            }
            Weighting::TfIdf => {
                json!({"neighbours": p.neighbours, "weighting": "tfidf", "work_max": p.work_max})
            }
            Weighting::Bm25 { k1, b } => {
                json!({"neighbours": p.neighbours, "weighting": "bm25", "k1": k1, "b": b, "work_max": p.work_max})
            }
        },
        Params::Popularity(p) => json!({"half_life_s": p.half_life.map(|h| h / 1e6)}),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn params_round_trip_and_refuse_what_they_do_not_know() {
        for algorithm in [
            Algorithm::Als,
            Algorithm::Bpr,
            Algorithm::ItemKnn,
            Algorithm::Popularity,
        ] {
            let p = params_from_json(algorithm, &Value::Null).unwrap();
            assert_eq!(params_from_json(algorithm, &params_to_json(&p)).unwrap(), p);
            let e = params_from_json(algorithm, &json!({"CANARY-x": 1})).unwrap_err();
            assert!(!e.to_string().contains("CANARY"), "{e}");
        }
        let p = params_from_json(Algorithm::Als, &json!({"factors": 8, "iterations": 3})).unwrap();
        assert!(matches!(
            p,
            Params::Als(AlsParams {
                factors: 8,
                iterations: 3,
                compute_loss: true,
                ..
            })
        ));
        assert_eq!(
            params_from_json(Algorithm::Als, &json!({"factors": 0}))
                .unwrap_err()
                .code(),
            "invalid_params"
        );
        assert_eq!(
            params_from_json(Algorithm::Bpr, &json!({"factors": "CANARY"}))
                .unwrap_err()
                .code(),
            "invalid_params"
        );
        let bpr = params_from_json(Algorithm::Bpr, &json!({"negatives": "popularity"})).unwrap();
        assert!(matches!(
            bpr,
            Params::Bpr(BprParams {
                negatives: Negatives::Popularity,
                ..
            })
        ));
        assert_eq!(
            params_from_json(Algorithm::Bpr, &params_to_json(&bpr)).unwrap(),
            bpr
        );
        for bad in [json!({"negatives": "CANARY"}), json!({"negatives": 1})] {
            let e = params_from_json(Algorithm::Bpr, &bad).unwrap_err();
            assert_eq!(e.code(), "invalid_params");
            assert!(!e.to_string().contains("CANARY"), "{e}");
        }
        let knn =
            params_from_json(Algorithm::ItemKnn, &json!({"weighting": "bm25", "k1": 1.5})).unwrap();
        assert_eq!(
            params_from_json(Algorithm::ItemKnn, &params_to_json(&knn)).unwrap(),
            knn
        );
        let pop = params_from_json(Algorithm::Popularity, &json!({"half_life_s": 86400})).unwrap();
        assert_eq!(params_to_json(&pop)["half_life_s"], 86400.0);
    }

    #[test]
    fn evaluation_specs_are_checked() {
        let ok = EvaluationSpec {
            split: SplitKind::Time,
            holdout: 0.2,
            k: vec![10],
            seed: 1,
        };
        assert!(ok.validate().is_ok());
        for bad in [
            EvaluationSpec {
                k: vec![],
                ..ok.clone()
            },
            EvaluationSpec {
                holdout: 1.0,
                ..ok.clone()
            },
            EvaluationSpec {
                split: SplitKind::LeaveLast,
                holdout: 0.5,
                ..ok.clone()
            },
        ] {
            assert_eq!(bad.validate().unwrap_err().code(), "invalid_evaluation");
        }
        assert!(
            EvaluationSpec {
                split: SplitKind::LeaveLast,
                holdout: 2.0,
                ..ok
            }
            .validate()
            .is_ok()
        );
    }
}

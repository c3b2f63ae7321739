//! A/B experiments (issue 12, item 5): arms (a model, or a non-personalized control) with
//! traffic weights; a subject's arm is a keyed hash of its pseudonym under the experiment's own
//! salt, so it is sticky without storing anything per subject, and only subjects whose consent
//! admits the experiment's purpose are assigned at all (the read guard decides, as for every
//! other read). Exposures are events of the reserved type `_exposure` in the tenant's own store
//! (`Engine::record_exposures`), so retention, erasure and opt-out reach them with no code here.
//!
//! Results are computed by SQL over the `_exposure` view and the outcome's event type through
//! the query engine (the caller runs [`results_sql`] with its read access: purpose-checked,
//! audited), then analysed here with `steward-stats`: per arm exposed subjects, conversions
//! (a subject converts when an outcome event falls within the window after one of its
//! exposures) with a Wilson interval, the mean outcome value per subject with a t interval;
//! against the baseline the difference and lift with intervals, a fixed-horizon p-value and
//! the always-valid mSPRT p-value (its running minimum kept in the experiment's file, so
//! looking every hour does not inflate false positives); a chi-square sample-ratio check; a
//! guardrail metric that stops an arm when the sequential test finds it worse.
//!
//! Definitions are JSON files (`experiments/<name>.json` in the tenant directory), written
//! atomically; they hold no personal data.

use std::collections::{BTreeMap, HashMap};
use std::path::PathBuf;
use std::sync::Arc;

use datafusion::arrow::array::{Array, AsArray};
use datafusion::arrow::datatypes::{DataType, Float64Type, Int64Type, UInt64Type};
use datafusion::arrow::record_batch::RecordBatch;
use parking_lot::Mutex;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use steward_crypto::{Key256, Pseudonym};
use steward_engine::{Engine, ReadGuard};
use steward_privacy::FieldType;
use steward_stats::{
    Alpha, Better, Guardrail, MeanSummary, Mixing, Proportion, compare_means, compare_proportions,
    msprt_means, msprt_proportions, sample_ratio_mismatch, wilson_interval,
};

use crate::ServeError;
use crate::registry::{ModelRef, Registry, now_rfc3339, valid_name};

/// Arms of one experiment.
pub const ARMS_MAX: usize = 10;
/// Traffic weight of one arm (weights are relative).
pub const WEIGHT_MAX: u32 = 10_000;
/// Experiments per tenant (running or stopped; a stopped one keeps its results).
pub const EXPERIMENTS_MAX: usize = 1_000;
/// Outcome windows: one second to 30 days.
pub const WINDOW_S_MAX: u64 = 30 * 24 * 3600;
/// The sample-ratio check's threshold (a mismatch this unlikely under the configured split).
pub const SRM_ALPHA: f64 = 0.001;

/// The file format version of an experiment's definition.
const FORMAT: u32 = 1;

/// What an outcome or guardrail metric counts: events of a type within a window after an
/// exposure, optionally summing a numeric property.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct MetricSpec {
    pub event_type: String,
    pub window_s: u64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub value: Option<String>,
}

#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct GuardrailSpec {
    #[serde(flatten)]
    pub metric: MetricSpec,
    /// `higher` (conversion, revenue) or `lower` (skips, complaints).
    pub better: String,
}

#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct ArmStop {
    pub at: String,
    pub reason: String,
    pub p_value: f64,
}

#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct ArmDoc {
    pub name: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub model: Option<String>,
    #[serde(default)]
    pub control: bool,
    pub weight: u32,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stopped: Option<ArmStop>,
}

/// The always-valid p-values so far (running minima), per arm against the baseline.
#[derive(Clone, Debug, Default, Serialize, Deserialize, PartialEq)]
pub struct SequentialState {
    pub outcome_p: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub guardrail_p: Option<f64>,
    pub looks: u64,
}

/// An experiment as stored.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct ExperimentDoc {
    pub format: u32,
    pub name: String,
    pub purpose: String,
    pub arms: Vec<ArmDoc>,
    pub outcome: MetricSpec,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub guardrail: Option<GuardrailSpec>,
    pub alpha: f64,
    /// The sequential test's mixing spread, in standard deviations of one observation: the
    /// effect size the test is most sensitive to (small for large traffic, larger for small).
    #[serde(default = "effect_sd_default")]
    pub effect_sd: f64,
    /// The assignment hash's key (hex): per experiment, so arms are independent across
    /// experiments.
    pub salt: String,
    pub created_at: String,
    pub created_by: String,
    /// `running` or `stopped`.
    pub state: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stopped_at: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stopped_by: Option<String>,
    /// The arm everyone gets once stopped.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub conclusion: Option<String>,
    #[serde(default)]
    pub sequential: BTreeMap<String, SequentialState>,
}

impl ExperimentDoc {
    /// The arm comparisons are made against: the control arm, else the first.
    pub fn baseline(&self) -> usize {
        self.arms.iter().position(|a| a.control).unwrap_or(0)
    }

    pub fn running(&self) -> bool {
        self.state == "running"
    }

    /// The definition as the API shows it (no salt).
    pub fn public(&self) -> Value {
        let mut v = serde_json::to_value(self).unwrap_or(Value::Null);
        if let Some(map) = v.as_object_mut() {
            map.remove("salt");
            map.remove("format");
            map.insert("baseline".into(), json!(self.arms[self.baseline()].name));
        }
        v
    }

    /// The model that ranks items for the control arm (popularity) and for subjects left out
    /// of the experiment when the baseline is a control: the first arm with a model.
    pub fn popularity_model(&self) -> Option<&str> {
        self.arms.iter().find_map(|a| a.model.as_deref())
    }

    fn bucket(&self, subject: &Pseudonym) -> Result<usize, ServeError> {
        let salt = data_encoding::HEXLOWER
            .decode(self.salt.as_bytes())
            .ok()
            .and_then(|b| <[u8; 32]>::try_from(b).ok())
            .ok_or_else(|| ServeError::Corrupted {
                path: PathBuf::from(format!("experiments/{}.json", self.name)),
                reason: "the salt is not 32 hex bytes".into(),
            })?;
        let mac = steward_crypto::hmac_sha256(&Key256::from_bytes(salt), &[subject.as_bytes()]);
        let mut head = [0u8; 8];
        head.copy_from_slice(&mac[..8]);
        let total: u64 = self.arms.iter().map(|a| u64::from(a.weight)).sum();
        // A uniform point in [0, total): the high bits of the MAC times the total.
        let point = ((u128::from(u64::from_be_bytes(head)) * u128::from(total)) >> 64) as u64;
        let mut acc = 0u64;
        for (i, arm) in self.arms.iter().enumerate() {
            acc += u64::from(arm.weight);
            if point < acc {
                return Ok(i);
            }
        }
        Ok(self.arms.len() - 1)
    }
}

/// What a serving call does for an experiment.
#[derive(Clone, Debug, PartialEq)]
pub struct Assignment {
    /// The arm whose treatment is served.
    pub arm: usize,
    /// Whether the call is an exposure of that arm (recorded, and named in the answer): false
    /// for subjects left out (no subject, consent refused, erased, an arm stopped by its
    /// guardrail) and after the experiment stopped.
    pub exposed: bool,
}

/// Experiments of every tenant.
pub struct Experiments {
    engine: Arc<Engine>,
    /// Serializes writes of definitions.
    lock: Mutex<()>,
    cache: Mutex<HashMap<(String, String), Arc<ExperimentDoc>>>,
}

fn effect_sd_default() -> f64 {
    steward_stats::MIXING_EFFECT_SD_DEFAULT
}

fn bad(code: &'static str, field: &'static str, message: impl Into<String>) -> ServeError {
    ServeError::invalid(code, field, message)
}

/// `30m`, `2h`, `1d`, `90s` or a number of seconds.
fn parse_window(value: &Value, field: &'static str) -> Result<u64, ServeError> {
    let wrong = || {
        bad(
            "invalid_window",
            field,
            format!("expected seconds or a duration such as 30m, 2h, 7d; 1 s to {WINDOW_S_MAX} s"),
        )
    };
    let seconds = match value {
        Value::Number(n) => n.as_u64().ok_or_else(wrong)?,
        Value::String(s) if s.len() <= 16 => {
            let (digits, unit) =
                s.split_at(s.find(|c: char| !c.is_ascii_digit()).unwrap_or(s.len()));
            let n: u64 = digits.parse().map_err(|_| wrong())?;
            let scale = match unit {
                "" | "s" => 1,
                "m" => 60,
                "h" => 3600,
                "d" => 86_400,
                _ => return Err(wrong()),
            };
            n.checked_mul(scale).ok_or_else(wrong)?
        }
        _ => return Err(wrong()),
    };
    if seconds == 0 || seconds > WINDOW_S_MAX {
        return Err(wrong());
    }
    Ok(seconds)
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ArmArg {
    name: String,
    model: Option<String>,
    #[serde(default)]
    control: bool,
    weight: Option<u32>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct MetricArg {
    event_type: String,
    window: Value,
    value: Option<String>,
    better: Option<String>,
}

/// The body of `POST .../experiments`.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ExperimentArg {
    name: String,
    arms: Vec<ArmArg>,
    outcome: MetricArg,
    guardrail: Option<MetricArg>,
    purpose: Option<String>,
    alpha: Option<f64>,
    effect_sd: Option<f64>,
}

impl Experiments {
    pub fn new(engine: Arc<Engine>) -> Arc<Experiments> {
        Arc::new(Experiments {
            engine,
            lock: Mutex::new(()),
            cache: Mutex::new(HashMap::new()),
        })
    }

    fn dir(&self, tenant: &str) -> Result<PathBuf, ServeError> {
        Ok(self.engine.tenant_dir(tenant)?.join("experiments"))
    }

    fn path(&self, tenant: &str, name: &str) -> Result<PathBuf, ServeError> {
        valid_name(name, "name").map_err(|_| ServeError::NotFound { what: "experiment" })?;
        Ok(self.dir(tenant)?.join(format!("{name}.json")))
    }

    fn write(&self, tenant: &str, doc: ExperimentDoc) -> Result<Arc<ExperimentDoc>, ServeError> {
        let dir = self.dir(tenant)?;
        std::fs::create_dir_all(&dir).map_err(ServeError::io(&dir))?;
        let path = self.path(tenant, &doc.name)?;
        let bytes = serde_json::to_vec_pretty(&doc).unwrap_or_default();
        steward_lineage::manifest::write_atomically(&path, &bytes)?;
        let doc = Arc::new(doc);
        self.cache
            .lock()
            .insert((tenant.to_owned(), doc.name.clone()), doc.clone());
        Ok(doc)
    }

    /// An experiment's definition.
    pub fn get(&self, tenant: &str, name: &str) -> Result<Arc<ExperimentDoc>, ServeError> {
        let key = (tenant.to_owned(), name.to_owned());
        if let Some(doc) = self.cache.lock().get(&key) {
            return Ok(doc.clone());
        }
        let path = self.path(tenant, name)?;
        let bytes = match std::fs::read(&path) {
            Ok(b) => b,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                return Err(ServeError::NotFound { what: "experiment" });
            }
            Err(e) => return Err(ServeError::io(&path)(e)),
        };
        let doc: ExperimentDoc =
            serde_json::from_slice(&bytes).map_err(|e| ServeError::Corrupted {
                path: path.clone(),
                reason: e.to_string(),
            })?;
        if doc.format != FORMAT || doc.name != name || doc.arms.is_empty() {
            return Err(ServeError::Corrupted {
                path,
                reason: "not an experiment definition of this version".into(),
            });
        }
        let doc = Arc::new(doc);
        self.cache.lock().insert(key, doc.clone());
        Ok(doc)
    }

    /// Every experiment's definition, by name.
    pub fn list(&self, tenant: &str) -> Result<Vec<Arc<ExperimentDoc>>, ServeError> {
        let dir = self.dir(tenant)?;
        let Ok(entries) = std::fs::read_dir(&dir) else {
            return Ok(Vec::new());
        };
        let mut names: Vec<String> = entries
            .flatten()
            .filter_map(|e| {
                e.file_name()
                    .to_str()
                    .and_then(|n| n.strip_suffix(".json"))
                    .map(str::to_owned)
            })
            .filter(|n| valid_name(n, "name").is_ok())
            .collect();
        names.sort();
        names.iter().map(|n| self.get(tenant, n)).collect()
    }

    /// Creates an experiment: arms checked against the registry (each model must resolve to a
    /// version that serves), metrics against the tenant's schemas.
    pub fn create(
        &self,
        registry: &Registry,
        tenant: &str,
        arg: ExperimentArg,
        purpose_default: &str,
        by: &str,
    ) -> Result<Arc<ExperimentDoc>, ServeError> {
        valid_name(&arg.name, "name").map_err(|_| {
            bad(
                "invalid_experiment_name",
                "name",
                "expected [a-z][a-z0-9_-]*, at most 64 bytes",
            )
        })?;
        if !(2..=ARMS_MAX).contains(&arg.arms.len()) {
            return Err(bad(
                "invalid_arms",
                "arms",
                format!("expected 2 to {ARMS_MAX} arms"),
            ));
        }
        let mut arms = Vec::with_capacity(arg.arms.len());
        for arm in &arg.arms {
            valid_name(&arm.name, "arms").map_err(|_| {
                bad(
                    "invalid_arms",
                    "arms",
                    "arm names: [a-z][a-z0-9_-]*, at most 64 bytes",
                )
            })?;
            if arms.iter().any(|a: &ArmDoc| a.name == arm.name) {
                return Err(bad("invalid_arms", "arms", "arm names must be unique"));
            }
            let weight = arm.weight.unwrap_or(1);
            if weight == 0 || weight > WEIGHT_MAX {
                return Err(bad(
                    "invalid_arms",
                    "arms",
                    format!("weights: 1 to {WEIGHT_MAX}"),
                ));
            }
            match (&arm.model, arm.control) {
                (Some(_), true) | (None, false) => {
                    return Err(bad(
                        "invalid_arms",
                        "arms",
                        "each arm names a model or is the control (control: true), not both",
                    ));
                }
                (Some(model), false) => {
                    let model_ref = ModelRef::parse(model).map_err(|_| {
                        bad(
                            "invalid_arms",
                            "arms",
                            "an arm's model: name, name@alias or name@v<number>",
                        )
                    })?;
                    registry
                        .resolve(tenant, &model_ref)
                        .map_err(|_| ServeError::Conflict {
                            code: "experiment_model_missing",
                            message: "an arm's model has no version that serves".into(),
                        })?;
                }
                (None, true) => {}
            }
            arms.push(ArmDoc {
                name: arm.name.clone(),
                model: arm.model.clone(),
                control: arm.control,
                weight,
                stopped: None,
            });
        }
        if arms.iter().filter(|a| a.control).count() > 1 {
            return Err(bad("invalid_arms", "arms", "at most one control arm"));
        }
        if !arms.iter().any(|a| a.model.is_some()) {
            return Err(bad(
                "invalid_arms",
                "arms",
                "at least one arm names a model (the control ranks by its popularity)",
            ));
        }
        let outcome = self.metric(tenant, &arg.outcome, "outcome")?;
        if arg.outcome.better.is_some() {
            return Err(bad(
                "invalid_outcome",
                "outcome",
                "better belongs to the guardrail (the outcome's higher is better)",
            ));
        }
        let guardrail = match &arg.guardrail {
            None => None,
            Some(g) => {
                let metric = self.metric(tenant, g, "guardrail")?;
                let better = match g.better.as_deref() {
                    Some("higher") => "higher",
                    Some("lower") => "lower",
                    _ => {
                        return Err(bad(
                            "invalid_guardrail",
                            "guardrail",
                            "better: higher or lower",
                        ));
                    }
                };
                Some(GuardrailSpec {
                    metric,
                    better: better.to_owned(),
                })
            }
        };
        let alpha = arg.alpha.unwrap_or(0.05);
        if !(alpha > 0.0 && alpha <= 0.2) {
            return Err(bad("invalid_alpha", "alpha", "expected 0 < alpha <= 0.2"));
        }
        let effect_sd = arg.effect_sd.unwrap_or_else(effect_sd_default);
        if !(0.001..=10.0).contains(&effect_sd) {
            return Err(bad(
                "invalid_effect_sd",
                "effect_sd",
                "expected 0.001 <= effect_sd <= 10 (standard deviations)",
            ));
        }
        let purpose = arg
            .purpose
            .clone()
            .unwrap_or_else(|| purpose_default.to_owned());
        let _guard = self.lock.lock();
        if self.get(tenant, &arg.name).is_ok() {
            return Err(ServeError::Conflict {
                code: "experiment_exists",
                message: "an experiment of this name exists; experiments are not redefined (stop it and start another)".into(),
            });
        }
        if self.list(tenant)?.len() >= EXPERIMENTS_MAX {
            return Err(ServeError::Conflict {
                code: "experiments_too_many",
                message: format!("at most {EXPERIMENTS_MAX} experiments per tenant"),
            });
        }
        let salt = Key256::random();
        let doc = ExperimentDoc {
            format: FORMAT,
            name: arg.name.clone(),
            purpose,
            arms,
            outcome,
            guardrail,
            alpha,
            effect_sd,
            salt: data_encoding::HEXLOWER.encode(salt.expose()),
            created_at: now_rfc3339(),
            created_by: by.to_owned(),
            state: "running".into(),
            stopped_at: None,
            stopped_by: None,
            conclusion: None,
            sequential: BTreeMap::new(),
        };
        self.write(tenant, doc)
    }

    fn metric(
        &self,
        tenant: &str,
        arg: &MetricArg,
        field: &'static str,
    ) -> Result<MetricSpec, ServeError> {
        let code = if field == "outcome" {
            "invalid_outcome"
        } else {
            "invalid_guardrail"
        };
        let schema = self
            .engine
            .get_schema(tenant, &arg.event_type, None)
            .map_err(|_| bad(code, field, "event_type: no schema is registered for it"))?;
        if arg.event_type.starts_with('_') {
            return Err(bad(code, field, "event_type: a reserved type"));
        }
        if let Some(value) = &arg.value {
            let numeric = schema.schema.field(value).is_some_and(|f| {
                matches!(
                    f.field_type,
                    FieldType::Int { .. } | FieldType::Float { .. }
                )
            });
            if !numeric {
                return Err(bad(
                    code,
                    field,
                    "value: expected a numeric (int or float) field of the event type",
                ));
            }
        }
        Ok(MetricSpec {
            event_type: arg.event_type.clone(),
            window_s: parse_window(&arg.window, field)?,
            value: arg.value.clone(),
        })
    }

    /// Stops an experiment; everyone gets the conclusion arm (the baseline unless named) and
    /// no more exposures are recorded. Stopping twice answers the stopped definition.
    pub fn stop(
        &self,
        tenant: &str,
        name: &str,
        conclusion: Option<&str>,
        by: &str,
    ) -> Result<Arc<ExperimentDoc>, ServeError> {
        let _guard = self.lock.lock();
        let doc = self.get(tenant, name)?;
        if !doc.running() {
            return Ok(doc);
        }
        let conclusion = match conclusion {
            None => doc.arms[doc.baseline()].name.clone(),
            Some(arm) => doc
                .arms
                .iter()
                .find(|a| a.name == arm)
                .map(|a| a.name.clone())
                .ok_or_else(|| {
                    bad(
                        "invalid_conclusion",
                        "conclusion",
                        "not an arm of the experiment",
                    )
                })?,
        };
        let mut doc = (*doc).clone();
        doc.state = "stopped".into();
        doc.stopped_at = Some(now_rfc3339());
        doc.stopped_by = Some(by.to_owned());
        doc.conclusion = Some(conclusion);
        self.write(tenant, doc)
    }

    /// The arm a serving call applies. Only subjects the guard serves for the experiment's
    /// purpose are assigned; the rest get the baseline's treatment, unexposed.
    pub fn assign(
        &self,
        guard: &ReadGuard,
        doc: &ExperimentDoc,
        subject: Option<&Pseudonym>,
    ) -> Result<Assignment, ServeError> {
        let baseline = doc.baseline();
        if !doc.running() {
            let arm = doc
                .conclusion
                .as_ref()
                .and_then(|c| doc.arms.iter().position(|a| &a.name == c))
                .unwrap_or(baseline);
            return Ok(Assignment {
                arm,
                exposed: false,
            });
        }
        let Some(subject) = subject else {
            return Ok(Assignment {
                arm: baseline,
                exposed: false,
            });
        };
        if guard.subject_refusal(subject).is_some() {
            return Ok(Assignment {
                arm: baseline,
                exposed: false,
            });
        }
        let arm = doc.bucket(subject)?;
        if doc.arms[arm].stopped.is_some() {
            return Ok(Assignment {
                arm: baseline,
                exposed: false,
            });
        }
        Ok(Assignment { arm, exposed: true })
    }

    /// Stores the looks' sequential p-values and any arm a guardrail stopped.
    fn record_look(
        &self,
        tenant: &str,
        name: &str,
        looks: &BTreeMap<String, SequentialState>,
        stops: &[(String, f64)],
    ) -> Result<Arc<ExperimentDoc>, ServeError> {
        let _guard = self.lock.lock();
        let mut doc = (*self.get(tenant, name)?).clone();
        for (arm, state) in looks {
            let entry = doc.sequential.entry(arm.clone()).or_default();
            entry.outcome_p = min_p(entry.outcome_p, state.outcome_p);
            entry.guardrail_p = min_p(entry.guardrail_p, state.guardrail_p);
            entry.looks += 1;
        }
        for (arm, p) in stops {
            if let Some(a) = doc.arms.iter_mut().find(|a| &a.name == arm)
                && a.stopped.is_none()
            {
                tracing::warn!(tenant, experiment = name, arm = %arm, "guardrail stopped an arm");
                metrics::counter!("steward_experiment_guardrail_stops_total").increment(1);
                a.stopped = Some(ArmStop {
                    at: now_rfc3339(),
                    reason: "guardrail".into(),
                    p_value: *p,
                });
            }
        }
        self.write(tenant, doc)
    }

    /// Analyses per-arm aggregates (from [`results_sql`]); a running experiment's look is
    /// recorded (sequential p-values, guardrail stops).
    pub fn analyze(
        &self,
        tenant: &str,
        doc: &ExperimentDoc,
        outcome: &[ArmAggregate],
        guardrail: Option<&[ArmAggregate]>,
    ) -> Result<Value, ServeError> {
        let alpha = Alpha::new(doc.alpha).map_err(stats_error)?;
        let by_arm = |rows: &[ArmAggregate], name: &str| {
            rows.iter()
                .find(|r| r.arm == name)
                .cloned()
                .unwrap_or_else(|| ArmAggregate::empty(name))
        };
        let base = doc.baseline();
        let base_name = &doc.arms[base].name;
        let base_outcome = by_arm(outcome, base_name);
        let base_guard = guardrail.map(|g| by_arm(g, base_name));
        let mut arms_out = Vec::new();
        let mut looks = BTreeMap::new();
        let mut stops = Vec::new();
        for (i, arm) in doc.arms.iter().enumerate() {
            let agg = by_arm(outcome, &arm.name);
            let mut entry = json!({
                "name": arm.name,
                "control": arm.control,
                "model": arm.model,
                "weight": arm.weight,
                "subjects": agg.subjects,
                "conversions": agg.converted,
            });
            if let Some(stop) = &arm.stopped {
                entry["stopped"] = json!(stop);
            }
            if agg.subjects > 0 {
                let p = Proportion::new(agg.converted, agg.subjects).map_err(stats_error)?;
                let w = wilson_interval(p, alpha);
                entry["rate"] = json!(w.rate);
                entry["rate_interval"] = json!([w.interval.lower, w.interval.upper]);
                if doc.outcome.value.is_some() {
                    entry["mean"] = json!(agg.mean);
                    if agg.subjects > 1 {
                        let t = steward_stats::student_t_quantile(
                            1.0 - doc.alpha / 2.0,
                            (agg.subjects - 1) as f64,
                        )
                        .map_err(stats_error)?;
                        let half = t * (agg.variance / agg.subjects as f64).sqrt();
                        entry["mean_interval"] = json!([agg.mean - half, agg.mean + half]);
                    }
                }
            }
            if i != base {
                let previous = doc.sequential.get(&arm.name).cloned().unwrap_or_default();
                let mut state = SequentialState::default();
                if let Some(cmp) =
                    compare_outcome(doc, &base_outcome, &agg, alpha, previous.outcome_p)?
                {
                    state.outcome_p = cmp.get("sequential_p_value").and_then(Value::as_f64);
                    entry["versus_baseline"] = cmp;
                }
                if let (Some(spec), Some(rows), Some(base_g)) =
                    (&doc.guardrail, guardrail, &base_guard)
                {
                    let g = by_arm(rows, &arm.name);
                    let better = if spec.better == "lower" {
                        Better::Lower
                    } else {
                        Better::Higher
                    };
                    if let Some((value, seq_p, worse)) = guardrail_look(
                        &spec.metric,
                        base_g,
                        &g,
                        alpha,
                        better,
                        previous.guardrail_p,
                        Mixing::standardized(doc.effect_sd).map_err(stats_error)?,
                    )? {
                        state.guardrail_p = Some(seq_p);
                        entry["guardrail"] = value;
                        if worse && arm.stopped.is_none() && doc.running() {
                            stops.push((arm.name.clone(), seq_p));
                            entry["guardrail"]["stopped_now"] = json!(true);
                        }
                    }
                }
                looks.insert(arm.name.clone(), state);
            }
            arms_out.push(entry);
        }
        let observed: Vec<u64> = doc
            .arms
            .iter()
            .map(|a| by_arm(outcome, &a.name).subjects)
            .collect();
        let weights: Vec<f64> = doc.arms.iter().map(|a| f64::from(a.weight)).collect();
        let total: u64 = observed.iter().sum();
        let srm = if total > 0 {
            let r = sample_ratio_mismatch(
                &observed,
                &weights,
                Alpha::new(SRM_ALPHA).map_err(stats_error)?,
            )
            .map_err(stats_error)?;
            metrics::gauge!("steward_experiment_srm", "tenant" => tenant.to_owned(), "experiment" => doc.name.clone())
                .set(if r.mismatch { 1.0 } else { 0.0 });
            json!({"statistic": r.statistic, "df": r.df, "p_value": r.p_value, "mismatch": r.mismatch, "threshold": SRM_ALPHA, "observed": observed, "weights": weights})
        } else {
            Value::Null
        };
        let doc_now = if doc.running() && total > 0 {
            self.record_look(tenant, &doc.name, &looks, &stops)?
        } else {
            Arc::new(doc.clone())
        };
        Ok(json!({
            "experiment": doc_now.public(),
            "alpha": doc.alpha,
            "baseline": base_name,
            "subjects": total,
            "srm": srm,
            "arms": arms_out,
            "notes": {
                "p_value": "fixed-horizon (valid once, at the planned sample size)",
                "sequential_p_value": "always valid (mSPRT): may be read at every look",
                "unit": "subjects; a subject converts when an outcome event falls within the window after one of its exposures",
            },
        }))
    }
}

fn min_p(old: Option<f64>, new: Option<f64>) -> Option<f64> {
    match (old, new) {
        (Some(a), Some(b)) => Some(a.min(b)),
        (a, b) => a.or(b),
    }
}

fn stats_error(e: steward_stats::StatsError) -> ServeError {
    ServeError::Conflict {
        code: "experiment_statistics_undefined",
        message: e.to_string(),
    }
}

/// The comparison of one arm's outcome with the baseline's: on the mean value when the
/// outcome sums one, else on the conversion rate. `None` while an arm has no subjects (or
/// no variance to test).
fn compare_outcome(
    doc: &ExperimentDoc,
    base: &ArmAggregate,
    arm: &ArmAggregate,
    alpha: Alpha,
    previous: Option<f64>,
) -> Result<Option<Value>, ServeError> {
    let mixing = Mixing::standardized(doc.effect_sd).map_err(stats_error)?;
    if base.subjects == 0 || arm.subjects == 0 {
        return Ok(None);
    }
    let previous = previous.unwrap_or(steward_stats::FIRST_LOOK_P_VALUE);
    if doc.outcome.value.is_some() {
        let (Ok(c), Ok(t)) = (base.summary(), arm.summary()) else {
            return Ok(None);
        };
        let (Ok(cmp), Ok(seq)) = (
            compare_means(&c, &t, alpha),
            msprt_means(&c, &t, previous, mixing, alpha),
        ) else {
            return Ok(None);
        };
        return Ok(Some(json!({
            "metric": "mean",
            "difference": cmp.difference,
            "difference_interval": [cmp.difference_interval.lower, cmp.difference_interval.upper],
            "lift": cmp.lift.map(|l| l.estimate),
            "lift_interval": cmp.lift.map(|l| [l.interval.lower, l.interval.upper]),
            "t": cmp.t,
            "df": cmp.df,
            "p_value": cmp.p_value,
            "sequential_p_value": seq.p_value,
            "significant": seq.reject,
        })));
    }
    let c = Proportion::new(base.converted, base.subjects).map_err(stats_error)?;
    let t = Proportion::new(arm.converted, arm.subjects).map_err(stats_error)?;
    let cmp = compare_proportions(c, t, alpha);
    let seq = msprt_proportions(c, t, previous, mixing, alpha).map_err(stats_error)?;
    Ok(Some(json!({
        "metric": "rate",
        "difference": cmp.difference,
        "difference_interval": [cmp.difference_interval.lower, cmp.difference_interval.upper],
        "lift": cmp.lift.map(|l| l.estimate),
        "lift_interval": cmp.lift.map(|l| [l.interval.lower, l.interval.upper]),
        "z": cmp.z,
        "p_value": cmp.p_value,
        "sequential_p_value": seq.p_value,
        "significant": seq.reject,
    })))
}

/// One guardrail look: (what to show, the sequential p-value, whether the arm is worse).
fn guardrail_look(
    metric: &MetricSpec,
    base: &ArmAggregate,
    arm: &ArmAggregate,
    alpha: Alpha,
    better: Better,
    previous: Option<f64>,
    mixing: Mixing,
) -> Result<Option<(Value, f64, bool)>, ServeError> {
    if base.subjects == 0 || arm.subjects == 0 {
        return Ok(None);
    }
    let previous = previous.unwrap_or(steward_stats::FIRST_LOOK_P_VALUE);
    let seq = if metric.value.is_some() {
        let (Ok(c), Ok(t)) = (base.summary(), arm.summary()) else {
            return Ok(None);
        };
        match msprt_means(&c, &t, previous, mixing, alpha) {
            Ok(s) => s,
            Err(_) => return Ok(None),
        }
    } else {
        let c = Proportion::new(base.converted, base.subjects).map_err(stats_error)?;
        let t = Proportion::new(arm.converted, arm.subjects).map_err(stats_error)?;
        msprt_proportions(c, t, previous, mixing, alpha).map_err(stats_error)?
    };
    let worse = seq.is_worse(better, alpha);
    let value = json!({
        "metric": if metric.value.is_some() { "mean" } else { "rate" },
        "baseline": if metric.value.is_some() { base.mean } else { base.converted as f64 / base.subjects as f64 },
        "arm": if metric.value.is_some() { arm.mean } else { arm.converted as f64 / arm.subjects as f64 },
        "difference": seq.difference,
        "sequential_p_value": seq.p_value,
        "worse": worse,
    });
    Ok(Some((value, seq.p_value, worse)))
}

/// One arm's row of a results query.
#[derive(Clone, Debug, PartialEq)]
pub struct ArmAggregate {
    pub arm: String,
    /// Exposed subjects.
    pub subjects: u64,
    /// Subjects with at least one outcome event in a window.
    pub converted: u64,
    /// Mean outcome value per subject (events' values summed; 0 for none).
    pub mean: f64,
    /// Sample variance of the per-subject values.
    pub variance: f64,
}

impl ArmAggregate {
    fn empty(arm: &str) -> ArmAggregate {
        ArmAggregate {
            arm: arm.to_owned(),
            subjects: 0,
            converted: 0,
            mean: 0.0,
            variance: 0.0,
        }
    }

    fn summary(&self) -> Result<MeanSummary, steward_stats::StatsError> {
        MeanSummary::new(self.subjects, self.mean, self.variance)
    }
}

/// SQL string literal of a checked name (names are `[a-z][a-z0-9_-]*`).
fn literal(name: &str) -> String {
    format!("'{}'", name.replace('\'', "''"))
}

/// The query that aggregates one metric per arm: each subject's first arm (subjects seen in two
/// arms, impossible while weights are fixed, are left out), the outcome events that fall within
/// the window after any of its exposures (each event counted once), then per arm the subjects,
/// those converted, and the mean and sample variance of the per-subject value.
pub fn results_sql(doc: &ExperimentDoc, metric: &MetricSpec) -> String {
    let value = match &metric.value {
        Some(field) => format!("CAST(o.\"{field}\" AS DOUBLE)"),
        None => "1.0".to_owned(),
    };
    format!(
        "WITH x AS (SELECT subject, arm, time FROM \"_exposure\" WHERE experiment = {name}), \
         firsts AS (SELECT subject, MIN(arm) AS arm, COUNT(DISTINCT arm) AS arms FROM x GROUP BY subject), \
         hits AS (SELECT DISTINCT o.event_id, o.subject, COALESCE({value}, 0.0) AS v FROM \"{event_type}\" o JOIN x ON o.subject = x.subject \
           WHERE o.time >= x.time AND o.time <= x.time + INTERVAL '{window} seconds'), \
         per AS (SELECT f.arm, f.subject, COUNT(h.event_id) AS n, COALESCE(SUM(h.v), 0.0) AS total \
           FROM firsts f LEFT JOIN hits h ON f.subject = h.subject WHERE f.arms = 1 GROUP BY f.arm, f.subject) \
         SELECT arm, COUNT(*) AS subjects, SUM(CASE WHEN n > 0 THEN 1 ELSE 0 END) AS converted, \
           AVG(total) AS mean, COALESCE(VAR_SAMP(total), 0.0) AS variance FROM per GROUP BY arm ORDER BY arm",
        name = literal(&doc.name),
        event_type = metric.event_type,
        window = metric.window_s,
    )
}

fn as_u64(array: &dyn Array, row: usize) -> Option<u64> {
    if array.is_null(row) {
        return Some(0);
    }
    match array.data_type() {
        DataType::Int64 => u64::try_from(array.as_primitive::<Int64Type>().value(row)).ok(),
        DataType::UInt64 => Some(array.as_primitive::<UInt64Type>().value(row)),
        _ => None,
    }
}

fn as_f64(array: &dyn Array, row: usize) -> Option<f64> {
    if array.is_null(row) {
        return Some(0.0);
    }
    match array.data_type() {
        DataType::Float64 => Some(array.as_primitive::<Float64Type>().value(row)),
        _ => None,
    }
}

/// Reads the rows of [`results_sql`].
pub fn aggregates(batches: &[RecordBatch]) -> Result<Vec<ArmAggregate>, ServeError> {
    let wrong = || ServeError::Training {
        code: "experiment_results_failed",
        message: "the results query answered an unexpected shape".into(),
    };
    let mut out = Vec::new();
    for batch in batches {
        if batch.num_columns() != 5 {
            return Err(wrong());
        }
        let arms = batch.column(0);
        let arms = arms.as_string_opt::<i32>().ok_or_else(wrong)?;
        for row in 0..batch.num_rows() {
            out.push(ArmAggregate {
                arm: arms.value(row).to_owned(),
                subjects: as_u64(batch.column(1), row).ok_or_else(wrong)?,
                converted: as_u64(batch.column(2), row).ok_or_else(wrong)?,
                mean: as_f64(batch.column(3), row).ok_or_else(wrong)?,
                variance: as_f64(batch.column(4), row).ok_or_else(wrong)?,
            });
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn doc(weights: &[u32]) -> ExperimentDoc {
        ExperimentDoc {
            format: FORMAT,
            name: "e".into(),
            purpose: "personalization".into(),
            arms: weights
                .iter()
                .enumerate()
                .map(|(i, w)| ArmDoc {
                    name: format!("a{i}"),
                    model: Some("m".into()),
                    control: false,
                    weight: *w,
                    stopped: None,
                })
                .collect(),
            outcome: MetricSpec {
                event_type: "play".into(),
                window_s: 1800,
                value: None,
            },
            guardrail: None,
            alpha: 0.05,
            effect_sd: effect_sd_default(),
            salt: data_encoding::HEXLOWER.encode(&[7u8; 32]),
            created_at: String::new(),
            created_by: String::new(),
            state: "running".into(),
            stopped_at: None,
            stopped_by: None,
            conclusion: None,
            sequential: BTreeMap::new(),
        }
    }

    fn subject(i: u64) -> Pseudonym {
        let mut b = [0u8; 32];
        b[..8].copy_from_slice(&i.to_le_bytes());
        Pseudonym::from_bytes(b)
    }

    #[test]
    fn buckets_follow_the_weights_and_are_sticky() {
        let d = doc(&[1, 3]);
        let n = 40_000u64;
        let mut counts = [0u64; 2];
        for i in 0..n {
            let a = d.bucket(&subject(i)).unwrap();
            assert_eq!(a, d.bucket(&subject(i)).unwrap(), "sticky");
            counts[a] += 1;
        }
        // 25% expected; 4 standard deviations of a binomial(40k, 0.25) is about 0.0087.
        let share = counts[0] as f64 / n as f64;
        assert!((share - 0.25).abs() < 0.0087, "share {share}");
        // Another salt assigns independently: about half of a0 moves.
        let mut other = d.clone();
        other.salt = data_encoding::HEXLOWER.encode(&[9u8; 32]);
        let same = (0..n)
            .filter(|&i| d.bucket(&subject(i)).unwrap() == other.bucket(&subject(i)).unwrap())
            .count() as f64
            / n as f64;
        // Independent: P(same) = 0.25² + 0.75² = 0.625.
        assert!((same - 0.625).abs() < 0.01, "agreement {same}");
    }

    #[test]
    fn windows_parse_and_refuse() {
        assert_eq!(parse_window(&json!("30m"), "w").unwrap(), 1800);
        assert_eq!(parse_window(&json!("2h"), "w").unwrap(), 7200);
        assert_eq!(parse_window(&json!("7d"), "w").unwrap(), 604_800);
        assert_eq!(parse_window(&json!(90), "w").unwrap(), 90);
        for bad in [
            json!("0s"),
            json!("31d"),
            json!("5w"),
            json!("m"),
            json!(-1),
            json!(1.5),
            json!("99999999999999999d"),
        ] {
            assert!(parse_window(&bad, "w").is_err(), "{bad}");
        }
    }

    #[test]
    fn the_results_query_names_only_checked_identifiers() {
        let mut d = doc(&[1, 1]);
        d.outcome.value = Some("ms_played".into());
        let sql = results_sql(&d, &d.outcome);
        assert!(sql.contains("FROM \"play\" o"));
        assert!(sql.contains("CAST(o.\"ms_played\" AS DOUBLE)"));
        assert!(sql.contains("INTERVAL '1800 seconds'"));
        assert!(sql.contains("experiment = 'e'"));
    }
}

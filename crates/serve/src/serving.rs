//! Serving: recommendations for a subject, re-ranking a caller's candidates, similar items and
//! popular items, from the model version a call names (DESIGN.md, "Wave 2 contract").
//!
//! Whether a call is personalized is the read guard's decision and nothing else: a subject the
//! guard does not serve (an erasure from the moment its call returned, a refused purpose from
//! the moment the consent call returned) gets the non-personalized answer with the reason
//! (`erased`, `opted_out`). A subject the model does not know, or whose history grew since
//! training, is folded in: a user vector solved at request time from the items of its training
//! interactions and its recent events (read through the guard's timeline), cached briefly and
//! dropped with any other user vector at an erasure or opt-out. Without a vector or items the
//! answer is non-personalized (`unknown_subject`).
//!
//! Non-personalized answers come from the fallback chain: the call's `fallback` models in
//! order (an item-kNN model personalizes from the subject's items when the guard serves it; a
//! popularity model ranks by its scores), then the popularity the named version's training
//! data records. Each answer names the model version that produced it.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Instant;

use parking_lot::Mutex;
use serde_json::{Map, Value};
use steward_crypto::Pseudonym;
use steward_engine::{ReadGuard, SubjectRefusal, TimelineQuery};
use steward_ml::{Algorithm, FoldIn, ModelFile, UserRef};

use crate::ServeError;
use crate::filter::ItemFilter;
use crate::limits::{
    FALLBACKS_MAX, PERSONAL_CACHE_ENTRIES_MAX, PERSONAL_CACHE_TTL, RECENT_EVENTS_MAX,
    RECENT_WINDOW, RERANK_ITEMS_MAX, SERVE_K_MAX,
};
use crate::registry::{Key3, ModelRef, Registry};

/// Why an answer is not personalized.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum NotPersonal {
    /// The subject's erasure call has returned.
    Erased,
    /// The subject refused the call's purpose.
    OptedOut,
    /// Neither a user vector nor items to fold in (or no subject named).
    UnknownSubject,
    /// The named model does not exist or has no version that serves.
    NoModel,
    /// The model ranks the same for everyone (popularity).
    NotPersonalizedModel,
    /// Similar items: the item is not in the model version (new to the catalog since training).
    UnknownItem,
    /// The subject's experiment arm is the non-personalized control.
    Control,
}

impl NotPersonal {
    pub fn as_str(self) -> &'static str {
        match self {
            NotPersonal::Erased => "erased",
            NotPersonal::OptedOut => "opted_out",
            NotPersonal::UnknownSubject => "unknown_subject",
            NotPersonal::NoModel => "no_model",
            NotPersonal::NotPersonalizedModel => "model_not_personalized",
            NotPersonal::UnknownItem => "unknown_item",
            NotPersonal::Control => "control_arm",
        }
    }
}

/// One serving call's options.
#[derive(Clone, Debug)]
pub struct ServeCall {
    pub model: ModelRef,
    pub subject: Option<Pseudonym>,
    pub k: usize,
    /// Leave out items the subject interacted with (training data and recent events).
    pub exclude_seen: bool,
    /// Item ids never returned.
    pub exclude_items: Vec<String>,
    pub filter: ItemFilter,
    pub fallback: Vec<ModelRef>,
}

/// A serving answer.
#[derive(Clone, Debug, Default)]
pub struct Served {
    pub items: Vec<(String, f32)>,
    /// The version that produced `items` (none when no model could answer).
    pub model: Option<(String, u32)>,
    pub personalized: bool,
    pub reason: Option<NotPersonal>,
    /// The user vector was solved at request time.
    pub folded_in: bool,
    /// Re-rank: candidates the model does not know (kept at the end, in their order).
    pub unknown: Vec<String>,
}

/// What the items side of a hosted version precomputes once (the item factors' Gram matrix
/// for fold-in, the popularity order of its training data).
pub(crate) struct Prepared {
    pub fold_in: Option<FoldIn>,
    /// Item indices by training popularity, most popular first (ties: lower index).
    pub popular: Vec<u32>,
}

/// A subject's recent item ids (from its events).
type RecentItems = Arc<Vec<String>>;
/// The item indices a vector was folded in from, and the vector.
type Folded = (Arc<Vec<u32>>, Arc<Vec<f32>>);

/// Personal data held briefly for serving: recent items per subject, folded-in vectors per
/// (version, subject). Dropped for a subject at its erasure or opt-out, and after the TTL.
#[derive(Default)]
pub(crate) struct PersonalCache {
    recent: Mutex<HashMap<(String, Pseudonym), (Instant, RecentItems)>>,
    /// The items a vector was folded in from, and the vector.
    folded: Mutex<HashMap<(Key3, Pseudonym), (Instant, Folded)>>,
}

impl PersonalCache {
    pub(crate) fn drop_subjects(&self, tenant: &str, subjects: &[Pseudonym]) {
        self.recent
            .lock()
            .retain(|(t, s), _| !(t == tenant && subjects.contains(s)));
        self.folded
            .lock()
            .retain(|((t, _, _), s), _| !(t == tenant && subjects.contains(s)));
    }

    pub(crate) fn drop_version(&self, key: &Key3) {
        self.folded.lock().retain(|(k, _), _| k != key);
    }
}

fn fresh<V: Clone>(entry: Option<&(Instant, V)>) -> Option<V> {
    entry
        .filter(|(at, _)| at.elapsed() < PERSONAL_CACHE_TTL)
        .map(|(_, v)| v.clone())
}

fn insert_bounded<K: std::hash::Hash + Eq, V>(
    map: &mut HashMap<K, (Instant, V)>,
    key: K,
    value: V,
) {
    if map.len() >= PERSONAL_CACHE_ENTRIES_MAX {
        map.retain(|_, (at, _)| at.elapsed() < PERSONAL_CACHE_TTL);
        if map.len() >= PERSONAL_CACHE_ENTRIES_MAX {
            map.clear();
        }
    }
    map.insert(key, (Instant::now(), value));
}

/// Who the call personalizes for, once the guard and the model have been asked.
enum Personal {
    /// A stored row or a folded-in vector.
    Vector {
        vector: Arc<Vec<f32>>,
        folded: bool,
    },
    /// Items only (item-kNN ranks from them).
    Items,
    Not(NotPersonal),
}

/// The subject's items as the model knows them: training interactions and recent events,
/// ascending and unique.
struct SubjectItems {
    row: Option<u32>,
    all: Vec<u32>,
    /// Recent items the training data did not have.
    grew: bool,
}

fn check_k(k: usize) -> Result<(), ServeError> {
    if k == 0 || k > SERVE_K_MAX {
        return Err(ServeError::invalid(
            "invalid_k",
            "k",
            format!("expected 1 to {SERVE_K_MAX}"),
        ));
    }
    Ok(())
}

impl Registry {
    /// The item-side precomputation of a hosted version (cached with it).
    pub(crate) fn prepared(
        &self,
        key: &Key3,
        file: &ModelFile,
    ) -> Result<Arc<Prepared>, ServeError> {
        if let Some(p) = self.prepared.lock().get(key) {
            return Ok(p.clone());
        }
        let model = file.model();
        let fold_in = match model.algorithm() {
            Algorithm::Als | Algorithm::Bpr => Some(
                model
                    .fold_in_prep()
                    .map_err(|e| ServeError::training("model_file", e))?,
            ),
            _ => None,
        };
        let items = model.item_count();
        let mut popular: Vec<u32> = (0..items).collect();
        match (model.popularity(), file.item_counts()) {
            (Some(scores), _) => popular.sort_by(|&a, &b| {
                scores[b as usize]
                    .total_cmp(&scores[a as usize])
                    .then(a.cmp(&b))
            }),
            (None, Some(counts)) => popular
                .sort_by(|&a, &b| counts[b as usize].cmp(&counts[a as usize]).then(a.cmp(&b))),
            (None, None) => popular.clear(),
        }
        let prepared = Arc::new(Prepared { fold_in, popular });
        self.prepared.lock().insert(key.clone(), prepared.clone());
        Ok(prepared)
    }

    /// The subject's recent item ids (property `item_column` of its events in the recent
    /// window, oldest first, at most `RECENT_EVENTS_MAX` events), read through the guard.
    fn recent_items(
        &self,
        guard: &ReadGuard,
        subject: &Pseudonym,
        item_column: &str,
    ) -> Result<Arc<Vec<String>>, ServeError> {
        let key = (guard.tenant().to_owned(), *subject);
        if let Some(hit) = fresh(self.personal.recent.lock().get(&key)) {
            return Ok(hit);
        }
        let now = guard.now_us();
        let page = self.engine.timeline(
            guard,
            &TimelineQuery {
                subject: *subject,
                from_us: Some(now - RECENT_WINDOW.as_micros() as i64),
                to_us: None,
                types: None,
                cursor: None,
                limit: RECENT_EVENTS_MAX,
            },
        )?;
        let items: Vec<String> = page
            .events
            .iter()
            .filter_map(|e| match e.properties.get(item_column) {
                Some(Value::String(s)) => Some(s.clone()),
                Some(Value::Number(n)) => Some(n.to_string()),
                _ => None,
            })
            .collect();
        let items = Arc::new(items);
        // A subject with no recent items is asked again next time: its first events must
        // personalize the next answer.
        if !items.is_empty() {
            insert_bounded(&mut self.personal.recent.lock(), key, items.clone());
        }
        Ok(items)
    }

    fn subject_items(
        &self,
        guard: &ReadGuard,
        file: &ModelFile,
        item_column: &str,
        subject: &Pseudonym,
    ) -> Result<SubjectItems, ServeError> {
        let row = file.user_row(subject.as_bytes());
        let trained: &[u32] = row.and_then(|r| file.seen(r)).unwrap_or(&[]);
        let recent = self.recent_items(guard, subject, item_column)?;
        let mut all: Vec<u32> = trained.to_vec();
        let mut grew = false;
        for id in recent.iter() {
            if let Some(i) = file.item_index(id)
                && trained.binary_search(&i).is_err()
            {
                all.push(i);
                grew = true;
            }
        }
        all.sort_unstable();
        all.dedup();
        Ok(SubjectItems { row, all, grew })
    }

    fn personal(
        &self,
        guard: &ReadGuard,
        key: &Key3,
        file: &ModelFile,
        item_column: &str,
        subject: Option<&Pseudonym>,
    ) -> Result<(Personal, Vec<u32>), ServeError> {
        let Some(subject) = subject else {
            return Ok((Personal::Not(NotPersonal::UnknownSubject), Vec::new()));
        };
        match guard.subject_refusal(subject) {
            Some(SubjectRefusal::Erased) => {
                return Ok((Personal::Not(NotPersonal::Erased), Vec::new()));
            }
            Some(SubjectRefusal::OptedOut) => {
                return Ok((Personal::Not(NotPersonal::OptedOut), Vec::new()));
            }
            None => {}
        }
        let model = file.model();
        if model.algorithm() == Algorithm::Popularity {
            return Ok((Personal::Not(NotPersonal::NotPersonalizedModel), Vec::new()));
        }
        let items = self.subject_items(guard, file, item_column, subject)?;
        if model.algorithm() == Algorithm::ItemKnn {
            let personal = if items.all.is_empty() {
                Personal::Not(NotPersonal::UnknownSubject)
            } else {
                Personal::Items
            };
            return Ok((personal, items.all));
        }
        if let (Some(row), false) = (items.row, items.grew) {
            let f = model.factors();
            if let Some(v) = model
                .user_factors()
                .and_then(|all| all.get(row as usize * f..(row as usize + 1) * f))
            {
                return Ok((
                    Personal::Vector {
                        vector: Arc::new(v.to_vec()),
                        folded: false,
                    },
                    items.all,
                ));
            }
        }
        if items.all.is_empty() {
            return Ok((Personal::Not(NotPersonal::UnknownSubject), items.all));
        }
        let cache_key = (key.clone(), *subject);
        if let Some((from, v)) = fresh(self.personal.folded.lock().get(&cache_key))
            && *from == items.all
        {
            return Ok((
                Personal::Vector {
                    vector: v,
                    folded: true,
                },
                items.all,
            ));
        }
        let prepared = self.prepared(key, file)?;
        let Some(prep) = &prepared.fold_in else {
            return Ok((Personal::Not(NotPersonal::UnknownSubject), items.all));
        };
        let weighted: Vec<(u32, f32)> = items.all.iter().map(|&i| (i, 1.0)).collect();
        let vector = Arc::new(
            model
                .fold_in(&weighted, prep)
                .map_err(|e| ServeError::training("fold_in_failed", e))?,
        );
        insert_bounded(
            &mut self.personal.folded.lock(),
            cache_key,
            (Arc::new(items.all.clone()), vector.clone()),
        );
        metrics::counter!("steward_serving_fold_ins_total").increment(1);
        Ok((
            Personal::Vector {
                vector,
                folded: true,
            },
            items.all,
        ))
    }

    /// A hosted version, or why there is none.
    fn host(
        &self,
        tenant: &str,
        model: &ModelRef,
    ) -> Result<Option<(Key3, Arc<ModelFile>)>, ServeError> {
        let (name, version) = match self.resolve_serving(tenant, model) {
            Ok(found) => found,
            Err(ServeError::NotFound { .. }) => return Ok(None),
            Err(other) => return Err(other),
        };
        let file = match self.model_file(tenant, &name, version) {
            Ok(file) => file,
            Err(ServeError::NotFound { .. }) => return Ok(None),
            Err(other) => return Err(other),
        };
        Ok(Some(((tenant.to_owned(), name, version), file)))
    }

    /// Items of the catalog a filter reads, fetched once per call.
    fn keeps<'a>(
        &'a self,
        tenant: &'a str,
        file: &'a ModelFile,
        filter: &'a ItemFilter,
        excluded: &'a [u32],
    ) -> impl Fn(u32) -> bool + 'a {
        let memo: Mutex<HashMap<u32, bool>> = Mutex::new(HashMap::new());
        move |i: u32| {
            if excluded.binary_search(&i).is_ok() {
                return false;
            }
            if filter.is_empty() {
                return true;
            }
            if let Some(&known) = memo.lock().get(&i) {
                return known;
            }
            let properties: Option<Map<String, Value>> = file
                .items()
                .key(i)
                .and_then(|id| self.engine.item(tenant, id).ok())
                .map(|item| item.properties);
            let keep = filter.keeps(properties.as_ref());
            memo.lock().insert(i, keep);
            keep
        }
    }

    fn ids(file: &ModelFile, ranked: Vec<(u32, f32)>) -> Vec<(String, f32)> {
        ranked
            .into_iter()
            .filter_map(|(i, s)| file.items().key(i).map(|id| (id.clone(), s)))
            .collect()
    }

    fn excluded(file: &ModelFile, seen: &[u32], call: &ServeCall) -> Vec<u32> {
        let mut out: Vec<u32> = if call.exclude_seen {
            seen.to_vec()
        } else {
            Vec::new()
        };
        out.extend(
            call.exclude_items
                .iter()
                .filter_map(|id| file.item_index(id)),
        );
        out.sort_unstable();
        out.dedup();
        out
    }

    /// Popular items of a hosted version, best first, through the filter and exclusions.
    fn popular_of(
        &self,
        key: &Key3,
        file: &ModelFile,
        k: usize,
        keep: &dyn Fn(u32) -> bool,
    ) -> Result<Option<Vec<(u32, f32)>>, ServeError> {
        let prepared = self.prepared(key, file)?;
        if prepared.popular.is_empty() {
            return Ok(None);
        }
        let scores = file.model().popularity();
        let counts = file.item_counts();
        let mut out = Vec::with_capacity(k);
        for &i in &prepared.popular {
            if out.len() == k {
                break;
            }
            if keep(i) {
                let score = match (scores, counts) {
                    (Some(s), _) => s[i as usize],
                    (None, Some(c)) => c[i as usize] as f32,
                    _ => 0.0,
                };
                out.push((i, score));
            }
        }
        Ok(Some(out))
    }

    /// Recommendations for the call's subject.
    pub fn recommend(&self, guard: &ReadGuard, call: &ServeCall) -> Result<Served, ServeError> {
        check_k(call.k)?;
        check_fallbacks(call)?;
        let tenant = guard.tenant();
        let Some((key, file)) = self.host(tenant, &call.model)? else {
            return self.fall_back(guard, call, None, NotPersonal::NoModel);
        };
        let item_column = self.item_column(&key)?;
        let (personal, seen) =
            self.personal(guard, &key, &file, &item_column, call.subject.as_ref())?;
        let excluded = Self::excluded(&file, &seen, call);
        let keep_fn = self.keeps(tenant, &file, &call.filter, &excluded);
        let keep: &dyn Fn(u32) -> bool = &keep_fn;
        let model = file.model();
        let (ranked, folded) = match personal {
            Personal::Vector { vector, folded } => (
                model
                    .recommend(UserRef::vector(&vector), call.k, &[], Some(keep))
                    .map_err(|e| ServeError::training("serving_failed", e))?,
                folded,
            ),
            Personal::Items => (
                model
                    .recommend(UserRef::items(&seen), call.k, &[], Some(keep))
                    .map_err(|e| ServeError::training("serving_failed", e))?,
                false,
            ),
            Personal::Not(reason) => {
                return self.fall_back(guard, call, Some((&key, &file)), reason);
            }
        };
        Ok(Served {
            items: Self::ids(&file, ranked),
            model: Some((key.1.clone(), key.2)),
            personalized: true,
            reason: None,
            folded_in: folded,
            unknown: Vec::new(),
        })
    }

    /// An experiment's control arm: the named version's popularity, never personalized. A
    /// subject the guard refuses is told why (opted out, erased) rather than `control_arm`.
    pub fn control(&self, guard: &ReadGuard, call: &ServeCall) -> Result<Served, ServeError> {
        check_k(call.k)?;
        let reason = Self::refusal_or(guard, call.subject.as_ref(), NotPersonal::Control);
        let call = ServeCall {
            fallback: Vec::new(),
            ..call.clone()
        };
        let hosted = self.host(guard.tenant(), &call.model)?;
        let named = hosted.as_ref().map(|(key, file)| (key, file));
        self.fall_back(guard, &call, named, reason)
    }

    /// Re-rank for an experiment's control arm: by training popularity.
    pub fn rerank_control(
        &self,
        guard: &ReadGuard,
        model: &ModelRef,
        subject: Option<&Pseudonym>,
        candidates: &[String],
    ) -> Result<Served, ServeError> {
        let mut served = self.rerank(guard, model, None, candidates)?;
        if served.reason.is_some() {
            served.reason = Some(Self::refusal_or(guard, subject, NotPersonal::Control));
        }
        Ok(served)
    }

    fn refusal_or(guard: &ReadGuard, subject: Option<&Pseudonym>, or: NotPersonal) -> NotPersonal {
        match subject.and_then(|s| guard.subject_refusal(s)) {
            Some(SubjectRefusal::Erased) => NotPersonal::Erased,
            Some(SubjectRefusal::OptedOut) => NotPersonal::OptedOut,
            None => or,
        }
    }

    /// The non-personalized answer: the call's fallbacks, then the named version's popularity.
    fn fall_back(
        &self,
        guard: &ReadGuard,
        call: &ServeCall,
        named: Option<(&Key3, &Arc<ModelFile>)>,
        reason: NotPersonal,
    ) -> Result<Served, ServeError> {
        let tenant = guard.tenant();
        metrics::counter!("steward_serving_fallbacks_total", "reason" => reason.as_str())
            .increment(1);
        // Only subjects the guard serves may be personalized by a fallback.
        let may_personalize = matches!(reason, NotPersonal::UnknownSubject | NotPersonal::NoModel)
            && call.subject.is_some();
        for fallback in &call.fallback {
            let Some((key, file)) = self.host(tenant, fallback)? else {
                continue;
            };
            let model = file.model();
            if model.algorithm() == Algorithm::ItemKnn && may_personalize {
                let item_column = self.item_column(&key)?;
                let (personal, seen) =
                    self.personal(guard, &key, &file, &item_column, call.subject.as_ref())?;
                if let Personal::Items = personal {
                    let excluded = Self::excluded(&file, &seen, call);
                    let keep_fn = self.keeps(tenant, &file, &call.filter, &excluded);
                    let keep: &dyn Fn(u32) -> bool = &keep_fn;
                    let ranked = model
                        .recommend(UserRef::items(&seen), call.k, &[], Some(keep))
                        .map_err(|e| ServeError::training("serving_failed", e))?;
                    if !ranked.is_empty() {
                        return Ok(Served {
                            items: Self::ids(&file, ranked),
                            model: Some((key.1.clone(), key.2)),
                            personalized: true,
                            reason: Some(reason),
                            ..Served::default()
                        });
                    }
                }
                continue;
            }
            let excluded = Self::excluded(&file, &[], call);
            let keep = self.keeps(tenant, &file, &call.filter, &excluded);
            if let Some(ranked) = self.popular_of(&key, &file, call.k, &keep)? {
                return Ok(Served {
                    items: Self::ids(&file, ranked),
                    model: Some((key.1.clone(), key.2)),
                    personalized: false,
                    reason: Some(reason),
                    ..Served::default()
                });
            }
        }
        if let Some((key, file)) = named {
            let excluded = Self::excluded(file, &[], call);
            let keep = self.keeps(tenant, file, &call.filter, &excluded);
            if let Some(ranked) = self.popular_of(key, file, call.k, &keep)? {
                return Ok(Served {
                    items: Self::ids(file, ranked),
                    model: Some((key.1.clone(), key.2)),
                    personalized: false,
                    reason: Some(reason),
                    ..Served::default()
                });
            }
        }
        Ok(Served {
            reason: Some(reason),
            ..Served::default()
        })
    }

    /// The caller's candidates ordered for the subject: known items by score, unknown ones
    /// after them in the order given (reported). Non-personalized: by training popularity.
    pub fn rerank(
        &self,
        guard: &ReadGuard,
        model: &ModelRef,
        subject: Option<&Pseudonym>,
        candidates: &[String],
    ) -> Result<Served, ServeError> {
        if candidates.is_empty() || candidates.len() > RERANK_ITEMS_MAX {
            return Err(ServeError::invalid(
                "invalid_items",
                "items",
                format!("expected 1 to {RERANK_ITEMS_MAX} candidate ids"),
            ));
        }
        let tenant = guard.tenant();
        let Some((key, file)) = self.host(tenant, model)? else {
            return Ok(Served {
                items: candidates.iter().map(|id| (id.clone(), 0.0)).collect(),
                reason: Some(NotPersonal::NoModel),
                unknown: candidates.to_vec(),
                ..Served::default()
            });
        };
        let item_column = self.item_column(&key)?;
        let (personal, seen) = self.personal(guard, &key, &file, &item_column, subject)?;
        let mut known: Vec<(usize, u32)> = Vec::new();
        let mut unknown = Vec::new();
        for (position, id) in candidates.iter().enumerate() {
            match file.item_index(id) {
                Some(i) => known.push((position, i)),
                None => unknown.push(id.clone()),
            }
        }
        let indices: Vec<u32> = known.iter().map(|&(_, i)| i).collect();
        let m = file.model();
        let (scores, personalized, reason, folded) = match personal {
            Personal::Vector { vector, folded } => (
                m.score(UserRef::vector(&vector), &indices)
                    .map_err(|e| ServeError::training("serving_failed", e))?,
                true,
                None,
                folded,
            ),
            Personal::Items => (
                m.score(UserRef::items(&seen), &indices)
                    .map_err(|e| ServeError::training("serving_failed", e))?,
                true,
                None,
                false,
            ),
            Personal::Not(reason) => {
                let counts = file.item_counts();
                let pop = m.popularity();
                let scores = indices
                    .iter()
                    .map(|&i| match (pop, counts) {
                        (Some(p), _) => p[i as usize],
                        (None, Some(c)) => c[i as usize] as f32,
                        _ => 0.0,
                    })
                    .collect();
                (scores, false, Some(reason), false)
            }
        };
        let mut ranked: Vec<(usize, u32, f32)> = known
            .iter()
            .zip(scores)
            .map(|(&(p, i), s)| (p, i, s))
            .collect();
        // Best first; equal scores keep the caller's order.
        ranked.sort_by(|a, b| b.2.total_cmp(&a.2).then(a.0.cmp(&b.0)));
        let mut items: Vec<(String, f32)> = ranked
            .into_iter()
            .filter_map(|(p, _, s)| candidates.get(p).map(|id| (id.clone(), s)))
            .collect();
        items.extend(unknown.iter().map(|id| (id.clone(), f32::NEG_INFINITY)));
        Ok(Served {
            items,
            model: Some((key.1.clone(), key.2)),
            personalized,
            reason,
            folded_in: folded,
            unknown,
        })
    }

    /// Items similar to `item` (not personal: no subject is read).
    pub fn similar(
        &self,
        tenant: &str,
        model: &ModelRef,
        item: &str,
        k: usize,
        filter: &ItemFilter,
    ) -> Result<Served, ServeError> {
        check_k(k)?;
        let Some((key, file)) = self.host(tenant, model)? else {
            return Ok(Served {
                reason: Some(NotPersonal::NoModel),
                ..Served::default()
            });
        };
        // An item the version never saw has no neighbours yet: an empty answer that says why,
        // so a client falls back, rather than an error.
        let Some(index) = file.item_index(item) else {
            return Ok(Served {
                model: Some((key.1.clone(), key.2)),
                reason: Some(NotPersonal::UnknownItem),
                ..Served::default()
            });
        };
        let keep_fn = self.keeps(tenant, &file, filter, &[]);
        let keep: &dyn Fn(u32) -> bool = &keep_fn;
        let ranked = file
            .model()
            .similar_items(index, k, Some(keep))
            .map_err(|e| match e {
                steward_ml::ModelError::Unsupported { .. } => ServeError::invalid(
                    "similar_unsupported",
                    "model",
                    "a popularity model has no notion of similar items",
                ),
                other => ServeError::training("serving_failed", other),
            })?;
        Ok(Served {
            items: Self::ids(&file, ranked),
            model: Some((key.1.clone(), key.2)),
            personalized: false,
            ..Served::default()
        })
    }

    /// The version's most popular items (its training data's counts, or a popularity model's
    /// scores).
    pub fn popular(
        &self,
        tenant: &str,
        model: &ModelRef,
        k: usize,
        filter: &ItemFilter,
        exclude_items: &[String],
    ) -> Result<Served, ServeError> {
        check_k(k)?;
        let Some((key, file)) = self.host(tenant, model)? else {
            return Ok(Served {
                reason: Some(NotPersonal::NoModel),
                ..Served::default()
            });
        };
        let mut excluded: Vec<u32> = exclude_items
            .iter()
            .filter_map(|id| file.item_index(id))
            .collect();
        excluded.sort_unstable();
        excluded.dedup();
        let keep = self.keeps(tenant, &file, filter, &excluded);
        let ranked = self.popular_of(&key, &file, k, &keep)?.unwrap_or_default();
        Ok(Served {
            items: Self::ids(&file, ranked),
            model: Some((key.1.clone(), key.2)),
            personalized: false,
            ..Served::default()
        })
    }

    /// The item column the version was trained with (the event property recent items come from).
    fn item_column(&self, key: &Key3) -> Result<String, ServeError> {
        if let Some(column) = self.item_columns.lock().get(key) {
            return Ok(column.clone());
        }
        let manifest = self.manifest(&key.0, &key.1, key.2)?;
        let column = manifest.columns.item.clone();
        self.item_columns.lock().insert(key.clone(), column.clone());
        Ok(column)
    }
}

fn check_fallbacks(call: &ServeCall) -> Result<(), ServeError> {
    if call.fallback.len() > FALLBACKS_MAX {
        return Err(ServeError::invalid(
            "invalid_fallback",
            "fallback",
            format!("at most {FALLBACKS_MAX} fallback models"),
        ));
    }
    if call.exclude_items.len() > crate::limits::EXCLUDE_ITEMS_MAX {
        return Err(ServeError::invalid(
            "invalid_exclude",
            "exclude_items",
            format!("at most {} item ids", crate::limits::EXCLUDE_ITEMS_MAX),
        ));
    }
    Ok(())
}

//! Search and retrieval with the request's read guard: every candidate's subject is asked
//! (consent for the purpose, erasure, retention) inside the index search itself, so a refused
//! subject's vectors are never hits and the filter's selectivity is part of the plan; passages
//! are the events read again through the guard, shaped by what the purpose may see. An index
//! of a data set version is first asked about as a whole (the version's artifact rule), and its
//! passages are the rows' kept texts (`dataset.rs` says why).

use serde::Serialize;
use serde_json::Value;
use steward_crypto::Pseudonym;
use steward_engine::{ReadGuard, TimelineQuery};
use steward_privacy::PrivacyClass;

use super::dataset::NO_TIME;
use super::{IndexSource, Indexes, bm25, cut, embed};
use crate::ServeError;
use crate::filter::ItemFilter;
use crate::limits::{PASSAGE_BYTES_MAX, QUERY_TEXT_BYTES_MAX, SEARCH_EF, SEARCH_K_MAX};

/// What to search for.
#[derive(Clone, Debug)]
pub struct SearchQuery {
    /// A text (embedded with the index's model) or a vector of the index's dimension.
    pub text: Option<String>,
    pub vector: Option<Vec<f32>>,
    pub k: usize,
    /// Item properties (items indexes).
    pub filter: Option<ItemFilter>,
    /// Event time bounds, µs (events indexes).
    pub from_us: Option<i64>,
    pub to_us: Option<i64>,
    /// Fuse the vector ranking with BM25 over the same texts (reciprocal rank); needs `text`.
    pub hybrid: bool,
}

/// One hit.
#[derive(Clone, Debug, Serialize)]
pub struct Hit {
    /// The event id or item id.
    pub id: String,
    pub score: f32,
    /// `event`, `item` or `row` (of a data set version).
    pub kind: &'static str,
    /// The event's time, the item's last update or the row's time column (RFC 3339; absent
    /// for a row without one).
    #[serde(skip_serializing_if = "String::is_empty")]
    pub time: String,
    #[serde(skip)]
    pub subject: Option<Pseudonym>,
    #[serde(skip)]
    pub time_us: i64,
}

/// One passage for a prompt, with its citation.
#[derive(Clone, Debug, Serialize)]
pub struct Passage {
    pub text: String,
    pub citation: Hit,
    /// Whether PII the scanner found was redacted for this purpose.
    pub redacted: bool,
}

/// How deep each ranking goes before a hybrid fusion.
const HYBRID_DEPTH: usize = 50;

fn rfc3339(us: i64) -> String {
    chrono::DateTime::from_timestamp_micros(us)
        .map(|t| t.to_rfc3339_opts(chrono::SecondsFormat::Micros, true))
        .unwrap_or_default()
}

impl Indexes {
    /// The nearest documents the request's guard admits.
    pub fn search(
        &self,
        guard: &ReadGuard,
        name: &str,
        query: &SearchQuery,
    ) -> Result<Vec<Hit>, ServeError> {
        let tenant = guard.tenant();
        let live = self.get_live(tenant, name)?;
        if query.k == 0 || query.k > SEARCH_K_MAX {
            return Err(ServeError::invalid(
                "invalid_k",
                "k",
                format!("expected 1 to {SEARCH_K_MAX}"),
            ));
        }
        let field_class = self.check_purpose(guard, &live.def)?;
        let _ = field_class;
        let vector = match (&query.text, &query.vector) {
            (Some(text), None) => {
                if text.trim().is_empty() || text.len() > QUERY_TEXT_BYTES_MAX {
                    return Err(ServeError::invalid(
                        "invalid_query",
                        "query",
                        format!(
                            "expected a non-empty text of at most {QUERY_TEXT_BYTES_MAX} bytes"
                        ),
                    ));
                }
                let mut v = embed(self.embedder()?, vec![text.clone()])?;
                v.pop().ok_or(ServeError::NotFound { what: "embedding" })?
            }
            (None, Some(v)) => {
                if v.len() != live.def.dim
                    || !v.iter().all(|x| x.is_finite())
                    || v.iter().all(|&x| x == 0.0)
                {
                    return Err(ServeError::invalid(
                        "invalid_vector",
                        "vector",
                        format!("expected {} finite numbers, not all zero", live.def.dim),
                    ));
                }
                v.clone()
            }
            _ => {
                return Err(ServeError::invalid(
                    "invalid_query",
                    "query",
                    "give exactly one of `query` (a text) and `vector`",
                ));
            }
        };
        let event_type = live.def.source.event_type().map(str::to_owned);
        let rows = matches!(live.def.source, IndexSource::Dataset { .. });
        let state = live.state.read();
        // The version held, as a whole, for the request's purpose (erasures since its cut,
        // consent, retention, classes), then each row's subject below.
        self.dataset_admits(guard, &live, &state)?;
        let admit = |id: u64| -> bool {
            let Some(doc) = state.docs.get(&id) else {
                return false;
            };
            if rows {
                let timed = doc.time_us != NO_TIME;
                return doc.subject.is_none_or(|s| guard.serves_subject(&s))
                    && query.from_us.is_none_or(|f| timed && doc.time_us >= f)
                    && query.to_us.is_none_or(|t| timed && doc.time_us < t);
            }
            match (&doc.subject, &event_type) {
                (Some(subject), Some(event_type)) => {
                    guard.admits(subject, doc.seq, event_type, doc.time_us)
                        && !guard.erasing(subject)
                        && query.from_us.is_none_or(|f| doc.time_us >= f)
                        && query.to_us.is_none_or(|t| doc.time_us < t)
                }
                (None, None) => match &query.filter {
                    Some(filter) if !filter.is_empty() => {
                        let item = self.engine.item(tenant, &doc.key).ok();
                        filter.keeps(item.as_ref().map(|i| &i.properties))
                    }
                    _ => true,
                },
                // A document of the wrong shape for its index is never a hit.
                _ => false,
            }
        };
        let ranked: Vec<(u64, f32)> = match (&query.text, query.hybrid) {
            (Some(text), true) => {
                // Both rankings over the admitted documents, deeper than k, then fused.
                let depth = (query.k * 4).max(HYBRID_DEPTH);
                let vector_hits = state
                    .vectors
                    .search(&vector, depth, SEARCH_EF.max(depth), Some(&admit))
                    .map_err(|e| ServeError::invalid("invalid_vector", "vector", e.to_string()))?;
                let lexical = state.bm25.search(text, depth, &admit);
                bm25::fuse(
                    &[
                        vector_hits.iter().map(|h| h.id).collect(),
                        lexical.iter().map(|h| h.0).collect(),
                    ],
                    query.k,
                )
            }
            (None, true) => {
                return Err(ServeError::invalid(
                    "invalid_query",
                    "hybrid",
                    "hybrid search needs a query text",
                ));
            }
            _ => state
                .vectors
                .search(&vector, query.k, SEARCH_EF.max(query.k), Some(&admit))
                .map_err(|e| ServeError::invalid("invalid_vector", "vector", e.to_string()))?
                .into_iter()
                .map(|h| (h.id, h.score))
                .collect(),
        };
        Ok(ranked
            .into_iter()
            .filter_map(|(id, score)| {
                let doc = state.docs.get(&id)?;
                Some(Hit {
                    id: doc.key.clone(),
                    score,
                    kind: match live.def.source {
                        IndexSource::Dataset { .. } => "row",
                        IndexSource::Events { .. } => "event",
                        IndexSource::Items => "item",
                    },
                    time: if doc.time_us == NO_TIME {
                        String::new()
                    } else {
                        rfc3339(doc.time_us)
                    },
                    subject: doc.subject,
                    time_us: doc.time_us,
                })
            })
            .collect())
    }

    /// Search, then each hit's text read again through the guard (masked for the purpose;
    /// PII the scanner finds redacted unless the purpose sees personal fields). A hit whose
    /// text the read no longer returns (erased, refused, masked) is left out.
    pub fn retrieve(
        &self,
        guard: &ReadGuard,
        name: &str,
        query: &SearchQuery,
    ) -> Result<Vec<Passage>, ServeError> {
        let live = self.get_live(guard.tenant(), name)?;
        let hits = self.search(guard, name, query)?;
        let redact = !guard.sees(PrivacyClass::Personal);
        let mut out = Vec::with_capacity(hits.len());
        for hit in hits {
            let text = match &live.def.source {
                // The row's kept text; a rebuild between the search and this read can make a
                // `row-<n>` key name another row of the successor, one it admits all the same.
                IndexSource::Dataset { .. } => {
                    let state = live.state.read();
                    state
                        .by_key
                        .get(&hit.id)
                        .and_then(|id| state.docs.get(id))
                        .and_then(|d| d.text.clone())
                }
                IndexSource::Items => self
                    .engine
                    .item(guard.tenant(), &hit.id)
                    .ok()
                    .and_then(|i| i.text),
                IndexSource::Events { event_type, field } => {
                    let Some(subject) = hit.subject else { continue };
                    let page = self.engine.timeline(
                        guard,
                        &TimelineQuery {
                            subject,
                            from_us: Some(hit.time_us),
                            to_us: Some(hit.time_us.saturating_add(1)),
                            types: Some(vec![event_type.clone()]),
                            cursor: None,
                            limit: 100,
                        },
                    )?;
                    page.events
                        .into_iter()
                        .find(|e| e.event_id == hit.id)
                        .and_then(|e| match e.properties.get(field) {
                            Some(Value::String(s)) => Some(s.clone()),
                            _ => None,
                        })
                }
            };
            let Some(text) = text.filter(|t| !t.trim().is_empty()) else {
                continue;
            };
            let text = cut(&text, PASSAGE_BYTES_MAX);
            // Rows of a data set come from events: redacted like them, with or without a
            // subject column.
            let personal = hit.subject.is_some() || hit.kind == "row";
            let (text, redacted) = if redact && personal {
                let clean = steward_privacy::pii::redact(text);
                let changed = clean != text;
                (clean, changed)
            } else {
                (text.to_owned(), false)
            };
            out.push(Passage {
                text,
                citation: hit,
                redacted,
            });
        }
        Ok(out)
    }

    /// The request's purpose must see the indexed field (403 `index_purpose_forbidden`): a
    /// vector of a text is as personal as the text.
    fn check_purpose(
        &self,
        guard: &ReadGuard,
        def: &super::IndexDefinition,
    ) -> Result<Option<PrivacyClass>, ServeError> {
        let IndexSource::Events { event_type, field } = &def.source else {
            return Ok(None);
        };
        let schema = guard
            .schemas()
            .into_iter()
            .find(|s| &s.event_type == event_type);
        let class = guard.stored_class(schema.as_deref(), field);
        if guard.sees(class) {
            Ok(Some(class))
        } else {
            Err(ServeError::Conflict {
                code: "index_purpose_forbidden",
                message: format!(
                    "the purpose may not read the indexed field's class ({})",
                    class.as_str()
                ),
            })
        }
    }
}

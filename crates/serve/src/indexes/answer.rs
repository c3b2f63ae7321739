//! RAG: retrieve passages through the request's guard, build a prompt from those shaped
//! passages only, and generate an answer that cites them with the local model
//! (SmolLM2-135M-Instruct) or, when the deployment configures one, an OpenAI-compatible chat
//! endpoint, streamed token by token to the caller's callback. Only the shaped passages and
//! the question leave the process for the endpoint. The answer is never logged; the caller
//! audits which passages were cited (by reference) and the model.

use std::ops::ControlFlow;
use std::sync::atomic::Ordering;

use steward_engine::ReadGuard;
use steward_text::{GenerateOptions, Generation, Sampling, TextError};

use super::{Indexes, Passage, SearchQuery};
use crate::ServeError;
use crate::limits::REMOTE_CHATS_MAX;

/// New tokens of one answer at most.
pub const ANSWER_TOKENS_MAX: usize = 512;
const ANSWER_TOKENS_DEFAULT: usize = 200;

const SYSTEM: &str = "You answer questions using only the numbered passages you are given. \
Cite the passages you use by their number in square brackets, like [1]. \
If the passages do not answer the question, say that you do not know.";

/// What `POST .../answer` asks.
#[derive(Clone, Debug)]
pub struct AnswerRequest {
    pub question: String,
    pub k: usize,
    pub max_tokens: Option<usize>,
}

/// The finished answer.
#[derive(Clone, Debug)]
pub struct Answer {
    pub text: String,
    pub passages: Vec<Passage>,
    /// Passage numbers (1-based) the text cites.
    pub cited: Vec<usize>,
    /// How `cited` was found: `marker` (the model wrote `[n]`), `overlap` (no marker: the
    /// passages most of whose terms the answer repeats), or `none`.
    pub cited_by: &'static str,
    /// The local model's name, or the configured endpoint's model.
    pub model: String,
    pub tokens: usize,
    pub ttft_ms: f64,
    pub tokens_per_s: f64,
}

/// The prompt's user turn: the passages, numbered, then the question.
pub fn prompt(question: &str, passages: &[Passage]) -> String {
    let mut out = String::from("Passages:\n");
    for (i, p) in passages.iter().enumerate() {
        out.push_str(&format!("[{}] {}\n", i + 1, p.text.replace('\n', " ")));
    }
    out.push_str("\nQuestion: ");
    out.push_str(question);
    out
}

/// The `[n]` markers of `text` that name one of `count` passages, in order, once each.
pub fn citations(text: &str, count: usize) -> Vec<usize> {
    let mut out = Vec::new();
    let bytes = text.as_bytes();
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'[' {
            let digits: String = text[i + 1..]
                .chars()
                .take_while(|c| c.is_ascii_digit())
                .take(4)
                .collect();
            if !digits.is_empty()
                && text[i + 1 + digits.len()..].starts_with(']')
                && let Ok(n) = digits.parse::<usize>()
                && (1..=count).contains(&n)
                && !out.contains(&n)
            {
                out.push(n);
            }
        }
        i += 1;
    }
    out
}

/// The passages an answer without markers draws on: those sharing at least half of the
/// answer's terms, most shared first (at most 3).
pub fn attributed(text: &str, passages: &[Passage]) -> Vec<usize> {
    let (answer, _) = super::bm25::terms(text);
    if answer.is_empty() {
        return Vec::new();
    }
    let mut scored: Vec<(usize, usize)> = passages
        .iter()
        .enumerate()
        .filter_map(|(i, p)| {
            let (terms, _) = super::bm25::terms(&p.text);
            let shared = answer
                .iter()
                .filter(|(t, _)| terms.iter().any(|(u, _)| u == t))
                .count();
            (2 * shared >= answer.len()).then_some((i + 1, shared))
        })
        .collect();
    scored.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(&b.0)));
    scored.into_iter().take(3).map(|(n, _)| n).collect()
}

impl Indexes {
    /// Step 1: the passages for the question, through the request's guard.
    pub fn answer_passages(
        &self,
        guard: &ReadGuard,
        name: &str,
        request: &AnswerRequest,
    ) -> Result<Vec<Passage>, ServeError> {
        if self.remote_chat().is_none() {
            self.generator()?;
        }
        self.retrieve(
            guard,
            name,
            &SearchQuery {
                text: Some(request.question.clone()),
                vector: None,
                k: request.k,
                filter: None,
                from_us: None,
                to_us: None,
                hybrid: false,
            },
        )
    }

    /// Step 2: a prompt from those passages only, and the answer; `on_token` gets the text as it
    /// comes (it may stop the generation). With no passage, the answer says so without running
    /// the model.
    pub fn generate_answer(
        &self,
        request: &AnswerRequest,
        passages: Vec<Passage>,
        on_token: &mut dyn FnMut(&str) -> ControlFlow<()>,
    ) -> Result<Answer, ServeError> {
        let max_tokens = request.max_tokens.unwrap_or(ANSWER_TOKENS_DEFAULT);
        if max_tokens == 0 || max_tokens > ANSWER_TOKENS_MAX {
            return Err(ServeError::invalid(
                "invalid_max_tokens",
                "max_tokens",
                format!("expected 1 to {ANSWER_TOKENS_MAX}"),
            ));
        }
        let model = match self.remote_chat() {
            Some(chat) => chat.model_name().to_owned(),
            None => self.generator()?.model_name().to_owned(),
        };
        if passages.is_empty() {
            let text = "I do not know: no passage this purpose may read matches the question.";
            let _ = on_token(text);
            return Ok(Answer {
                text: text.to_owned(),
                passages,
                cited: Vec::new(),
                cited_by: "none",
                model,
                tokens: 0,
                ttft_ms: 0.0,
                tokens_per_s: 0.0,
            });
        }
        let user = prompt(&request.question, &passages);
        let options = GenerateOptions {
            max_tokens,
            sampling: Sampling::Greedy,
            ..GenerateOptions::default()
        };
        let generation = self.generate(&user, &options, on_token)?;
        metrics::histogram!("steward_answer_ttft_seconds").record(generation.ttft.as_secs_f64());
        metrics::counter!("steward_answer_tokens_total").increment(generation.tokens as u64);
        let marked = citations(&generation.text, passages.len());
        let (cited, cited_by) = if !marked.is_empty() {
            (marked, "marker")
        } else {
            let found = attributed(&generation.text, &passages);
            let by = if found.is_empty() { "none" } else { "overlap" };
            (found, by)
        };
        Ok(Answer {
            text: generation.text,
            cited,
            cited_by,
            model,
            tokens: generation.tokens,
            ttft_ms: generation.ttft.as_secs_f64() * 1e3,
            tokens_per_s: generation.tokens_per_s,
            passages,
        })
    }
}

impl Indexes {
    /// The prompt through the configured chat endpoint, else the local model (one at a time).
    fn generate(
        &self,
        user: &str,
        options: &GenerateOptions,
        on_token: &mut dyn FnMut(&str) -> ControlFlow<()>,
    ) -> Result<Generation, ServeError> {
        let result = match self.remote_chat() {
            Some(chat) => {
                let running = self.remote_calls.fetch_add(1, Ordering::SeqCst);
                let _release = Release(&self.remote_calls);
                if running >= REMOTE_CHATS_MAX {
                    metrics::counter!("steward_answer_busy_total").increment(1);
                    return Err(ServeError::Busy {
                        code: "generation_busy",
                        message: format!(
                            "{REMOTE_CHATS_MAX} answers are being generated; try again shortly"
                        ),
                    });
                }
                chat.generate(SYSTEM, user, options, on_token)
            }
            None => {
                let generator = self.generator()?.clone();
                let _one = self.generating.lock();
                generator.generate(SYSTEM, user, options, on_token)
            }
        };
        result.map_err(|e| match e {
            TextError::ContextOverflow { .. } | TextError::InputTooLarge { .. } => {
                ServeError::invalid("question_too_long", "question", e.to_string())
            }
            TextError::RemoteUnavailable(_)
            | TextError::RemoteRefused { .. }
            | TextError::RemoteInvalid(_) => {
                metrics::counter!("steward_answer_upstream_failures_total").increment(1);
                ServeError::Upstream {
                    code: "generation_upstream_failed",
                    message: e.to_string(),
                }
            }
            other => ServeError::Training {
                code: "generation_failed",
                message: other.to_string(),
            },
        })
    }
}

/// Counts a chat call out when it ends, however it ends.
struct Release<'a>(&'a std::sync::atomic::AtomicUsize);

impl Drop for Release<'_> {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::SeqCst);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn citations_are_in_range_in_order_and_once() {
        assert_eq!(citations("see [2] and [1], again [2]", 3), vec![2, 1]);
        assert_eq!(citations("[0] [4] [x] [12 [3]", 3), vec![3]);
        assert_eq!(citations("no markers", 3), Vec::<usize>::new());
        assert_eq!(citations("[99999999999999999999]", 3), Vec::<usize>::new());
    }

    fn passage(text: &str) -> Passage {
        Passage {
            text: text.into(),
            citation: super::super::Hit {
                id: "e".into(),
                score: 1.0,
                kind: "event",
                time: String::new(),
                subject: None,
                time_us: 0,
            },
            redacted: false,
        }
    }

    #[test]
    fn an_answer_without_markers_is_attributed_to_the_passages_it_repeats() {
        let passages = [
            passage("The parcel never arrived and tracking has not changed."),
            passage("I was charged twice for the same subscription, refund one payment."),
        ];
        assert_eq!(
            attributed(
                "The customer was charged twice for the same subscription.",
                &passages
            ),
            vec![2]
        );
        assert!(attributed("Completely unrelated words here.", &passages).is_empty());
        assert!(attributed("", &passages).is_empty());
    }
}

//! Batching embeddings across callers: concurrent requests (searches, `POST .../embeddings`,
//! the follower) put their texts on one queue; whichever caller finds the model idle takes
//! everything queued (up to a bound) and embeds it in one call, then hands each caller its
//! vectors. One forward pass over 32 texts costs far less than 32 passes over one, and the
//! model's matrix products already use every core, so one batch at a time is the fast shape.

use std::sync::{Arc, Condvar, Mutex};
use std::time::Duration;

use steward_text::limits::{EMBED_TEXT_BYTES_MAX, EMBED_TEXTS_MAX};
use steward_text::{Embedder, TextError};

/// Texts waiting at most; one more request is refused (the caller answers 503).
const QUEUED_TEXTS_MAX: usize = 4_096;
/// Texts embedded in one call.
const BATCH_TEXTS_MAX: usize = 256;
const _: () = assert!(BATCH_TEXTS_MAX <= EMBED_TEXTS_MAX);

type Answer = Result<Vec<Vec<f32>>, String>;

struct Pending {
    texts: Vec<String>,
    slot: Arc<(Mutex<Option<Answer>>, Condvar)>,
}

pub struct EmbedBatcher {
    embedder: Arc<Embedder>,
    queue: Mutex<(Vec<Pending>, usize)>,
    running: Mutex<()>,
    wake: Condvar,
    wake_lock: Mutex<()>,
}

/// Why a batch call failed.
#[derive(Debug)]
pub enum BatchError {
    /// The queue is full (retry later).
    Busy,
    /// The caller's input (too many texts, a text too long).
    Input(TextError),
    /// The model failed.
    Failed(String),
}

impl EmbedBatcher {
    pub fn new(embedder: Arc<Embedder>) -> EmbedBatcher {
        EmbedBatcher {
            embedder,
            queue: Mutex::new((Vec::new(), 0)),
            running: Mutex::new(()),
            wake: Condvar::new(),
            wake_lock: Mutex::new(()),
        }
    }

    pub fn dim(&self) -> usize {
        self.embedder.dim()
    }

    pub fn model_name(&self) -> &'static str {
        self.embedder.model_name()
    }

    /// Embeds `texts` (in order), batched with whatever else is waiting.
    pub fn embed(&self, texts: Vec<String>) -> Result<Vec<Vec<f32>>, BatchError> {
        if texts.is_empty() {
            return Ok(Vec::new());
        }
        // The caller's bounds first, on its own texts, so one bad text fails only its call.
        check_inputs(&texts).map_err(BatchError::Input)?;
        let slot = Arc::new((Mutex::new(None), Condvar::new()));
        {
            let mut queue = self.queue.lock().map_err(|_| BatchError::Busy)?;
            if queue.1 + texts.len() > QUEUED_TEXTS_MAX {
                return Err(BatchError::Busy);
            }
            queue.1 += texts.len();
            queue.0.push(Pending {
                texts,
                slot: slot.clone(),
            });
        }
        loop {
            if let Some(answer) = slot.0.lock().ok().and_then(|mut s| s.take()) {
                return answer.map_err(BatchError::Failed);
            }
            match self.running.try_lock() {
                Ok(_running) => self.run_batch(),
                Err(_) => {
                    // Another caller is embedding (maybe our texts): wait for it to finish.
                    let guard = self.wake_lock.lock().map_err(|_| BatchError::Busy)?;
                    let _ = self.wake.wait_timeout(guard, Duration::from_millis(5));
                }
            }
        }
    }

    /// Takes what is queued (whole requests, up to the batch bound; at least one) and embeds it.
    fn run_batch(&self) {
        let batch: Vec<Pending> = {
            let Ok(mut queue) = self.queue.lock() else {
                return;
            };
            let mut taken = 0;
            let mut n = 0;
            for p in queue.0.iter() {
                if n > 0 && taken + p.texts.len() > BATCH_TEXTS_MAX {
                    break;
                }
                taken += p.texts.len();
                n += 1;
            }
            queue.1 -= taken;
            queue.0.drain(..n).collect()
        };
        if batch.is_empty() {
            return;
        }
        let all: Vec<&str> = batch
            .iter()
            .flat_map(|p| p.texts.iter().map(String::as_str))
            .collect();
        let result = self.embedder.embed(&all).map_err(|e| e.to_string());
        let mut offset = 0;
        for p in batch {
            let n = p.texts.len();
            let answer = match &result {
                Ok(vectors) => Ok(vectors[offset..offset + n].to_vec()),
                Err(e) => Err(e.clone()),
            };
            offset += n;
            if let Ok(mut s) = p.slot.0.lock() {
                *s = Some(answer);
            }
        }
        let _guard = self.wake_lock.lock();
        self.wake.notify_all();
    }
}

/// The embedder's bounds on one caller's texts.
fn check_inputs(texts: &[String]) -> Result<(), TextError> {
    if texts.len() > EMBED_TEXTS_MAX {
        return Err(TextError::TooManyTexts {
            count: texts.len(),
            max: EMBED_TEXTS_MAX,
        });
    }
    for (index, text) in texts.iter().enumerate() {
        if text.len() > EMBED_TEXT_BYTES_MAX {
            return Err(TextError::InputTooLarge {
                index,
                bytes: text.len(),
                max: EMBED_TEXT_BYTES_MAX,
            });
        }
    }
    Ok(())
}

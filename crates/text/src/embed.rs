//! `Embedder`: all-MiniLM-L6-v2 sentence embeddings (384 dimensions, mean pooling over the
//! attention mask, L2-normalized), the computation sentence-transformers runs, on candle's CPU
//! backend.

use std::path::{Path, PathBuf};

use candle_core::{DType, Device, Tensor};
use candle_nn::VarBuilder;
use candle_transformers::models::bert::{BertModel, Config};
use tokenizers::{Tokenizer, TruncationDirection, TruncationParams, TruncationStrategy};

use crate::error::{SETUP_HINT, TextError};
use crate::limits::{EMBED_BATCH_TEXTS, EMBED_TEXT_BYTES_MAX, EMBED_TEXTS_MAX, EMBED_TOKENS_MAX};

/// The model's name as reported to callers (and in audit records).
pub const EMBED_MODEL_NAME: &str = "all-MiniLM-L6-v2";
/// The subdirectory of the models directory holding its files.
pub const EMBED_MODEL_DIR: &str = "all-MiniLM-L6-v2";
const DIM: usize = 384;

/// A loaded embedding model. Immutable after [`Embedder::load`]: `Send + Sync`, one instance
/// serves concurrent callers (each call runs its own forward passes; candle's matrix products
/// use a thread per core, so concurrent calls share the cores rather than multiply them).
pub struct Embedder {
    model: BertModel,
    tokenizer: Tokenizer,
    device: Device,
}

impl std::fmt::Debug for Embedder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Embedder")
            .field("model", &EMBED_MODEL_NAME)
            .finish_non_exhaustive()
    }
}

fn required(dir: &Path, name: &str, what: &'static str) -> Result<PathBuf, TextError> {
    let path = dir.join(name);
    if path.is_file() {
        Ok(path)
    } else {
        Err(TextError::ModelMissing {
            what,
            path,
            hint: SETUP_HINT,
        })
    }
}

impl Embedder {
    /// Loads the model from `dir`, the directory holding `config.json`, `tokenizer.json` and
    /// `model.safetensors` (`models/all-MiniLM-L6-v2` after `scripts/models.sh`). A missing file
    /// is [`TextError::ModelMissing`] naming the setup command.
    pub fn load(dir: &Path) -> Result<Embedder, TextError> {
        let config_path = required(dir, "config.json", "embedding model config")?;
        let tokenizer_path = required(dir, "tokenizer.json", "embedding tokenizer")?;
        let weights_path = required(dir, "model.safetensors", "embedding weights")?;

        let invalid = |what: &'static str, path: &Path, reason: String| TextError::ModelInvalid {
            what,
            path: path.to_owned(),
            reason,
        };
        let config_text = std::fs::read_to_string(&config_path)
            .map_err(|e| invalid("embedding model config", &config_path, e.to_string()))?;
        let config: Config = serde_json::from_str(&config_text)
            .map_err(|e| invalid("embedding model config", &config_path, e.to_string()))?;

        let mut tokenizer = Tokenizer::from_file(&tokenizer_path)
            .map_err(|e| invalid("embedding tokenizer", &tokenizer_path, e.to_string()))?;
        // The shipped tokenizer pads and truncates every text to a fixed 128 tokens. Padding is
        // done here per batch (to its longest text) and truncation at the reference's 256.
        tokenizer.with_padding(None);
        tokenizer
            .with_truncation(Some(TruncationParams {
                max_length: EMBED_TOKENS_MAX,
                strategy: TruncationStrategy::LongestFirst,
                stride: 0,
                direction: TruncationDirection::Right,
            }))
            .map_err(|e| invalid("embedding tokenizer", &tokenizer_path, e.to_string()))?;

        let device = Device::Cpu;
        // SAFETY: the file is memory-mapped read-only; the models directory is written only by
        // scripts/models.sh, which replaces files by rename, never in place.
        let vb =
            unsafe { VarBuilder::from_mmaped_safetensors(&[&weights_path], DType::F32, &device) }
                .map_err(|e| invalid("embedding weights", &weights_path, e.to_string()))?;
        let model = BertModel::load(vb, &config)
            .map_err(|e| invalid("embedding weights", &weights_path, e.to_string()))?;
        if config.hidden_size != DIM {
            return Err(invalid(
                "embedding model config",
                &config_path,
                format!("hidden size {} (expected {DIM})", config.hidden_size),
            ));
        }
        Ok(Embedder {
            model,
            tokenizer,
            device,
        })
    }

    /// Dimensions of every vector: 384.
    pub fn dim(&self) -> usize {
        DIM
    }

    /// The model's name, `all-MiniLM-L6-v2`.
    pub fn model_name(&self) -> &'static str {
        EMBED_MODEL_NAME
    }

    /// One unit-length vector per text, in the order given. Texts longer than
    /// [`EMBED_TOKENS_MAX`] tokens are cut there (as sentence-transformers does). Refuses more
    /// than [`EMBED_TEXTS_MAX`] texts or a text over [`EMBED_TEXT_BYTES_MAX`] bytes.
    ///
    /// Efficient for batches: texts are tokenized together, sorted by token count and run in
    /// chunks of [`EMBED_BATCH_TEXTS`], each padded only to its own longest text.
    pub fn embed(&self, texts: &[&str]) -> Result<Vec<Vec<f32>>, TextError> {
        check_bounds(texts)?;
        if texts.is_empty() {
            return Ok(Vec::new());
        }
        let encodings = self
            .tokenizer
            .encode_batch(texts.to_vec(), true)
            .map_err(|e| TextError::Inference(format!("tokenizer: {e}")))?;
        let ids: Vec<&[u32]> = encodings.iter().map(|e| e.get_ids()).collect();

        let mut order: Vec<usize> = (0..texts.len()).collect();
        order.sort_by_key(|&i| ids[i].len());
        let mut out = vec![Vec::new(); texts.len()];
        for chunk in order.chunks(EMBED_BATCH_TEXTS) {
            let batch: Vec<&[u32]> = chunk.iter().map(|&i| ids[i]).collect();
            let vectors = self.forward(&batch)?;
            for (&i, vector) in chunk.iter().zip(vectors) {
                out[i] = vector;
            }
        }
        Ok(out)
    }

    /// One forward pass over token id sequences (each with `[CLS]`/`[SEP]`), padded to the
    /// longest; mean pooling over real tokens, then L2 normalization.
    fn forward(&self, batch: &[&[u32]]) -> Result<Vec<Vec<f32>>, TextError> {
        let len = batch.iter().map(|ids| ids.len()).max().unwrap_or(0);
        assert!(len > 0 && len <= EMBED_TOKENS_MAX, "token count {len}");
        let mut input = Vec::with_capacity(batch.len() * len);
        let mut mask = Vec::with_capacity(batch.len() * len);
        for ids in batch {
            input.extend_from_slice(ids);
            input.extend(std::iter::repeat_n(0u32, len - ids.len()));
            mask.extend(std::iter::repeat_n(1u32, ids.len()));
            mask.extend(std::iter::repeat_n(0u32, len - ids.len()));
        }
        let shape = (batch.len(), len);
        let input = Tensor::from_vec(input, shape, &self.device)?;
        let mask = Tensor::from_vec(mask, shape, &self.device)?;
        let token_types = input.zeros_like()?;
        let hidden = self.model.forward(&input, &token_types, Some(&mask))?;
        let hidden: Vec<Vec<Vec<f32>>> = hidden.to_vec3()?;
        Ok(batch
            .iter()
            .zip(hidden)
            .map(|(ids, rows)| pool(&rows[..ids.len()]))
            .collect())
    }
}

/// The bounds of one `embed` call, checked before any work.
fn check_bounds(texts: &[&str]) -> Result<(), TextError> {
    if texts.len() > EMBED_TEXTS_MAX {
        return Err(TextError::TooManyTexts {
            count: texts.len(),
            max: EMBED_TEXTS_MAX,
        });
    }
    if let Some((index, text)) = texts
        .iter()
        .enumerate()
        .find(|(_, t)| t.len() > EMBED_TEXT_BYTES_MAX)
    {
        return Err(TextError::InputTooLarge {
            index,
            bytes: text.len(),
            max: EMBED_TEXT_BYTES_MAX,
        });
    }
    Ok(())
}

/// Mean of the rows of the real (unpadded) tokens, scaled to unit length. Sums in f64 so the
/// result does not depend on the batch's padding or order.
fn pool(rows: &[Vec<f32>]) -> Vec<f32> {
    let dim = rows.first().map_or(0, Vec::len);
    let mut sum = vec![0f64; dim];
    for row in rows {
        for (s, &x) in sum.iter_mut().zip(row) {
            *s += f64::from(x);
        }
    }
    let count = rows.len().max(1) as f64;
    let mean: Vec<f64> = sum.iter().map(|s| s / count).collect();
    // sentence-transformers' Normalize: x / max(||x||, 1e-12).
    let norm = mean.iter().map(|x| x * x).sum::<f64>().sqrt().max(1e-12);
    mean.iter().map(|x| (x / norm) as f32).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bounds_refuse_too_many_texts() {
        let texts = vec!["a"; EMBED_TEXTS_MAX + 1];
        assert!(matches!(
            check_bounds(&texts),
            Err(TextError::TooManyTexts { count, max }) if count == EMBED_TEXTS_MAX + 1 && max == EMBED_TEXTS_MAX
        ));
        assert!(check_bounds(&texts[..EMBED_TEXTS_MAX]).is_ok());
    }

    #[test]
    fn bounds_refuse_a_large_text_by_index() {
        let big = "x".repeat(EMBED_TEXT_BYTES_MAX + 1);
        let at_max = "x".repeat(EMBED_TEXT_BYTES_MAX);
        let texts = ["ok", at_max.as_str(), big.as_str()];
        assert!(matches!(
            check_bounds(&texts),
            Err(TextError::InputTooLarge { index: 2, bytes, .. }) if bytes == EMBED_TEXT_BYTES_MAX + 1
        ));
        assert!(check_bounds(&texts[..2]).is_ok());
    }

    #[test]
    fn pool_is_mean_then_unit_length() {
        let v = pool(&[vec![3.0, 0.0], vec![1.0, 0.0], vec![2.0, 0.0]]);
        assert_eq!(v, vec![1.0, 0.0]);
        let v = pool(&[vec![3.0, 4.0]]);
        assert!((v[0] - 0.6).abs() < 1e-7 && (v[1] - 0.8).abs() < 1e-7);
        // A zero vector stays zero (no division by zero).
        assert_eq!(pool(&[vec![0.0, 0.0]]), vec![0.0, 0.0]);
    }

    #[test]
    fn missing_files_name_the_setup_command() {
        let dir = std::env::temp_dir().join("steward-text-no-such-model");
        let err = Embedder::load(&dir).unwrap_err();
        assert!(matches!(err, TextError::ModelMissing { .. }));
        assert!(err.to_string().contains("scripts/models.sh"), "{err}");
    }
}

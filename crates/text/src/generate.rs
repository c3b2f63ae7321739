//! `Generator`: SmolLM2-135M-Instruct (GGUF, Q4_1) run with candle's quantized llama on the
//! CPU, prompted with the model's ChatML template, streaming text as it is decoded.

use std::fs::File;
use std::io::Cursor;
use std::ops::ControlFlow;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use candle_core::quantized::{GgmlDType, QTensor, gguf_file};
use candle_core::{Device, Tensor};
use candle_transformers::generation::{LogitsProcessor, Sampling as CandleSampling};
use candle_transformers::models::quantized_llama::{MAX_SEQ_LEN, ModelWeights};
use tokenizers::Tokenizer;

use crate::error::{SETUP_HINT, TextError};
use crate::gguf_tokenizer;
use crate::limits::{
    CONTEXT_TOKENS_MAX, GENERATE_TOKENS_MAX, PROMPT_BYTES_MAX, REPEAT_LAST_TOKENS,
};

/// The model's name as reported to callers (and in audit records).
pub const GENERATE_MODEL_NAME: &str = "SmolLM2-135M-Instruct.Q4_1";
/// The subdirectory of the models directory holding the file.
pub const GENERATE_MODEL_DIR: &str = "smollm2";
/// The GGUF file inside it.
pub const GENERATE_MODEL_FILE: &str = "SmolLM2-135M-Instruct.Q4_1.gguf";

const _: () = assert!(CONTEXT_TOKENS_MAX <= MAX_SEQ_LEN);

/// How the file's Q4_1 matrices are held in memory ([`GeneratorConfig`]). candle 0.11 has no
/// SIMD kernel for Q4_1 (a scalar loop: ~14 tokens/s on one core here, against llama.cpp's
/// ~110), so by default they are converted when the file is loaded. Measured in BENCHMARKS.md.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WeightFormat {
    /// Re-quantized to Q8_0 (AVX2 kernel): the fastest decoding (~60 tokens/s on one core).
    /// Q8_0 holds every Q4_1 value to within half of its own step (a 32-value Q4_1 block spans
    /// 15 of its steps, Q8_0 cuts the block's largest magnitude into 127), at twice the memory
    /// of the stored file (~150 MB).
    Q8_0,
    /// Dequantized to f32: exactly the stored weights and no quantization of activations (the
    /// float model the file encodes), the fastest prompt pass (one f32 matrix product) but
    /// slower decoding (~40 tokens/s, ~700 MB resident).
    F32,
    /// As stored (Q4_1, activations quantized to Q8_1 as llama.cpp does): the smallest and, on
    /// candle 0.11, the slowest.
    AsStored,
}

/// How the model file is loaded. [`Generator::load`] uses the default.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct GeneratorConfig {
    pub weights: WeightFormat,
}

impl Default for GeneratorConfig {
    fn default() -> Self {
        GeneratorConfig {
            weights: WeightFormat::Q8_0,
        }
    }
}

/// How the next token is chosen.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Sampling {
    /// The most likely token: deterministic, the same text for the same prompt.
    Greedy,
    /// Softmax sampling at `temperature` (> 0, at most 2) from a generator seeded with `seed`:
    /// the same seed and prompt give the same text.
    Temperature { temperature: f64, seed: u64 },
}

/// Options of one generation.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct GenerateOptions {
    /// New tokens at most (1..=[`GENERATE_TOKENS_MAX`]); generation stops earlier at `<|im_end|>`.
    pub max_tokens: usize,
    pub sampling: Sampling,
    /// Divides (or multiplies, when negative) the logits of tokens among the last
    /// [`REPEAT_LAST_TOKENS`] generated ones; 1.0 turns it off. A 135M model left greedy
    /// without it loops on a phrase; 1.1 is llama.cpp's long-standing default.
    pub repeat_penalty: f32,
}

impl Default for GenerateOptions {
    fn default() -> Self {
        GenerateOptions {
            max_tokens: 256,
            sampling: Sampling::Greedy,
            repeat_penalty: 1.1,
        }
    }
}

/// Why a generation ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StopReason {
    /// The model ended its turn (`<|im_end|>` or `<|endoftext|>`).
    EndOfTurn,
    /// `max_tokens` new tokens were generated.
    MaxTokens,
    /// The `on_token` callback returned `ControlFlow::Break` (for example, the client left).
    Cancelled,
}

/// The result of one generation.
#[derive(Debug, Clone, PartialEq)]
pub struct Generation {
    /// The generated text (the end-of-turn token excluded), equal to the concatenation of the
    /// pieces passed to `on_token`.
    pub text: String,
    /// New tokens generated (the end-of-turn token included when it ended the turn).
    pub tokens: usize,
    /// Tokens of the templated prompt.
    pub prompt_tokens: usize,
    /// From the call to the first new token (tokenizing, the prompt's forward pass, sampling).
    pub ttft: Duration,
    /// Decoding speed after the first token: `(tokens - 1) / time from first to last token`
    /// (0 with fewer than two tokens), as llama.cpp reports its eval rate.
    pub tokens_per_s: f64,
    pub stop: StopReason,
}

/// A loaded generation model. `Send + Sync`: each call clones the weights' handles (the
/// quantized tensors are shared, not copied) and keeps its own KV cache, so concurrent calls are
/// safe; each uses every core for its matrix products, so the server runs one at a time (a
/// `Mutex<()>` or a one-permit semaphore around `generate`) and queues the rest.
pub struct Generator {
    weights: ModelWeights,
    tokenizer: Tokenizer,
    context_tokens: usize,
    im_start: u32,
    im_end: u32,
    end_of_text: u32,
    device: Device,
}

impl std::fmt::Debug for Generator {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Generator")
            .field("model", &GENERATE_MODEL_NAME)
            .field("context_tokens", &self.context_tokens)
            .finish_non_exhaustive()
    }
}

impl Generator {
    /// Loads `SmolLM2-135M-Instruct.Q4_1.gguf` from `dir` (`models/smollm2` after
    /// `scripts/models.sh`); the tokenizer comes from the file's own metadata. A missing file
    /// is [`TextError::ModelMissing`] naming the setup command.
    pub fn load(dir: &Path) -> Result<Generator, TextError> {
        Self::load_with(dir, &GeneratorConfig::default())
    }

    /// [`Generator::load`] with a [`GeneratorConfig`].
    pub fn load_with(dir: &Path, config: &GeneratorConfig) -> Result<Generator, TextError> {
        let path = dir.join(GENERATE_MODEL_FILE);
        if !path.is_file() {
            return Err(TextError::ModelMissing {
                what: "generation model (GGUF)",
                path,
                hint: SETUP_HINT,
            });
        }
        let invalid = |path: &PathBuf, reason: String| TextError::ModelInvalid {
            what: "generation model (GGUF)",
            path: path.clone(),
            reason,
        };
        let mut file = File::open(&path).map_err(|e| invalid(&path, e.to_string()))?;
        let content =
            gguf_file::Content::read(&mut file).map_err(|e| invalid(&path, e.to_string()))?;
        let tokenizer = gguf_tokenizer::from_gguf(&content).map_err(|e| invalid(&path, e))?;
        let token =
            |t: &str| gguf_tokenizer::token_id(&tokenizer, t).map_err(|e| invalid(&path, e));
        let (im_start, im_end, end_of_text) = (
            token("<|im_start|>")?,
            token("<|im_end|>")?,
            token("<|endoftext|>")?,
        );
        let declared = content
            .metadata
            .get("llama.context_length")
            .and_then(|v| v.to_u32().ok())
            .map_or(CONTEXT_TOKENS_MAX, |n| n as usize);
        let context_tokens = declared.min(CONTEXT_TOKENS_MAX);
        let device = Device::Cpu;
        let target = match config.weights {
            WeightFormat::Q8_0 => Some(GgmlDType::Q8_0),
            WeightFormat::F32 => Some(GgmlDType::F32),
            WeightFormat::AsStored => None,
        };
        let weights = if let Some(target) = target {
            let mut requantized = requantize(&content, &mut file, target, &device)
                .map_err(|e| invalid(&path, e.to_string()))?;
            let content = gguf_file::Content::read(&mut requantized)
                .map_err(|e| invalid(&path, e.to_string()))?;
            ModelWeights::from_gguf(content, &mut requantized, &device)
        } else {
            ModelWeights::from_gguf(content, &mut file, &device)
        }
        .map_err(|e| invalid(&path, e.to_string()))?;
        Ok(Generator {
            weights,
            tokenizer,
            context_tokens,
            im_start,
            im_end,
            end_of_text,
            device,
        })
    }

    /// The model's name, `SmolLM2-135M-Instruct.Q4_1`.
    pub fn model_name(&self) -> &'static str {
        GENERATE_MODEL_NAME
    }

    /// Tokens of prompt plus new tokens one call may use.
    pub fn context_tokens(&self) -> usize {
        self.context_tokens
    }

    /// Tokens of the templated prompt for `system` and `user`, to size a prompt (e.g. how many
    /// passages fit) before calling [`Generator::generate`].
    pub fn prompt_tokens(&self, system: &str, user: &str) -> Result<usize, TextError> {
        check_prompt_bytes(system, user)?;
        Ok(self.prompt(system, user)?.len())
    }

    /// Generates the assistant's reply to `user` under `system`, in SmolLM2's ChatML template:
    ///
    /// ```text
    /// <|im_start|>system\n{system}<|im_end|>\n<|im_start|>user\n{user}<|im_end|>\n<|im_start|>assistant\n
    /// ```
    ///
    /// `on_token` receives the text as it is decoded (whole UTF-8 characters; a piece may span
    /// several tokens) and may stop the generation with `ControlFlow::Break(())`. Refused before
    /// any work: a prompt over [`PROMPT_BYTES_MAX`] bytes, options out of range, or a prompt whose
    /// tokens plus `max_tokens` exceed [`Generator::context_tokens`].
    pub fn generate(
        &self,
        system: &str,
        user: &str,
        options: &GenerateOptions,
        on_token: &mut dyn FnMut(&str) -> ControlFlow<()>,
    ) -> Result<Generation, TextError> {
        let start = Instant::now();
        check_prompt_bytes(system, user)?;
        let sampling = check_options(options)?;
        let prompt = self.prompt(system, user)?;
        if prompt.len() + options.max_tokens > self.context_tokens {
            return Err(TextError::ContextOverflow {
                prompt_tokens: prompt.len(),
                max_tokens: options.max_tokens,
                context_tokens: self.context_tokens,
            });
        }

        let mut weights = self.weights.clone();
        let seed = match options.sampling {
            Sampling::Greedy => 0,
            Sampling::Temperature { seed, .. } => seed,
        };
        let mut sampler = LogitsProcessor::from_sampling(seed, sampling);
        let mut stream = TextStream::default();
        let mut text = String::new();
        let mut generated: Vec<u32> = Vec::with_capacity(options.max_tokens);
        let mut first_at = None;
        let mut last_at = start;
        let mut stop = StopReason::MaxTokens;

        let mut input = Tensor::new(prompt.as_slice(), &self.device)?.unsqueeze(0)?;
        let mut position = 0;
        while generated.len() < options.max_tokens {
            let logits = weights.forward(&input, position)?.squeeze(0)?;
            position += input.dim(1)?;
            let logits = if options.repeat_penalty == 1.0 || generated.is_empty() {
                logits
            } else {
                let from = generated.len().saturating_sub(REPEAT_LAST_TOKENS);
                candle_transformers::utils::apply_repeat_penalty(
                    &logits,
                    options.repeat_penalty,
                    &generated[from..],
                )?
            };
            let next = sampler.sample(&logits)?;
            generated.push(next);
            last_at = Instant::now();
            first_at.get_or_insert(last_at);
            if next == self.im_end || next == self.end_of_text {
                stop = StopReason::EndOfTurn;
                break;
            }
            if let Some(piece) = stream.push(&self.tokenizer, next)? {
                text.push_str(&piece);
                if on_token(&piece).is_break() {
                    stop = StopReason::Cancelled;
                    break;
                }
            }
            input = Tensor::new(&[next], &self.device)?.unsqueeze(0)?;
        }
        if stop != StopReason::Cancelled
            && let Some(rest) = stream.flush(&self.tokenizer)?
        {
            text.push_str(&rest);
            // The generation is over either way; a Break here has nothing left to stop.
            let _ = on_token(&rest);
        }

        let ttft = first_at.map_or(Duration::ZERO, |t| t - start);
        let decode_s = first_at.map_or(0.0, |t| (last_at - t).as_secs_f64());
        let tokens_per_s = if generated.len() >= 2 && decode_s > 0.0 {
            (generated.len() - 1) as f64 / decode_s
        } else {
            0.0
        };
        Ok(Generation {
            text,
            tokens: generated.len(),
            prompt_tokens: prompt.len(),
            ttft,
            tokens_per_s,
            stop,
        })
    }

    /// The templated prompt's token ids. Control tokens go in by id and each text is tokenized
    /// on its own, as `tokenizers` does around added tokens.
    fn prompt(&self, system: &str, user: &str) -> Result<Vec<u32>, TextError> {
        let mut ids = Vec::new();
        for (role, content) in [("system", system), ("user", user)] {
            ids.push(self.im_start);
            ids.extend(self.encode(&format!("{role}\n{content}"))?);
            ids.push(self.im_end);
            ids.extend(self.encode("\n")?);
        }
        ids.push(self.im_start);
        ids.extend(self.encode("assistant\n")?);
        Ok(ids)
    }

    fn encode(&self, text: &str) -> Result<Vec<u32>, TextError> {
        let encoding = self
            .tokenizer
            .encode(text, false)
            .map_err(|e| TextError::Inference(format!("tokenizer: {e}")))?;
        Ok(encoding.get_ids().to_vec())
    }
}

/// The model file rewritten in memory with its Q4_1 tensors as `target` (see [`WeightFormat`]),
/// every other tensor and all metadata as they are.
fn requantize(
    content: &gguf_file::Content,
    file: &mut File,
    target: GgmlDType,
    device: &Device,
) -> candle_core::Result<Cursor<Vec<u8>>> {
    let mut names: Vec<&String> = content.tensor_infos.keys().collect();
    names.sort();
    let mut tensors: Vec<(&str, QTensor)> = Vec::with_capacity(names.len());
    for name in names {
        let tensor = content.tensor(file, name, device)?;
        let tensor = if tensor.dtype() == GgmlDType::Q4_1 {
            QTensor::quantize(&tensor.dequantize(device)?, target)?
        } else {
            tensor
        };
        tensors.push((name, tensor));
    }
    let metadata: Vec<(&str, &gguf_file::Value)> = content
        .metadata
        .iter()
        .map(|(k, v)| (k.as_str(), v))
        .collect();
    let tensors: Vec<(&str, &QTensor)> = tensors.iter().map(|(n, t)| (*n, t)).collect();
    let mut out = Cursor::new(Vec::new());
    gguf_file::write(&mut out, &metadata, &tensors)?;
    out.set_position(0);
    Ok(out)
}

pub(crate) fn check_prompt_bytes(system: &str, user: &str) -> Result<(), TextError> {
    let bytes = system.len() + user.len();
    if bytes > PROMPT_BYTES_MAX {
        return Err(TextError::InputTooLarge {
            index: 0,
            bytes,
            max: PROMPT_BYTES_MAX,
        });
    }
    Ok(())
}

pub(crate) fn check_options(options: &GenerateOptions) -> Result<CandleSampling, TextError> {
    if options.max_tokens == 0 || options.max_tokens > GENERATE_TOKENS_MAX {
        return Err(TextError::InvalidOption(format!(
            "max_tokens {} (1..={GENERATE_TOKENS_MAX})",
            options.max_tokens
        )));
    }
    if !(options.repeat_penalty.is_finite() && (1.0..=2.0).contains(&options.repeat_penalty)) {
        return Err(TextError::InvalidOption(format!(
            "repeat_penalty {} (1.0..=2.0)",
            options.repeat_penalty
        )));
    }
    match options.sampling {
        Sampling::Greedy => Ok(CandleSampling::ArgMax),
        Sampling::Temperature { temperature, .. } => {
            if temperature.is_finite() && temperature > 0.0 && temperature <= 2.0 {
                Ok(CandleSampling::All { temperature })
            } else {
                Err(TextError::InvalidOption(format!(
                    "temperature {temperature} (0 < t <= 2; use Greedy for 0)"
                )))
            }
        }
    }
}

/// Turns tokens into text pieces that end on whole characters: byte-level BPE splits a
/// multi-byte character over tokens, and decoding a prefix of them gives U+FFFD. The text of
/// the tokens since the last emitted piece is decoded again with each new token (a short
/// window), and emitted once it no longer ends in U+FFFD.
#[derive(Default)]
struct TextStream {
    pending: Vec<u32>,
}

impl TextStream {
    fn push(&mut self, tokenizer: &Tokenizer, token: u32) -> Result<Option<String>, TextError> {
        self.pending.push(token);
        let text = decode(tokenizer, &self.pending)?;
        // A window that stays incomplete for long is garbage, not a split character: emit it.
        if text.ends_with('\u{FFFD}') && self.pending.len() < 4 {
            return Ok(None);
        }
        self.pending.clear();
        Ok(Some(text).filter(|t| !t.is_empty()))
    }

    fn flush(&mut self, tokenizer: &Tokenizer) -> Result<Option<String>, TextError> {
        if self.pending.is_empty() {
            return Ok(None);
        }
        let text = decode(tokenizer, &self.pending)?;
        self.pending.clear();
        Ok(Some(text).filter(|t| !t.is_empty()))
    }
}

fn decode(tokenizer: &Tokenizer, ids: &[u32]) -> Result<String, TextError> {
    tokenizer
        .decode(ids, false)
        .map_err(|e| TextError::Inference(format!("tokenizer: {e}")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn options_are_checked() {
        let ok = GenerateOptions::default();
        assert_eq!(check_options(&ok).unwrap(), CandleSampling::ArgMax);
        for bad in [
            GenerateOptions {
                max_tokens: 0,
                ..ok
            },
            GenerateOptions {
                max_tokens: GENERATE_TOKENS_MAX + 1,
                ..ok
            },
            GenerateOptions {
                repeat_penalty: 0.5,
                ..ok
            },
            GenerateOptions {
                repeat_penalty: f32::NAN,
                ..ok
            },
            GenerateOptions {
                sampling: Sampling::Temperature {
                    temperature: 0.0,
                    seed: 1,
                },
                ..ok
            },
            GenerateOptions {
                sampling: Sampling::Temperature {
                    temperature: f64::INFINITY,
                    seed: 1,
                },
                ..ok
            },
        ] {
            assert!(
                matches!(check_options(&bad), Err(TextError::InvalidOption(_))),
                "{bad:?}"
            );
        }
    }

    #[test]
    fn prompt_bytes_are_bounded() {
        let half = "x".repeat(PROMPT_BYTES_MAX / 2);
        assert!(check_prompt_bytes(&half, &half).is_ok());
        let over = format!("{half}y");
        assert!(matches!(
            check_prompt_bytes(&half, &over),
            Err(TextError::InputTooLarge { bytes, max, .. }) if bytes == PROMPT_BYTES_MAX + 1 && max == PROMPT_BYTES_MAX
        ));
    }

    #[test]
    fn missing_file_names_the_setup_command() {
        let dir = std::env::temp_dir().join("steward-text-no-such-model");
        let err = Generator::load(&dir).unwrap_err();
        assert!(matches!(err, TextError::ModelMissing { .. }));
        assert!(err.to_string().contains("scripts/models.sh"), "{err}");
    }
}

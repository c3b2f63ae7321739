//! steward-text: text models run in-process on the CPU with candle (issue 13, items 1 and 4).
//! No Steward dependency: model files in, vectors and text out; the server wires it up.
//!
//! - [`Embedder`]: all-MiniLM-L6-v2 sentence embeddings, 384 dimensions, mean pooling over the
//!   attention mask, L2-normalized; equal to sentence-transformers' to cosine ≥ 0.999
//!   (tests/reference.rs against a NumPy forward pass over the same weights).
//! - [`Generator`]: SmolLM2-135M-Instruct (GGUF, Q4_1) with its ChatML template, greedy by
//!   default, streaming through a callback that may cancel.
//! - [`RemoteChat`]: an OpenAI-compatible chat endpoint that can replace the local model.
//! - [`TextError`]: one error type, kinds the server maps to stable codes.
//! - [`limits`]: every bound (texts per call, bytes per text, tokens, context).
//!
//! Model files are fetched by `scripts/models.sh` (never committed) into the models directory,
//! [`models_dir`]: `$STEWARD_MODELS`, else `models` (relative to the working directory):
//!
//! ```text
//! models/all-MiniLM-L6-v2/{config.json, tokenizer.json, model.safetensors}
//! models/smollm2/SmolLM2-135M-Instruct.Q4_1.gguf
//! ```

mod embed;
mod error;
mod generate;
mod gguf_tokenizer;
pub mod limits;
mod remote;

use std::path::PathBuf;

pub use embed::{EMBED_MODEL_DIR, EMBED_MODEL_NAME, Embedder};
pub use error::TextError;
pub use generate::{
    GENERATE_MODEL_DIR, GENERATE_MODEL_FILE, GENERATE_MODEL_NAME, GenerateOptions, Generation,
    Generator, GeneratorConfig, Sampling, StopReason, WeightFormat,
};
pub use remote::{RemoteChat, RemoteChatConfig};

/// The environment variable naming the models directory.
pub const MODELS_ENV: &str = "STEWARD_MODELS";

/// The models directory: `$STEWARD_MODELS` when set and non-empty, else `models`.
pub fn models_dir() -> PathBuf {
    match std::env::var_os(MODELS_ENV) {
        Some(dir) if !dir.is_empty() => PathBuf::from(dir),
        _ => PathBuf::from("models"),
    }
}

// The server shares one of each across request handlers.
const _: () = {
    const fn send_sync<T: Send + Sync>() {}
    send_sync::<Embedder>();
    send_sync::<Generator>();
    send_sync::<RemoteChat>();
};

//! `TextError`: what loading a model or running it can fail with, in kinds the server maps to
//! stable codes (missing files: the operator's; over a bound: the caller's; inference: ours).

use std::path::PathBuf;

/// One error type for the crate. Variants say whose fault it is: [`TextError::ModelMissing`] and
/// [`TextError::ModelInvalid`] the deployment's, the `*TooLarge`/`TooMany*` ones the caller's (a
/// bound in [`crate::limits`]), [`TextError::Inference`] a bug or a resource failure.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum TextError {
    /// A model file is absent. `hint` names the command that fetches it.
    #[error("model file missing: {what} ({}); {hint}", path.display())]
    ModelMissing {
        what: &'static str,
        path: PathBuf,
        hint: &'static str,
    },
    /// A model file is there but cannot be used (unreadable, malformed, unexpected shape).
    #[error("model file unusable: {what} ({}): {reason}", path.display())]
    ModelInvalid {
        what: &'static str,
        path: PathBuf,
        reason: String,
    },
    /// More texts in one call than [`crate::limits::EMBED_TEXTS_MAX`].
    #[error("too many texts: {count} (at most {max} per call)")]
    TooManyTexts { count: usize, max: usize },
    /// One input over its byte bound; `index` is the text's position in the call (0 for a prompt).
    #[error("input {index} too large: {bytes} bytes (at most {max})")]
    InputTooLarge {
        index: usize,
        bytes: usize,
        max: usize,
    },
    /// Prompt plus requested new tokens do not fit the model's context.
    #[error(
        "prompt of {prompt_tokens} tokens plus {max_tokens} new tokens exceeds the context of {context_tokens}"
    )]
    ContextOverflow {
        prompt_tokens: usize,
        max_tokens: usize,
        context_tokens: usize,
    },
    /// A generation option out of range (zero or too many new tokens, a bad temperature).
    #[error("invalid generation option: {0}")]
    InvalidOption(String),
    /// The configured chat endpoint could not be reached or stopped answering (our words:
    /// timed out, refused, ...).
    #[error("the chat endpoint is unavailable: {0}")]
    RemoteUnavailable(String),
    /// The chat endpoint answered with an HTTP error status (its body is not kept).
    #[error("the chat endpoint answered HTTP {status}")]
    RemoteRefused { status: u16 },
    /// The chat endpoint's answer is not the OpenAI chat format (our words, never its body).
    #[error("the chat endpoint's answer is malformed: {0}")]
    RemoteInvalid(String),
    /// The model or tokenizer failed while running (never the caller's input).
    #[error("inference failed: {0}")]
    Inference(String),
}

impl From<candle_core::Error> for TextError {
    fn from(e: candle_core::Error) -> Self {
        TextError::Inference(e.to_string())
    }
}

/// The command that fetches every model file, named by [`TextError::ModelMissing`].
pub(crate) const SETUP_HINT: &str =
    "run `bash scripts/models.sh` (or set STEWARD_MODELS to a directory holding the files)";

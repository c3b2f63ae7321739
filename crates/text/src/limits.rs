//! Every bound of the text crate in one place, units last.
//!
//! A call over a bound is refused with a [`crate::TextError`], never truncated silently or
//! panicked on; the one deliberate truncation is an embedded text's tokens, which stop at
//! [`EMBED_TOKENS_MAX`] exactly as sentence-transformers' `max_seq_length` does.

/// Texts of one [`crate::Embedder::embed`] call.
pub const EMBED_TEXTS_MAX: usize = 1024;
/// UTF-8 bytes of one text to embed. Only the first [`EMBED_TOKENS_MAX`] tokens count (about
/// 1 KiB of English), so this bounds the tokenizer's work, not what the model sees.
pub const EMBED_TEXT_BYTES_MAX: usize = 64 * 1024;
/// Tokens of one embedded text, `[CLS]` and `[SEP]` included; the rest is cut off. 256 is
/// all-MiniLM-L6-v2's `max_seq_length` in sentence-transformers (`sentence_bert_config.json`),
/// so long texts embed as the reference does; the model's own position limit is 512.
pub const EMBED_TOKENS_MAX: usize = 256;
/// Texts run through the model in one forward pass. An `embed` call sorts its texts by length
/// and cuts them into chunks of this many, each padded to its own longest text.
pub const EMBED_BATCH_TEXTS: usize = 32;

/// UTF-8 bytes of a generation's system and user text together (bounds the tokenizer's work;
/// the context bound below is the one that usually bites).
pub const PROMPT_BYTES_MAX: usize = 128 * 1024;
/// Tokens of prompt plus generated text. SmolLM2's own context is 8192 tokens, candle's
/// quantized llama precomputes rotary tables for 4096 (`quantized_llama::MAX_SEQ_LEN`); a
/// model file declaring less lowers it.
pub const CONTEXT_TOKENS_MAX: usize = 4096;
/// New tokens of one generation.
pub const GENERATE_TOKENS_MAX: usize = 2048;
/// Tokens the repeat penalty looks back over.
pub const REPEAT_LAST_TOKENS: usize = 64;

/// Connecting to a configured chat endpoint ([`crate::RemoteChat`]).
pub const REMOTE_CONNECT_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(5);
/// Bytes of a chat endpoint's whole answer read at most (an answer of
/// [`GENERATE_TOKENS_MAX`] tokens as events is far less).
pub const REMOTE_RESPONSE_BYTES_MAX: u64 = 4 * 1024 * 1024;
/// Bytes of one server-sent event line from a chat endpoint.
pub const REMOTE_EVENT_BYTES_MAX: usize = 64 * 1024;
/// Bytes of a chat endpoint's URL and characters of its model name.
pub const REMOTE_URL_BYTES_MAX: usize = 2048;
pub const REMOTE_MODEL_NAME_MAX: usize = 200;

const _: () = assert!(EMBED_BATCH_TEXTS <= EMBED_TEXTS_MAX);
const _: () = assert!(
    EMBED_TOKENS_MAX <= 512,
    "all-MiniLM-L6-v2 has 512 positions"
);
const _: () = assert!(GENERATE_TOKENS_MAX < CONTEXT_TOKENS_MAX);

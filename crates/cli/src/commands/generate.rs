//! `steward gen`: a deterministic synthetic music-streaming data set as NDJSON, plus its schemas.

use std::io::{BufWriter, Write};
use std::path::PathBuf;

use crate::error::CliError;

#[derive(clap::Args)]
pub struct GenArgs {
    /// Number of events.
    #[arg(long, default_value_t = 100_000)]
    pub events: u64,
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
    /// Number of users (default: events / 100).
    #[arg(long)]
    pub users: Option<u64>,
    /// Write events here instead of stdout.
    #[arg(long)]
    pub out: Option<PathBuf>,
    /// Also write one schema document per event type into this directory ({type}.json).
    #[arg(long)]
    pub schemas: Option<PathBuf>,
    /// Also write the track catalog (id, title, artist, genre, duration_ms) as NDJSON here.
    #[arg(long)]
    pub tracks: Option<PathBuf>,
    /// Embed unique canary markers with this prefix in every personal value (for leak tests).
    #[arg(long)]
    pub canary: Option<String>,
}

pub fn run(args: GenArgs) -> Result<(), CliError> {
    let mut config = steward_gen::GenConfig::new(args.seed, args.events);
    if let Some(users) = args.users {
        config.users = users;
    }
    if let Some(prefix) = &args.canary {
        config = config.with_canary(prefix);
    }
    if let Some(dir) = &args.schemas {
        std::fs::create_dir_all(dir).map_err(CliError::io(dir.display()))?;
        for (event_type, document) in steward_gen::music_schemas() {
            let path = dir.join(format!("{event_type}.json"));
            let text = serde_json::to_string_pretty(&document).unwrap_or_default();
            std::fs::write(&path, text).map_err(CliError::io(path.display()))?;
        }
    }
    if let Some(path) = &args.tracks {
        let file = std::fs::File::create(path).map_err(CliError::io(path.display()))?;
        let mut out = BufWriter::new(file);
        let catalog = steward_gen::Catalog::new(args.seed, config.tracks);
        for j in 0..config.tracks {
            let t = catalog.track(j);
            let line = serde_json::json!({"id": t.id, "title": t.title, "artist": t.artist, "genre": t.genre, "duration_ms": t.duration_ms});
            writeln!(out, "{line}").map_err(CliError::io(path.display()))?;
        }
        out.flush().map_err(CliError::io(path.display()))?;
    }
    let written = match &args.out {
        Some(path) => {
            let file = std::fs::File::create(path).map_err(CliError::io(path.display()))?;
            let mut out = BufWriter::new(file);
            let n = steward_gen::write_ndjson(&config, &mut out)
                .map_err(CliError::io(path.display()))?;
            out.flush().map_err(CliError::io(path.display()))?;
            n
        }
        None => {
            let stdout = std::io::stdout();
            let mut out = BufWriter::new(stdout.lock());
            let n = steward_gen::write_ndjson(&config, &mut out).map_err(CliError::io("stdout"))?;
            out.flush().map_err(CliError::io("stdout"))?;
            n
        }
    };
    eprintln!("wrote {written} events (seed {})", args.seed);
    Ok(())
}

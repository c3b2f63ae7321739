//! `steward sql`: an interactive SQL shell over HTTP (table output, history), or one
//! statement with `-c`. Results travel as Arrow IPC and print as a table, CSV or JSON.

use std::io::{BufRead, Write};

use datafusion::arrow::ipc::reader::StreamReader;
use datafusion::arrow::util::pretty::pretty_format_batches;
use serde_json::json;

use crate::Remote;
use crate::client::Client;
use crate::error::CliError;

#[derive(Clone, Copy, clap::ValueEnum)]
pub enum Output {
    Table,
    Csv,
    Json,
}

#[derive(clap::Args)]
pub struct SqlArgs {
    #[arg(long)]
    pub tenant: String,
    /// The purpose of the reads (decides which columns open and which subjects count).
    #[arg(long, default_value = "analytics")]
    pub purpose: String,
    /// Run one statement and exit.
    #[arg(short = 'c', long = "command")]
    pub command: Option<String>,
    #[arg(long, value_enum, default_value = "table")]
    pub output: Output,
    /// Most rows a result may have (the server refuses larger results).
    #[arg(long)]
    pub max_rows: Option<usize>,
    /// Where the shell keeps its history (statements as typed: they may hold literals).
    #[arg(long, env = "STEWARD_SQL_HISTORY")]
    pub history: Option<std::path::PathBuf>,
    /// Keep no history.
    #[arg(long)]
    pub no_history: bool,
    #[command(flatten)]
    pub remote: Remote,
}

pub fn run(args: SqlArgs) -> Result<(), CliError> {
    let client = Client::new(&args.remote);
    if let Some(sql) = &args.command {
        return execute(&client, &args, sql);
    }
    let history = if args.no_history {
        None
    } else {
        args.history.clone().or_else(|| {
            std::env::var_os("HOME")
                .map(|h| std::path::PathBuf::from(h).join(".steward_sql_history"))
        })
    };
    let stdin = std::io::stdin();
    let interactive = std::io::IsTerminal::is_terminal(&stdin);
    let mut buffer = String::new();
    let prompt = |continued: bool| {
        if interactive {
            eprint!("{}", if continued { "   ...> " } else { "steward> " });
            let _ = std::io::stderr().flush();
        }
    };
    prompt(false);
    for line in stdin.lock().lines() {
        let line = line.map_err(|e| CliError::Usage(format!("reading input: {e}")))?;
        let trimmed = line.trim();
        if buffer.is_empty() && matches!(trimmed, "\\q" | "quit" | "exit") {
            break;
        }
        buffer.push_str(&line);
        buffer.push('\n');
        if !trimmed.ends_with(';') {
            prompt(!buffer.trim().is_empty());
            continue;
        }
        let sql = buffer.trim().trim_end_matches(';').to_owned();
        buffer.clear();
        if let Some(path) = &history {
            append_history(path, &sql);
        }
        // An error ends this statement, not the shell.
        if let Err(error) = execute(&client, &args, &sql) {
            eprintln!("error: {error}");
        }
        prompt(false);
    }
    if !buffer.trim().is_empty() {
        execute(&client, &args, buffer.trim().trim_end_matches(';'))?;
    }
    Ok(())
}

fn append_history(path: &std::path::Path, sql: &str) {
    use std::os::unix::fs::OpenOptionsExt;
    if let Ok(mut file) = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .mode(0o600)
        .open(path)
    {
        let _ = writeln!(file, "{};", sql.replace('\n', " "));
    }
}

fn execute(client: &Client, args: &SqlArgs, sql: &str) -> Result<(), CliError> {
    let mut body = json!({"sql": sql, "purpose": args.purpose});
    if let Some(rows) = args.max_rows {
        body["max_rows"] = json!(rows);
    }
    let path = format!("/v1/tenants/{}/sql", args.tenant);
    match args.output {
        Output::Csv => {
            let bytes = client.post_for_bytes(&path, &body, "text/csv")?;
            std::io::stdout()
                .write_all(&bytes)
                .map_err(|e| CliError::Usage(e.to_string()))?;
        }
        Output::Json => {
            let bytes = client.post_for_bytes(&path, &body, "application/json")?;
            std::io::stdout()
                .write_all(&bytes)
                .map_err(|e| CliError::Usage(e.to_string()))?;
            println!();
        }
        Output::Table => {
            let bytes =
                client.post_for_bytes(&path, &body, "application/vnd.apache.arrow.stream")?;
            let reader = StreamReader::try_new(std::io::Cursor::new(bytes), None)
                .map_err(|e| CliError::Http(format!("reading the result: {e}")))?;
            let batches = reader
                .collect::<Result<Vec<_>, _>>()
                .map_err(|e| CliError::Http(format!("reading the result: {e}")))?;
            let rows: usize = batches.iter().map(|b| b.num_rows()).sum();
            let table =
                pretty_format_batches(&batches).map_err(|e| CliError::Http(e.to_string()))?;
            println!("{table}");
            eprintln!("({rows} row{})", if rows == 1 { "" } else { "s" });
        }
    }
    Ok(())
}

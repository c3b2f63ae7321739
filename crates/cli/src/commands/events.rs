//! `steward events --subject`: resolve an external id (sent in a body) and print its timeline as NDJSON.

use serde_json::json;

use crate::Remote;
use crate::client::Client;
use crate::error::CliError;

#[derive(clap::Args)]
pub struct EventsArgs {
    #[arg(long)]
    pub tenant: String,
    /// The subject's external id (sent in a request body, never in a URL).
    #[arg(long)]
    pub subject: String,
    #[arg(long, default_value = "support")]
    pub purpose: String,
    /// Event types, comma separated.
    #[arg(long = "type")]
    pub types: Option<String>,
    #[arg(long)]
    pub from: Option<String>,
    #[arg(long)]
    pub to: Option<String>,
    /// Stop after this many events.
    #[arg(long, default_value_t = 1000)]
    pub limit: usize,
    #[command(flatten)]
    pub remote: Remote,
}

pub fn run(args: EventsArgs) -> Result<(), CliError> {
    let client = Client::new(&args.remote);
    let resolved = client.send_json(
        "POST",
        &format!("/v1/tenants/{}/subjects/resolve", args.tenant),
        &json!({"external_id": args.subject}),
    )?;
    let subject = resolved["subject"]
        .as_str()
        .ok_or_else(|| CliError::Http("resolve answered without a subject".into()))?
        .to_owned();
    let mut printed = 0usize;
    let mut cursor: Option<String> = None;
    while printed < args.limit {
        let page_size = (args.limit - printed).min(1000);
        let mut query = format!("purpose={}&limit={page_size}", args.purpose);
        for (name, value) in [
            ("type", &args.types),
            ("from", &args.from),
            ("to", &args.to),
            ("cursor", &cursor),
        ] {
            if let Some(value) = value {
                query.push_str(&format!("&{name}={value}"));
            }
        }
        let page = client.get(&format!(
            "/v1/tenants/{}/subjects/{subject}/events?{query}",
            args.tenant
        ))?;
        for event in page["events"].as_array().into_iter().flatten() {
            println!("{event}");
            printed += 1;
        }
        match page["next_cursor"].as_str() {
            Some(next) => cursor = Some(next.to_owned()),
            None => break,
        }
    }
    eprintln!("{printed} events");
    Ok(())
}

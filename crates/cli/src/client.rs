//! A small blocking HTTP client for the client commands; problem+json answers become `CliError::Api`.

use serde_json::Value;

use crate::Remote;
use crate::error::CliError;

/// The largest answer a client command reads into memory.
const BYTES_MAX: u64 = 1 << 30;

pub struct Client {
    agent: ureq::Agent,
    base: String,
    key: Option<String>,
}

impl Client {
    pub fn new(remote: &Remote) -> Client {
        let config = ureq::Agent::config_builder()
            .http_status_as_error(false)
            .build();
        Client {
            agent: config.into(),
            base: remote.url.trim_end_matches('/').to_owned(),
            key: remote.key.clone(),
        }
    }

    fn auth(&self) -> Result<String, CliError> {
        self.key
            .as_ref()
            .map(|k| format!("Bearer {k}"))
            .ok_or_else(|| CliError::Usage("an API key is needed: --key or STEWARD_KEY".into()))
    }

    pub fn get(&self, path: &str) -> Result<Value, CliError> {
        let response = self
            .agent
            .get(format!("{}{path}", self.base))
            .header("Authorization", self.auth()?)
            .call();
        finish(response)
    }

    pub fn delete(&self, path: &str) -> Result<Value, CliError> {
        let response = self
            .agent
            .delete(format!("{}{path}", self.base))
            .header("Authorization", self.auth()?)
            .call();
        finish(response)
    }

    pub fn send_json(&self, method: &str, path: &str, body: &Value) -> Result<Value, CliError> {
        let url = format!("{}{path}", self.base);
        let auth = self.auth()?;
        let response = match method {
            "PUT" => self
                .agent
                .put(url)
                .header("Authorization", auth)
                .send_json(body),
            _ => self
                .agent
                .post(url)
                .header("Authorization", auth)
                .send_json(body),
        };
        finish(response)
    }

    /// Sends a text body (Cedar policies).
    pub fn send_text(&self, method: &str, path: &str, body: &str) -> Result<Value, CliError> {
        let url = format!("{}{path}", self.base);
        let auth = self.auth()?;
        let request = match method {
            "PUT" => self.agent.put(url),
            _ => self.agent.post(url),
        };
        finish(
            request
                .header("Authorization", auth)
                .header("Content-Type", "text/plain; charset=utf-8")
                .send(body.as_bytes()),
        )
    }

    /// Posts a JSON body asking for `accept`; answers the raw bytes (results in Arrow, CSV, ...).
    pub fn post_for_bytes(
        &self,
        path: &str,
        body: &Value,
        accept: &str,
    ) -> Result<Vec<u8>, CliError> {
        let response = self
            .agent
            .post(format!("{}{path}", self.base))
            .header("Authorization", self.auth()?)
            .header("Accept", accept)
            .send_json(body);
        let mut response = response.map_err(|e| CliError::Http(e.to_string()))?;
        if (200..300).contains(&response.status().as_u16()) {
            return response
                .body_mut()
                .with_config()
                .limit(BYTES_MAX)
                .read_to_vec()
                .map_err(|e| CliError::Http(e.to_string()));
        }
        finish(Ok(response)).map(|_| Vec::new())
    }

    /// Posts with no body and streams a successful answer into `out` (a backup: no size
    /// limit, never held in memory); answers the bytes written.
    pub fn post_to_writer(
        &self,
        path: &str,
        out: &mut impl std::io::Write,
    ) -> Result<u64, CliError> {
        let response = self
            .agent
            .post(format!("{}{path}", self.base))
            .header("Authorization", self.auth()?)
            .send_empty();
        let mut response = response.map_err(|e| CliError::Http(e.to_string()))?;
        if (200..300).contains(&response.status().as_u16()) {
            let mut reader = response.body_mut().with_config().limit(u64::MAX).reader();
            return std::io::copy(&mut reader, out).map_err(|e| CliError::Http(e.to_string()));
        }
        finish(Ok(response)).map(|_| 0)
    }

    /// Posts an NDJSON body (a batch of lines).
    pub fn post_ndjson(&self, path: &str, body: &[u8]) -> Result<Value, CliError> {
        let response = self
            .agent
            .post(format!("{}{path}", self.base))
            .header("Authorization", self.auth()?)
            .header("Content-Type", "application/x-ndjson")
            .send(body);
        finish(response)
    }
}

fn finish(
    response: Result<ureq::http::Response<ureq::Body>, ureq::Error>,
) -> Result<Value, CliError> {
    let mut response = response.map_err(|e| CliError::Http(e.to_string()))?;
    let status = response.status().as_u16();
    let body: Value = response.body_mut().read_json().unwrap_or(Value::Null);
    if (200..300).contains(&status) {
        return Ok(body);
    }
    // Itemized problems (policy diagnostics, field errors) follow the summary, one a line.
    let mut detail = body["detail"].as_str().unwrap_or("").to_owned();
    for item in body["errors"].as_array().into_iter().flatten() {
        let line = match (
            item["line"].as_u64(),
            item["column"].as_u64(),
            item["message"].as_str(),
        ) {
            (Some(l), Some(c), Some(m)) => format!(
                "{l}:{c}: {}{m}",
                item["policy_id"]
                    .as_str()
                    .map(|p| format!("policy \"{p}\": "))
                    .unwrap_or_default()
            ),
            _ => item.to_string(),
        };
        detail.push_str("\n  ");
        detail.push_str(&line);
    }
    Err(CliError::Api {
        status,
        code: body["code"].as_str().unwrap_or("unknown").to_owned(),
        detail,
    })
}

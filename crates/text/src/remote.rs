//! An OpenAI-compatible chat endpoint in place of the local model (issue 13 item 4): vLLM,
//! llama.cpp's server, Ollama, a hosted API. Same contract as [`crate::Generator::generate`]:
//! a system and a user turn in, text streamed to a callback that may cancel, a [`Generation`]
//! out, so the answer pipeline does not care which one runs.
//!
//! The request is `POST {base}/chat/completions` with `stream: true`; the answer is read as
//! server-sent events (`data: {"choices":[{"delta":{"content":…}}]}` … `data: [DONE]`), or as one
//! JSON document when the endpoint ignores `stream`. Everything is bounded: connect and total
//! time, bytes read, the length of one event line. Errors carry the HTTP status or our own
//! words, never the endpoint's body (it may repeat the prompt, which holds customer passages),
//! and the API key is never printed (`Debug` hides it).

use std::io::{BufRead, BufReader, Read};
use std::ops::ControlFlow;
use std::time::{Duration, Instant};

use serde_json::{Value, json};

use crate::generate::{Generation, StopReason, check_options, check_prompt_bytes};
use crate::limits::{
    REMOTE_CONNECT_TIMEOUT, REMOTE_EVENT_BYTES_MAX, REMOTE_MODEL_NAME_MAX,
    REMOTE_RESPONSE_BYTES_MAX, REMOTE_URL_BYTES_MAX,
};
use crate::{GenerateOptions, Sampling, TextError};

/// Where the chat endpoint is and how to call it.
#[derive(Clone)]
pub struct RemoteChatConfig {
    /// The API's base, up to and including its version, e.g. `http://127.0.0.1:8080/v1`;
    /// `/chat/completions` is appended.
    pub url: String,
    /// The `model` field of each request (also what answers name as their model).
    pub model: String,
    /// Sent as `Authorization: Bearer …` when set.
    pub api_key: Option<String>,
    /// The whole call, first byte to last.
    pub timeout: Duration,
}

impl std::fmt::Debug for RemoteChatConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RemoteChatConfig")
            .field("url", &self.url)
            .field("model", &self.model)
            .field("api_key", &self.api_key.as_ref().map(|_| "<hidden>"))
            .field("timeout", &self.timeout)
            .finish()
    }
}

/// A configured OpenAI-compatible chat endpoint. `Send + Sync`; calls may run concurrently.
pub struct RemoteChat {
    agent: ureq::Agent,
    endpoint: String,
    model: String,
    authorization: Option<String>,
}

impl std::fmt::Debug for RemoteChat {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RemoteChat")
            .field("endpoint", &self.endpoint)
            .field("model", &self.model)
            .finish_non_exhaustive()
    }
}

impl RemoteChat {
    /// Checks the configuration (an `http` or `https` URL without credentials or query, a
    /// model name of printable characters); nothing is sent until the first call.
    pub fn new(config: &RemoteChatConfig) -> Result<RemoteChat, TextError> {
        let url = config.url.trim().trim_end_matches('/');
        if url.len() > REMOTE_URL_BYTES_MAX {
            return Err(TextError::InvalidOption(format!(
                "the chat endpoint's URL is longer than {REMOTE_URL_BYTES_MAX} bytes"
            )));
        }
        let rest = url
            .strip_prefix("http://")
            .or_else(|| url.strip_prefix("https://"))
            .ok_or_else(|| {
                TextError::InvalidOption(
                    "the chat endpoint's URL must start with http:// or https://".into(),
                )
            })?;
        let host = rest.split('/').next().unwrap_or("");
        if host.is_empty()
            || host.contains('@')
            || url.contains(['?', '#'])
            || url.chars().any(|c| c.is_whitespace() || c.is_control())
        {
            return Err(TextError::InvalidOption(
                "the chat endpoint's URL needs a host, and no user, query, fragment or spaces (the key goes in STEWARD_CHAT_API_KEY)".into(),
            ));
        }
        let model = config.model.trim();
        if model.is_empty()
            || model.len() > REMOTE_MODEL_NAME_MAX
            || model.chars().any(|c| c.is_control())
        {
            return Err(TextError::InvalidOption(format!(
                "the chat model's name must be 1 to {REMOTE_MODEL_NAME_MAX} printable characters"
            )));
        }
        if let Some(key) = &config.api_key
            && (key.is_empty() || key.chars().any(|c| c.is_control() || c == ' '))
        {
            return Err(TextError::InvalidOption(
                "the chat API key is empty or holds spaces or control characters".into(),
            ));
        }
        let agent = ureq::Agent::config_builder()
            .timeout_connect(Some(REMOTE_CONNECT_TIMEOUT))
            .timeout_global(Some(config.timeout))
            .http_status_as_error(false)
            .build()
            .into();
        Ok(RemoteChat {
            agent,
            endpoint: format!("{url}/chat/completions"),
            model: model.to_owned(),
            authorization: config.api_key.as_ref().map(|k| format!("Bearer {k}")),
        })
    }

    pub fn model_name(&self) -> &str {
        &self.model
    }

    /// One chat completion, streamed to `on_token`; stops reading (and so closes the
    /// connection) when `on_token` breaks. Options are checked as the local model checks them;
    /// the prompt's size against the endpoint's context is the endpoint's to refuse.
    pub fn generate(
        &self,
        system: &str,
        user: &str,
        options: &GenerateOptions,
        on_token: &mut dyn FnMut(&str) -> ControlFlow<()>,
    ) -> Result<Generation, TextError> {
        let start = Instant::now();
        check_prompt_bytes(system, user)?;
        check_options(options)?;
        let mut body = json!({
            "model": self.model,
            "messages": [
                {"role": "system", "content": system},
                {"role": "user", "content": user},
            ],
            "max_tokens": options.max_tokens,
            "stream": true,
            "stream_options": {"include_usage": true},
        });
        match options.sampling {
            Sampling::Greedy => body["temperature"] = json!(0),
            Sampling::Temperature { temperature, seed } => {
                body["temperature"] = json!(temperature);
                body["seed"] = json!(seed);
            }
        }
        let bytes = serde_json::to_vec(&body).map_err(|e| TextError::Inference(e.to_string()))?;
        let mut request = self
            .agent
            .post(&self.endpoint)
            .header("Content-Type", "application/json")
            .header("Accept", "text/event-stream, application/json");
        if let Some(auth) = &self.authorization {
            request = request.header("Authorization", auth);
        }
        let response = request
            .send(&bytes[..])
            .map_err(|e| TextError::RemoteUnavailable(transport_reason(&e)))?;
        let status = response.status().as_u16();
        if !(200..300).contains(&status) {
            return Err(TextError::RemoteRefused { status });
        }
        let streamed = response
            .headers()
            .get("content-type")
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| v.starts_with("text/event-stream"));
        let reader = response
            .into_body()
            .into_reader()
            .take(REMOTE_RESPONSE_BYTES_MAX);
        let mut out = Collector::new(start, on_token);
        if streamed {
            read_events(BufReader::new(reader), &mut out)?;
        } else {
            read_whole(reader, &mut out)?;
        }
        Ok(out.finish())
    }
}

/// The generation as it arrives.
struct Collector<'a> {
    start: Instant,
    on_token: &'a mut dyn FnMut(&str) -> ControlFlow<()>,
    text: String,
    pieces: usize,
    first: Option<Instant>,
    last: Option<Instant>,
    usage: Option<(usize, usize)>,
    stop: Option<StopReason>,
}

impl<'a> Collector<'a> {
    fn new(start: Instant, on_token: &'a mut dyn FnMut(&str) -> ControlFlow<()>) -> Self {
        Collector {
            start,
            on_token,
            text: String::new(),
            pieces: 0,
            first: None,
            last: None,
            usage: None,
            stop: None,
        }
    }

    /// One chunk (a streamed event or the whole document); `Break` when the caller left.
    fn chunk(&mut self, value: &Value) -> ControlFlow<()> {
        if let Some(usage) = value.get("usage").filter(|u| !u.is_null()) {
            let n = |k: &str| usage.get(k).and_then(Value::as_u64).map(|v| v as usize);
            if let (Some(p), Some(c)) = (n("prompt_tokens"), n("completion_tokens")) {
                self.usage = Some((p, c));
            }
        }
        let Some(choice) = value.get("choices").and_then(|c| c.get(0)) else {
            return ControlFlow::Continue(());
        };
        let content = choice
            .get("delta")
            .or_else(|| choice.get("message"))
            .and_then(|d| d.get("content"))
            .and_then(Value::as_str)
            .unwrap_or("");
        match choice.get("finish_reason").and_then(Value::as_str) {
            Some("length") => self.stop = Some(StopReason::MaxTokens),
            Some(_) => self.stop = Some(StopReason::EndOfTurn),
            None => {}
        }
        if content.is_empty() {
            return ControlFlow::Continue(());
        }
        let now = Instant::now();
        self.first.get_or_insert(now);
        self.last = Some(now);
        self.pieces += 1;
        self.text.push_str(content);
        if (self.on_token)(content).is_break() {
            self.stop = Some(StopReason::Cancelled);
            return ControlFlow::Break(());
        }
        ControlFlow::Continue(())
    }

    fn finish(self) -> Generation {
        let (prompt_tokens, tokens) = self.usage.unwrap_or((0, self.pieces));
        let ttft = self.first.map(|f| f - self.start).unwrap_or_default();
        let tokens_per_s = match (self.first, self.last) {
            (Some(f), Some(l)) if tokens > 1 && l > f => {
                (tokens - 1) as f64 / (l - f).as_secs_f64()
            }
            _ => 0.0,
        };
        Generation {
            text: self.text,
            tokens,
            prompt_tokens,
            ttft,
            tokens_per_s,
            stop: self.stop.unwrap_or(StopReason::EndOfTurn),
        }
    }
}

/// Server-sent events: `data:` lines, each a JSON chunk, until `[DONE]` or the end.
fn read_events(mut reader: impl BufRead, out: &mut Collector<'_>) -> Result<(), TextError> {
    let mut line = Vec::new();
    loop {
        line.clear();
        let n = (&mut reader)
            .take(REMOTE_EVENT_BYTES_MAX as u64 + 1)
            .read_until(b'\n', &mut line)
            .map_err(|e| TextError::RemoteUnavailable(e.kind().to_string()))?;
        if n == 0 {
            return Ok(());
        }
        if line.len() > REMOTE_EVENT_BYTES_MAX {
            return Err(TextError::RemoteInvalid(format!(
                "an event line is longer than {REMOTE_EVENT_BYTES_MAX} bytes"
            )));
        }
        let text = std::str::from_utf8(&line)
            .map_err(|_| TextError::RemoteInvalid("an event is not UTF-8".into()))?
            .trim();
        let Some(data) = text.strip_prefix("data:") else {
            // Comments (`:`), `event:`/`id:` fields and blank separators.
            continue;
        };
        let data = data.trim();
        if data == "[DONE]" {
            return Ok(());
        }
        let value: Value = serde_json::from_str(data)
            .map_err(|_| TextError::RemoteInvalid("an event's data is not JSON".into()))?;
        if value.get("error").is_some_and(|e| !e.is_null()) {
            return Err(TextError::RemoteInvalid(
                "the endpoint reported an error in the stream".into(),
            ));
        }
        if out.chunk(&value).is_break() {
            return Ok(());
        }
    }
}

/// An endpoint that answered `stream: true` with one JSON document.
fn read_whole(mut reader: impl Read, out: &mut Collector<'_>) -> Result<(), TextError> {
    let mut bytes = Vec::new();
    reader
        .read_to_end(&mut bytes)
        .map_err(|e| TextError::RemoteUnavailable(e.kind().to_string()))?;
    let value: Value = serde_json::from_slice(&bytes)
        .map_err(|_| TextError::RemoteInvalid("the answer is not JSON".into()))?;
    if value.get("choices").and_then(|c| c.get(0)).is_none() {
        return Err(TextError::RemoteInvalid("the answer has no choice".into()));
    }
    let _ = out.chunk(&value);
    Ok(())
}

/// A transport error in our words: the kind, never the URL's credentials or a body.
fn transport_reason(e: &ureq::Error) -> String {
    match e {
        ureq::Error::Timeout(_) => "timed out".into(),
        ureq::Error::Io(io) => format!("connection failed ({})", io.kind()),
        ureq::Error::HostNotFound => "host not found".into(),
        ureq::Error::ConnectionFailed => "connection refused".into(),
        _ => "transport error".into(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config(url: &str) -> RemoteChatConfig {
        RemoteChatConfig {
            url: url.into(),
            model: "m".into(),
            api_key: None,
            timeout: Duration::from_secs(5),
        }
    }

    #[test]
    fn configuration_is_checked_before_any_call() {
        assert!(RemoteChat::new(&config("http://127.0.0.1:1/v1/")).is_ok());
        for bad in [
            "ftp://x/v1",
            "http://",
            "http://user:pw@host/v1",
            "http://host/v1?x=1",
            "http://ho st/v1",
            "host/v1",
        ] {
            assert!(RemoteChat::new(&config(bad)).is_err(), "{bad}");
        }
        let mut c = config("http://h/v1");
        c.model = " ".into();
        assert!(RemoteChat::new(&c).is_err());
        c.model = "m".into();
        c.api_key = Some("a b".into());
        assert!(RemoteChat::new(&c).is_err());
        c.api_key = Some("sk-secret".into());
        let shown = format!("{c:?} {:?}", RemoteChat::new(&c).unwrap());
        assert!(!shown.contains("sk-secret"), "{shown}");
    }

    fn run_events(
        input: &str,
        stop_after: Option<usize>,
    ) -> Result<(Generation, Vec<String>), TextError> {
        let mut seen = Vec::new();
        let mut on = |t: &str| {
            seen.push(t.to_owned());
            if stop_after.is_some_and(|n| seen.len() >= n) {
                ControlFlow::Break(())
            } else {
                ControlFlow::Continue(())
            }
        };
        let mut out = Collector::new(Instant::now(), &mut on);
        read_events(std::io::Cursor::new(input.as_bytes()), &mut out)?;
        let generation = out.finish();
        Ok((generation, seen))
    }

    #[test]
    fn events_are_read_in_order_until_done() {
        let input = ": keep-alive\n\
            data: {\"choices\":[{\"delta\":{\"role\":\"assistant\"}}]}\n\n\
            data: {\"choices\":[{\"delta\":{\"content\":\"Refund \"}}]}\n\n\
            data: {\"choices\":[{\"delta\":{\"content\":\"issued [1].\"},\"finish_reason\":\"stop\"}]}\n\n\
            data: {\"choices\":[],\"usage\":{\"prompt_tokens\":40,\"completion_tokens\":5}}\n\n\
            data: [DONE]\n\n\
            data: {\"choices\":[{\"delta\":{\"content\":\"after done\"}}]}\n";
        let (g, seen) = run_events(input, None).unwrap();
        assert_eq!(g.text, "Refund issued [1].");
        assert_eq!(seen, vec!["Refund ", "issued [1]."]);
        assert_eq!((g.prompt_tokens, g.tokens), (40, 5));
        assert_eq!(g.stop, StopReason::EndOfTurn);
    }

    #[test]
    fn a_caller_that_leaves_stops_the_reading() {
        let input = "data: {\"choices\":[{\"delta\":{\"content\":\"a\"}}]}\n\
            data: {\"choices\":[{\"delta\":{\"content\":\"b\"}}]}\n\
            data: {\"choices\":[{\"delta\":{\"content\":\"c\"}}]}\n";
        let (g, seen) = run_events(input, Some(2)).unwrap();
        assert_eq!(seen.len(), 2);
        assert_eq!(g.text, "ab");
        assert_eq!(g.stop, StopReason::Cancelled);
    }

    #[test]
    fn damaged_streams_are_refused_without_echoing_them() {
        let secret = "passage text of a customer";
        for input in [
            format!("data: {{not json {secret}\n"),
            format!("data: {{\"error\":{{\"message\":\"{secret}\"}}}}\n"),
            format!("data: {}\n", "x".repeat(REMOTE_EVENT_BYTES_MAX + 10)),
        ] {
            let e = run_events(&input, None).unwrap_err();
            assert!(matches!(e, TextError::RemoteInvalid(_)), "{e}");
            assert!(!e.to_string().contains(secret));
        }
    }

    #[test]
    fn a_whole_json_answer_is_accepted() {
        let mut seen = Vec::new();
        let mut on = |t: &str| {
            seen.push(t.to_owned());
            ControlFlow::Continue(())
        };
        let mut out = Collector::new(Instant::now(), &mut on);
        let doc = r#"{"choices":[{"message":{"role":"assistant","content":"Yes [2]."},"finish_reason":"length"}],"usage":{"prompt_tokens":9,"completion_tokens":3}}"#;
        read_whole(std::io::Cursor::new(doc.as_bytes()), &mut out).unwrap();
        let g = out.finish();
        assert_eq!(g.text, "Yes [2].");
        assert_eq!(g.tokens, 3);
        assert_eq!(g.stop, StopReason::MaxTokens);
        let mut on2 = |_: &str| ControlFlow::Continue(());
        let mut out2 = Collector::new(Instant::now(), &mut on2);
        assert!(read_whole(std::io::Cursor::new(&b"{}"[..]), &mut out2).is_err());
    }
}

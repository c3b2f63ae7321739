//! Data sets: cut a version with SQL for a purpose, list and read versions, diff two, serve
//! their files (range requests) and an Arrow IPC stream, make short-lived signed links for
//! training jobs; and a subject's lineage (every version that holds it). Every export is
//! audited by the middleware like any read, with the rows or bytes it carried.

use std::sync::Arc;

use axum::Json;
use axum::extract::rejection::{JsonRejection, QueryRejection};
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use bytes::Bytes;
use serde::Deserialize;
use serde_json::{Value, json};
use steward_crypto::Pseudonym;
use steward_lineage::{BuildRequest, Manifest};

use crate::auth::{AuditFacts, Authorized};
use crate::routes::body;
use crate::{ApiError, AppState};

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CreateDataset {
    name: String,
    sql: String,
    purpose: Option<String>,
    /// Answer at once (202) and build in the background; poll the version for progress.
    #[serde(default)]
    background: bool,
}

fn facts(response: &mut Response, rows: u64) {
    response.extensions_mut().insert(AuditFacts {
        rows,
        subjects: Vec::new(),
        statement: None,
    });
}

fn manifest_json(
    manifest: &Manifest,
    progress: Option<steward_lineage::datasets::Progress>,
) -> Value {
    let mut v = serde_json::to_value(manifest).unwrap_or(Value::Null);
    if let Some(map) = v.as_object_mut() {
        map.remove("query_sealed");
        if let Some(p) = progress {
            map.insert("progress".into(), json!(p));
        }
    }
    v
}

pub async fn create(
    State(state): State<AppState>,
    auth: Authorized,
    Path(tenant): Path<String>,
    request: Result<Json<CreateDataset>, JsonRejection>,
) -> Result<Response, ApiError> {
    let request = body(request)?;
    let purpose = auth.purpose_matching(request.purpose.as_deref())?;
    let visible = auth.visible.clone();
    let access = auth.read_access();
    let guard = {
        let tenant = tenant.clone();
        Arc::new(
            state
                .blocking(move |engine| engine.read_guard(&tenant, access))
                .await?,
        )
    };
    let build = BuildRequest {
        name: request.name.clone(),
        sql: request.sql.clone(),
        purpose,
        visible,
        built_by: auth.principal.audit_name(),
    };
    let statement = steward_query::session::normalize_for(&guard, &request.sql);
    // The build runs on the heavy-work pool; its slot is taken before answering, so a
    // background build that could not start is a 503 now, not a silent failure later.
    let slot = state.pool.slot().await?;
    let datasets = state.datasets.clone();
    if request.background {
        let (tenant2, name, pool, sql) = (
            tenant.clone(),
            request.name.clone(),
            state.pool.clone(),
            request.sql.clone(),
        );
        tokio::spawn(async move {
            let outcome = pool
                .spawn(slot, async move {
                    datasets.build(guard, &build, None, None).await
                })
                .await;
            if let Err(error) = outcome
                .map_err(steward_lineage::LineageError::from)
                .and_then(|r| r)
            {
                let error = crate::echo::redact(&error.to_string(), &sql);
                tracing::warn!(tenant = tenant2, dataset = name, %error, "background data set build failed");
            }
        });
        let mut response = (
            StatusCode::ACCEPTED,
            Json(json!({"name": request.name, "state": "building"})),
        )
            .into_response();
        response.extensions_mut().insert(AuditFacts {
            rows: 0,
            subjects: Vec::new(),
            statement: Some(statement),
        });
        return Ok(response);
    }
    let manifest = state
        .pool
        .spawn(slot, async move {
            datasets.build(guard, &build, None, None).await
        })
        .await
        .map_err(steward_lineage::LineageError::from)
        .and_then(|r| r);
    let manifest = match manifest {
        Ok(m) => m,
        Err(error) => {
            let mut response = ApiError::from(error).redacted(&request.sql).into_response();
            response.extensions_mut().insert(AuditFacts {
                rows: 0,
                subjects: Vec::new(),
                statement: Some(statement),
            });
            return Ok(response);
        }
    };
    let mut response = (StatusCode::CREATED, Json(manifest_json(&manifest, None))).into_response();
    response.extensions_mut().insert(AuditFacts {
        rows: manifest.rows,
        subjects: Vec::new(),
        statement: Some(statement),
    });
    Ok(response)
}

pub async fn list(
    State(state): State<AppState>,
    _auth: Authorized,
    Path(tenant): Path<String>,
) -> Result<Response, ApiError> {
    let datasets = state.datasets.clone();
    let list = tokio::task::spawn_blocking(move || datasets.list(&tenant))
        .await
        .map_err(|_| ApiError::internal())??;
    let n = list.len() as u64;
    let mut response = Json(json!({"datasets": list})).into_response();
    facts(&mut response, n);
    Ok(response)
}

pub async fn versions(
    State(state): State<AppState>,
    _auth: Authorized,
    Path((tenant, name)): Path<(String, String)>,
) -> Result<Response, ApiError> {
    let datasets = state.datasets.clone();
    let list = tokio::task::spawn_blocking(move || datasets.list_versions(&tenant, &name))
        .await
        .map_err(|_| ApiError::internal())??;
    let n = list.len() as u64;
    let mut response =
        Json(json!({"versions": list.iter().map(|m| manifest_json(m, None)).collect::<Vec<_>>()}))
            .into_response();
    facts(&mut response, n);
    Ok(response)
}

pub async fn get_version(
    State(state): State<AppState>,
    _auth: Authorized,
    Path((tenant, name, version)): Path<(String, String, String)>,
) -> Result<Response, ApiError> {
    let datasets = state.datasets.clone();
    let (manifest, progress) = tokio::task::spawn_blocking(move || {
        let v = datasets.resolve_version(&tenant, &name, &version)?;
        let m = datasets.manifest(&tenant, &name, v)?;
        let p = datasets.progress(&tenant, &name, v);
        Ok::<_, steward_lineage::LineageError>((m, p))
    })
    .await
    .map_err(|_| ApiError::internal())??;
    let mut response = Json(manifest_json(&manifest, progress)).into_response();
    facts(&mut response, 1);
    Ok(response)
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DiffParams {
    #[allow(dead_code, reason = "read by the authorization middleware")]
    purpose: Option<String>,
    from: u32,
    to: u32,
}

pub async fn diff(
    State(state): State<AppState>,
    auth: Authorized,
    Path((tenant, name)): Path<(String, String)>,
    params: Result<Query<DiffParams>, QueryRejection>,
) -> Result<Response, ApiError> {
    let Query(params) = params.map_err(crate::echo::query_rejection)?;
    let guard = guard_for(&state, &auth, &tenant).await?;
    let datasets = state.datasets.clone();
    let diff = state
        .pool
        .blocking(move || datasets.diff(&guard, &name, params.from, params.to))
        .await??;
    Ok(Json(diff).into_response())
}

/// The request's read guard (its purpose, as the policies decided).
async fn guard_for(
    state: &AppState,
    auth: &Authorized,
    tenant: &str,
) -> Result<Arc<steward_engine::ReadGuard>, ApiError> {
    let access = auth.read_access();
    let tenant = tenant.to_owned();
    Ok(Arc::new(
        state
            .blocking(move |engine| engine.read_guard(&tenant, access))
            .await?,
    ))
}

/// A streamed body fed by a producer on the heavy-work pool through a bounded channel.
fn channel_body(
    rx: tokio::sync::mpsc::Receiver<Result<Bytes, std::io::Error>>,
) -> axum::body::Body {
    let stream = futures_util::stream::unfold(rx, |mut rx| async move {
        rx.recv().await.map(|item| (item, rx))
    });
    axum::body::Body::from_stream(stream)
}

/// Chunks in flight between a producer and the socket: the memory bound of a download.
const STREAM_CHUNKS_MAX: usize = 4;
/// Bytes per chunk of a file download.
const FILE_CHUNK_BYTES: u64 = 1 << 20;

/// `bytes=a-b`, `bytes=a-` or `bytes=-n` against a length; None when absent.
fn parse_range(headers: &HeaderMap, len: u64) -> Result<Option<(u64, u64)>, ApiError> {
    let Some(value) = headers.get(header::RANGE) else {
        return Ok(None);
    };
    let bad = || {
        ApiError::new(
            StatusCode::RANGE_NOT_SATISFIABLE,
            "invalid_range",
            format!("expected bytes=a-b within 0..{len}"),
        )
    };
    let text = value.to_str().map_err(|_| bad())?;
    let spec = text.strip_prefix("bytes=").ok_or_else(bad)?;
    if spec.contains(',') {
        return Err(bad());
    }
    let (a, b) = spec.split_once('-').ok_or_else(bad)?;
    let (start, end) = match (a.trim(), b.trim()) {
        ("", n) => {
            let n: u64 = n.parse().map_err(|_| bad())?;
            (len.saturating_sub(n), len.saturating_sub(1))
        }
        (a, "") => (a.parse().map_err(|_| bad())?, len.saturating_sub(1)),
        (a, b) => (
            a.parse().map_err(|_| bad())?,
            b.parse::<u64>()
                .map_err(|_| bad())?
                .min(len.saturating_sub(1)),
        ),
    };
    if len == 0 || start > end || start >= len {
        return Err(bad());
    }
    Ok(Some((start, end)))
}

pub async fn file(
    State(state): State<AppState>,
    auth: Authorized,
    Path((tenant, name, version, file)): Path<(String, String, String, String)>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let guard = guard_for(&state, &auth, &tenant).await?;
    let datasets = state.datasets.clone();
    let (entry, reader) = state
        .pool
        .blocking(move || {
            let v = datasets.resolve_version(guard.tenant(), &name, &version)?;
            let (_, entry, reader) = datasets.open_file(&guard, &name, v, &file)?;
            Ok::<_, steward_lineage::LineageError>((entry, reader))
        })
        .await??;
    let len = reader.plaintext_len();
    let range = parse_range(&headers, len)?;
    let (start, end) = range.unwrap_or((0, len.saturating_sub(1)));
    let count = if len == 0 { 0 } else { end - start + 1 };
    // Streamed a chunk at a time (decrypting only the chunks each covers), within a bound.
    let (tx, rx) = tokio::sync::mpsc::channel(STREAM_CHUNKS_MAX);
    state.pool.spawn_blocking_detached(move || {
        let mut at = start;
        let stop = start + count;
        while at < stop {
            let step = (stop - at).min(FILE_CHUNK_BYTES);
            let chunk = reader
                .read_range(at, step)
                .map(Bytes::from)
                .map_err(std::io::Error::other);
            let failed = chunk.is_err();
            if tx.blocking_send(chunk).is_err() || failed {
                return;
            }
            metrics::counter!("steward_dataset_export_bytes_total").increment(step);
            at += step;
        }
    })?;
    let mut response = if range.is_some() {
        let mut r = (StatusCode::PARTIAL_CONTENT, channel_body(rx)).into_response();
        r.headers_mut().insert(
            header::CONTENT_RANGE,
            HeaderValue::from_str(&format!("bytes {start}-{end}/{len}"))
                .map_err(|_| ApiError::internal())?,
        );
        r
    } else {
        channel_body(rx).into_response()
    };
    let h = response.headers_mut();
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/vnd.apache.parquet"),
    );
    h.insert(header::CONTENT_LENGTH, HeaderValue::from(count));
    h.insert(header::ACCEPT_RANGES, HeaderValue::from_static("bytes"));
    if let Ok(etag) = HeaderValue::from_str(&format!("\"{}\"", entry.sha256)) {
        h.insert(header::ETAG, etag);
    }
    facts(&mut response, if start == 0 { entry.rows } else { 0 });
    Ok(response)
}

/// Writes an IPC stream into the body channel in chunks of at least this size.
const ARROW_CHUNK_BYTES: usize = 256 * 1024;

struct ChannelWriter {
    tx: tokio::sync::mpsc::Sender<Result<Bytes, std::io::Error>>,
    buffer: Vec<u8>,
}

impl std::io::Write for ChannelWriter {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.buffer.extend_from_slice(buf);
        if self.buffer.len() >= ARROW_CHUNK_BYTES {
            self.flush()?;
        }
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        if self.buffer.is_empty() {
            return Ok(());
        }
        let chunk = Bytes::from(std::mem::take(&mut self.buffer));
        metrics::counter!("steward_dataset_export_bytes_total").increment(chunk.len() as u64);
        self.tx.blocking_send(Ok(chunk)).map_err(|_| {
            std::io::Error::new(std::io::ErrorKind::BrokenPipe, "the client went away")
        })
    }
}

pub async fn arrow(
    State(state): State<AppState>,
    auth: Authorized,
    Path((tenant, name, version)): Path<(String, String, String)>,
) -> Result<Response, ApiError> {
    let guard = guard_for(&state, &auth, &tenant).await?;
    let datasets = state.datasets.clone();
    let (batches, rows) = state
        .pool
        .blocking(move || {
            let v = datasets.resolve_version(guard.tenant(), &name, &version)?;
            let rows = datasets.exportable(&guard, &name, v)?.rows;
            Ok::<_, steward_lineage::LineageError>((datasets.batches(&guard, &name, v)?, rows))
        })
        .await??;
    // Streamed batch by batch from a producer on the pool: one row group in memory at a time.
    let (tx, rx) = tokio::sync::mpsc::channel(STREAM_CHUNKS_MAX);
    state.pool.spawn_blocking_detached(move || {
        let error_tx = tx.clone();
        let mut sink = ChannelWriter {
            tx,
            buffer: Vec::with_capacity(ARROW_CHUNK_BYTES),
        };
        let result = batches.write_ipc(&mut sink).map(|_| ()).and_then(|()| {
            std::io::Write::flush(&mut sink)
                .map_err(|e| steward_lineage::LineageError::Parquet(e.to_string()))
        });
        if let Err(error) = result {
            tracing::warn!(%error, "an Arrow export stopped before its end");
            let _ = error_tx.blocking_send(Err(std::io::Error::other("export failed")));
        }
    })?;
    let mut response = (
        [(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/vnd.apache.arrow.stream"),
        )],
        channel_body(rx),
    )
        .into_response();
    facts(&mut response, rows);
    Ok(response)
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LinkRequest {
    ttl_s: Option<u64>,
}

pub async fn links(
    State(state): State<AppState>,
    auth: Authorized,
    Path((tenant, name, version)): Path<(String, String, String)>,
    request: Result<Json<LinkRequest>, JsonRejection>,
) -> Result<Response, ApiError> {
    let request = body(request)?;
    let ttl = request.ttl_s.unwrap_or(900);
    if ttl == 0 || ttl > steward_lineage::links::LINK_TTL_MAX_S {
        return Err(ApiError::bad_request(
            "invalid_ttl",
            Some("ttl_s"),
            format!("expected 1 to {}", steward_lineage::links::LINK_TTL_MAX_S),
        ));
    }
    let steward_access::Principal::Key { key_id, .. } = &auth.principal else {
        return Err(ApiError::bad_request(
            "links_need_a_key",
            None,
            "signed links act for an API key; users and the operator download with their own credentials",
        ));
    };
    let purpose = auth.purpose.clone().unwrap_or_default();
    let guard = guard_for(&state, &auth, &tenant).await?;
    let datasets = state.datasets.clone();
    let n2 = name.clone();
    // Refused now if a download for this purpose would be (and each use checks again).
    let manifest = state
        .pool
        .blocking(move || {
            let v = datasets.resolve_version(guard.tenant(), &n2, &version)?;
            datasets.exportable(&guard, &n2, v)
        })
        .await??;
    let key = {
        let t = tenant.clone();
        state
            .blocking(move |engine| engine.tenant_derived_key(&t, b"dataset-links"))
            .await?
    };
    let expires = chrono::Utc::now().timestamp() + ttl as i64;
    let base = format!(
        "/v1/tenants/{tenant}/datasets/{name}/versions/{}",
        manifest.version
    );
    let sign = |path: &str| {
        format!(
            "{path}?{}",
            steward_lineage::links::sign(&key, path, expires, key_id, &purpose)
        )
    };
    let files: Vec<Value> = manifest.files.iter().map(|f| json!({"name": f.name, "bytes": f.bytes, "sha256": f.sha256, "rows": f.rows, "url": sign(&format!("{base}/files/{}", f.name))})).collect();
    let expires_at = chrono::DateTime::from_timestamp(expires, 0)
        .map(|t| t.to_rfc3339_opts(chrono::SecondsFormat::Secs, true));
    let mut response = Json(json!({"name": name, "version": manifest.version, "expires_at": expires_at, "files": files, "arrow_url": sign(&format!("{base}/arrow")), "manifest": manifest_json(&manifest, None)})).into_response();
    facts(&mut response, 0);
    Ok(response)
}

pub async fn lineage(
    State(state): State<AppState>,
    _auth: Authorized,
    Path((tenant, subject)): Path<(String, String)>,
) -> Result<Response, ApiError> {
    let subject = Pseudonym::parse_hex(&subject).map_err(|_| {
        ApiError::bad_request(
            "invalid_subject",
            Some("subject"),
            "expected a 64-hex-digit pseudonym from subjects/resolve",
        )
    })?;
    // Every registered artifact kind answers through the ledger.
    let (held, reference) = state
        .blocking(move |engine| {
            Ok((
                engine.subject_lineage(&tenant, &subject)?,
                engine.subject_ref(&tenant, &subject)?,
            ))
        })
        .await?;
    let of_kind = |kind: &str| -> Vec<Value> {
        held.iter().filter(|a| a.kind == kind).map(|a| json!({"kind": a.kind, "name": a.name, "version": a.version, "state": a.state, "purpose": a.purpose, "built_at": a.built_at})).collect()
    };
    let list = of_kind("dataset");
    let mut response =
        Json(json!({"subject": subject.to_hex(), "datasets": list, "models": of_kind("model")}))
            .into_response();
    response.extensions_mut().insert(AuditFacts {
        rows: list.len() as u64,
        subjects: reference.into_iter().collect(),
        statement: None,
    });
    Ok(response)
}

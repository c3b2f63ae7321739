//! `POST /v1/backup` (operator): an online backup of the whole data directory, streamed as it
//! is made (sealed under the master key; see `steward_engine::backup`). `steward backup` calls
//! it when a server holds the directory.

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use std::io::Write;
use std::sync::atomic::{AtomicBool, Ordering};

use crate::auth::Authorized;
use crate::{ApiError, AppState};

/// One backup at a time: each holds every catalog still for a moment.
static RUNNING: AtomicBool = AtomicBool::new(false);
/// Sealed bytes per message to the socket, and messages in flight (the memory bound).
const SEND_BYTES: usize = 256 << 10;
const IN_FLIGHT: usize = 8;

struct Running;

impl Drop for Running {
    fn drop(&mut self) {
        RUNNING.store(false, Ordering::SeqCst);
    }
}

/// Hands what the backup writes to the response body; a client gone fails the write.
struct ChannelWriter {
    tx: tokio::sync::mpsc::Sender<Result<Bytes, std::io::Error>>,
    buf: Vec<u8>,
}

impl ChannelWriter {
    fn send(&mut self) -> std::io::Result<()> {
        if self.buf.is_empty() {
            return Ok(());
        }
        let chunk = Bytes::from(std::mem::replace(
            &mut self.buf,
            Vec::with_capacity(SEND_BYTES),
        ));
        self.tx
            .blocking_send(Ok(chunk))
            .map_err(|_| std::io::Error::new(std::io::ErrorKind::BrokenPipe, "client gone"))
    }
}

impl Write for ChannelWriter {
    fn write(&mut self, data: &[u8]) -> std::io::Result<usize> {
        self.buf.extend_from_slice(data);
        if self.buf.len() >= SEND_BYTES {
            self.send()?;
        }
        Ok(data.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        self.send()
    }
}

pub async fn create(
    State(state): State<AppState>,
    _auth: Authorized,
) -> Result<Response, ApiError> {
    if RUNNING.swap(true, Ordering::SeqCst) {
        return Err(ApiError::new(
            StatusCode::CONFLICT,
            "backup_in_progress",
            "another backup is running; try again when it ends",
        ));
    }
    let running = Running;
    let (tx, rx) = tokio::sync::mpsc::channel(IN_FLIGHT);
    let engine = state.engine.clone();
    let spawned = std::thread::Builder::new()
        .name("backup".into())
        .spawn(move || {
            let _running = running;
            let errors = tx.clone();
            let writer = ChannelWriter {
                tx,
                buf: Vec::with_capacity(SEND_BYTES),
            };
            match engine.backup(writer) {
                Ok((mut writer, summary)) => {
                    if writer.flush().is_ok() {
                        tracing::info!(
                            bytes = summary.bytes,
                            files = summary.files,
                            held_ms = summary.held_ms,
                            "online backup streamed"
                        );
                    }
                }
                Err(error) => {
                    tracing::error!(code = error.code(), %error, "online backup failed");
                    // The body ends with an error: the client never mistakes it for a backup.
                    let _ = errors.blocking_send(Err(std::io::Error::other("backup failed")));
                }
            }
        });
    if spawned.is_err() {
        return Err(ApiError::internal());
    }
    let stream = futures_util::stream::unfold(rx, |mut rx| async move {
        rx.recv().await.map(|item| (item, rx))
    });
    Ok((
        [
            (header::CONTENT_TYPE, "application/octet-stream"),
            (
                header::CONTENT_DISPOSITION,
                "attachment; filename=\"steward.backup\"",
            ),
        ],
        axum::body::Body::from_stream(stream),
    )
        .into_response())
}

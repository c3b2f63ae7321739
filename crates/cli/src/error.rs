//! CLI errors and their exit codes.

#[derive(Debug, thiserror::Error)]
pub enum CliError {
    #[error("{0}")]
    Engine(#[from] steward_engine::EngineError),
    #[error("{path}: {source}")]
    Io {
        path: String,
        source: std::io::Error,
    },
    #[error("HTTP: {0}")]
    Http(String),
    /// The server answered with a problem document.
    #[error("server answered {status} {code}: {detail}")]
    Api {
        status: u16,
        code: String,
        detail: String,
    },
    #[error("{0}")]
    Usage(String),
    /// A backup or restore refused: a damaged or foreign file, an existing target.
    #[error("{0} ({code})", code = .0.code())]
    Backup(#[from] steward_engine::backup::BackupError),
}

impl CliError {
    pub fn exit_code(&self) -> u8 {
        match self {
            CliError::Usage(_) => 2,
            CliError::Api { .. } | CliError::Http(_) => 3,
            _ => 1,
        }
    }

    pub fn io(path: impl std::fmt::Display) -> impl FnOnce(std::io::Error) -> CliError {
        let path = path.to_string();
        move |source| CliError::Io { path, source }
    }
}

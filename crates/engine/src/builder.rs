//! [`EngineBuilder`]: opens a data directory, registers the derived-artifact kinds, then starts
//! the background threads, in that order, so no erasure can advance before every kind that
//! must act on it is there.

use std::sync::Arc;

use crate::ledger::ArtifactKind;
use crate::{Engine, EngineConfig, EngineError};

type KindFactory = Box<dyn FnOnce(&Arc<Engine>) -> Arc<dyn ArtifactKind>>;

/// Builds an [`Engine`]: `Engine::builder(config).kind(|engine| ...).open()`.
pub struct EngineBuilder {
    config: EngineConfig,
    kinds: Vec<KindFactory>,
}

impl EngineBuilder {
    pub(crate) fn new(config: EngineConfig) -> EngineBuilder {
        EngineBuilder {
            config,
            kinds: Vec::new(),
        }
    }

    /// Registers a kind of derived artifact. The factory gets the opened engine (a kind
    /// usually reads events through it) and runs before any background thread starts.
    pub fn kind(
        mut self,
        factory: impl FnOnce(&Arc<Engine>) -> Arc<dyn ArtifactKind> + 'static,
    ) -> EngineBuilder {
        self.kinds.push(Box::new(factory));
        self
    }

    /// Opens the data directory, makes each kind, then starts background work.
    pub fn open(self) -> Result<Arc<Engine>, EngineError> {
        let engine = Engine::open_quiet(self.config)?;
        let mut kinds: Vec<Arc<dyn ArtifactKind>> = Vec::with_capacity(self.kinds.len());
        for factory in self.kinds {
            let kind = factory(&engine);
            if kinds.iter().any(|k| k.name() == kind.name()) {
                return Err(EngineError::invalid(
                    "duplicate_kind",
                    None,
                    format!("artifact kind {} registered twice", kind.name()),
                ));
            }
            kinds.push(kind);
        }
        engine.start(kinds)?;
        // A restored directory replays its erasure ledger before anything can serve it, at
        // every open until one completes (a restore killed mid-replay resumes here).
        engine.replay_if_restored()?;
        Ok(engine)
    }
}

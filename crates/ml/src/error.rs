//! One error enum per operation; none carries a user's key or an item's id (callers log them
//! with their own context), only indices, counts and fixed sentences.

use crate::params::Algorithm;

/// Building an [`crate::IdMap`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum IdMapError {
    #[error("more than {max} distinct keys")]
    Full { max: u32 },
    #[error("key at position {position} repeats an earlier key")]
    Duplicate { position: usize },
    #[error("id {id} is not in the map (or the removal list is not strictly ascending)")]
    UnknownId { id: u32 },
}

/// Building an [`crate::Interactions`] matrix: the caller's data, or a configured limit.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum MatrixError {
    #[error("{users} users exceed the limit of {max}")]
    TooManyUsers { users: u32, max: u32 },
    #[error("{items} items exceed the limit of {max}")]
    TooManyItems { items: u32, max: u32 },
    #[error("more than {max} interactions")]
    TooManyInteractions { max: u64 },
    #[error("interaction {position}: user index {user} is not below the user count {users}")]
    UserOutOfRange {
        position: u64,
        user: u32,
        users: u32,
    },
    #[error("interaction {position}: item index {item} is not below the item count {items}")]
    ItemOutOfRange {
        position: u64,
        item: u32,
        items: u32,
    },
    #[error("interaction {position}: the weight is not a finite number >= 0")]
    BadWeight { position: u64 },
    #[error("interaction {position}: every interaction or none must carry a time")]
    MixedTimes { position: u64 },
    #[error("the summed weight of user {user}, item {item} overflows f32")]
    WeightOverflow { user: u32, item: u32 },
}

/// A training parameter out of range: the caller's request.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("parameter {field}: {reason}")]
pub struct ParamsError {
    pub field: &'static str,
    pub reason: &'static str,
}

/// Training a model.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum TrainError {
    #[error(transparent)]
    Params(#[from] ParamsError),
    /// The progress callback answered `Stop` after this iteration.
    #[error("cancelled after iteration {iteration}")]
    Cancelled { iteration: u32 },
    /// A factor or score became NaN or infinite (learning rate or regularization too large).
    #[error(
        "training diverged at iteration {iteration} (a factor is not finite); lower the learning rate"
    )]
    Diverged { iteration: u32 },
    /// Time decay was asked of a matrix without times.
    #[error("{what} needs interaction times and the matrix has none")]
    NeedsTimes { what: &'static str },
    /// Item-kNN would do more work than allowed (sum over users of row length squared).
    #[error("item-kNN work {work} exceeds the limit {max}")]
    WorkTooLarge { work: u64, max: u64 },
}

/// Asking a model for recommendations, scores or similar items, removing users from it, or
/// building one from factors.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ModelError {
    #[error("user row {row} is not in the model ({users} rows)")]
    UnknownUser { row: u32, users: u32 },
    #[error("the {algorithm} model needs the user's row (it holds one vector per user)")]
    NeedsUserRow { algorithm: Algorithm },
    #[error("item {item} is not in the model ({items} items)")]
    UnknownItem { item: u32, items: u32 },
    #[error("{what} must be strictly ascending")]
    NotAscending { what: &'static str },
    #[error("k = {k} exceeds the limit {max}")]
    KTooLarge { k: usize, max: usize },
    #[error("{operation} is not defined for the {algorithm} model")]
    Unsupported {
        algorithm: Algorithm,
        operation: &'static str,
    },
    /// A [`crate::UserRef::vector`] of the wrong length.
    #[error("the user vector has {length} values, the model {factors} factors")]
    BadUserVector { length: usize, factors: usize },
    #[error("the user vector's value at {position} is not finite")]
    UserVectorNotFinite { position: usize },
    /// [`crate::Model::fold_in`]: more interactions than `FOLD_IN_ITEMS_MAX`.
    #[error("{items} interactions to fold in exceed the limit {max}")]
    TooManyInteractions { items: usize, max: usize },
    /// [`crate::Model::fold_in`]: a weight that is not a finite number >= 0, or repeats of an
    /// item whose summed weight overflows f32.
    #[error(
        "interaction {position}: the weight is not a finite number >= 0 (or its item's summed weight overflows)"
    )]
    BadWeight { position: usize },
    /// [`crate::Model::fold_in`] was given the preparation of a model of another shape.
    #[error(
        "the fold-in preparation was made for another model ({factors} factors, {items} items)"
    )]
    FoldInMismatch { factors: usize, items: u32 },
    /// The fold-in system is not positive definite (regularization 0 and fewer independent
    /// item vectors than factors), or its solution is not finite.
    #[error("the fold-in system cannot be solved (not positive definite; regularization 0?)")]
    NotSolvable,
    /// [`crate::Model::recommend_many`]: the exclusion lists do not match the users, too many
    /// users, or threads out of range.
    #[error("batch: {what}")]
    BadBatch { what: &'static str },
    /// [`crate::Model::from_factors`] was given factors that do not fit its parameters.
    #[error("factors do not make a model: {what}")]
    BadFactors { what: &'static str },
}

/// Reading a model file: the bytes are damaged, cut short, or not a model file of a known
/// version. Never a panic, whatever the bytes.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum FormatError {
    #[error("not a Steward model file (bad magic)")]
    NotAModelFile,
    #[error(
        "model file version {version} is not supported (this build reads versions 1 to {supported})"
    )]
    UnsupportedVersion { version: u32, supported: u32 },
    #[error(
        "model file is truncated or has trailing bytes: header says {expected} bytes, got {actual}"
    )]
    Length { expected: u64, actual: u64 },
    #[error("model file checksum mismatch (damaged)")]
    Checksum,
    #[error("model file is damaged: {what}")]
    Invalid { what: &'static str },
    /// Building a file in memory: counts of keys and model rows disagree (a caller's bug).
    #[error("{what}: the id map has {keys} keys, the model {rows} rows")]
    CountMismatch {
        what: &'static str,
        keys: usize,
        rows: usize,
    },
    /// Attaching training data ([`crate::ModelFile::with_training`]): the matrix is not the
    /// model's shape (a caller's bug).
    #[error("{what}: the training matrix has {matrix}, the model {model}")]
    TrainingMismatch {
        what: &'static str,
        matrix: u64,
        model: u64,
    },
    /// Building a file in memory: an item id longer than `ITEM_KEY_BYTES_MAX`.
    #[error("item {item}: its id is longer than {max} bytes")]
    ItemKeyTooLong { item: u32, max: usize },
}

/// Splitting and evaluating.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum EvalError {
    #[error("{split} split needs interaction times and the matrix has none")]
    NeedsTimes { split: &'static str },
    #[error("holdout fraction must be in (0, 1)")]
    BadHoldout,
    #[error("leave-last count must be at least 1")]
    BadLeaveLast,
    #[error("cutoffs: {reason}")]
    BadCutoffs { reason: &'static str },
    #[error("threads must be between 1 and {max}")]
    BadThreads { max: usize },
    #[error("train and test matrices, and the model, must have the same users and items")]
    ShapeMismatch,
    #[error(transparent)]
    Matrix(#[from] MatrixError),
    #[error(transparent)]
    Model(#[from] ModelError),
    #[error(transparent)]
    Train(#[from] TrainError),
}

/// Building, changing or searching an approximate nearest-neighbour index ([`crate::AnnIndex`]):
/// the caller's vector or parameters, or a limit.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum AnnError {
    #[error("index parameter {field}: {reason}")]
    BadParams {
        field: &'static str,
        reason: &'static str,
    },
    #[error("the vector has {got} values, the index {expected} dimensions")]
    WrongDimension { expected: usize, got: usize },
    #[error("the vector's value at {position} is not finite")]
    NotFinite { position: usize },
    /// A cosine index cannot normalize a zero vector (or query).
    #[error("a cosine index cannot take a zero vector")]
    ZeroVector,
    #[error("the index holds its limit of {max} vectors")]
    Full { max: usize },
    #[error("k = {k} must be between 1 and {max}")]
    KOutOfRange { k: usize, max: usize },
    #[error("ef = {ef} exceeds the limit {max}")]
    EfOutOfRange { ef: usize, max: usize },
}

/// Reading an index file: damaged, cut short, or not an index file of a known version. Never a
/// panic, whatever the bytes.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum AnnFormatError {
    #[error("not a Steward vector index file (bad magic or too short)")]
    NotAnIndexFile,
    #[error("vector index file version {version} is not supported (this build reads {supported})")]
    UnsupportedVersion { version: u32, supported: u32 },
    #[error(
        "vector index file is truncated or has trailing bytes: header says {expected} bytes, got {actual}"
    )]
    Length { expected: u64, actual: u64 },
    #[error("vector index file checksum mismatch (damaged)")]
    Checksum,
    #[error("vector index file is damaged: {what}")]
    Invalid { what: &'static str },
}

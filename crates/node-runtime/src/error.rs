//! Every way an install or a call can fail.

/// Why a module cannot be installed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum InstallError {
    /// The bytes are not a valid wasm module (or use unsupported features).
    #[error("not a valid wasm module: {0}")]
    InvalidModule(String),
    /// An import is not one of the host functions.
    #[error("import `{module}.{name}` is not a host function of the ABI")]
    UnknownImport {
        /// The import's module.
        module: String,
        /// The import's name.
        name: String,
    },
    /// An import names a host function with the wrong type.
    #[error("import `env.{name}` has type {found}, the ABI's is {expected}")]
    ImportSignature {
        /// The import's name.
        name: String,
        /// Its type in the module.
        found: String,
        /// Its type in the ABI.
        expected: String,
    },
    /// The module does not export its memory as `memory`.
    #[error("the module must export its linear memory as `memory`")]
    MissingMemory,
    /// A serialized module could not be loaded.
    #[error("cannot load a compiled module: {0}")]
    Deserialize(String),
    /// A compiled module whose seal does not match: corrupted or not written
    /// by a runtime holding this key. It is never loaded.
    #[error("the compiled module failed its integrity check")]
    Tampered,
}

/// A wasm trap, by kind.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TrapKind {
    /// The wasm stack limit was hit (deep or endless recursion).
    #[error("stack overflow")]
    StackOverflow,
    /// An access outside linear memory.
    #[error("memory out of bounds")]
    MemoryOutOfBounds,
    /// `unreachable` was executed (e.g. an abort in the guest).
    #[error("unreachable code reached")]
    Unreachable,
    /// The call used up its fuel.
    #[error("out of fuel: the call did too much work")]
    OutOfFuel,
    /// The call ran past its wall-clock deadline.
    #[error("deadline exceeded: the call ran too long")]
    Deadline,
    /// Integer overflow, division by zero or a bad conversion.
    #[error("illegal arithmetic")]
    IllegalArithmetic,
    /// An indirect call through a null or mismatched table entry.
    #[error("bad indirect call")]
    BadIndirectCall,
    /// A table access out of bounds.
    #[error("table access out of bounds")]
    TableOutOfBounds,
    /// Any other trap.
    #[error("trap: {0}")]
    Other(String),
}

/// An error raised by a host function.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum HostError {
    /// `read_register` of a register never set.
    #[error("invalid register id {0}")]
    InvalidRegisterId(u64),
    /// A pointer or length outside memory, a bad tag or length, a register
    /// limit, or a second commit.
    #[error("invalid memory access: {0}")]
    InvalidMemoryAccess(&'static str),
    /// A text the guest passed is not UTF-8.
    #[error("invalid UTF-8 in {0}")]
    BadUtf8(&'static str),
    /// A storage key longer than the limit.
    #[error("storage key of {0} bytes is too long")]
    KeyLengthOverflow(u64),
    /// A storage value longer than the limit.
    #[error("storage value of {0} bytes is too long")]
    ValueLengthOverflow(u64),
    /// Too many log lines.
    #[error("too many logs")]
    LogsOverflow,
    /// A log line longer than the limit.
    #[error("log line of {0} bytes is too long")]
    LogTooLong(u64),
    /// Too many events.
    #[error("too many events")]
    EventsOverflow,
    /// An event kind longer than the limit.
    #[error("event kind of {0} bytes is too long")]
    EventKindSizeOverflow(u64),
    /// An event's data longer than the limit.
    #[error("event data of {0} bytes is too long")]
    EventDataSizeOverflow(u64),
    /// A return value longer than the limit.
    #[error("return value of {0} bytes is too long")]
    ReturnTooLarge(u64),
    /// A write, remove or commit inside a read-only call.
    #[error("a query cannot {0}: use mutate")]
    ReadOnly(&'static str),
    /// Undecodable `fetch` headers.
    #[error("cannot decode fetch headers")]
    DeserializationError,
    /// The node has no blob store.
    #[error("blobs are not supported")]
    BlobsNotSupported,
    /// An unknown blob handle, or one used the wrong way.
    #[error("invalid blob handle {0}")]
    InvalidBlobHandle(u64),
    /// Too many open blob handles.
    #[error("too many open blob handles (at most {0})")]
    TooManyBlobHandles(usize),
    /// A blob chunk larger than the limit.
    #[error("blob chunk of {0} bytes is too large")]
    BlobChunkTooLarge(u64),
    /// Proposals need a context proxy contract, which this node does not run.
    #[error("proposals are not supported on this node")]
    ProposalsNotSupported,
    /// The call moved more bytes through host functions than its budget.
    #[error("the call exceeded its budget of {0} bytes through host functions")]
    BudgetExceeded(u64),
    /// The state could not be read.
    #[error("storage: {0}")]
    Storage(String),
}

/// Why a call failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CallError {
    /// No function export of that name.
    #[error("method {0:?} not found")]
    MethodNotFound(String),
    /// The export is not `() -> ()`.
    #[error("method {0:?} has invalid signature: expected no arguments and no return value")]
    InvalidSignature(String),
    /// The method is reserved for the node (`init`, `__…`).
    #[error("method {0:?} is reserved and cannot be called by clients")]
    ReservedMethod(String),
    /// The guest panicked.
    #[error("guest panicked: {message} at {file}:{line}:{column}")]
    Panic {
        /// The panic message.
        message: String,
        /// Source file.
        file: String,
        /// Line.
        line: u32,
        /// Column.
        column: u32,
    },
    /// The method returned an application error (its bytes, JSON from SDK apps).
    #[error("the method call returned an error: {}", String::from_utf8_lossy(.0))]
    AppError(Vec<u8>),
    /// A host function refused.
    #[error(transparent)]
    Host(#[from] HostError),
    /// The wasm code trapped.
    #[error(transparent)]
    Trap(#[from] TrapKind),
    /// The module could not be instantiated.
    #[error("cannot instantiate the module: {0}")]
    Instantiate(String),
    /// A call with a budget ([`crate::Call::budget`]) stopped before it
    /// finished: it needed more fuel than the budget, a free instance slot
    /// at once, or to wait on the network. Nothing it did counts; run it
    /// again without a budget.
    #[error("the call did not finish within its budget for running in place")]
    Unfinished,
}

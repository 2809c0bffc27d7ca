//! The execution layer: running work in sandboxes. The task lifecycle
//! (submit, attempt, retry, finish, lineage), actors and their mailboxes,
//! objects as guests use them (`put`/`get`/`wait`, lending the CPU while
//! blocked), the driver and its journal (durable replay), and the host functions of the WIT interface,
//! which join a guest's calls to this machinery (they live here rather than
//! in `wasm` because they call into tasks and actors).

pub(crate) mod actors;
pub(crate) mod driver;
pub(crate) mod guest_api;
pub(crate) mod journal;
pub(crate) mod objects;
pub(crate) mod tasks;

//! The `raylab-host` command, as a library its binary and tests share: the
//! head's HTTP server and dashboard ([`head`]), the client of a head
//! ([`client`]), the types of the HTTP API between them ([`api`]), the bounded compiler of uploaded modules ([`compiler`]),
//! the head's NATS server ([`nats`]), the progress display ([`progress`]), the benchmarks
//! ([`bench`](mod@bench)), the size syntax of the command line ([`size`]) and the
//! few `/proc` fields it reads ([`procfs`]), the lab's guests for an
//! installed binary and `raylab-host lab` ([`lab`]), and `new`'s project templates
//! with the guest SDK they build against ([`scaffold`]). The runtime itself
//! is the `raylab` crate.

pub mod api;
pub mod bench;
pub mod client;
pub mod compiler;
pub mod head;
pub mod lab;
pub mod nats;
pub mod procfs;
pub mod progress;
pub mod python;
pub mod scaffold;
pub mod size;

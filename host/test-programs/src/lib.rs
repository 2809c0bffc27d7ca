//! Test-only: the guest components of this repository, built from source
//! by this crate's build script (the lab tasks, the examples and the test
//! programs of `guest-tasks/test-programs`), as paths to their `.wasm`
//! files. Tests name a program by its constant (a missing one fails to
//! compile); `raylab-host`'s suite checks that every program is used by
//! some test.

include!(concat!(env!("OUT_DIR"), "/guests.rs"));

include!("outer_cargo_env.rs");

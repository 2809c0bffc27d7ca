/// Environment variables a cargo run inside a build script or a test
/// inherits from the outer cargo and must not see: its flags, target and
/// target directory (a shared target directory would also deadlock on
/// cargo's lock). Shared by this crate's build script, which builds the
/// guests, and the tests that run cargo on projects of their own.
pub const OUTER_CARGO_ENV: &[&str] = &[
    "CARGO_ENCODED_RUSTFLAGS",
    "RUSTFLAGS",
    "CARGO_BUILD_RUSTFLAGS",
    "CARGO_TARGET_DIR",
    "CARGO_BUILD_TARGET",
    "RUSTC_WORKSPACE_WRAPPER",
    "RUSTC_WRAPPER",
    "CARGO_MAKEFLAGS",
    "CARGO_PROFILE_RELEASE_DEBUG",
    "CARGO_MANIFEST_DIR",
];

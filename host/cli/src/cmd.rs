//! The subcommands' arguments and implementations, a module each (`main`
//! keeps the command line's shape and the dispatch), and what several
//! share: where the head is ([`AddressArgs`]) and time limits
//! ([`parse_seconds`]).

use clap::Args;

pub(crate) mod cache;
pub(crate) mod compile;
pub(crate) mod gpus;
pub(crate) mod jobs;
pub(crate) mod nats;
pub(crate) mod node;
pub(crate) mod run;
pub(crate) mod start;
pub(crate) mod state;

/// Where the head is.
#[derive(Args, Debug, Clone)]
pub(crate) struct AddressArgs {
    /// The head's address; or the addresses of a cluster's heads,
    /// comma-separated: requests go to the first that answers as the
    /// active head, and move to another when it dies or stands by.
    #[arg(long, env = "RAYLAB_ADDRESS", default_value = "http://127.0.0.1:8265")]
    address: String,
    /// Bearer token of a head that requires one.
    #[arg(long, env = "RAYLAB_TOKEN", hide_env_values = true)]
    token: Option<String>,
}

/// A time limit in seconds: positive and finite.
pub(crate) fn parse_seconds(s: &str) -> Result<f64, String> {
    match s.trim().parse::<f64>() {
        Ok(t) if t.is_finite() && t > 0.0 && t < 1e9 => Ok(t),
        _ => Err(format!("`{s}` is not a positive number of seconds")),
    }
}

//! `raylab-host bench`: measurements against baselines run in the same
//! process (to come in the next step).

/// Options of `raylab-host bench`.
#[derive(Debug, clap::Args)]
pub struct BenchArgs {}

/// Run the benchmarks.
pub fn run(_args: BenchArgs) -> anyhow::Result<()> {
    anyhow::bail!("not built yet")
}

//! Example: calling a plugin's remote functions by name.
//!
//! Run: `raylab-host run stats-client.wasm --plugin stats=stats_plugin.wasm -- 1 2 3 4`

use raylab_guest::{ObjectRef, TaskOptions, submit, tasks};

tasks!();

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let xs: Vec<f64> = std::env::args()
        .skip(1)
        .map(|a| a.parse())
        .collect::<Result<_, _>>()?;
    let xs = if xs.is_empty() {
        vec![1.0, 2.0, 3.0, 4.0]
    } else {
        xs
    };
    // Arguments are a tuple, encoded as a MessagePack array.
    let mean: ObjectRef<f64> = submit("stats/mean", &(&xs,), &TaskOptions::new())?;
    let var: ObjectRef<f64> = submit("stats/variance", &(&xs,), &TaskOptions::new())?;
    println!("mean={} variance={}", mean.get()?, var.get()?);
    Ok(())
}

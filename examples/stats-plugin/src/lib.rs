//! Example plugin: a module with remote functions and no driver.
//!
//! Load it next to any driver with `--plugin stats=stats_plugin.wasm`; the
//! driver then calls `stats/mean` and `stats/variance` by name, without
//! having been compiled together with this crate.

use raylab_guest::{remote, tasks};

/// Arithmetic mean; an error for an empty list.
#[remote]
pub fn mean(xs: Vec<f64>) -> Result<f64, String> {
    if xs.is_empty() {
        return Err("mean of an empty list".into());
    }
    Ok(xs.iter().sum::<f64>() / xs.len() as f64)
}

/// Population variance; an error for an empty list.
#[remote]
pub fn variance(xs: Vec<f64>) -> Result<f64, String> {
    let m = mean(xs.clone())?;
    Ok(xs.iter().map(|x| (x - m) * (x - m)).sum::<f64>() / xs.len() as f64)
}

tasks!(mean, variance);

//! Resource amounts (CPU, GPU, memory, custom) in fixed point, so that
//! fractional demands (`num_cpus = 0.5`) add and subtract exactly.

use std::collections::BTreeMap;
use std::fmt;

/// Fixed-point scale: amounts are stored in units of 1/10,000.
pub(crate) const SCALE: f64 = 10_000.0;

/// One whole unit in fixed point.
pub(crate) const ONE: u64 = 10_000;

/// A set of resource amounts.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct Resources {
    cpu: u64,
    gpu: u64,
    memory: u64,
    custom: BTreeMap<String, u64>,
}

/// The largest amount of any resource (a petabyte of memory; CPUs, GPUs
/// and custom resources far below): beyond it fixed point would overflow.
pub(crate) const MAX_AMOUNT: f64 = 1e15;

/// Convert a user-given amount, rejecting negative, non-finite and absurdly
/// large values.
pub(crate) fn to_fixed(name: &str, amount: f64) -> Result<u64, String> {
    if !amount.is_finite() || amount < 0.0 {
        return Err(format!(
            "resource `{name}` must be a non-negative number, got {amount}"
        ));
    }
    if amount > MAX_AMOUNT {
        return Err(format!(
            "resource `{name}`: {amount:e} is more than any node has (at most {MAX_AMOUNT:e})"
        ));
    }
    Ok((amount * SCALE).round() as u64)
}

impl Resources {
    /// No resources.
    pub(crate) fn none() -> Self {
        Self::default()
    }

    /// Set an amount by name (`CPU`, `GPU`, `memory` or custom).
    pub(crate) fn set(&mut self, name: &str, amount: f64) -> Result<(), String> {
        let v = to_fixed(name, amount)?;
        self.set_fixed(name, v);
        Ok(())
    }

    #[cfg(test)]
    /// Builder form of [`Resources::set`] for known-good amounts.
    pub(crate) fn with(mut self, name: &str, amount: f64) -> Self {
        self.set(name, amount).expect("valid amount");
        self
    }

    /// The CPU amount.
    pub(crate) fn cpu(&self) -> f64 {
        self.cpu as f64 / SCALE
    }

    /// The GPU amount.
    pub(crate) fn gpu(&self) -> f64 {
        self.gpu as f64 / SCALE
    }

    /// The CPU amount in fixed point.
    pub(crate) fn cpu_fixed(&self) -> u64 {
        self.cpu
    }

    /// The GPU amount in fixed point.
    pub(crate) fn gpu_fixed(&self) -> u64 {
        self.gpu
    }

    /// Only the CPU part of this set.
    pub(crate) fn cpu_only(&self) -> Resources {
        Resources {
            cpu: self.cpu,
            ..Default::default()
        }
    }

    /// Every non-zero amount, by name.
    pub(crate) fn entries(&self) -> Vec<(String, f64)> {
        let mut out = Vec::new();
        for (name, v) in [
            ("CPU", self.cpu),
            ("GPU", self.gpu),
            ("memory", self.memory),
        ] {
            if v > 0 {
                out.push((name.to_string(), v as f64 / SCALE));
            }
        }
        out.extend(
            self.custom
                .iter()
                .map(|(k, v)| (k.clone(), *v as f64 / SCALE)),
        );
        out
    }

    fn amounts(&self) -> impl Iterator<Item = (&str, u64)> {
        [
            ("CPU", self.cpu),
            ("GPU", self.gpu),
            ("memory", self.memory),
        ]
        .into_iter()
        .chain(self.custom.iter().map(|(k, v)| (k.as_str(), *v)))
    }

    /// Set an amount by name, in fixed point (checked by the caller).
    pub(crate) fn set_fixed(&mut self, name: &str, v: u64) {
        match name {
            "CPU" => self.cpu = v,
            "GPU" => self.gpu = v,
            "memory" => self.memory = v,
            _ if v == 0 => {
                self.custom.remove(name);
            }
            _ => {
                self.custom.insert(name.to_string(), v);
            }
        }
    }

    /// An amount by name, in fixed point.
    pub(crate) fn get_fixed(&self, name: &str) -> u64 {
        match name {
            "CPU" => self.cpu,
            "GPU" => self.gpu,
            "memory" => self.memory,
            _ => self.custom.get(name).copied().unwrap_or(0),
        }
    }

    /// Whether `demand` fits into `self`.
    pub(crate) fn fits(&self, demand: &Resources) -> bool {
        demand.amounts().all(|(name, v)| v <= self.get_fixed(name))
    }

    /// The first resource of `demand` that `self` can never satisfy, as
    /// `(name, demanded, available)`.
    pub(crate) fn shortfall(&self, demand: &Resources) -> Option<(String, f64, f64)> {
        demand
            .amounts()
            .find(|(name, v)| *v > self.get_fixed(name))
            .map(|(name, v)| {
                (
                    name.to_string(),
                    v as f64 / SCALE,
                    self.get_fixed(name) as f64 / SCALE,
                )
            })
    }

    /// Take `demand` out of `self` (which must fit).
    pub(crate) fn subtract(&mut self, demand: &Resources) {
        debug_assert!(self.fits(demand));
        self.cpu -= demand.cpu;
        self.gpu -= demand.gpu;
        self.memory -= demand.memory;
        for (k, v) in &demand.custom {
            if let Some(have) = self.custom.get_mut(k) {
                *have -= v;
            }
        }
    }

    /// Take `demand` out of `self`, stopping at zero (for estimates, such
    /// as another node's free resources less what was sent to it).
    pub(crate) fn subtract_saturating(&mut self, demand: &Resources) {
        self.cpu = self.cpu.saturating_sub(demand.cpu);
        self.gpu = self.gpu.saturating_sub(demand.gpu);
        self.memory = self.memory.saturating_sub(demand.memory);
        for (k, v) in &demand.custom {
            if let Some(have) = self.custom.get_mut(k) {
                *have = have.saturating_sub(*v);
            }
        }
    }

    /// Give `demand` back to `self`.
    pub(crate) fn add(&mut self, demand: &Resources) {
        self.cpu += demand.cpu;
        self.gpu += demand.gpu;
        self.memory += demand.memory;
        for (k, v) in &demand.custom {
            *self.custom.entry(k.clone()).or_insert(0) += v;
        }
    }
}

impl fmt::Display for Resources {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let parts: Vec<String> = self
            .entries()
            .into_iter()
            .map(|(k, v)| {
                if k == "memory" {
                    format!("{k}={v:.0}")
                } else {
                    format!("{k}={v}")
                }
            })
            .collect();
        if parts.is_empty() {
            f.write_str("nothing")
        } else {
            f.write_str(&parts.join(", "))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn absurd_amounts_are_refused_not_wrapped() {
        let mut r = Resources::none();
        let err = r.set("CPU", 1e300).unwrap_err();
        assert!(
            err.contains("1e300") && err.contains("more than any node"),
            "{err}"
        );
        assert!(r.set("memory", u64::MAX as f64).is_err());
        assert!(r.set("GPU", f64::NAN).is_err());
        assert!(r.set("accel", -1.0).is_err());
        r.set("memory", (1u64 << 40) as f64).unwrap();
        assert_eq!(
            r.entries(),
            vec![("memory".to_string(), (1u64 << 40) as f64)]
        );
    }

    #[test]
    fn fractional_amounts_add_up_exactly() {
        let mut total = Resources::none().with("GPU", 1.0);
        let half = Resources::none().with("GPU", 0.5);
        assert!(total.fits(&half));
        total.subtract(&half);
        total.subtract(&half);
        assert!(!total.fits(&half));
        total.add(&half);
        assert_eq!(total.gpu(), 0.5);
    }

    #[test]
    fn custom_resources_and_shortfall() {
        let node = Resources::none().with("CPU", 2.0).with("accel", 1.0);
        let demand = Resources::none().with("CPU", 1.0).with("accel", 2.0);
        assert_eq!(node.shortfall(&demand), Some(("accel".into(), 2.0, 1.0)));
        let other = Resources::none().with("nope", 1.0);
        assert_eq!(node.shortfall(&other), Some(("nope".into(), 1.0, 0.0)));
        assert!(Resources::none().set("CPU", -1.0).is_err());
        assert!(Resources::none().set("CPU", f64::NAN).is_err());
    }
}

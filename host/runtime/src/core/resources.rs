//! Resource amounts (CPU, GPU, memory, custom) in fixed point, so that
//! fractional demands (`num_cpus = 0.5`) add and subtract exactly.

use std::collections::BTreeMap;
use std::fmt;

use crate::ids::ObjectId;

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

    /// The part a task blocked in `get`/`wait` lends back: its CPU, plain
    /// or of a placement group's bundle (`None`: it holds none).
    pub(crate) fn lendable(&self) -> Option<Resources> {
        let custom: BTreeMap<String, u64> = self
            .custom
            .iter()
            .filter(|(k, _)| group_base(k) == Some("CPU"))
            .map(|(k, v)| (k.clone(), *v))
            .collect();
        (self.cpu > 0 || !custom.is_empty()).then(|| Resources {
            cpu: self.cpu,
            custom,
            ..Default::default()
        })
    }

    /// This demand placed in bundle `bundle` (`None`: any bundle) of
    /// placement group `group`: each amount renamed to the group's own
    /// resource, as Ray does (`CPU` → `CPU_group_<group>` and, for one
    /// bundle, `CPU_group_<i>_<group>` too).
    pub(crate) fn in_group(&self, group: ObjectId, bundle: Option<usize>) -> Resources {
        let mut out = Resources::none();
        for (name, v) in self.amounts() {
            if v == 0 {
                continue;
            }
            out.custom.insert(group_resource(name, group, None), v);
            if let Some(i) = bundle {
                out.custom.insert(group_resource(name, group, Some(i)), v);
            }
        }
        out
    }

    /// Give `demand` back to `self`, where `total` says what exists: an
    /// amount of a placement group removed since it was taken goes back to
    /// the resource it was reserved from (its "any bundle" name carries
    /// it; the per-bundle name is dropped).
    pub(crate) fn add_within(&mut self, demand: &Resources, total: &Resources) {
        self.cpu += demand.cpu;
        self.gpu += demand.gpu;
        self.memory += demand.memory;
        for (k, v) in &demand.custom {
            if total.custom.contains_key(k) {
                *self.custom.entry(k.clone()).or_insert(0) += v;
            } else if let Some((base, None)) = parse_group_resource(k) {
                let now = self.get_fixed(base);
                self.set_fixed(base, now + v);
            }
        }
    }

    /// `demand` as it can be asked for now: amounts of a placement group
    /// removed since become amounts of the resource it was reserved from
    /// (see [`Resources::add_within`]).
    pub(crate) fn rebased(&self, total: &Resources) -> Resources {
        if self.custom.keys().all(|k| total.custom.contains_key(k)) {
            return self.clone();
        }
        let mut out = Resources {
            cpu: self.cpu,
            gpu: self.gpu,
            memory: self.memory,
            custom: BTreeMap::new(),
        };
        for (k, v) in &self.custom {
            if total.custom.contains_key(k) {
                out.custom.insert(k.clone(), *v);
            } else if let Some((base, None)) = parse_group_resource(k) {
                let now = out.get_fixed(base);
                out.set_fixed(base, now + v);
            }
        }
        out
    }

    /// Whether any amount is of a resource `total` lacks.
    pub(crate) fn custom_outside(&self, total: &Resources) -> bool {
        self.custom.keys().any(|k| !total.custom.contains_key(k))
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

    /// Every amount by name, in fixed point (zeros included).
    pub(crate) fn amounts(&self) -> impl Iterator<Item = (&str, u64)> {
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

    /// Whether `demand` fits into `self`. (Field by field: the scheduler
    /// asks this of every queued class at every step, and matching each
    /// amount's name showed in profiles of short tasks.)
    pub(crate) fn fits(&self, demand: &Resources) -> bool {
        demand.cpu <= self.cpu
            && demand.gpu <= self.gpu
            && demand.memory <= self.memory
            && demand
                .custom
                .iter()
                .all(|(name, v)| *v <= self.custom.get(name).copied().unwrap_or(0))
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

/// The name of resource `base` reserved by placement group `group`: in
/// bundle `bundle`, or in any of its bundles (`None`). Ray's scheme, with
/// the group's id in hex.
pub(crate) fn group_resource(base: &str, group: ObjectId, bundle: Option<usize>) -> String {
    match bundle {
        Some(i) => format!("{base}_group_{i}_{group:x}"),
        None => format!("{base}_group_{group:x}"),
    }
}

/// `(base, bundle)` of a placement group's resource name (see
/// [`group_resource`]), or `None` for any other name.
pub(crate) fn parse_group_resource(name: &str) -> Option<(&str, Option<usize>)> {
    parse_group_resource_of(name).map(|(base, bundle, _)| (base, bundle))
}

/// `(base, bundle, group)` of a placement group's resource name (see
/// [`group_resource`]), or `None` for any other name.
pub(crate) fn parse_group_resource_of(name: &str) -> Option<(&str, Option<usize>, ObjectId)> {
    let (base, rest) = name.rsplit_once("_group_")?;
    match rest.split_once('_') {
        Some((i, id)) => {
            let i = i.parse().ok()?;
            let group = u64::from_str_radix(id, 16).ok()?;
            Some((base, Some(i), ObjectId::new(group)))
        }
        None => {
            let group = u64::from_str_radix(rest, 16).ok()?;
            Some((base, None, ObjectId::new(group)))
        }
    }
}

/// The GPUs a demand asks of a placement group: `(group, bundle, amount)`
/// (`bundle` `None`: any bundle of the group), or `None` if it asks for
/// none there.
pub(crate) fn group_gpu_demand(demand: &Resources) -> Option<(ObjectId, Option<usize>, u64)> {
    let mut out = None;
    for (k, v) in &demand.custom {
        match parse_group_resource_of(k) {
            Some(("GPU", None, g)) if *v > 0 => {
                let bundle = out.and_then(|(_, b, _)| b);
                out = Some((g, bundle, *v));
            }
            Some(("GPU", Some(i), g)) if *v > 0 => {
                let amount = out.map_or(*v, |(_, _, a)| a);
                out = Some((g, Some(i), amount));
            }
            _ => {}
        }
    }
    out
}

/// The base resource a placement group's resource name was reserved from.
fn group_base(name: &str) -> Option<&str> {
    parse_group_resource(name).map(|(b, _)| b)
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
    fn placement_group_names_round_trip_and_lend_their_cpu() {
        let demand = Resources::none().with("CPU", 1.0).with("slot", 2.0);
        let placed = demand.in_group(ObjectId::new(0x3e9), Some(1));
        let names: Vec<String> = placed.entries().into_iter().map(|(k, _)| k).collect();
        assert_eq!(
            names,
            [
                "CPU_group_1_3e9",
                "CPU_group_3e9",
                "slot_group_1_3e9",
                "slot_group_3e9"
            ]
        );
        assert_eq!(
            parse_group_resource("CPU_group_1_3e9"),
            Some(("CPU", Some(1)))
        );
        assert_eq!(parse_group_resource("slot_group_3e9"), Some(("slot", None)));
        assert_eq!(parse_group_resource("slot"), None);
        assert_eq!(parse_group_resource("my_group_x"), None);
        // Blocked in `get`, it lends its bundle's CPU, not the slot.
        let lent = placed.lendable().expect("holds CPU");
        assert_eq!(lent.entries().len(), 2);
        assert!(
            lent.entries()
                .iter()
                .all(|(k, _)| k.starts_with("CPU_group"))
        );
        // Given back after the group is gone, it returns to the node's own.
        let mut avail = Resources::none();
        avail.add_within(&placed, &Resources::none().with("CPU", 2.0));
        assert_eq!(avail.cpu(), 1.0);
        assert_eq!(avail.get_fixed("slot"), 2 * ONE);
        assert_eq!(avail.entries().len(), 2);
        let asked = lent.rebased(&Resources::none());
        assert_eq!(asked, Resources::none().with("CPU", 1.0));
    }

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
        // `fits` agrees with `shortfall`, custom amounts included.
        assert!(!node.fits(&demand) && !node.fits(&other));
        assert!(node.fits(&Resources::none().with("CPU", 2.0).with("accel", 1.0)));
        assert!(!node.fits(&Resources::none().with("memory", 1.0)));
        assert!(Resources::none().set("CPU", -1.0).is_err());
        assert!(Resources::none().set("CPU", f64::NAN).is_err());
    }
}

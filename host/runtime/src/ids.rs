//! The runtime's own integer ids (tasks, the detached actors' job) and the
//! maps keyed by them (objects, tasks): their keys
//! are sequential numbers the runtime hands out, not input an attacker
//! chooses, so a multiply mixes them well enough and SipHash's cost (a few
//! percent of a warm task's cycles, measured with `perf`) is not needed.

use std::collections::{HashMap, HashSet};
use std::hash::{BuildHasherDefault, Hasher};

/// A task's id, unique in its node.
pub(crate) type TaskId = u64;

/// Identifies a job: a driver run and the tasks it submits, on the node
/// that runs the driver (the driver of `raylab-host run` is job 0; a head
/// numbers submitted jobs from 1). A type of its own,
/// so that a job id is never taken for an object id, a count or an
/// offset.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize, serde::Deserialize,
)]
#[serde(transparent)]
pub struct JobId(u64);

impl JobId {
    /// The job numbered `n`.
    pub const fn new(n: u64) -> Self {
        JobId(n)
    }

    /// Its number.
    pub const fn get(self) -> u64 {
        self.0
    }
}

impl std::fmt::Display for JobId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.0.fmt(f)
    }
}

impl std::str::FromStr for JobId {
    type Err = std::num::ParseIntError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        s.parse().map(JobId)
    }
}

/// Names an object: unique in its cluster, the bits from
/// `object_store::OWNER_SHIFT` up naming the node that owns it. A type of
/// its own, so that an object id is never taken for a job id, an offset or
/// a length.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize, serde::Deserialize,
)]
#[serde(transparent)]
pub struct ObjectId(u64);

impl ObjectId {
    /// The object numbered `n`.
    pub const fn new(n: u64) -> Self {
        ObjectId(n)
    }

    /// Its number (as guests and the wire carry it).
    pub const fn get(self) -> u64 {
        self.0
    }
}

impl std::fmt::Display for ObjectId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.0.fmt(f)
    }
}

impl std::fmt::LowerHex for ObjectId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        std::fmt::LowerHex::fmt(&self.0, f)
    }
}

/// The job that owns what outlives every job: detached actors, their
/// objects and placement groups.
pub(crate) const DETACHED_JOB: JobId = JobId(u64::MAX);

/// Hashes a `u64` id for hashbrown's tables: the low bits (which pick
/// the bucket) are the id's own, the top 7 bits (hashbrown's tag inside a
/// group) one multiply's mix of all of them.
///
/// Ids are numbered in order (tasks, objects), and a node's tables hold a
/// moving window of them: with the id's own low bits, neighbouring ids sit
/// in neighbouring buckets, so inserting the newest and removing the
/// oldest touch a few cache lines instead of one random line of a table of
/// megabytes each. Measured against a full multiplicative hash (Fibonacci
/// hashing, whose low bits scatter neighbours over the whole table), warm
/// no-op tasks ran faster: see BENCHMARKS.md, "Warm throughput: fresh memory and
/// cache lines".
/// The tag still comes from the mix, so ids that share their low bits
/// (the same counter on two nodes) are told apart by it.
#[derive(Default, Clone, Copy)]
pub(crate) struct IdHasher(u64);

/// The bits of an [`IdHasher`] hash that are the id's own.
const OWN_BITS: u64 = (1 << 57) - 1;

impl Hasher for IdHasher {
    fn finish(&self) -> u64 {
        self.0
    }
    fn write(&mut self, bytes: &[u8]) {
        for b in bytes {
            self.0 = ((self.0 << 8) | u64::from(*b)).wrapping_mul(0x9E37_79B9_7F4A_7C15);
        }
    }
    fn write_u64(&mut self, n: u64) {
        let n = self.0 ^ n;
        self.0 = (n & OWN_BITS) | (n.wrapping_mul(0x9E37_79B9_7F4A_7C15) & !OWN_BITS);
    }
}

/// Builds [`IdHasher`]s.
pub(crate) type ById = BuildHasherDefault<IdHasher>;

/// A map keyed by ids.
pub(crate) type IdMap<V, K = u64> = HashMap<K, V, ById>;

/// A set of ids.
pub(crate) type IdSet<K = u64> = HashSet<K, ById>;

/// A map keyed by object ids.
pub(crate) type ObjectMap<V> = IdMap<V, ObjectId>;

/// A set of object ids.
pub(crate) type ObjectSet = IdSet<ObjectId>;

#[cfg(test)]
mod tests {
    use super::*;

    fn hash(id: u64) -> u64 {
        let mut h = IdHasher::default();
        h.write_u64(id);
        h.finish()
    }

    #[test]
    fn neighbouring_ids_get_neighbouring_buckets_and_mixed_tags() {
        // hashbrown picks the bucket from the low bits: an id's own, so a
        // window of consecutive ids fills consecutive buckets.
        for id in [0, 1, 77, 1 << 40, (3 << 48) | 12345] {
            assert_eq!(hash(id) & 0xffff_ffff, id & 0xffff_ffff);
        }
        // Its tag (the top 7 bits) comes from all of the id: the same
        // counter on two nodes (owner bits apart) differs there.
        let tags: std::collections::HashSet<u64> = (0..64u64)
            .map(|node| hash((node << 48) | 5) >> 57)
            .collect();
        assert!(tags.len() > 32, "{} tags", tags.len());
    }

    #[test]
    fn sequential_ids_spread_over_the_buckets() {
        // The low bits hashbrown uses must differ for neighbouring ids.
        let hashes: IdSet = (0..4096u64)
            .map(|id| {
                let mut h = IdHasher::default();
                h.write_u64(id);
                h.finish() >> 57
            })
            .collect();
        assert!(hashes.len() > 100, "top 7 bits take many values");
        let mut m: IdMap<u64> = IdMap::default();
        for id in 0..10_000 {
            m.insert(id, id * 2);
        }
        assert_eq!(m[&4321], 8642);
    }
}

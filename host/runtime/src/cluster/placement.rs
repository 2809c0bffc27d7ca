//! Placement across nodes: which node of the cluster runs a task, as Ray
//! decides it (a pure function of what the nodes reported, unit-tested).
//!
//! * Default (Ray's hybrid policy): the submitting node when its free
//!   resources hold the task now; else the live node whose free resources
//!   hold it now with the most free CPU ("spillback"); else, of the nodes
//!   that can ever hold it, the least loaded (CPU held and queued over CPU
//!   total; the submitting node on a tie), where it queues; else the task is
//!   infeasible in this cluster. So a burst of tasks bigger than the
//!   cluster queues on every node in proportion to its CPUs, rather than
//!   all on the node that submitted it.
//! * Spread: the live nodes that can ever hold the task, in turn.
//! * Node affinity: that node (by name or id) when it is alive and can
//!   ever hold the task; else the default (soft) or an error (hard).
//!
//! Other nodes' free resources are those of their last heartbeat, less
//! what this node has sent them since and not seen finish: a burst of
//! tasks spreads instead of piling onto the node that looked free.

use crate::core::resources::Resources;
use crate::exec::tasks::{HereFits, Strategy};

/// A node as placement sees it.
#[derive(Debug, Clone)]
pub(crate) struct Candidate {
    pub(crate) id: u16,
    pub(crate) name: String,
    pub(crate) alive: bool,
    pub(crate) total: Resources,
    /// Free at its last heartbeat, less what was sent to it since.
    pub(crate) free: Resources,
    /// CPU held and queued over CPU total at its last heartbeat, plus what
    /// was sent to it since.
    pub(crate) load: f64,
}

/// The node for a task with `demand` submitted on node `me` (`None`: this
/// one), or why no node can run it. `turn` advances the spread.
pub(crate) fn choose(
    me: u16,
    nodes: &[Candidate],
    demand: &Resources,
    strategy: &Strategy,
    here: HereFits,
    turn: &mut usize,
) -> Result<Option<u16>, String> {
    let others = || nodes.iter().filter(|n| n.alive && n.id != me);
    let local = |id: u16| (id != me).then_some(id);
    match strategy {
        Strategy::Here => Ok(None),
        Strategy::Default => {
            if here.now {
                return Ok(None);
            }
            let free_now = others()
                .filter(|n| n.total.fits(demand) && n.free.fits(demand))
                .max_by(|a, b| a.free.cpu().total_cmp(&b.free.cpu()).then(b.id.cmp(&a.id)));
            if let Some(n) = free_now {
                return Ok(Some(n.id));
            }
            let least = others()
                .filter(|n| n.total.fits(demand))
                .min_by(|a, b| a.load.total_cmp(&b.load).then(a.id.cmp(&b.id)));
            match least {
                Some(n) if !here.ever || n.load < here.load => Ok(Some(n.id)),
                _ if here.ever => Ok(None),
                _ => Err(infeasible(nodes, demand)),
            }
        }
        Strategy::Spread => {
            let mut able: Vec<u16> = others()
                .filter(|n| n.total.fits(demand))
                .map(|n| n.id)
                .collect();
            if here.ever {
                able.push(me);
            }
            if able.is_empty() {
                return Err(infeasible(nodes, demand));
            }
            able.sort_unstable();
            let pick = able[*turn % able.len()];
            *turn = turn.wrapping_add(1);
            Ok(local(pick))
        }
        Strategy::Affinity { node, soft } => {
            // A node that died and came back under its name is a new node:
            // the live one of that name (the newest, if several) is meant.
            let target = nodes
                .iter()
                .filter(|n| n.name == *node || n.id.to_string() == *node)
                .max_by_key(|n| (n.alive, n.id));
            let why = match target {
                None => format!("no node named `{node}` is in the cluster"),
                Some(n) if !n.alive => format!("node `{node}` is dead"),
                Some(n) if n.id == me && !here.ever => format!(
                    "node `{node}` can never hold it ({})",
                    shortfall(&n.total, demand)
                ),
                Some(n) if n.id == me => return Ok(None),
                Some(n) if !n.total.fits(demand) => format!(
                    "node `{node}` can never hold it ({})",
                    shortfall(&n.total, demand)
                ),
                Some(n) => return Ok(Some(n.id)),
            };
            if *soft {
                choose(me, nodes, demand, &Strategy::Default, here, turn)
            } else {
                Err(why)
            }
        }
    }
}

fn shortfall(total: &Resources, demand: &Resources) -> String {
    match total.shortfall(demand) {
        Some((name, want, have)) => format!("it demands {want} {name}, the node has {have}"),
        None => "it fits".into(),
    }
}

/// Why no node can hold `demand`: the resource, and the most any live
/// node has of it.
fn infeasible(nodes: &[Candidate], demand: &Resources) -> String {
    let alive: Vec<&Candidate> = nodes.iter().filter(|n| n.alive).collect();
    // The first resource some node lacks, with the largest amount of it.
    let lacking = alive.iter().find_map(|n| n.total.shortfall(demand));
    match lacking {
        Some((name, want, _)) => {
            let most = alive
                .iter()
                .map(|n| {
                    n.total
                        .entries()
                        .into_iter()
                        .find(|(r, _)| *r == name)
                        .map_or(0.0, |(_, a)| a)
                })
                .fold(0.0, f64::max);
            format!(
                "demands {want} {name} but no node of the cluster ({} alive) has that much (the most is {most}); it can never run",
                alive.len()
            )
        }
        None => format!("no node of the cluster ({} alive) can hold it", alive.len()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn res(cpu: f64, gpu: f64, extra: &[(&str, f64)]) -> Resources {
        let mut r = Resources::none().with("CPU", cpu).with("GPU", gpu);
        for (n, a) in extra {
            r.set(n, *a).unwrap();
        }
        r
    }

    fn node(id: u16, name: &str, total: Resources, free: Resources) -> Candidate {
        let load = 1.0 - free.cpu() / total.cpu();
        Candidate {
            id,
            name: name.into(),
            alive: true,
            total,
            free,
            load,
        }
    }

    /// head (1 CPU, busy), w1 (2 CPU, 1 free), w2 (4 CPU + 1 GPU, all free).
    fn cluster() -> Vec<Candidate> {
        vec![
            node(1, "head", res(1.0, 0.0, &[]), res(0.0, 0.0, &[])),
            node(
                2,
                "w1",
                res(2.0, 0.0, &[("accel", 1.0)]),
                res(1.0, 0.0, &[("accel", 1.0)]),
            ),
            node(3, "w2", res(4.0, 1.0, &[]), res(4.0, 1.0, &[])),
        ]
    }

    const FREE: HereFits = HereFits {
        ever: true,
        now: true,
        load: 0.0,
    };
    const BUSY: HereFits = HereFits {
        ever: true,
        now: false,
        load: 1.0,
    };
    const NEVER: HereFits = HereFits {
        ever: false,
        now: false,
        load: f64::INFINITY,
    };

    #[test]
    fn default_stays_home_when_free_and_spills_back_when_busy() {
        let (n, cpu) = (cluster(), res(1.0, 0.0, &[]));
        let mut t = 0;
        assert_eq!(
            choose(1, &n, &cpu, &Strategy::Default, FREE, &mut t),
            Ok(None)
        );
        // Busy here: the node with the most free CPU.
        assert_eq!(
            choose(1, &n, &cpu, &Strategy::Default, BUSY, &mut t),
            Ok(Some(3))
        );
        // Nobody free: queue on the least loaded node, here on a tie.
        let mut full = n.clone();
        for c in &mut full {
            c.free = Resources::none();
            c.load = 1.0;
        }
        assert_eq!(
            choose(1, &full, &cpu, &Strategy::Default, BUSY, &mut t),
            Ok(None)
        );
        let queued_here = HereFits { load: 3.0, ..BUSY };
        full[2].load = 1.5;
        assert_eq!(
            choose(1, &full, &cpu, &Strategy::Default, queued_here, &mut t),
            Ok(Some(2)),
            "w1 (load 1) before w2 (1.5) and here (3)"
        );
    }

    #[test]
    fn gpu_and_custom_resources_go_to_the_nodes_that_have_them() {
        let (n, mut t) = (cluster(), 0);
        let gpu = res(1.0, 1.0, &[]);
        assert_eq!(
            choose(1, &n, &gpu, &Strategy::Default, NEVER, &mut t),
            Ok(Some(3))
        );
        let accel = res(1.0, 0.0, &[("accel", 1.0)]);
        assert_eq!(
            choose(1, &n, &accel, &Strategy::Default, NEVER, &mut t),
            Ok(Some(2))
        );
        // Even when busy there, it queues there: no other node ever can.
        let mut busy = n.clone();
        busy[1].free = Resources::none();
        assert_eq!(
            choose(1, &busy, &accel, &Strategy::Default, NEVER, &mut t),
            Ok(Some(2))
        );
    }

    #[test]
    fn infeasible_only_when_no_live_node_can_ever_hold_it() {
        let (mut n, mut t) = (cluster(), 0);
        let two_gpus = res(1.0, 2.0, &[]);
        let err = choose(1, &n, &two_gpus, &Strategy::Default, NEVER, &mut t).unwrap_err();
        assert!(
            err.contains("2 GPU") && err.contains("the most is 1"),
            "{err}"
        );
        // The GPU node dead: one GPU is infeasible too.
        n[2].alive = false;
        let gpu = res(1.0, 1.0, &[]);
        assert!(choose(1, &n, &gpu, &Strategy::Default, NEVER, &mut t).is_err());
    }

    #[test]
    fn spread_takes_the_able_nodes_in_turn() {
        let (n, mut t) = (cluster(), 0);
        let cpu = res(1.0, 0.0, &[]);
        let picks: Vec<Option<u16>> = (0..6)
            .map(|_| choose(1, &n, &cpu, &Strategy::Spread, FREE, &mut t).unwrap())
            .collect();
        assert_eq!(picks, [None, Some(2), Some(3), None, Some(2), Some(3)]);
        // Only w2 can hold a GPU task.
        let gpu = res(1.0, 1.0, &[]);
        assert_eq!(
            choose(1, &n, &gpu, &Strategy::Spread, NEVER, &mut t),
            Ok(Some(3))
        );
    }

    #[test]
    fn affinity_pins_by_name_or_id_and_soft_falls_back() {
        let (mut n, mut t) = (cluster(), 0);
        let cpu = res(1.0, 0.0, &[]);
        let to = |node: &str, soft: bool| Strategy::Affinity {
            node: node.into(),
            soft,
        };
        assert_eq!(
            choose(1, &n, &cpu, &to("w1", false), FREE, &mut t),
            Ok(Some(2))
        );
        assert_eq!(
            choose(1, &n, &cpu, &to("3", false), FREE, &mut t),
            Ok(Some(3))
        );
        assert_eq!(
            choose(2, &n, &cpu, &to("w1", false), FREE, &mut t),
            Ok(None)
        );
        // A node that came back under its name: the live one is meant.
        let mut again = n.clone();
        again[1].alive = false;
        let mut back = again[1].clone();
        back.id = 9;
        back.alive = true;
        again.push(back);
        assert_eq!(
            choose(1, &again, &cpu, &to("w1", false), FREE, &mut t),
            Ok(Some(9))
        );
        let err = choose(1, &n, &cpu, &to("w9", false), FREE, &mut t).unwrap_err();
        assert!(err.contains("no node named `w9`"), "{err}");
        let gpu = res(1.0, 1.0, &[]);
        let err = choose(1, &n, &gpu, &to("w1", false), NEVER, &mut t).unwrap_err();
        assert!(err.contains("can never hold it"), "{err}");
        n[1].alive = false;
        let err = choose(1, &n, &cpu, &to("w1", false), FREE, &mut t).unwrap_err();
        assert!(err.contains("dead"), "{err}");
        assert_eq!(choose(1, &n, &cpu, &to("w1", true), FREE, &mut t), Ok(None));
    }
}

//! The cluster protocol: its version and the types that cross the wire.
//!
//! Nodes speak [`PROTOCOL`]; a node of another version is refused when it
//! joins, with a message naming both versions ([`JoinRequest`],
//! [`JoinAnswer`]), and a record of another version in the registry is
//! never placed on. The messages are types of this module, not the WIT
//! bindings: the conversions to and from the WIT types destructure every
//! field and match every case, so an edit of `wit/runtime.wit` fails to
//! compile here rather than silently changing what nodes send each other.
//! Whoever changes a type here bumps [`PROTOCOL`].

use serde::{Deserialize, Serialize};

use crate::bindings::wit;
use crate::error::{ErrorKind, TaskError};
use crate::ids::ObjectId;

/// The version of the cluster protocol this build speaks.
pub(crate) const PROTOCOL: u32 = 2;

/// What a joining node asks the head.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub(crate) struct JoinRequest {
    /// The node's name.
    pub(crate) name: String,
    /// The protocol it speaks.
    pub(crate) protocol: u32,
}

/// The head's answer to a [`JoinRequest`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub(crate) enum JoinAnswer {
    /// Welcome: the node's id.
    Id(u16),
    /// Refused, and why.
    Refused(String),
}

/// Why a node of protocol `theirs` cannot join a cluster of `ours`.
pub(crate) fn mismatch(ours: u32, theirs: u32) -> String {
    format!(
        "this cluster speaks protocol version {ours} and the joining node version {theirs}: \
         run the same raylab release on every node"
    )
}

/// The head's answer to a join request of bytes `payload`, giving `next`
/// id when it is welcome. A payload that is not a [`JoinRequest`] comes
/// from a release before versioned joins (it sent its bare name).
pub(crate) fn answer_join(payload: &[u8], next: impl FnOnce() -> u16) -> JoinAnswer {
    match serde_json::from_slice::<JoinRequest>(payload) {
        Ok(req) if req.protocol == PROTOCOL => JoinAnswer::Id(next()),
        Ok(req) => JoinAnswer::Refused(mismatch(PROTOCOL, req.protocol)),
        Err(_) => JoinAnswer::Refused(format!(
            "{} (a release before versioned joins)",
            mismatch(PROTOCOL, 0)
        )),
    }
}

/// A joining node's reading of the head's answer: its id, or why it was
/// refused (an answer that is no [`JoinAnswer`] comes from a head of an
/// older release, which answered a bare id).
pub(crate) fn read_answer(payload: &[u8]) -> Result<u16, String> {
    match serde_json::from_slice::<JoinAnswer>(payload) {
        Ok(JoinAnswer::Id(id)) => Ok(id),
        Ok(JoinAnswer::Refused(why)) => Err(why),
        Err(_) => Err(format!(
            "the head speaks protocol version 0 (a release before versioned joins) and this \
             node version {PROTOCOL}: run the same raylab release on every node"
        )),
    }
}

/// A task's options as they travel (`task-options`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub(crate) struct TaskOptions {
    pub(crate) name: Option<String>,
    pub(crate) num_cpus: Option<f64>,
    pub(crate) num_gpus: Option<f64>,
    pub(crate) memory: Option<u64>,
    pub(crate) resources: Vec<(String, f64)>,
    pub(crate) max_retries: Option<u32>,
    pub(crate) retry_exceptions: Option<bool>,
    pub(crate) timeout_ms: Option<u64>,
    /// `true`: warm; `false`: fresh.
    pub(crate) warm: Option<bool>,
    pub(crate) scheduling: Option<Scheduling>,
}

/// Where a task may run (`scheduling-strategy`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub(crate) enum Scheduling {
    Spread,
    NodeAffinity {
        node: String,
        soft: bool,
    },
    PlacementGroup {
        group: u64,
        bundle: Option<u32>,
        capture_child_tasks: bool,
    },
    OutsideGroup,
}

impl From<&wit::TaskOptions> for TaskOptions {
    fn from(o: &wit::TaskOptions) -> Self {
        let wit::TaskOptions {
            name,
            num_cpus,
            num_gpus,
            memory,
            resources,
            max_retries,
            retry_exceptions,
            timeout_ms,
            isolation,
            scheduling,
        } = o;
        TaskOptions {
            name: name.clone(),
            num_cpus: *num_cpus,
            num_gpus: *num_gpus,
            memory: *memory,
            resources: resources
                .iter()
                .map(|r| (r.name.clone(), r.amount))
                .collect(),
            max_retries: *max_retries,
            retry_exceptions: *retry_exceptions,
            timeout_ms: *timeout_ms,
            warm: isolation.map(|i| match i {
                wit::Isolation::Fresh => false,
                wit::Isolation::Warm => true,
            }),
            scheduling: scheduling.as_ref().map(|s| match s {
                wit::SchedulingStrategy::Spread => Scheduling::Spread,
                wit::SchedulingStrategy::NodeAffinity(wit::NodeAffinity { node, soft }) => {
                    Scheduling::NodeAffinity {
                        node: node.clone(),
                        soft: *soft,
                    }
                }
                wit::SchedulingStrategy::PlacementGroup(wit::Placement {
                    group,
                    bundle,
                    capture_child_tasks,
                }) => Scheduling::PlacementGroup {
                    group: *group,
                    bundle: *bundle,
                    capture_child_tasks: *capture_child_tasks,
                },
                wit::SchedulingStrategy::OutsideGroup => Scheduling::OutsideGroup,
            }),
        }
    }
}

impl From<TaskOptions> for wit::TaskOptions {
    fn from(o: TaskOptions) -> Self {
        let TaskOptions {
            name,
            num_cpus,
            num_gpus,
            memory,
            resources,
            max_retries,
            retry_exceptions,
            timeout_ms,
            warm,
            scheduling,
        } = o;
        wit::TaskOptions {
            name,
            num_cpus,
            num_gpus,
            memory,
            resources: resources
                .into_iter()
                .map(|(name, amount)| wit::ResourceAmount { name, amount })
                .collect(),
            max_retries,
            retry_exceptions,
            timeout_ms,
            isolation: warm.map(|w| {
                if w {
                    wit::Isolation::Warm
                } else {
                    wit::Isolation::Fresh
                }
            }),
            scheduling: scheduling.map(|s| match s {
                Scheduling::Spread => wit::SchedulingStrategy::Spread,
                Scheduling::NodeAffinity { node, soft } => {
                    wit::SchedulingStrategy::NodeAffinity(wit::NodeAffinity { node, soft })
                }
                Scheduling::PlacementGroup {
                    group,
                    bundle,
                    capture_child_tasks,
                } => wit::SchedulingStrategy::PlacementGroup(wit::Placement {
                    group,
                    bundle,
                    capture_child_tasks,
                }),
                Scheduling::OutsideGroup => wit::SchedulingStrategy::OutsideGroup,
            }),
        }
    }
}

/// An actor's options as they travel with its creation (`actor-options`)
/// to the node it was placed on. Its scheduling stays behind: the node that
/// placed it decided it, and the actor lives where it is sent.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub(crate) struct ActorOptions {
    pub(crate) name: Option<String>,
    pub(crate) num_cpus: Option<f64>,
    pub(crate) num_gpus: Option<f64>,
    pub(crate) memory: Option<u64>,
    pub(crate) resources: Vec<(String, f64)>,
    pub(crate) max_restarts: Option<u32>,
    pub(crate) max_task_retries: Option<u32>,
    pub(crate) timeout_ms: Option<u64>,
    pub(crate) detached: bool,
}

impl From<&wit::ActorOptions> for ActorOptions {
    fn from(o: &wit::ActorOptions) -> Self {
        let wit::ActorOptions {
            name,
            num_cpus,
            num_gpus,
            memory,
            resources,
            max_restarts,
            max_task_retries,
            timeout_ms,
            detached,
            scheduling: _placed_already,
        } = o;
        ActorOptions {
            name: name.clone(),
            num_cpus: *num_cpus,
            num_gpus: *num_gpus,
            memory: *memory,
            resources: resources
                .iter()
                .map(|r| (r.name.clone(), r.amount))
                .collect(),
            max_restarts: *max_restarts,
            max_task_retries: *max_task_retries,
            timeout_ms: *timeout_ms,
            detached: *detached,
        }
    }
}

impl From<ActorOptions> for wit::ActorOptions {
    fn from(o: ActorOptions) -> Self {
        let ActorOptions {
            name,
            num_cpus,
            num_gpus,
            memory,
            resources,
            max_restarts,
            max_task_retries,
            timeout_ms,
            detached,
        } = o;
        wit::ActorOptions {
            name,
            num_cpus,
            num_gpus,
            memory,
            resources: resources
                .into_iter()
                .map(|(name, amount)| wit::ResourceAmount { name, amount })
                .collect(),
            max_restarts,
            max_task_retries,
            timeout_ms,
            detached,
            scheduling: None,
        }
    }
}

/// What one node asks of an actor another node owns (see `wire`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub(crate) enum ActorOp {
    /// Call `method` of the actor behind `handle`.
    Call { handle: ObjectId, method: String },
    /// Kill the actor behind `handle`.
    Kill { handle: ObjectId },
    /// A reference to the live actor named `name`, if the node has one.
    Find { name: String },
    /// Make an actor of `class` of the module `digest` (named `module` on
    /// the asking node) there.
    Create {
        module: String,
        digest: String,
        class: String,
        options: ActorOptions,
    },
}

/// How a node answers a request for a task's outcome, an object's bytes
/// or an actor operation.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub(crate) enum Answer<P> {
    /// Done: its bytes.
    Ok(P),
    /// Failed, as the task (or the read) failed.
    Err(Error),
    /// This node no longer does it: it was counted dead by the cluster
    /// (see `registry`'s incarnations), and the asker's work that it held
    /// was placed again elsewhere or is lost with it. The asker treats it
    /// as the node's death.
    Lost(String),
}

/// The wire's error kinds, one list: the enum and both conversions to and
/// from the WIT's kinds, one match arm per case (a kind added to the WIT
/// fails to compile until it is added here).
macro_rules! kinds {
    ($($case:ident),* $(,)?) => {
        /// An error kind as it travels: its WIT name, in a type of its own.
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
        #[serde(rename_all = "kebab-case")]
        pub(crate) enum Kind {
            $($case,)*
        }
        impl From<ErrorKind> for Kind {
            fn from(k: ErrorKind) -> Self {
                match k {
                    $(ErrorKind::$case => Kind::$case,)*
                }
            }
        }
        impl From<Kind> for ErrorKind {
            fn from(k: Kind) -> Self {
                match k {
                    $(Kind::$case => ErrorKind::$case,)*
                }
            }
        }
    };
}

kinds!(
    TaskFailed,
    TaskCrashed,
    DependencyFailed,
    NoSuchFunction,
    UnknownObject,
    ObjectStoreFull,
    Timeout,
    InvalidArgument,
    Infeasible,
    Cancelled,
    MemoryQuotaExceeded,
    TimeLimitExceeded,
    TooManyTasks,
    ActorDied,
    ObjectLost,
    Internal,
);

/// A task's error as it travels.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub(crate) struct Error {
    pub(crate) kind: Kind,
    pub(crate) task: Option<String>,
    pub(crate) message: String,
}

impl From<TaskError> for Error {
    fn from(e: TaskError) -> Self {
        let TaskError {
            kind,
            task,
            message,
        } = e;
        Error {
            kind: kind.into(),
            task,
            message,
        }
    }
}

impl From<Error> for TaskError {
    fn from(e: Error) -> Self {
        TaskError {
            kind: e.kind.into(),
            task: e.task,
            message: e.message,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_node_of_another_version_is_refused_naming_both() {
        let ask = |protocol| {
            serde_json::to_vec(&JoinRequest {
                name: "w1".into(),
                protocol,
            })
            .unwrap()
        };
        assert_eq!(answer_join(&ask(PROTOCOL), || 7), JoinAnswer::Id(7));
        let JoinAnswer::Refused(why) = answer_join(&ask(PROTOCOL + 1), || unreachable!()) else {
            panic!("a node of another version joined");
        };
        assert!(why.contains(&format!("version {PROTOCOL}")), "{why}");
        assert!(why.contains(&format!("version {}", PROTOCOL + 1)), "{why}");
        // A node of a release before versioned joins sent its bare name.
        let JoinAnswer::Refused(why) = answer_join(b"w1", || unreachable!()) else {
            panic!("an unversioned node joined");
        };
        assert!(why.contains("version 0"), "{why}");

        // The joining side reads the answer the same way.
        let answer = |a: &JoinAnswer| serde_json::to_vec(a).unwrap();
        assert_eq!(read_answer(&answer(&JoinAnswer::Id(3))), Ok(3));
        let refused = read_answer(&answer(&answer_join(&ask(9), || 0))).unwrap_err();
        assert!(refused.contains("version 9"), "{refused}");
        // A head of an older release answered a bare id.
        let old = read_answer(b"3").unwrap_err();
        assert!(
            old.contains("version 0") && old.contains(&format!("version {PROTOCOL}")),
            "{old}"
        );
    }

    #[test]
    fn options_and_errors_cross_the_wire_unchanged() {
        let options = wit::TaskOptions {
            name: Some("f".into()),
            num_cpus: Some(0.5),
            num_gpus: None,
            memory: Some(1 << 20),
            resources: vec![wit::ResourceAmount {
                name: "disk".into(),
                amount: 2.0,
            }],
            max_retries: Some(1),
            retry_exceptions: Some(true),
            timeout_ms: Some(1500),
            isolation: Some(wit::Isolation::Warm),
            scheduling: Some(wit::SchedulingStrategy::PlacementGroup(wit::Placement {
                group: 4,
                bundle: Some(1),
                capture_child_tasks: true,
            })),
        };
        let sent = serde_json::to_vec(&TaskOptions::from(&options)).unwrap();
        let got: wit::TaskOptions = serde_json::from_slice::<TaskOptions>(&sent).unwrap().into();
        assert_eq!(format!("{got:?}"), format!("{options:?}"));

        // An actor's options travel whole, but for where it lives (the
        // node that placed it decided that).
        let actor = wit::ActorOptions {
            name: Some("board".into()),
            num_cpus: Some(1.0),
            num_gpus: Some(0.5),
            memory: Some(64 << 20),
            resources: vec![wit::ResourceAmount {
                name: "accel".into(),
                amount: 1.0,
            }],
            max_restarts: Some(2),
            max_task_retries: Some(1),
            timeout_ms: Some(900),
            detached: true,
            scheduling: Some(wit::SchedulingStrategy::Spread),
        };
        let sent = serde_json::to_vec(&ActorOptions::from(&actor)).unwrap();
        let got: wit::ActorOptions = serde_json::from_slice::<ActorOptions>(&sent)
            .unwrap()
            .into();
        let placed = wit::ActorOptions {
            scheduling: None,
            ..actor
        };
        assert_eq!(format!("{got:?}"), format!("{placed:?}"));

        let e = TaskError::for_task(ErrorKind::MemoryQuotaExceeded, "f", "too big");
        let sent = serde_json::to_string(&Error::from(e.clone())).unwrap();
        assert!(sent.contains("\"memory-quota-exceeded\""), "{sent}");
        let got: TaskError = serde_json::from_str::<Error>(&sent).unwrap().into();
        assert_eq!(got, e);
    }
}

//! Ray's state commands against a head: `list`, `timeline` and `summary`.

use std::path::PathBuf;

use anyhow::Context;
use clap::Args;
use raylab_host::api;
use raylab_host::client::{self, Client};

use super::AddressArgs;

/// What `list` lists.
#[derive(Clone, Copy, clap::ValueEnum)]
pub(crate) enum Listed {
    Jobs,
    /// The task table: state, node, peak memory of the quota, duration of
    /// the time limit, attempts and errors.
    Tasks,
    /// The objects in the node's store.
    Objects,
    Nodes,
    Actors,
}

/// A task state, as `list tasks --state` filters by it.
#[derive(Clone, Copy, clap::ValueEnum)]
pub(crate) enum StateFilter {
    Pending,
    Running,
    Finished,
    Failed,
    NotRun,
}

#[derive(Args)]
pub(crate) struct ListArgs {
    /// What to list.
    what: Listed,
    #[command(flatten)]
    address: AddressArgs,
    /// Print them as JSON.
    #[arg(long)]
    json: bool,
    /// Tasks and objects: only this job's.
    #[arg(long)]
    job: Option<raylab::JobId>,
    /// Tasks: only those whose name contains this.
    #[arg(long)]
    name: Option<String>,
    /// Tasks: only those in this state.
    #[arg(long, value_enum)]
    state: Option<StateFilter>,
    /// Tasks and objects: at most this many, the newest first.
    #[arg(long, default_value_t = 100)]
    limit: usize,
}

impl ListArgs {
    /// The query of `GET /api/tasks`.
    fn task_query(&self) -> api::TaskQuery {
        api::TaskQuery {
            job: self.job,
            name: self.name.clone(),
            state: self.state.map(|s| match s {
                StateFilter::Pending => api::TaskState::Pending,
                StateFilter::Running => api::TaskState::Running,
                StateFilter::Finished => api::TaskState::Finished,
                StateFilter::Failed => api::TaskState::Failed,
                StateFilter::NotRun => api::TaskState::NotRun,
            }),
            limit: Some(self.limit),
        }
    }

    /// The query of `GET /api/objects`.
    fn objects_query(&self) -> api::ObjectsQuery {
        api::ObjectsQuery {
            job: self.job,
            limit: Some(self.limit),
        }
    }
}

/// `list`: a table, or with `--json` the head's answer as it came (nodes
/// and actors: the part of the status that lists them).
pub(crate) fn list(args: &ListArgs) -> anyhow::Result<i32> {
    let head = Client::new(&args.address.address, args.address.token.clone());
    let text = match (args.what, args.json) {
        (Listed::Jobs, false) => client::format_jobs(&head.jobs()?),
        (Listed::Tasks, false) => client::format_tasks(&head.tasks(&args.task_query())?),
        (Listed::Objects, false) => client::format_objects(&head.objects(&args.objects_query())?),
        (Listed::Nodes, false) => client::format_nodes(&head.status()?.nodes),
        (Listed::Actors, false) => client::format_actors(&head.status()?.actors),
        (Listed::Jobs, true) => json_line(&head.raw(api::JOBS)?)?,
        (Listed::Tasks, true) => {
            json_line(&head.raw(&api::with_query(api::TASKS, &args.task_query()))?)?
        }
        (Listed::Objects, true) => {
            json_line(&head.raw(&api::with_query(api::OBJECTS, &args.objects_query()))?)?
        }
        (Listed::Nodes, true) => client::to_json_text(&head.status()?.nodes)? + "\n",
        (Listed::Actors, true) => client::to_json_text(&head.status()?.actors)? + "\n",
    };
    print!("{text}");
    Ok(0)
}

/// `value`, pretty, and a newline.
pub(crate) fn json_line(value: &serde_json::Value) -> anyhow::Result<String> {
    Ok(serde_json::to_string_pretty(value)? + "\n")
}

#[derive(Args)]
pub(crate) struct TimelineArgs {
    /// Only this job's tasks.
    #[arg(long)]
    job: Option<raylab::JobId>,
    /// Where the trace goes.
    #[arg(long, short, default_value = "timeline.json")]
    output: PathBuf,
    #[command(flatten)]
    address: AddressArgs,
}

/// What `summary` summarises.
#[derive(Clone, Copy, clap::ValueEnum)]
pub(crate) enum Summarised {
    Tasks,
}

#[derive(Args)]
pub(crate) struct SummaryArgs {
    /// What to summarise.
    what: Summarised,
    /// Only this job's tasks.
    #[arg(long)]
    job: Option<raylab::JobId>,
    #[command(flatten)]
    address: AddressArgs,
    /// Print it as JSON.
    #[arg(long)]
    json: bool,
}

/// `timeline`: the cluster's trace, written to a file.
pub(crate) fn timeline(args: TimelineArgs) -> anyhow::Result<i32> {
    let t = Client::new(&args.address.address, args.address.token).timeline(args.job)?;
    let slices = t.slices().count();
    std::fs::write(&args.output, serde_json::to_vec(&t)?)
        .with_context(|| format!("cannot write {}", args.output.display()))?;
    println!(
        "wrote {} task slices to {} (open it in Perfetto or chrome://tracing)",
        slices,
        args.output.display()
    );
    Ok(0)
}

/// `summary tasks`: the timeline's attempts by function and state.
pub(crate) fn summary(args: SummaryArgs) -> anyhow::Result<i32> {
    let Summarised::Tasks = args.what;
    let t = Client::new(&args.address.address, args.address.token).timeline(args.job)?;
    let summary = client::summarize_tasks(&t);
    if args.json {
        println!("{}", client::to_json_text(&summary)?);
    } else {
        print!("{}", client::format_summary(&summary));
    }
    Ok(0)
}

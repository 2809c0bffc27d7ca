//! Lineage: rebuilding objects that died with their node by running again
//! the task that made them (Ray's lineage reconstruction).
//!
//! A task's result always comes back to the node that submitted it, so a
//! result is never lost with the node that ran it. What can be lost are the
//! objects a result *refers to* that live on that node: objects the task
//! `put` there, or results of tasks it submitted there, returned by
//! reference. For each such reference, the submitting node keeps the
//! recipe of the task whose result brought it (its module, function,
//! argument values and options; the references in its arguments stay
//! pinned). When a read of one of them fails with `object-lost`, the task
//! runs again (placed as it was first, on a node alive now, or here), and
//! the references in its new result stand for the old ones, position by
//! position: the old id reads the new object from then on (one rebuild per
//! recipe, however many readers ask). A recipe whose task cannot run any
//! more (pinned to the dead node) or whose new result has a different
//! shape leaves the object lost, with both reasons in the error.
//!
//! A recipe lives as long as a ref it covers does here (as Ray keeps
//! lineage while its objects are referenced): when the stub of the last one
//! is freed, the recipe goes and its arguments are unpinned; a rebuilt
//! object stands for an old ref until that ref's stub is freed. Whatever
//! is left goes when the job ends here. Only results that hold refs to
//! other nodes' objects leave a recipe.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use super::{HereFits, Recipe, Strategy, Tasks};
use crate::core::cancel::CancelFlag;
use crate::core::control::JobId;
use crate::core::object_store::ObjectId;
use crate::error::{ErrorKind, TaskError};
use crate::msgpack;

/// A recipe and the refs its result held.
pub(crate) struct Made {
    recipe: Recipe,
    /// The refs of its result, in the order `msgpack::find_refs` lists them.
    refs: Vec<ObjectId>,
    /// The outcome of rebuilding them, once tried (one rebuild at a time).
    /// Lock order: outermost, held across the whole re-run (which takes the
    /// control lock and `Lineage`'s); a rebuild waits only on older recipes.
    rebuilt: tokio::sync::Mutex<Option<Result<(), TaskError>>>,
    /// Its refs (of other nodes) whose stubs are still alive here.
    alive: std::sync::atomic::AtomicUsize,
}

/// The recipes of a node.
#[derive(Default)]
pub(crate) struct Lineage {
    /// By each ref to an object of another node that a result held.
    /// Lock order: before `released` and `moved`; after nothing.
    made: Mutex<HashMap<ObjectId, Arc<Made>>>,
    /// Refs rebuilt: old id -> the id that stands for it now.
    /// Lock order: a leaf (after `made`).
    moved: Mutex<HashMap<ObjectId, ObjectId>>,
    /// Objects rebuilt so far.
    count: AtomicU64,
    /// References to release that `record` let go (a recipe no ref needs
    /// any more), taken by [`Lineage::take_released`].
    /// Lock order: a leaf (after `made`).
    released: Mutex<Vec<ObjectId>>,
}

impl Lineage {
    /// A result of `recipe` held `refs`: remember what made those that
    /// `elsewhere` says live on another node. True if any did (the caller
    /// pins the recipe's arguments).
    pub(crate) fn record(
        &self,
        recipe: &Recipe,
        refs: &[ObjectId],
        elsewhere: impl Fn(ObjectId) -> Option<u16>,
    ) -> bool {
        if !refs.iter().any(|id| elsewhere(*id).is_some()) {
            return false;
        }
        let covered: std::collections::HashSet<ObjectId> = refs
            .iter()
            .copied()
            .filter(|id| elsewhere(*id).is_some())
            .collect();
        let made = Arc::new(Made {
            recipe: recipe.clone(),
            refs: refs.to_vec(),
            rebuilt: tokio::sync::Mutex::new(None),
            alive: std::sync::atomic::AtomicUsize::new(covered.len()),
        });
        let mut all = self.made.lock().unwrap_or_else(|p| p.into_inner());
        for id in covered {
            if let Some(old) = all.insert(id, made.clone())
                && old.alive.fetch_sub(1, Ordering::AcqRel) == 1
            {
                // The same ref came back in another result: the newer
                // recipe covers it, and the older one covers nothing now.
                self.released
                    .lock()
                    .unwrap_or_else(|p| p.into_inner())
                    .extend(msgpack::find_refs(&old.recipe.args).unwrap_or_default());
            }
        }
        true
    }

    /// The stub of ref `id` was freed here: what to release now, if that
    /// was the last ref its recipe covered (the references its arguments
    /// pinned) or if it stood for a rebuilt object (the reference held for
    /// it).
    pub(crate) fn freed(&self, id: ObjectId) -> Vec<ObjectId> {
        let mut release = Vec::new();
        if let Some(made) = self
            .made
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .remove(&id)
            && made.alive.fetch_sub(1, Ordering::AcqRel) == 1
        {
            release.extend(msgpack::find_refs(&made.recipe.args).unwrap_or_default());
        }
        if let Some(new) = self
            .moved
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .remove(&id)
        {
            release.push(new);
        }
        release
    }

    /// References `record` let go since the last call.
    pub(crate) fn take_released(&self) -> Vec<ObjectId> {
        std::mem::take(&mut *self.released.lock().unwrap_or_else(|p| p.into_inner()))
    }

    /// The id that stands for `id` now (itself unless it was rebuilt).
    pub(crate) fn current(&self, id: ObjectId) -> ObjectId {
        let moved = self.moved.lock().unwrap_or_else(|p| p.into_inner());
        let mut id = id;
        // A rebuilt object may have been rebuilt again.
        while let Some(next) = moved.get(&id) {
            id = *next;
        }
        id
    }

    fn made(&self, id: ObjectId) -> Option<Arc<Made>> {
        self.made
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .get(&id)
            .cloned()
    }

    /// Forget the recipes of `job` (it ended here).
    pub(crate) fn forget_job(&self, job: JobId) {
        let mut made = self.made.lock().unwrap_or_else(|p| p.into_inner());
        let gone: Vec<ObjectId> = made
            .iter()
            .filter(|(_, m)| m.recipe.job == job)
            .map(|(id, _)| *id)
            .collect();
        let mut moved = self.moved.lock().unwrap_or_else(|p| p.into_inner());
        for id in gone {
            made.remove(&id);
            moved.remove(&id);
        }
    }

    /// Objects rebuilt so far.
    pub(crate) fn rebuilt(&self) -> u64 {
        self.count.load(Ordering::Relaxed)
    }
}

impl Tasks {
    /// Object `id` was lost with its node (`lost`): rebuild it from its
    /// recipe, if there is one. Ok once `Lineage::current` names what
    /// stands for it now.
    pub(super) async fn rebuild(
        self: &Arc<Self>,
        id: ObjectId,
        lost: TaskError,
    ) -> Result<(), TaskError> {
        let Some(made) = self.lineage.made(id) else {
            return Err(lost);
        };
        let mut rebuilt = made.rebuilt.lock().await;
        if rebuilt.is_none() {
            *rebuilt = Some(self.run_again(&made).await);
        }
        rebuilt.clone().expect("set above").map_err(|why| {
            TaskError::new(
                ErrorKind::ObjectLost,
                format!(
                    "{}; running {} again to rebuild it failed: {}",
                    lost.message, made.recipe.name, why.message
                ),
            )
        })
    }

    /// Run the task of `made` again, and let the refs of its new result
    /// stand for the old ones.
    async fn run_again(self: &Arc<Self>, made: &Made) -> Result<(), TaskError> {
        let recipe = &made.recipe;
        let cluster = self.cluster.get().expect("lineage in a cluster").clone();
        let here = HereFits::of(&self.control, &recipe.demand);
        let placed = cluster
            .place(&recipe.demand, &Strategy::of(&recipe.options), here)
            .map_err(|why| TaskError::new(ErrorKind::Infeasible, why))?;
        tracing::warn!(task = %recipe.name, "runs again to rebuild objects lost with their node");
        let cancel = Arc::new(CancelFlag::default());
        let bytes = match placed {
            Some(node) => self.forward(node, recipe, cancel, false).await?,
            None => {
                let mut options = recipe.options.clone();
                options.scheduling = None;
                let args = (*recipe.args).clone();
                self.run_pinned(
                    recipe.job,
                    &recipe.module.name,
                    &recipe.function,
                    args,
                    options,
                )
                .await?
            }
        };
        // Each ref of the new result is held once (see `Tasks::forward`):
        // by what stands for the old one, until the job ends.
        let new = msgpack::find_refs(&bytes).unwrap_or_default();
        if new.len() != made.refs.len() {
            self.control.lock().release_all(&new);
            return Err(TaskError::new(
                ErrorKind::ObjectLost,
                format!(
                    "its new result holds {} refs where the first held {}",
                    new.len(),
                    made.refs.len()
                ),
            ));
        }
        self.remember(recipe, &new);
        let mut moved = self.lineage.moved.lock().unwrap_or_else(|p| p.into_inner());
        for (old, new) in made.refs.iter().zip(&new) {
            if old != new {
                moved.insert(*old, *new);
                self.lineage.count.fetch_add(1, Ordering::Relaxed);
            }
        }
        Ok(())
    }
}

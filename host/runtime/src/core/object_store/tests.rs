//! Unit tests of the object store: references, capacity, jobs, spilling.
use super::*;

#[test]
fn freed_when_the_last_reference_goes() {
    let mut s = ObjectStore::new(1 << 20);
    let id = s.put(vec![1, 2, 3], vec![]).unwrap();
    s.retain(id).unwrap();
    assert_eq!(s.stats().bytes, 3);
    s.release(id);
    assert!(matches!(s.lookup(id), Ok(Lookup::Ready(_))));
    s.release(id);
    let err = s.lookup(id).unwrap_err();
    assert_eq!(err.kind, ErrorKind::UnknownObject);
    assert!(err.message.contains("freed"), "{err}");
    assert_eq!(s.stats().bytes, 0);
    assert_eq!(s.stats().objects, 0);
}

#[test]
fn forged_ids_are_told_apart_from_freed_ones() {
    let mut s = ObjectStore::new(10);
    let err = s.lookup(ObjectId::new(999)).unwrap_err();
    assert!(err.message.contains("never created"), "{err}");
}

#[test]
fn capacity_is_enforced() {
    let mut s = ObjectStore::new(10);
    s.put(vec![0; 8], vec![]).unwrap();
    let err = s.put(vec![0; 8], vec![]).unwrap_err();
    assert_eq!(err.kind, ErrorKind::ObjectStoreFull);
    // A task result that does not fit fails its object instead.
    let id = s.create_pending();
    s.complete(id, Ok((vec![0; 8], vec![])));
    assert!(matches!(s.lookup(id), Ok(Lookup::Failed(e)) if e.kind == ErrorKind::ObjectStoreFull));
}

#[test]
fn each_job_has_its_share_of_the_store() {
    let mut s = ObjectStore::new(100).with_job_capacity(10);
    s.put_for(vec![0; 8], vec![], JobId::new(1)).unwrap();
    let err = s.put_for(vec![0; 8], vec![], JobId::new(1)).unwrap_err();
    assert!(err.message.contains("for this job"), "{err}");
    // Another job still has room, and freeing gives the room back.
    let other = s.put_for(vec![0; 8], vec![], JobId::new(2)).unwrap();
    s.release(other);
    s.put_for(vec![0; 8], vec![], JobId::new(2)).unwrap();
}

#[test]
fn contained_references_keep_objects_alive() {
    let mut s = ObjectStore::new(1 << 20);
    let inner = s.put(vec![7], vec![]).unwrap();
    let outer = s.put(vec![1], vec![inner]).unwrap();
    s.release(inner); // the caller's own reference
    assert!(s.lookup(inner).is_ok(), "kept alive by outer");
    s.release(outer);
    assert!(s.lookup(inner).is_err(), "freed with outer");
    assert_eq!(s.stats().freed, 2);
    // Containing an unknown id is refused, and nothing leaks.
    assert!(s.put(vec![1], vec![ObjectId::new(12345)]).is_err());
}

#[test]
fn a_jobs_objects_go_with_it_even_in_a_reference_cycle() {
    let mut s = ObjectStore::new(1 << 20);
    let other = s.put_for(vec![9], vec![], JobId::new(2)).unwrap();
    // A cycle: a pending result that, once complete, holds a ref to an
    // object that holds a ref to it.
    let a = s.create_pending_for(JobId::new(1));
    let b = s.put_for(vec![1, 2], vec![a], JobId::new(1)).unwrap();
    s.complete(a, Ok((vec![3], vec![b])));
    s.release(a);
    s.release(b);
    assert_eq!(s.stats().objects, 3, "the cycle keeps itself alive");
    let waiter = s.create_pending_for(JobId::new(1));
    s.add_waiter(waiter, Waiter::Task(7));
    let woken = s.drop_job(JobId::new(1));
    assert!(matches!(woken.as_slice(), [Waiter::Task(7)]));
    assert_eq!(s.stats().objects, 1);
    assert_eq!(s.stats().bytes, 1, "only the other job's object is left");
    assert!(s.lookup(other).is_ok());
    // The freed job's room comes back.
    s.put_for(vec![0; 100], vec![], JobId::new(1)).unwrap();
}

#[test]
fn waiters_are_returned_on_completion() {
    let mut s = ObjectStore::new(1 << 20);
    let id = s.create_pending();
    assert!(s.add_waiter(id, Waiter::Task(5)));
    let woken = s.complete(id, Ok((vec![1], vec![])));
    assert!(matches!(woken.as_slice(), [Waiter::Task(5)]));
    assert!(!s.add_waiter(id, Waiter::Task(6)), "not pending any more");
    let failed = s.create_pending();
    s.complete(failed, Err(TaskError::new(ErrorKind::TaskFailed, "boom")));
    assert!(matches!(s.lookup(failed), Ok(Lookup::Failed(_))));
}

#[test]
fn result_of_a_released_pending_object_is_dropped() {
    let mut s = ObjectStore::new(1 << 20);
    let inner = s.put(vec![7], vec![]).unwrap();
    let id = s.create_pending();
    s.release(id);
    s.complete(id, Ok((vec![1, 2], vec![inner])));
    assert_eq!(s.stats().bytes, 1, "only inner remains");
    s.release(inner);
    assert_eq!(s.stats().objects, 0);
}

// ---- spilling ----

fn spilling(capacity: usize, spill: usize) -> (ObjectStore, tempfile::TempDir) {
    let dir = tempfile::tempdir().unwrap();
    let s = ObjectStore::new(capacity).with_spill(Spill::new(dir.path().to_path_buf(), spill));
    (s, dir)
}

#[test]
fn a_full_store_spills_the_oldest_idle_objects_and_reads_them_back() {
    let (mut s, _dir) = spilling(100, 1000);
    let a = s.put(vec![1; 60], vec![]).unwrap();
    let reading = match s.lookup(a).unwrap() {
        Lookup::Ready(b) => b,
        _ => unreachable!(),
    };
    // `a` is being read: it stays; with nothing else to spill, no room.
    let err = s.put(vec![2; 60], vec![]).unwrap_err();
    assert_eq!(err.kind, ErrorKind::ObjectStoreFull);
    assert!(err.message.contains("spilled to disk"), "{err}");
    drop(reading);
    let b = s.put(vec![2; 60], vec![]).unwrap();
    let st = s.stats();
    assert_eq!((st.bytes, st.spill.bytes, st.spill.objects), (60, 60, 1));
    assert!(matches!(s.status(a).unwrap(), Status::Ready));
    // Reading `a` brings it back, spilling `b` in turn.
    match s.lookup(a).unwrap() {
        Lookup::Ready(bytes) => assert_eq!(*bytes, vec![1; 60]),
        _ => panic!("a is ready"),
    }
    let st = s.stats();
    assert_eq!((st.bytes, st.spill.bytes), (60, 60));
    assert_eq!((st.spill.spilled_total, st.spill.restored_total), (120, 60));
    // Freeing a spilled object frees its disk space.
    s.release(b);
    assert_eq!(s.stats().spill.bytes, 0);
}

#[test]
fn full_only_when_memory_and_spill_space_are_both_full() {
    let (mut s, _dir) = spilling(100, 100);
    s.put(vec![1; 60], vec![]).unwrap();
    s.put(vec![2; 60], vec![]).unwrap();
    let err = s.put(vec![3; 60], vec![]).unwrap_err();
    assert_eq!(err.kind, ErrorKind::ObjectStoreFull);
    assert_eq!(s.stats().spill.bytes, 60);
}

#[test]
fn a_jobs_spilled_objects_go_with_the_job() {
    let (mut s, _dir) = spilling(100, 1000);
    s.put_for(vec![1; 60], vec![], JobId::new(3)).unwrap();
    s.put_for(vec![2; 60], vec![], JobId::new(3)).unwrap();
    assert_eq!(s.stats().spill.bytes, 60);
    s.drop_job(JobId::new(3));
    let st = s.stats();
    assert_eq!((st.bytes, st.spill.bytes, st.objects), (0, 0, 0));
}

/// Holds given back by freed stubs, as a sink collects them.
type Given = std::sync::Arc<std::sync::Mutex<Vec<(ObjectId, u32)>>>;

/// A store on node 2 of a cluster, its freed stubs' holds collected.
fn node_store() -> (ObjectStore, Given) {
    let mut s = ObjectStore::new(1 << 20);
    s.set_id_base(ObjectId::new(2 << OWNER_SHIFT));
    let given = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
    let sink = given.clone();
    s.on_foreign_freed(Box::new(move |id, holds| {
        sink.lock().unwrap().push((id, holds))
    }));
    (s, given)
}

#[test]
fn a_stub_counts_references_and_gives_its_holds_back_when_it_goes() {
    let (mut s, given) = node_store();
    let theirs = ObjectId::new((3 << OWNER_SHIFT) + 5);
    // Two messages brought it (two holds); the first message's reference
    // was kept by an object here, the second's by a guest.
    s.import(JobId::new(1), &[theirs]);
    let local = s.put_for(vec![1], vec![theirs], JobId::new(1)).unwrap();
    s.release(theirs);
    s.import(JobId::new(1), &[theirs]);
    assert_eq!(s.stats().foreign, 1);
    assert!(matches!(s.status(theirs), Ok(Status::Ready)));
    assert!(s.lookup(theirs).unwrap_err().message.contains("node 3"));
    s.release(theirs);
    assert!(given.lock().unwrap().is_empty(), "the object here holds it");
    s.release(local);
    assert_eq!(*given.lock().unwrap(), vec![(theirs, 2)]);
    assert_eq!(s.stats().objects, 0);
    assert_eq!(s.stats().foreign, 0);
}

#[test]
fn own_ids_are_not_stubbed_and_a_stub_keeps_what_it_contains_once() {
    let (mut s, given) = node_store();
    let mine = s.put_for(vec![7], vec![], JobId::new(1)).unwrap();
    s.import(JobId::new(1), &[mine]);
    assert_eq!(s.stats().foreign, 0, "its own object is counted by itself");
    // A stub read whole: the refs inside are imported and kept by it.
    let (outer, inner) = (
        ObjectId::new((3 << OWNER_SHIFT) + 1),
        ObjectId::new((4 << OWNER_SHIFT) + 1),
    );
    s.import(JobId::new(1), &[outer]);
    s.import(JobId::new(1), &[inner]);
    s.fill_stub(outer, vec![inner]);
    // Read again: the second copy's reference goes back at once.
    s.import(JobId::new(1), &[inner]);
    s.fill_stub(outer, vec![inner]);
    assert!(given.lock().unwrap().is_empty());
    s.release(outer);
    assert_eq!(*given.lock().unwrap(), vec![(outer, 1), (inner, 2)]);
    // A job's end drops its stubs too, giving their holds back.
    let other = ObjectId::new((5 << OWNER_SHIFT) + 9);
    s.import(JobId::new(4), &[other]);
    s.drop_job(JobId::new(4));
    assert_eq!(given.lock().unwrap().last(), Some(&(other, 1)));
}

#[test]
fn objects_are_listed_newest_first_with_their_state_and_size() {
    let (mut s, _) = node_store();
    let a = s.put_for(vec![1, 2, 3], vec![], JobId::new(1)).unwrap();
    let b = s.put_for(vec![4], vec![a], JobId::new(2)).unwrap();
    let pending = s.create_pending_for(JobId::new(1));
    s.import(JobId::new(1), &[ObjectId::new((3 << OWNER_SHIFT) + 1)]);
    let all = s.list(None, 10);
    let ids: Vec<ObjectId> = all.iter().map(|r| r.id).collect();
    assert_eq!(
        ids,
        vec![ObjectId::new((3 << OWNER_SHIFT) + 1), pending, b, a]
    );
    assert_eq!((all[0].state, all[0].owner), ("REMOTE", 3));
    assert_eq!(all[1].state, "PENDING");
    assert_eq!((all[2].size, all[2].contains, all[2].owner), (1, 1, 2));
    assert_eq!((all[3].state, all[3].size, all[3].refs), ("READY", 3, 2));
    let job2: Vec<ObjectId> = s
        .list(Some(JobId::new(2)), 10)
        .iter()
        .map(|r| r.id)
        .collect();
    assert_eq!(job2, vec![b]);
    assert_eq!(s.list(None, 1).len(), 1);
}

#[test]
fn a_range_is_clamped_to_the_object() {
    assert_eq!(byte_range(10, 2, 3), 2..5);
    assert_eq!(byte_range(10, 8, 5), 8..10, "fewer at the end");
    assert_eq!(byte_range(10, 12, 5), 10..10, "none past it");
    assert_eq!(byte_range(10, u64::MAX, u64::MAX), 10..10);
    assert_eq!(byte_range(10, 0, u64::MAX), 0..10);
}

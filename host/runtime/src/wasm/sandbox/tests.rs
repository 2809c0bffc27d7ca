use super::*;
use crate::error::{ErrorKind, TaskError};

#[test]
fn a_limit_is_its_own_error_kind_and_message() {
    let t = SandboxLimit::Time(Duration::from_millis(1500)).error("f");
    assert_eq!(t.kind, ErrorKind::TimeLimitExceeded);
    assert_eq!(t.to_string(), "task `f`: exceeded its time limit of 1.5 s");
    let m = SandboxLimit::Memory(64 << 20).error("g");
    assert_eq!(m.kind, ErrorKind::MemoryQuotaExceeded);
    assert!(m.message.contains("64 MiB"), "{m}");
    assert!(is_limit::<()>(&Err(m)));
    assert!(!is_limit::<()>(&Err(TaskError::new(
        ErrorKind::TaskCrashed,
        "x"
    ))));
}

#[test]
fn a_trap_is_classified_as_a_limit_or_a_crash_with_the_guests_words() {
    let limit = wasmtime::Error::new(SandboxLimit::Cancelled);
    assert_eq!(classify_trap("f", &limit, &None).kind, ErrorKind::Cancelled);
    let trap = wasmtime::Error::new(wasmtime::Trap::UnreachableCodeReached);
    let e = classify_trap("f", &trap, &Some("panicked at 'boom'".into()));
    assert_eq!(e.kind, ErrorKind::TaskCrashed);
    assert!(e.message.contains("unreachable"), "{e}");
    assert!(
        e.message.contains("the guest reported: panicked at 'boom'"),
        "{e}"
    );
}

#[test]
fn a_job_has_one_hash_seed_and_jobs_have_their_own() {
    assert_eq!(insecure_seed(JobId::new(0)), insecure_seed(JobId::new(0)));
    assert_ne!(insecure_seed(JobId::new(0)), insecure_seed(JobId::new(1)));
    assert_ne!(insecure_seed(JobId::new(1)), 0);
}

#[test]
fn the_memory_limiter_refuses_growth_past_the_quota() {
    use wasmtime::ResourceLimiter;
    let mut l = Limiter {
        cap: Some(1 << 20),
        size: 0,
    };
    assert!(l.memory_growing(0, 1 << 20, None).unwrap());
    let err = l.memory_growing(0, (1 << 20) + 1, None).unwrap_err();
    assert!(matches!(
        err.downcast_ref::<SandboxLimit>(),
        Some(SandboxLimit::Memory(_))
    ));
    assert_eq!(l.size, 1 << 20, "the size granted is noted");
    let mut none = Limiter { cap: None, size: 0 };
    assert!(none.memory_growing(0, usize::MAX / 2, None).unwrap());
}

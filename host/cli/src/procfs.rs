//! `/proc/PID/status`: the few fields raylab reads (resident memory, its
//! peak, the user id), in one place.

/// The first number of field `key` (as `/proc` spells it, without the
/// colon) of process `pid`'s status (`"self"` for this process); none
/// where /proc or the field is missing.
pub fn status_field(pid: &str, key: &str) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    field(&status, key)
}

/// The first number of field `key` in the text of a status file.
fn field(status: &str, key: &str) -> Option<u64> {
    status
        .lines()
        .find_map(|l| l.strip_prefix(key)?.strip_prefix(':'))?
        .split_whitespace()
        .next()?
        .parse()
        .ok()
}

/// Resident memory of process `pid` (`VmRSS`), bytes; 0 where unknown.
pub fn rss(pid: &str) -> u64 {
    status_field(pid, "VmRSS").map_or(0, |kb| kb * 1024)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fields_are_read_by_exact_name() {
        let status =
            "Name:\tx\nVmHWM:\t  2048 kB\nVmRSS:\t  1024 kB\nUid:\t1000\t1000\t1000\t1000\n";
        assert_eq!(field(status, "VmRSS"), Some(1024));
        assert_eq!(field(status, "VmHWM"), Some(2048));
        assert_eq!(field(status, "Uid"), Some(1000));
        assert_eq!(
            field(status, "Vm"),
            None,
            "a prefix of a name is not the name"
        );
        assert_eq!(field(status, "Threads"), None);
    }

    #[test]
    fn this_process_has_memory_and_an_id() {
        assert!(rss("self") > 0);
        assert!(status_field("self", "Uid").is_some());
    }
}

//! A driver that panics: the host reports the crash and exits non-zero.
raylab_guest::tasks!();
fn main() {
    panic!("the driver gave up");
}

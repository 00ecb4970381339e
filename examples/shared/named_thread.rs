//! The benches' threads, named so profilers can tell the stacks apart.

/// A thread named `name` running `f`.
pub fn named<T: Send + 'static>(
    name: &str,
    f: impl FnOnce() -> T + Send + 'static,
) -> std::thread::JoinHandle<T> {
    std::thread::Builder::new()
        .name(name.into())
        .spawn(f)
        .expect("thread spawns")
}

//! The built-in lessons, embedded so `poolscope list` and `poolscope run NAME` work anywhere.

/// `(name, TOML text)` of every built-in lesson, in teaching order.
pub const BUILTIN: &[(&str, &str)] = &[
    ("pool-basics", include_str!("../../scenarios/pool-basics.toml")),
    ("sync-vs-async", include_str!("../../scenarios/sync-vs-async.toml")),
    ("apply-vs-apply-async", include_str!("../../scenarios/apply-vs-apply-async.toml")),
    ("callbacks", include_str!("../../scenarios/callbacks.toml")),
    ("map-ordering", include_str!("../../scenarios/map-ordering.toml")),
    ("map-chunks-timeout", include_str!("../../scenarios/map-chunks-timeout.toml")),
    ("as-completed", include_str!("../../scenarios/as-completed.toml")),
    ("wait-first", include_str!("../../scenarios/wait-first.toml")),
    ("future-states", include_str!("../../scenarios/future-states.toml")),
    ("future-exception", include_str!("../../scenarios/future-exception.toml")),
    ("threads-cpu-gil", include_str!("../../scenarios/threads-cpu-gil.toml")),
    ("threads-io-bound", include_str!("../../scenarios/threads-io-bound.toml")),
    ("processes-cpu-bound", include_str!("../../scenarios/processes-cpu-bound.toml")),
    ("pool-sizing", include_str!("../../scenarios/pool-sizing.toml")),
    ("hockey-stick", include_str!("../../scenarios/hockey-stick.toml")),
    ("unbounded-queue", include_str!("../../scenarios/unbounded-queue.toml")),
    ("shutdown", include_str!("../../scenarios/shutdown.toml")),
    ("close-join-terminate", include_str!("../../scenarios/close-join-terminate.toml")),
    ("exceptions", include_str!("../../scenarios/exceptions.toml")),
    ("worker-crash", include_str!("../../scenarios/worker-crash.toml")),
    ("worker-respawn", include_str!("../../scenarios/worker-respawn.toml")),
    ("max-tasks-per-child", include_str!("../../scenarios/max-tasks-per-child.toml")),
    ("initializer-thread-names", include_str!("../../scenarios/initializer-thread-names.toml")),
    ("main-guard", include_str!("../../scenarios/main-guard.toml")),
    ("shared-queue", include_str!("../../scenarios/shared-queue.toml")),
    ("shared-counter", include_str!("../../scenarios/shared-counter.toml")),
    ("coroutines", include_str!("../../scenarios/coroutines.toml")),
];

/// `(name, TOML text)` of the built-in lessons past one machine: a Dask cluster's, run on
/// the CPython engine with Dask's `distributed` installed. They are not in the picker, whose
/// lessons run on poolscope's own pools.
pub const CLUSTER: &[(&str, &str)] = &[
    ("cluster-map", include_str!("../../scenarios/cluster-map.toml")),
    ("cluster-task-cost", include_str!("../../scenarios/cluster-task-cost.toml")),
];

/// The names of the lessons past one machine ([`CLUSTER`]).
pub fn cluster_names() -> impl Iterator<Item = &'static str> {
    CLUSTER.iter().map(|(name, _)| *name)
}

/// The names of the built-in lessons, in teaching order.
pub fn builtin_names() -> impl Iterator<Item = &'static str> {
    BUILTIN.iter().map(|(name, _)| *name)
}

//! The built-in lessons, embedded so `poolscope list` and `poolscope run NAME` work anywhere.

/// `(name, TOML text)` of every built-in lesson, in teaching order.
pub const BUILTIN: &[(&str, &str)] = &[("sync-vs-async", include_str!("../../scenarios/sync-vs-async.toml"))];

/// The names of the built-in lessons, in teaching order.
pub fn builtin_names() -> impl Iterator<Item = &'static str> {
    BUILTIN.iter().map(|(name, _)| *name)
}

//! poolscope: see concurrency.
//!
//! The [`pool`] module is a worker-pool library with the API of Python's
//! `concurrent.futures` — usable on its own:
//!
//! ```
//! use poolscope::pool::ThreadPool;
//! use std::time::Duration;
//!
//! let pool = ThreadPool::new(4);
//! let future = pool.submit(|| "hello from a worker").unwrap();
//! future.add_done_callback(|f| println!("done: {:?}", f.result(None)));
//! assert_eq!(future.result(Some(Duration::from_secs(5))), Ok("hello from a worker"));
//! ```
#![warn(missing_docs, missing_debug_implementations)]
#![deny(unsafe_code)]

pub mod pool;
pub mod scenario;
pub mod theory;
pub mod trace;

// The terminal UI and the CPU sampler: only with the `ui` feature (the library builds without).
#[cfg(feature = "ui")]
pub mod sys;
#[cfg(feature = "ui")]
pub mod ui;

//! The process pool (being written).

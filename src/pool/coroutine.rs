//! The coroutine pool (being written).

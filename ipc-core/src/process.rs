//! Child processes (work in progress).

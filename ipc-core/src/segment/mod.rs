//! Shared-memory segments (work in progress).

//! Placeholder: the shared-memory `Manager` arrives with its own issue.

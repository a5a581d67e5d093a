//! Placeholder: the lock-protected ring-buffer `Queue` and duplex `Pipe` arrive with their own issue.

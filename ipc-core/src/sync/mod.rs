//! Cross-process synchronisation (work in progress).

//! Runnable examples live in `examples/`: one per program of the Python
//! `multiprocessing` tutorials (`cargo run -p ipc-examples --example NAME`).
//!
//! This library only makes the README's code blocks run as doctests.

#[cfg(doctest)]
#[doc = include_str!("../../README.md")]
struct ReadmeDoctests;

//! The shared objects users hold: typed handles over the store.
//!
//! - `types`: the type tags
//!   recorded beside typed data.
//! - `directory`: the name → object directory and the type registry.
//! - `dict`, `list`, `value`, `sync`: the objects; each is found or created
//!   by name through the directory.

pub(crate) mod dict;
pub(crate) mod directory;
pub(crate) mod list;
pub(crate) mod sync;
pub(crate) mod types;
pub(crate) mod value;

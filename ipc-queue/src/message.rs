//! What may travel through a queue or pipe: [`Message`] types (the
//! toolkit's one plain-bytes bound, defined in `ipc-core`) and byte frames.

pub use ipc_core::Message;

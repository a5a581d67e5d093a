//! What may travel through a queue or pipe: [`Message`] types (the
//! toolkit's one plain-bytes bound, defined in `ipc-core`) and byte frames.

pub use ipc_core::Message;

/// The largest byte frame of a `Queue<u8>`, a `Pipe<u8>` or a `u8` channel
/// when the builder's `max_frame` is not set: 4 KiB, a page, the size of a
/// typical log line or request with room to spare. Such queues are byte
/// queues (their typed `put(u8)` sends one byte), so a frame of one byte
/// would make `put_str("hello")` fail; every slot reserves room for one
/// frame, so 1024 slots take 4 MiB. For other message types the default is
/// `size_of::<T>()`.
///
/// ```
/// use ipc_queue::{DEFAULT_BYTE_FRAME, Error, Queue};
///
/// let q = Queue::<u8>::new(16)?;
/// q.put_str("hello")?;
/// assert_eq!(q.max_frame(), DEFAULT_BYTE_FRAME);
/// let err = q.put_bytes(&[0; 5000]).unwrap_err();
/// assert!(matches!(err, Error::TooLarge { len: 5000, max: 4096 }));
/// assert!(err.to_string().contains("max_frame"), "{err}");
/// let big = Queue::<u8>::builder().max_frame(8192).create()?;
/// big.put_bytes(&[0; 5000])?;
/// # Ok::<(), Error>(())
/// ```
pub const DEFAULT_BYTE_FRAME: usize = 4096;

/// The default largest frame for messages of type `T` (see
/// [`DEFAULT_BYTE_FRAME`]).
pub(crate) fn default_max_frame<T: Message>() -> usize {
    if is_bytes::<T>() {
        DEFAULT_BYTE_FRAME
    } else {
        size_of::<T>()
    }
}

/// Whether `T` is `u8`: a queue or pipe of byte frames.
pub(crate) fn is_bytes<T: Message>() -> bool {
    std::any::TypeId::of::<T>() == std::any::TypeId::of::<u8>()
}

//! User functions, type-erased so that one pool runs any of them, and the
//! argument tuples of `starmap`.
//!
//! A function reaches a worker by `fork`: the pool keeps every function it
//! was given in a registry, and a worker forked afterwards has a copy of it
//! (closures and their captured state included; nothing is serialized). Tasks
//! name their function by registry id. A worker forked before a function was
//! registered cannot run it; the pool then replaces its workers (see
//! [`Registry`] below, and `Workers::retire_stale` in `workers.rs`).
//!
//! The functions run a chunk through what `exec.rs` gives a running task
//! ([`TaskView`], [`Emit`], [`drive`]); the worker's main loop (`worker.rs`)
//! sits above this file and calls them.

use std::any::TypeId;
use std::collections::{BTreeMap, HashMap};
use std::marker::PhantomData;

use ipc_queue::Message;
use zerocopy::{Immutable, IntoBytes, KnownLayout, TryFromBytes};

use crate::exec::{Emit, TaskView, drive};
use crate::wire::{FIXED, PREFIXED};

/// A value a task may produce: any type `zerocopy` can write as bytes and
/// check on the way back (`TryFromBytes`). Every [`Message`] is one; so are
/// `bool`, `char` and fieldless enums deriving `TryFromBytes`, `IntoBytes`,
/// `Immutable` and `KnownLayout` (no zero variant needed). The parent checks
/// each result's bytes before it hands it out: an invalid one fails the call
/// with [`Error::Protocol`](crate::Error::Protocol), never becomes a value.
///
/// ```
/// use ipc_pool::Pool;
///
/// fn is_prime(n: u64) -> bool {
///     n >= 2 && (2..n).take_while(|d| d * d <= n).all(|d| !n.is_multiple_of(d))
/// }
/// let pool = Pool::new(2)?;
/// let primes = pool.map(is_prime, 0..10u64)?;
/// assert_eq!(primes, [false, false, true, true, false, true, false, true, false, false]);
/// # Ok::<(), ipc_pool::Error>(())
/// ```
pub trait TaskResult:
    TryFromBytes + IntoBytes + Immutable + KnownLayout + Send + Sized + 'static
{
}

impl<T> TaskResult for T where
    T: TryFromBytes + IntoBytes + Immutable + KnownLayout + Send + Sized + 'static
{
}

/// What a task function may return: a [`TaskResult`], or a
/// `Result<R, E>` with `R: TaskResult` and `E: Display`, whose `Err` fails
/// that item with [`Error::TaskFailed`](crate::Error::TaskFailed) carrying
/// the error's text (as a panic would, without the unwinding and the
/// location). The pool's calls hand out [`TaskOutput::Value`].
///
/// The parameter `M` ([`Plain`] or [`Fallible`]) only tells the two
/// implementations apart; the compiler infers it, nobody writes it.
///
/// ```
/// use ipc_pool::{Error, Pool};
///
/// fn parse_digit(b: u8) -> Result<u32, String> {
///     (b as char).to_digit(10).ok_or(format!("{:?} is not a digit", b as char))
/// }
/// let pool = Pool::new(2)?;
/// assert_eq!(pool.map(parse_digit, *b"123")?, [1, 2, 3]);
/// let err = pool.map(parse_digit, *b"1x3").unwrap_err();
/// assert!(matches!(err, Error::TaskFailed { index: 1, ref message, location: None }
///     if message == "'x' is not a digit"));
/// # Ok::<(), Error>(())
/// ```
pub trait TaskOutput<M>: Send + 'static {
    /// The value a successful task hands back.
    type Value: TaskResult;
    /// The value, or the text of the error that fails the item.
    fn into_outcome(self) -> Result<Self::Value, String>;
}

/// Marks the [`TaskOutput`] of a plain [`TaskResult`].
#[derive(Debug)]
pub enum Plain {}

/// Marks the [`TaskOutput`] of a `Result<R, E>`.
#[derive(Debug)]
pub enum Fallible {}

impl<R: TaskResult> TaskOutput<Plain> for R {
    type Value = R;

    #[inline(always)]
    fn into_outcome(self) -> Result<R, String> {
        Ok(self)
    }
}

impl<R: TaskResult, E: std::fmt::Display + Send + 'static> TaskOutput<Fallible> for Result<R, E> {
    type Value = R;

    #[inline]
    fn into_outcome(self) -> Result<R, String> {
        self.map_err(|e| e.to_string())
    }
}

/// Reads one result from the bytes a worker sent, checking that they are a
/// valid `R` (the one place results are decoded: `map`'s sink and the
/// handles of `apply_async` and `imap`).
pub(crate) fn read_result<R: TaskResult>(bytes: &[u8]) -> Result<R, String> {
    if bytes.len() != size_of::<R>() {
        return Err(format!(
            "a result of {} bytes where {} were expected",
            bytes.len(),
            size_of::<R>()
        ));
    }
    R::try_read_from_bytes(bytes).map_err(|_| {
        format!(
            "a result that is not a valid {}",
            std::any::type_name::<R>()
        )
    })
}

/// A function a worker can run over the items of a chunk.
pub(crate) trait TaskFn: Send + 'static {
    /// Runs every item of `task`, reporting each result or failure to `out`.
    fn run(&self, task: &TaskView<'_>, out: &mut Emit<'_>);
    /// A copy for a worker about to be forked.
    fn clone_box(&self) -> Box<dyn TaskFn>;
}

/// `fn(A) -> O` over fixed-size messages (`map`, `imap`, `apply`); `M`
/// marks which [`TaskOutput`] `O` is.
pub(crate) struct MapFn<F, A, O, M>(pub F, PhantomData<fn(A) -> (O, M)>);

impl<F, A, O, M> MapFn<F, A, O, M> {
    pub fn new(f: F) -> Self {
        Self(f, PhantomData)
    }
}

impl<F, A, O, M> TaskFn for MapFn<F, A, O, M>
where
    F: Fn(A) -> O + Clone + Send + 'static,
    A: Message,
    O: TaskOutput<M>,
    M: 'static,
{
    fn run(&self, task: &TaskView<'_>, out: &mut Emit<'_>) {
        out.set_encoding(FIXED, size_of::<O::Value>());
        drive(
            task,
            out,
            |bytes| A::read_from_bytes(bytes).ok(),
            |a, out| out.push_outcome(self.0(a).into_outcome()),
        );
    }

    fn clone_box(&self) -> Box<dyn TaskFn> {
        Box::new(Self::new(self.0.clone()))
    }
}

/// `fn(A, B, ..) -> O` over tuples of messages (`starmap`).
pub(crate) struct StarFn<F, T, O, M>(pub F, PhantomData<fn(T) -> (O, M)>);

impl<F, T, O, M> StarFn<F, T, O, M> {
    pub fn new(f: F) -> Self {
        Self(f, PhantomData)
    }
}

impl<F, T, O, M> TaskFn for StarFn<F, T, O, M>
where
    F: StarCall<T, O>,
    T: Args,
    O: TaskOutput<M>,
    M: 'static,
{
    fn run(&self, task: &TaskView<'_>, out: &mut Emit<'_>) {
        out.set_encoding(FIXED, size_of::<O::Value>());
        drive(task, out, T::read, |args, out| {
            out.push_outcome(self.0.call(args).into_outcome())
        });
    }

    fn clone_box(&self) -> Box<dyn TaskFn> {
        Box::new(Self::new(self.0.clone()))
    }
}

/// `fn(&[u8]) -> Vec<u8>` over byte messages (`map_bytes`).
pub(crate) struct BytesFn<F>(pub F);

impl<F> TaskFn for BytesFn<F>
where
    F: Fn(&[u8]) -> Vec<u8> + Clone + Send + 'static,
{
    fn run(&self, task: &TaskView<'_>, out: &mut Emit<'_>) {
        out.set_encoding(PREFIXED, 0);
        drive(task, out, Some, |bytes, out| out.push(&self.0(bytes)));
    }

    fn clone_box(&self) -> Box<dyn TaskFn> {
        Box::new(Self(self.0.clone()))
    }
}

/// The initializer a worker runs once before its first task.
pub(crate) trait InitFn: Send + 'static {
    fn call(&self);
    fn clone_box(&self) -> Box<dyn InitFn>;
}

impl<F: Fn() + Clone + Send + 'static> InitFn for F {
    fn call(&self) {
        self()
    }

    fn clone_box(&self) -> Box<dyn InitFn> {
        Box::new(self.clone())
    }
}

mod sealed {
    pub trait Sealed {}
}

/// The argument tuples [`Pool::starmap`](crate::Pool::starmap) accepts:
/// `(A,)`, `(A, B)`, `(A, B, C)` and `(A, B, C, D)`, each element a
/// [`Message`]. They travel as their elements' bytes, back to back.
///
/// Sealed: implemented for those tuples only.
pub trait Args: sealed::Sealed + Send + Sized + 'static {
    /// Bytes of the encoded tuple (the sum of the elements' sizes).
    const SIZE: usize;
    /// Writes the elements' bytes to the front of `out` (`SIZE` bytes);
    /// `false` if `out` is shorter.
    fn write(&self, out: &mut [u8]) -> bool;
    /// Reads a tuple back from exactly `SIZE` bytes.
    fn read(bytes: &[u8]) -> Option<Self>;
}

/// A function [`Pool::starmap`](crate::Pool::starmap) can call with the
/// elements of an [`Args`] tuple as separate arguments: any
/// `Fn(A, B, ..) -> R + Clone + Send + 'static` (up to four arguments).
///
/// Sealed through [`Args`]. Closures need their argument types written out
/// (`|a: u64, b: u64| a + b`), since Rust infers closure signatures only from
/// `Fn` bounds.
pub trait StarCall<T: Args, R>: Clone + Send + 'static {
    /// Calls the function with the tuple's elements.
    fn call(&self, args: T) -> R;
}

macro_rules! tuples {
    ($( ( $($name:ident),+ ) ),+ $(,)?) => {$(
        impl<$($name: Message),+> sealed::Sealed for ($($name,)+) {}

        impl<$($name: Message),+> Args for ($($name,)+) {
            const SIZE: usize = 0 $(+ size_of::<$name>())+;

            #[allow(non_snake_case)]
            fn write(&self, out: &mut [u8]) -> bool {
                let ($($name,)+) = self;
                let mut rest = out;
                $(
                    if $name.write_to_prefix(rest).is_err() {
                        return false;
                    }
                    rest = &mut std::mem::take(&mut rest)[size_of::<$name>()..];
                )+
                let _ = rest;
                true
            }

            #[allow(non_snake_case)]
            fn read(bytes: &[u8]) -> Option<Self> {
                if bytes.len() != Self::SIZE {
                    return None;
                }
                let rest = bytes;
                $( let ($name, rest) = $name::read_from_prefix(rest).ok()?; )+
                let _ = rest;
                Some(($($name,)+))
            }
        }

        impl<Func, Ret, $($name: Message),+> StarCall<($($name,)+), Ret> for Func
        where
            Func: Fn($($name),+) -> Ret + Clone + Send + 'static,
        {
            #[allow(non_snake_case)]
            fn call(&self, args: ($($name,)+)) -> Ret {
                let ($($name,)+) = args;
                self($($name),+)
            }
        }
    )+};
}

tuples!((A), (A, B), (A, B, C), (A, B, C, D));

/// The pool's functions by id. Ids only grow, so a worker forked when the
/// next id was `n` knows exactly the functions with ids below `n` (those not
/// yet released).
pub(crate) struct Registry {
    next: u64,
    fns: BTreeMap<u64, Box<dyn TaskFn>>,
    /// Stateless functions (zero-sized: fn items, closures capturing
    /// nothing) by type: the type alone determines what they do, so they are
    /// registered once and stay known to every later worker.
    stateless: HashMap<TypeId, u64>,
}

impl Registry {
    pub fn new() -> Self {
        Self {
            next: 1,
            fns: BTreeMap::new(),
            stateless: HashMap::new(),
        }
    }

    /// Registers `f`, returning its id: the existing one for a stateless
    /// function seen before, a new one otherwise (a closure with captured
    /// state may hold different state each call, so it is never reused).
    pub fn register<T: TaskFn>(&mut self, f: T) -> u64 {
        let stateless = size_of::<T>() == 0;
        if stateless && let Some(&id) = self.stateless.get(&TypeId::of::<T>()) {
            return id;
        }
        let id = self.next;
        self.next += 1;
        self.fns.insert(id, Box::new(f));
        if stateless {
            self.stateless.insert(TypeId::of::<T>(), id);
        }
        id
    }

    /// Drops a function with state once its job is over (stateless ones
    /// stay). Its id is never given out again.
    pub fn release(&mut self, id: u64) {
        if !self.stateless.values().any(|&s| s == id) {
            self.fns.remove(&id);
        }
    }

    /// The id the next registration gets: a worker forked now knows every
    /// function with a smaller id.
    pub fn horizon(&self) -> u64 {
        self.next
    }

    /// A copy of every function, for a worker about to be forked.
    pub fn snapshot(&self) -> BTreeMap<u64, Box<dyn TaskFn>> {
        self.fns
            .iter()
            .map(|(&id, f)| (id, f.clone_box()))
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn square(x: u64) -> u64 {
        x * x
    }

    #[test]
    fn tuples_round_trip() {
        let t = (1u8, 2u64, 3u16);
        assert_eq!(<(u8, u64, u16)>::SIZE, 11);
        let mut buf = [0u8; 11];
        assert!(t.write(&mut buf));
        assert_eq!(<(u8, u64, u16)>::read(&buf), Some(t));
        assert_eq!(<(u8, u64, u16)>::read(&buf[..10]), None);
        assert!(!t.write(&mut [0u8; 10]));
    }

    #[test]
    fn stateless_functions_are_registered_once() {
        let mut r = Registry::new();
        let a = r.register(MapFn::<_, u64, u64, Plain>::new(square));
        let b = r.register(MapFn::<_, u64, u64, Plain>::new(square));
        assert_eq!(a, b);
        let k = 3u64;
        let c = r.register(MapFn::<_, u64, u64, Plain>::new(move |x: u64| x * k));
        let d = r.register(MapFn::<_, u64, u64, Plain>::new(move |x: u64| x * k));
        assert_ne!(c, d);
        assert_eq!(r.horizon(), d + 1);
        r.release(c);
        r.release(a);
        let ids: Vec<u64> = r.snapshot().keys().copied().collect();
        assert_eq!(ids, [a, d]);
    }
}

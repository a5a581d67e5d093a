//! TEMPORARY STUB written by the queue author so the crate compiles; the pipe
//! helper owns this file and replaces it entirely.
#![allow(missing_docs, dead_code)]
use std::marker::PhantomData;
pub struct Pipe;
pub struct PipeEnd<T>(PhantomData<T>);
pub struct Sender<T>(PhantomData<T>);
pub struct Receiver<T>(PhantomData<T>);
pub fn channel<T>() {}

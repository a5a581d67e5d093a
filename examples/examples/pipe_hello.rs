//! A sender process and a receiver process, one at each end of a `Pipe`:
//! the receiver prints what the sender sent.
//!
//! ```text
//! Hello, receiver!
//! ```

use ipc_core::process::Process;
use ipc_queue::{Pipe, PipeEnd};

fn sender(pipe: PipeEnd<u8>) {
    pipe.send_bytes(b"Hello, receiver!")
        .expect("the receiver's end is open");
    pipe.close();
}

fn receiver(pipe: PipeEnd<u8>) {
    let msg = pipe.recv_bytes().expect("the sender sends one message");
    println!("{}", String::from_utf8_lossy(&msg));
    pipe.close();
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    // Strings travel as byte frames of up to 64 bytes.
    let (parent_conn, child_conn) = Pipe::<u8>::builder().max_frame(64).create()?;
    let p1 = Process::spawn(move || sender(child_conn))?;
    let p2 = Process::spawn(move || receiver(parent_conn))?;
    p1.join_ok()?;
    p2.join_ok()?;
    Ok(())
}

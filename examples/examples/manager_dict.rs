//! A child sets `d["x"] = "hi"` in a dictionary of a `Manager`; the parent
//! prints the dictionary the way Python prints a dict of strings.
//!
//! ```text
//! {'x': 'hi'}
//! ```

use ipc_core::process::Process;
use ipc_manager::{Dict, Manager};

fn worker(d: &Dict) {
    d.insert("x", "hi").expect("the dictionary has room");
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    // Anonymous: shared with the children forked from here on.
    let manager = Manager::new()?;
    let d = manager.dict("d")?;
    let theirs = d.clone();
    let p = Process::spawn(move || worker(&theirs))?;
    p.join_ok()?;
    let text = |bytes: &[u8]| String::from_utf8_lossy(bytes).into_owned();
    let shown: Vec<String> = d
        .items()?
        .iter()
        .map(|(k, v)| format!("'{}': '{}'", text(k), text(v)))
        .collect();
    println!("{{{}}}", shown.join(", "));
    Ok(())
}

//! `ipc`: see, inspect, watch and clean up the ipc-toolkit's shared-memory
//! objects.
//!
//! ```text
//! ipc list [--dir DIR] [--prefix P] [--json]   every toolkit object, with its state
//! ipc show NAME [--json]                        one object's details
//! ipc clean [--dir DIR] [--prefix P] [--dry-run] remove stale objects
//! ipc watch NAME                     messages per second, every second
//! ipc gateway to-remote|from-remote LOCAL REMOTE --url URL [auth]
//!                                    forward a local queue to NATS, or back
//! ```
//!
//! Exit codes: 0 found (or done), 1 not found (nothing listed, no such
//! object), 2 error.

mod details;
mod gateway;
mod survey;

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use clap::{Parser, Subcommand};

use survey::{Kind, Object, Place, Status};

/// Lists, inspects, watches and cleans up ipc-toolkit objects in shared memory.
#[derive(Parser)]
#[command(name = "ipc", version, about)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Every toolkit object in /dev/shm (or in --dir): kind, type, size,
    /// creator, users, and whether it is stale.
    List {
        /// List file-backed objects in this directory instead.
        #[arg(long)]
        dir: Option<PathBuf>,
        /// Only objects whose name starts with this.
        #[arg(long, default_value = "")]
        prefix: String,
        /// One JSON array instead of a table.
        #[arg(long)]
        json: bool,
    },
    /// One object's details: a queue's fill and registered producers and
    /// consumers, a pipe's ends and frames in flight, a manager's objects,
    /// readers and consistency check.
    Show {
        /// A name in /dev/shm, or a file's path (with a '/').
        name: String,
        /// JSON instead of text.
        #[arg(long)]
        json: bool,
    },
    /// Removes stale objects: creator gone and no process mapping or
    /// holding them (half-built ones and a manager's heap segments
    /// included). Never touches an object a live process uses.
    Clean {
        /// Clean file-backed objects in this directory instead.
        #[arg(long)]
        dir: Option<PathBuf>,
        /// Only objects whose name starts with this.
        #[arg(long, default_value = "")]
        prefix: String,
        /// Only print what would be removed.
        #[arg(long)]
        dry_run: bool,
    },
    /// Messages per second in and out, length and sleepers of a queue or
    /// pipe, every interval, until interrupted.
    Watch {
        /// A name in /dev/shm, or a file's path.
        name: String,
        /// Milliseconds between lines.
        #[arg(long, default_value_t = 1000)]
        interval_ms: u64,
        /// Stop after this many lines (default: never).
        #[arg(long)]
        count: Option<u64>,
    },
    /// Forwards a local queue (a byte queue in /dev/shm) to a queue on a
    /// NATS JetStream server, or a remote queue into a local one, until the
    /// source is closed and drained or the gateway is interrupted.
    Gateway {
        /// to-remote: LOCAL's messages go to REMOTE; from-remote: the other
        /// way.
        direction: gateway::Direction,
        /// The local queue's name in /dev/shm.
        local: String,
        /// The remote queue's name (created if missing).
        remote: String,
        #[command(flatten)]
        server: gateway::Server,
        /// to-remote: close the remote queue when the local one is drained
        /// and its producers are gone.
        #[arg(long)]
        close: bool,
    },
}

/// What a command ended with, as an exit code.
enum Outcome {
    Found,
    NotFound,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::List { dir, prefix, json } => list(dir, &prefix, json),
        Command::Show { name, json } => show(&name, json),
        Command::Clean {
            dir,
            prefix,
            dry_run,
        } => clean(dir, &prefix, dry_run),
        Command::Watch {
            name,
            interval_ms,
            count,
        } => details::watch(&place_of(&name), Duration::from_millis(interval_ms), count)
            .map(|()| Outcome::Found),
        Command::Gateway {
            direction,
            local,
            remote,
            server,
            close,
        } => gateway::run(direction, &local, &remote, &server, close).map(|()| Outcome::Found),
    };
    match result {
        Ok(Outcome::Found) => ExitCode::SUCCESS,
        Ok(Outcome::NotFound) => ExitCode::from(1),
        Err(e) => {
            eprintln!("ipc: {e}");
            ExitCode::from(2)
        }
    }
}

type Result<T> = std::result::Result<T, Box<dyn std::error::Error>>;

/// A name with a '/' is a file; anything else a name in /dev/shm.
fn place_of(name: &str) -> Place {
    if name.contains('/') {
        Place::File(PathBuf::from(name))
    } else {
        Place::Named(name.to_owned())
    }
}

fn list(dir: Option<PathBuf>, prefix: &str, json: bool) -> Result<Outcome> {
    let objects = survey::survey(dir.as_deref(), prefix)?;
    if json {
        println!("{}", serde_json::to_string_pretty(&objects)?);
    } else {
        print_table(&objects);
    }
    Ok(if objects.is_empty() {
        Outcome::NotFound
    } else {
        Outcome::Found
    })
}

fn print_table(objects: &[Object]) {
    println!(
        "{:<32} {:<10} {:<24} {:>10} {:>8} {:<8} {:<10} FILL",
        "NAME", "KIND", "TYPE", "BYTES", "CREATOR", "USERS", "STATUS"
    );
    for o in objects {
        let kind = match (o.kind, &o.kind_name) {
            (Kind::Other, Some(name)) => name.clone(),
            (kind, _) => to_word(&kind),
        };
        let ty = match (&o.message_type, o.message_size) {
            (Some(t), Some(s)) => format!("{} ({s} B)", short_type(t)),
            _ => "-".to_owned(),
        };
        let creator = match (o.creator, o.creator_alive) {
            (Some(pid), Some(false)) => format!("{pid}†"),
            (Some(pid), _) => pid.to_string(),
            (None, _) => "-".to_owned(),
        };
        let fill = o
            .fill
            .clone()
            .or_else(|| o.error.clone())
            .unwrap_or_else(|| "-".to_owned());
        println!(
            "{:<32} {:<10} {:<24} {:>10} {:>8} {:<8} {:<10} {}",
            o.name,
            kind,
            ty,
            o.bytes,
            creator,
            o.users.len(),
            to_word(&o.status),
            fill
        );
    }
}

/// The serialized (kebab-case) word of a unit enum.
fn to_word<T: serde::Serialize>(value: &T) -> String {
    serde_json::to_value(value)
        .ok()
        .and_then(|v| v.as_str().map(str::to_owned))
        .unwrap_or_default()
}

/// `a::b::Type<c::D>` shortened to `Type<D>` for the table.
fn short_type(name: &str) -> String {
    let mut out = String::new();
    let mut word = String::new();
    for c in name.chars() {
        if c.is_alphanumeric() || c == '_' || c == ':' {
            word.push(c);
        } else {
            out.push_str(word.rsplit("::").next().unwrap_or(""));
            word.clear();
            out.push(c);
        }
    }
    out.push_str(word.rsplit("::").next().unwrap_or(""));
    out
}

fn show(name: &str, json: bool) -> Result<Outcome> {
    let place = place_of(name);
    if !survey::path_of(&place).exists() {
        eprintln!("ipc: no object called {name}");
        return Ok(Outcome::NotFound);
    }
    let Some(object) = survey::describe(&place) else {
        return Err(format!("{name} is not an ipc-toolkit object").into());
    };
    let detail = details::detail(&object)?;
    if json {
        let mut value = serde_json::to_value(&object)?;
        if let (Some(map), Some(detail)) = (value.as_object_mut(), detail.json) {
            map.insert("detail".into(), detail);
        }
        println!("{}", serde_json::to_string_pretty(&value)?);
    } else {
        print_table(std::slice::from_ref(&object));
        for line in detail.lines {
            println!("{line}");
        }
    }
    Ok(Outcome::Found)
}

fn clean(dir: Option<PathBuf>, prefix: &str, dry_run: bool) -> Result<Outcome> {
    let mut failed = 0;
    for object in survey::survey(dir.as_deref(), prefix)? {
        if object.status != Status::Stale {
            continue;
        }
        let Some(place) = &object.place else {
            continue;
        };
        if dry_run {
            println!("would remove {} ({})", object.name, to_word(&object.kind));
            continue;
        }
        match remove(&object, place) {
            Ok(()) => println!("removed {} ({})", object.name, to_word(&object.kind)),
            Err(e) => {
                eprintln!("ipc: could not remove {}: {e}", object.name);
                failed += 1;
            }
        }
    }
    if failed > 0 {
        return Err(format!("{failed} stale object(s) could not be removed").into());
    }
    Ok(Outcome::Found)
}

/// Removes a stale object: checked again right before (its users and
/// creator), so that an object taken up since the survey stays.
fn remove(object: &Object, place: &Place) -> Result<()> {
    let again = survey::describe(place).ok_or("no longer a toolkit object")?;
    if again.status != Status::Stale {
        return Err("in use again".into());
    }
    for part in object.parts.iter().rev() {
        std::fs::remove_file(survey::path_of(part))?;
    }
    std::fs::remove_file(survey::path_of(place))?;
    Ok(())
}

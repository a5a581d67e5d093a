//! Redis, the shared dictionary many programs reach for when processes
//! share state: a `redis-server` on loopback, started by the row on a free
//! port (no persistence) and stopped after it, with the same 10 000 keys
//! (16 bytes) and 8-byte values as the manager rows, read and written
//! through the `redis` crate, one command per round trip and pipelined
//! (batches of 100 commands per round trip). Where `redis-server` is not
//! installed the rows are skipped and say so (`.ci/run` installs it).

use std::net::{TcpListener, TcpStream};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use crate::harness::{Bench, Group, Iters, Kind, Metric, SampleError, Workload};
use crate::rows::kit::keys::{key, pick};

pub const GROUP: Group = Group {
    name: "redis",
    kind: Kind::Peer,
};

/// Keys in the dictionary (as `manager_get_8B`).
const KEYS: u64 = 10_000;
/// Commands per pipelined round trip.
const PIPELINE: u64 = 100;

pub fn benches() -> Vec<Bench> {
    let row = |id, iters: (u64, u64), about, sample| Bench {
        id,
        group: &GROUP,
        workload: Workload::DictGet,
        metric: Metric::OpsPerS,
        iters: Iters {
            full: iters.0,
            quick: iters.1,
        },
        compare_to: &[],
        about,
        sample,
    };
    vec![
        row(
            "redis_get_8B",
            (40_000, 2_000),
            "redis-server on loopback: GET of an 8-byte value, one per round trip",
            get_one,
        ),
        row(
            "redis_get_8B_pipelined",
            (400_000, 20_000),
            "redis-server on loopback: GETs pipelined 100 per round trip",
            get_pipelined,
        ),
        row(
            "redis_set_8B",
            (40_000, 2_000),
            "redis-server on loopback: SET of an 8-byte value, one per round trip",
            set_one,
        ),
        row(
            "redis_set_8B_pipelined",
            (400_000, 20_000),
            "redis-server on loopback: SETs pipelined 100 per round trip",
            set_pipelined,
        ),
    ]
}

fn failed(what: &str, e: impl std::fmt::Display) -> SampleError {
    SampleError::failed(format!("redis {what}: {e}"))
}

/// A `redis-server` of this row, killed when dropped.
struct Server {
    child: Child,
    port: u16,
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Server {
    /// Starts a server on a free loopback port and waits until it answers.
    fn start() -> Result<Server, SampleError> {
        let port = TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .map_err(|e| failed("free port", e))?
            .port();
        let child = Command::new("redis-server")
            .args(["--port", &port.to_string(), "--bind", "127.0.0.1"])
            .args(["--save", "", "--appendonly", "no", "--loglevel", "warning"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .map_err(|e| match e.kind() {
                std::io::ErrorKind::NotFound => {
                    SampleError::skipped("redis-server not found (Debian package redis-server)")
                }
                _ => failed("start", e),
            })?;
        let server = Server { child, port };
        let deadline = Instant::now() + Duration::from_secs(10);
        while TcpStream::connect(("127.0.0.1", port)).is_err() {
            if Instant::now() > deadline {
                return Err(SampleError::failed("redis-server did not start listening"));
            }
            std::thread::sleep(Duration::from_millis(10));
        }
        Ok(server)
    }

    /// A connection with the keys loaded.
    fn loaded(&self) -> Result<redis::Connection, SampleError> {
        let client = redis::Client::open(format!("redis://127.0.0.1:{}/", self.port))
            .map_err(|e| failed("client", e))?;
        let mut con = client.get_connection().map_err(|e| failed("connect", e))?;
        let mut p = redis::pipe();
        for i in 0..KEYS {
            p.cmd("SET")
                .arg(&key(i)[..])
                .arg(&i.to_le_bytes()[..])
                .ignore();
        }
        p.query::<()>(&mut con).map_err(|e| failed("load", e))?;
        Ok(con)
    }
}

fn check(i: u64, value: &[u8]) -> Result<(), SampleError> {
    let want = pick(i, KEYS).to_le_bytes();
    if value != want {
        return Err(SampleError::failed(format!(
            "redis: key {} read {value:?}",
            pick(i, KEYS)
        )));
    }
    Ok(())
}

fn get_one(ops: u64) -> Result<f64, SampleError> {
    let server = Server::start()?;
    let mut con = server.loaded()?;
    let start = Instant::now();
    for i in 0..ops {
        let v: Vec<u8> = redis::cmd("GET")
            .arg(&key(pick(i, KEYS))[..])
            .query(&mut con)
            .map_err(|e| failed("GET", e))?;
        check(i, &v)?;
    }
    Ok(ops as f64 / start.elapsed().as_secs_f64())
}

fn get_pipelined(ops: u64) -> Result<f64, SampleError> {
    let server = Server::start()?;
    let mut con = server.loaded()?;
    let start = Instant::now();
    let mut i = 0;
    while i < ops {
        let n = PIPELINE.min(ops - i);
        let mut p = redis::pipe();
        for k in i..i + n {
            p.cmd("GET").arg(&key(pick(k, KEYS))[..]);
        }
        let values: Vec<Vec<u8>> = p.query(&mut con).map_err(|e| failed("GET", e))?;
        for (k, v) in (i..i + n).zip(&values) {
            check(k, v)?;
        }
        i += n;
    }
    Ok(ops as f64 / start.elapsed().as_secs_f64())
}

fn set_one(ops: u64) -> Result<f64, SampleError> {
    let server = Server::start()?;
    let mut con = server.loaded()?;
    let start = Instant::now();
    for i in 0..ops {
        redis::cmd("SET")
            .arg(&key(pick(i, KEYS))[..])
            .arg(&pick(i, KEYS).to_le_bytes()[..])
            .query::<()>(&mut con)
            .map_err(|e| failed("SET", e))?;
    }
    Ok(ops as f64 / start.elapsed().as_secs_f64())
}

fn set_pipelined(ops: u64) -> Result<f64, SampleError> {
    let server = Server::start()?;
    let mut con = server.loaded()?;
    let start = Instant::now();
    let mut i = 0;
    while i < ops {
        let n = PIPELINE.min(ops - i);
        let mut p = redis::pipe();
        for k in i..i + n {
            p.cmd("SET")
                .arg(&key(pick(k, KEYS))[..])
                .arg(&pick(k, KEYS).to_le_bytes()[..])
                .ignore();
        }
        p.query::<()>(&mut con).map_err(|e| failed("SET", e))?;
        i += n;
    }
    Ok(ops as f64 / start.elapsed().as_secs_f64())
}

//! Running `benches/python/mp_bench.py`: each sample runs
//! `python3 mp_bench.py <row> <count> [--toolkit]`, which times `count`
//! operations after its own warm-up (interpreter start and process
//! start-up are outside the timing) and prints one number in the row's
//! RESULT unit. With `--toolkit` the same code uses `ipc_toolkit`'s Queue,
//! Pipe and Manager (the package folder goes on `PYTHONPATH`). Where no
//! python3 can be started, the rows are skipped and say so; the rest of
//! the suite runs. `IPC_BENCH_PYTHON` names another interpreter.

use std::io::Read;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use crate::harness::SampleError;

/// The shipped script.
pub fn script() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("python/mp_bench.py")
}

pub fn interpreter() -> String {
    std::env::var("IPC_BENCH_PYTHON").unwrap_or_else(|_| "python3".into())
}

/// `Python 3.x.y`, or why there is no usable python3; probed once.
pub fn probe() -> &'static Result<String, String> {
    static PROBE: OnceLock<Result<String, String>> = OnceLock::new();
    PROBE.get_or_init(|| {
        let python = interpreter();
        match Command::new(&python).arg("--version").output() {
            Ok(out) if out.status.success() => {
                let v = String::from_utf8_lossy(&out.stdout).trim().to_string();
                Ok(if v.is_empty() { python } else { v })
            }
            Ok(out) => Err(format!("{python} --version: {}", out.status)),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                Err(format!("{python} not found"))
            }
            Err(e) => Err(format!("{python}: {e}")),
        }
    })
}

/// The interpreter's version if a Python row has run, for the report.
pub fn version_seen() -> Option<&'static str> {
    PROBE_SEEN.get().copied()
}

static PROBE_SEEN: OnceLock<&'static str> = OnceLock::new();

/// How long one sample may take before it is killed: far above the ~1 s a
/// full-mode sample takes, so only a wedged interpreter hits it.
const TIMEOUT: Duration = Duration::from_secs(60);

pub fn run(row: &str, count: u64, toolkit: Option<&Path>) -> Result<f64, SampleError> {
    let version = probe().as_ref().map_err(SampleError::skipped)?;
    let _ = PROBE_SEEN.set(version);
    let mut cmd = Command::new(interpreter());
    cmd.arg(script()).arg(row).arg(count.to_string());
    if let Some(package) = toolkit {
        cmd.arg("--toolkit").env("PYTHONPATH", package);
    }
    let mut child = cmd
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        // Its own process group, so a timeout kills its workers too.
        .process_group(0)
        .spawn()?;
    let deadline = Instant::now() + TIMEOUT;
    let status = loop {
        if let Some(status) = child.try_wait()? {
            break status;
        }
        if Instant::now() > deadline {
            // The whole process group (the child is not reaped yet, so its
            // pid, the group id, cannot have been reused), with kill(1).
            let _ = Command::new("kill")
                .args(["-KILL", "--", &format!("-{}", child.id())])
                .status();
            let _ = child.wait();
            return Err(SampleError::failed(format!(
                "python {row}: no result after {TIMEOUT:?}"
            )));
        }
        std::thread::sleep(Duration::from_millis(2));
    };
    let (mut out, mut err) = (String::new(), String::new());
    if let Some(mut s) = child.stdout.take() {
        s.read_to_string(&mut out)?;
    }
    if let Some(mut s) = child.stderr.take() {
        s.read_to_string(&mut err)?;
    }
    if !status.success() {
        let last = err.lines().last().unwrap_or("").trim();
        return Err(SampleError::failed(format!(
            "python {row}: {status}: {last}"
        )));
    }
    parse(&out).ok_or_else(|| SampleError::failed(format!("python {row}: bad output {out:?}")))
}

/// The number on the last line of the script's output.
fn parse(out: &str) -> Option<f64> {
    out.lines()
        .last()?
        .trim()
        .parse::<f64>()
        .ok()
        .filter(|v| v.is_finite() && *v > 0.0)
}

#[cfg(test)]
mod tests {
    use super::parse;

    #[test]
    fn parses_one_number() {
        assert_eq!(parse("195698.5\n"), Some(195698.5));
        assert_eq!(parse("noise\n0.25\n"), Some(0.25));
        assert_eq!(parse(""), None);
        assert_eq!(parse("nan\n"), None);
        assert_eq!(parse("-1\n"), None);
    }

    #[test]
    fn the_script_is_shipped() {
        assert!(super::script().is_file());
    }
}

//! The toolkit from Python: `benches/python/mp_bench.py --toolkit`, the
//! very code of the `python` peer rows with `ipc_toolkit`'s Queue, Pipe and
//! Manager in place of `multiprocessing`'s, so each row here and its peer
//! row differ only in the objects a user would switch.
//!
//! The extension module is built once per run, in release, with the cargo
//! that built this binary, into `<target>/python-ext` (a target directory
//! of its own, so a build in progress elsewhere is not disturbed), and
//! assembled with the package's Python sources into an importable folder.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;

use crate::harness::{Bench, Group, Iters, Kind, Metric, SampleError, Workload};
use crate::rows::kit::python::run;

pub const GROUP: Group = Group {
    name: "python_toolkit",
    kind: Kind::Toolkit,
};

pub fn benches() -> Vec<Bench> {
    vec![
        Bench {
            id: "py_toolkit_pipe_pingpong",
            group: &GROUP,
            workload: Workload::PingpongBlocking,
            metric: Metric::OneWayNs,
            iters: Iters {
                full: 20_000,
                quick: 500,
            },
            compare_to: &["py_pipe_pingpong", "limit_futex_pingpong"],
            about: "ipc_toolkit.Pipe(): send(int) / recv() each way, from Python",
            sample: |n| run_toolkit("pipe_pingpong", n),
        },
        Bench {
            id: "py_toolkit_queue_tput_int",
            group: &GROUP,
            workload: Workload::Tput8B,
            metric: Metric::MsgsPerS,
            iters: Iters {
                full: 200_000,
                quick: 5_000,
            },
            compare_to: &["py_queue_tput_int", "limit_py_pickle_int"],
            about: "ipc_toolkit.Queue(maxsize=256): a child put()s ints, the parent get()s, from Python",
            sample: |n| run_toolkit("queue_tput_int", n),
        },
        Bench {
            id: "py_toolkit_manager_dict_get",
            group: &GROUP,
            workload: Workload::DictGet,
            metric: Metric::OpsPerS,
            iters: Iters {
                full: 200_000,
                quick: 5_000,
            },
            compare_to: &["py_manager_dict_get"],
            about: "ipc_toolkit.Manager().dict() of 1000 ints, d[key] in place, from Python",
            sample: |n| run_toolkit("manager_dict_get", n),
        },
        Bench {
            id: "py_toolkit_queue_tput_1MiB",
            group: &GROUP,
            workload: Workload::PyBytes1MiB,
            metric: Metric::MsgsPerS,
            iters: Iters {
                full: 2_000,
                quick: 50,
            },
            compare_to: &["py_queue_tput_1MiB"],
            about: "ipc_toolkit.Queue(maxsize=16): a child put()s a 1 MiB bytes object, the parent get()s",
            sample: |n| run_toolkit("queue_tput_1MiB", n),
        },
    ]
}

fn run_toolkit(row: &str, count: u64) -> Result<f64, SampleError> {
    let package = package().as_ref().map_err(SampleError::failed)?;
    run(row, count, Some(package))
}

/// The built package's folder (it holds `ipc_toolkit/`), or why it could
/// not be built; built once.
fn package() -> &'static Result<PathBuf, String> {
    static PACKAGE: OnceLock<Result<PathBuf, String>> = OnceLock::new();
    PACKAGE.get_or_init(build)
}

fn build() -> Result<PathBuf, String> {
    let exe = std::env::current_exe().map_err(|e| format!("own path: {e}"))?;
    // <target>/release/ipc-bench
    let target = exe
        .parent()
        .and_then(Path::parent)
        .ok_or("the benchmark binary is not in <target>/<profile>")?
        .join("python-ext");
    let manifest = Path::new(env!("CARGO_MANIFEST_DIR")).join("../ipc-python/Cargo.toml");
    let out = Command::new(env!("CARGO"))
        .args(["build", "--offline", "--quiet", "--release", "--lib"])
        .arg("--manifest-path")
        .arg(&manifest)
        .arg("--target-dir")
        .arg(&target)
        // What maturin sets: the extension does not link libpython.
        .env("PYO3_BUILD_EXTENSION_MODULE", "1")
        .output()
        .map_err(|e| format!("cargo: {e}"))?;
    if !out.status.success() {
        let err = String::from_utf8_lossy(&out.stderr);
        return Err(format!(
            "building the extension failed: {}",
            err.lines().last().unwrap_or("")
        ));
    }
    let root = target.join("pkg-release");
    let pkg = root.join("ipc_toolkit");
    let _ = std::fs::remove_dir_all(&pkg);
    std::fs::create_dir_all(&pkg).map_err(|e| format!("{}: {e}", pkg.display()))?;
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("../ipc-python/python/ipc_toolkit");
    let files = std::fs::read_dir(&src).map_err(|e| format!("{}: {e}", src.display()))?;
    for entry in files {
        let path = entry.map_err(|e| e.to_string())?.path();
        if let Some(name) = path.file_name().filter(|_| path.is_file()) {
            std::fs::copy(&path, pkg.join(name)).map_err(|e| format!("{}: {e}", path.display()))?;
        }
    }
    let lib = target.join("release/libipc_toolkit_native.so");
    std::fs::copy(&lib, pkg.join("_native.abi3.so"))
        .map_err(|e| format!("{}: {e}", lib.display()))?;
    Ok(root)
}

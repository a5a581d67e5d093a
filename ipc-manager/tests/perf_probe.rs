//! A quick in-process throughput probe of the benchmark loops (ignored by
//! default; run with `cargo test --release -p ipc-manager --test perf_probe
//! -- --ignored --nocapture`, `NKEYS=...` to change the key count). The real
//! numbers come from the benches crate, with a reader in another process.

use ipc_manager::bench::Fixture;
use std::time::Instant;

#[test]
#[ignore = "a measurement, not a test; run in release"]
fn perf_probe() {
    let f = Fixture::small(
        std::env::var("NKEYS")
            .map(|s| s.parse().unwrap())
            .unwrap_or(100_000),
    )
    .unwrap();
    for _ in 0..3 {
        let n = 5_000_000;
        let t = Instant::now();
        let s = f.get_loop(n).unwrap();
        let dt = t.elapsed();
        println!(
            "get: {:.1} ns/op ({:.1} M/s) {s}",
            dt.as_nanos() as f64 / n as f64,
            n as f64 / dt.as_secs_f64() / 1e6
        );
    }
    // The benchmark's shape: the reader is another process.
    let child = ipc_core::process::Process::spawn({
        let f = f.clone();
        move || {
            f.get_loop(100_000).unwrap();
            let n = 5_000_000;
            let t = Instant::now();
            let s = f.get_loop(n).unwrap();
            let dt = t.elapsed();
            println!(
                "get (child process): {:.1} ns/op ({:.1} M/s) {s}",
                dt.as_nanos() as f64 / n as f64,
                n as f64 / dt.as_secs_f64() / 1e6
            );
        }
    })
    .unwrap();
    assert!(child.join().unwrap().success());
    let n = 5_000_000;
    let t = Instant::now();
    let s = f.get_loop(n).unwrap();
    let dt = t.elapsed();
    println!(
        "get (parent, again): {:.1} ns/op {s}",
        dt.as_nanos() as f64 / n as f64
    );
    // Two processes, 90% reads.
    let n = 2_000_000u64;
    let t = Instant::now();
    let child = ipc_core::process::Process::spawn({
        let f = f.clone();
        move || {
            f.mixed_loop(n, 10).unwrap();
        }
    })
    .unwrap();
    f.mixed_loop(n, 10).unwrap();
    assert!(child.join().unwrap().success());
    let dt = t.elapsed();
    println!(
        "mixed 2 proc: {:.1} M ops/s total",
        2.0 * n as f64 / dt.as_secs_f64() / 1e6
    );
    let n = 1_000_000;
    let t = Instant::now();
    f.set_loop(n).unwrap();
    let dt = t.elapsed();
    println!("set: {:.1} ns/op", dt.as_nanos() as f64 / n as f64);
    let n = 2_000_000;
    let t = Instant::now();
    f.mixed_loop(n, 10).unwrap();
    let dt = t.elapsed();
    println!("mixed: {:.1} ns/op", dt.as_nanos() as f64 / n as f64);
    let b = Fixture::blobs(1000, 4096).unwrap();
    let n = 500_000;
    let t = Instant::now();
    let bytes = b.get_inplace_loop(n).unwrap();
    let dt = t.elapsed();
    println!(
        "inplace 4K: {:.2} GB/s",
        bytes as f64 / dt.as_secs_f64() / 1e9
    );
    // baseline: std RwLock<HashMap>
    let mut hm = std::collections::HashMap::new();
    let nk: u64 = std::env::var("NKEYS")
        .map(|s| s.parse().unwrap())
        .unwrap_or(100_000);
    for i in 0..nk {
        hm.insert(ipc_manager::bench::key(i), i);
    }
    let rw = std::sync::RwLock::new(hm);
    let n = 5_000_000u64;
    let t = Instant::now();
    let mut s = 0u64;
    for i in 0..n {
        let k = ipc_manager::bench::key(i.wrapping_mul(0x9E37_79B9_7F4A_7C15) % nk);
        s = s.wrapping_add(*rw.read().unwrap().get(&k).unwrap_or(&0));
    }
    let dt = t.elapsed();
    println!(
        "std RwLock<HashMap> get: {:.1} ns/op {s}",
        dt.as_nanos() as f64 / n as f64
    );
}

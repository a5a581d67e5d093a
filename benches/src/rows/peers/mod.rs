//! The peers: the systems a user would pick instead of the toolkit, each run
//! on the same workload with the same message counts as the toolkit's rows
//! (see `benches/METHOD.md`). They are dependencies of this benchmark crate
//! only; no library crate of the workspace depends on them. Each module is
//! one group (`Kind::Peer`); `benches()` is all of their rows.

mod iceoryx2;
mod ipc_channel;
mod ipmpsc;
mod lmdb;
mod nats;
mod os;
pub mod python;
mod redis_kv;
mod tokio_io;

use crate::harness::Bench;

pub fn benches() -> Vec<Bench> {
    let mut all = os::benches();
    all.extend(ipc_channel::benches());
    all.extend(iceoryx2::benches());
    all.extend(python::benches());
    all.extend(tokio_io::benches());
    all.extend(redis_kv::benches());
    all.extend(lmdb::benches());
    all.extend(ipmpsc::benches());
    all.extend(nats::benches());
    all
}

#[cfg(test)]
mod tests {
    //! Each peer row once, with tiny counts: real processes and real
    //! channels, checking the plumbing (fork, handshakes, sequence checks,
    //! clean exit), not the speed.

    use super::benches;

    fn sample(id: &str, n: u64) -> f64 {
        let all = benches();
        let b = all.iter().find(|b| b.id == id).expect("row exists");
        let v = (b.sample)(n).unwrap_or_else(|e| panic!("{id}: {e}"));
        assert!(v.is_finite() && v > 0.0, "{id}: {v}");
        v
    }

    #[test]
    fn os_rows() {
        for id in ["os_pipe_pingpong_8B", "uds_pingpong_8B"] {
            sample(id, 50);
        }
        for id in ["os_pipe_tput_4KiB", "uds_tput_4KiB"] {
            sample(id, 500);
        }
    }

    #[test]
    fn ipc_channel_rows() {
        sample("ipc_channel_pingpong_8B", 50);
        sample("ipc_channel_bytes_4KiB", 500);
        sample("ipc_channel_serde_tput_record", 500);
    }

    #[test]
    fn sweep_rows() {
        for id in [
            "os_pipe_pingpong_64KiB",
            "uds_pingpong_1MiB",
            "iceoryx2_pingpong_64B",
        ] {
            sample(id, 4);
        }
        for id in ["os_pipe_tput_64B", "uds_tput_4MiB", "iceoryx2_tput_64KiB"] {
            sample(id, 16);
        }
    }

    #[test]
    fn ipmpsc_rows() {
        sample("ipmpsc_tput_8B", 500);
    }

    #[test]
    fn lmdb_rows() {
        sample("lmdb_get_8B", 500);
        sample("lmdb_set_8B", 50);
        sample("lmdb_set_8B_batch1000", 2000);
    }

    #[test]
    fn redis_rows() {
        // Skipped (not failed) where redis-server is missing, as in the suite;
        // under CI=true its absence fails (CI installs it).
        for id in [
            "redis_get_8B",
            "redis_get_8B_pipelined",
            "redis_set_8B",
            "redis_set_8B_pipelined",
        ] {
            let all = benches();
            let b = all.iter().find(|b| b.id == id).expect("row exists");
            match (b.sample)(200) {
                Ok(v) => assert!(v.is_finite() && v > 0.0, "{id}: {v}"),
                Err(e) if e.is_skip() => {
                    assert!(std::env::var("CI").as_deref() != Ok("true"), "{id}: {e}");
                    eprintln!("{id}: {e}");
                }
                Err(e) => panic!("{id}: {e}"),
            }
        }
    }

    #[test]
    fn nats_rows() {
        // As the redis rows: skipped where no nats-server can be had, a
        // failure under CI=true. The toolkit's remote rows beside them.
        let all: Vec<_> = benches()
            .into_iter()
            .chain(crate::rows::toolkit::remote::benches())
            .collect();
        for id in [
            "nats_jetstream_tput_1KiB",
            "nats_kv_get_8B",
            "remote_queue_tput_1KiB",
            "remote_dict_get_8B",
        ] {
            let b = all.iter().find(|b| b.id == id).expect("row exists");
            match (b.sample)(300) {
                Ok(v) => assert!(v.is_finite() && v > 0.0, "{id}: {v}"),
                Err(e) if e.is_skip() => {
                    assert!(std::env::var("CI").as_deref() != Ok("true"), "{id}: {e}");
                    eprintln!("{id}: {e}");
                }
                Err(e) => panic!("{id}: {e}"),
            }
        }
    }

    #[test]
    fn tokio_rows() {
        sample("tokio_uds_pingpong_8B", 50);
        sample("tokio_mpsc_pingpong_8B", 50);
        sample("ipc_channel_serde_pingpong_record", 50);
    }

    #[test]
    fn iceoryx2_rows() {
        sample("iceoryx2_pingpong_8B", 200);
        // More messages than the subscriber buffer holds: a lossy setting
        // would show as a gap in the sequence numbers.
        sample("iceoryx2_tput_8B", 5_000);
        sample("iceoryx2_tput_4KiB", 500);
    }
}

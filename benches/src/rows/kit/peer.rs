//! The peer process of a two-process benchmark, via `ipc_core::process`.

use ipc_core::process::Process;

use crate::harness::SampleError;

/// Forks a peer running `f`.
///
/// Started as a daemon: if the parent bails out with an error, dropping the
/// handle kills and reaps the peer at once instead of waiting for it (a
/// peer's loops are bounded anyway, see `wait::STALL_LIMIT`). A peer reports
/// failure by panicking, which exits with code 101.
///
/// The peer also dies with the parent (`die_with_parent`): a peer blocked in
/// a read from a pipe or socket whose other end it inherited itself would
/// otherwise never see end-of-file if the suite were killed. (Strictly, the
/// signal comes when the *thread* that forked exits: the suite's main
/// thread, or in tests the test's thread, which joins the peer first.)
pub fn spawn(name: &str, f: impl FnOnce() + 'static) -> Result<Process, SampleError> {
    Ok(Process::builder()
        .name(name)
        .daemon(true)
        .die_with_parent(true)
        .spawn(f)?)
}

/// Waits for the peer and turns an unsuccessful exit into a failure.
pub fn join(peer: Process) -> Result<(), SampleError> {
    let status = peer.join()?;
    if status.success() {
        Ok(())
    } else {
        Err(SampleError::failed(format!(
            "peer {} {status}",
            peer.name()
        )))
    }
}

/// The receiving side of a stream row whose peer `producer` sends messages
/// `0..total`: `receive(seq)` checks each in turn, the first `warmup`
/// untimed; then the peer is joined. Returns the time of the last
/// `total - warmup`.
pub fn receive_timed(
    producer: Process,
    warmup: u64,
    total: u64,
    mut receive: impl FnMut(u64) -> Result<(), SampleError>,
) -> Result<std::time::Duration, SampleError> {
    for seq in 0..warmup {
        receive(seq)?;
    }
    let start = std::time::Instant::now();
    for seq in warmup..total {
        receive(seq)?;
    }
    let elapsed = start.elapsed();
    join(producer)?;
    Ok(elapsed)
}

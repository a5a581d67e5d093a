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
/// The peer also dies with the parent (`PR_SET_PDEATHSIG`): a peer blocked in
/// a read from a pipe or socket whose other end it inherited itself would
/// otherwise never see end-of-file if the suite were killed. (Strictly, the
/// signal comes when the *thread* that forked exits: the suite's main
/// thread, or in tests the test's thread, which joins the peer first.)
pub fn spawn(name: &str, f: impl FnOnce() + 'static) -> Result<Process, SampleError> {
    let parent = std::process::id();
    Ok(Process::builder().name(name).daemon(true).spawn(move || {
        die_with(parent);
        f()
    })?)
}

/// Asks for SIGKILL when the parent exits; exits at once if it already has.
fn die_with(parent: u32) {
    // SAFETY: prctl(PR_SET_PDEATHSIG) only sets a flag of this process.
    unsafe {
        libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL as libc::c_ulong);
    }
    // The parent may have died between fork and prctl: then we were
    // re-parented and no signal will come.
    // SAFETY: getppid has no preconditions.
    if unsafe { libc::getppid() } as u32 != parent {
        panic!("peer: parent {parent} exited before the peer started");
    }
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

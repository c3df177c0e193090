//! The child processes ktx runs (uv, Python): each in a process group of its own, so that an
//! interrupted ktx (SIGINT, SIGTERM) passes the signal to the whole group, waits for it, then
//! kills what is left; and on Linux each child dies with ktx even when ktx is killed outright
//! (PR_SET_PDEATHSIG). Nothing ktx started keeps running after ktx has gone.

use std::process::{Child, Command, ExitStatus};
use std::sync::atomic::{AtomicI32, Ordering};
use std::time::{Duration, Instant};

/// The signal that interrupted ktx, or 0.
static INTERRUPTED: AtomicI32 = AtomicI32::new(0);

/// The exit status of a command interrupted by SIGINT (128 + 2), as shells report it.
pub const EXIT_INTERRUPTED: i32 = 130;

#[cfg(unix)]
extern "C" fn on_signal(sig: libc::c_int) {
    INTERRUPTED.store(sig, Ordering::SeqCst);
}

/// From now on SIGINT and SIGTERM mark ktx as interrupted instead of ending it: the work in
/// progress stops at its next check (`interrupted`), its children are stopped with it, and
/// ktx exits 130 saying what was left as it was.
pub fn catch_interrupts() {
    #[cfg(unix)]
    // SAFETY: the handler only stores into an atomic (async-signal-safe).
    unsafe {
        let mut action: libc::sigaction = std::mem::zeroed();
        action.sa_sigaction = on_signal as extern "C" fn(libc::c_int) as usize;
        libc::sigemptyset(&mut action.sa_mask);
        for sig in [libc::SIGINT, libc::SIGTERM] {
            libc::sigaction(sig, &action, std::ptr::null_mut());
        }
    }
}

/// Give SIGINT and SIGTERM back their default action (ending ktx).
fn release_interrupts() {
    #[cfg(unix)]
    // SAFETY: restoring the default dispositions.
    unsafe {
        for sig in [libc::SIGINT, libc::SIGTERM] {
            libc::signal(sig, libc::SIG_DFL);
        }
    }
}

/// Run `work` with interrupts caught (`catch_interrupts`), then released. A signal that came
/// after the work it would have stopped had finished anyway is delivered then: ktx ends as the
/// user asked, with nothing half done. (When the work stopped for it, its error says so.)
pub fn guarded<T>(work: impl FnOnce() -> crate::error::Result<T>) -> crate::error::Result<T> {
    catch_interrupts();
    let out = work();
    release_interrupts();
    if let (Ok(_), Some(sig)) = (&out, interrupted()) {
        #[cfg(unix)]
        // SAFETY: delivering the pending signal to ourselves, now with its default action.
        unsafe {
            libc::raise(sig);
        }
        let _ = sig;
    }
    out
}

/// The signal that interrupted ktx, if one did since `catch_interrupts`.
pub fn interrupted() -> Option<i32> {
    match INTERRUPTED.load(Ordering::SeqCst) {
        0 => None,
        s => Some(s),
    }
}

/// Prepare `cmd` to run as a supervised child: a process group of its own, and (Linux) death
/// with ktx.
pub fn supervise(cmd: &mut Command) {
    #[cfg(unix)]
    {
        use std::os::unix::process::CommandExt;
        cmd.process_group(0);
        #[cfg(target_os = "linux")]
        // SAFETY: prctl is async-signal-safe.
        unsafe {
            cmd.pre_exec(|| {
                libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL);
                Ok(())
            });
        }
    }
    #[cfg(not(unix))]
    let _ = cmd;
}

/// Send `sig` to the child's whole process group.
#[cfg(unix)]
fn signal_group(child: &Child, sig: i32) {
    // SAFETY: kill of the group our own child leads (set up by `supervise`).
    unsafe {
        libc::kill(-(child.id() as i32), sig);
    }
}

/// Stop a supervised child and its group: the signal ktx got, then SIGKILL after `grace`. On
/// Windows there is no signal to pass on (a console's Ctrl-C reached the child already): it gets
/// the same grace to exit by itself before it is killed.
pub fn stop(child: &mut Child, grace: Duration) {
    #[cfg(unix)]
    signal_group(child, interrupted().unwrap_or(libc::SIGTERM));
    let deadline = Instant::now() + grace;
    while Instant::now() < deadline {
        if let Ok(Some(_)) = child.try_wait() {
            // The leader is gone; make sure nothing of its group stays.
            #[cfg(unix)]
            signal_group(child, libc::SIGKILL);
            return;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    #[cfg(unix)]
    signal_group(child, libc::SIGKILL);
    let _ = child.kill();
    let _ = child.wait();
}

/// Wait for a supervised child; `Err(signal)` when ktx was interrupted meanwhile (the child
/// and its group are then stopped).
pub fn wait(child: &mut Child) -> std::io::Result<Result<ExitStatus, i32>> {
    loop {
        if let Some(status) = child.try_wait()? {
            return Ok(Ok(status));
        }
        if let Some(sig) = interrupted() {
            stop(child, Duration::from_secs(3));
            return Ok(Err(sig));
        }
        std::thread::sleep(Duration::from_millis(10));
    }
}

#[cfg(all(test, unix))]
mod tests {
    use super::*;

    #[test]
    fn a_supervised_child_leads_its_own_process_group() {
        let mut cmd = Command::new("sleep");
        cmd.arg("5");
        supervise(&mut cmd);
        let mut child = cmd.spawn().unwrap();
        // SAFETY: getpgid of our own child.
        let pgid = unsafe { libc::getpgid(child.id() as i32) };
        assert_eq!(pgid, child.id() as i32);
        stop(&mut child, Duration::from_millis(100));
        assert!(child.try_wait().unwrap().is_some());
    }
}

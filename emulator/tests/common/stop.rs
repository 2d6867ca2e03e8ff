//! Stopping a spawned emulator in a test: SIGTERM first, so that it removes its temporary data
//! directory as it does for a harness, then SIGKILL if it still runs two seconds later. Shared
//! by the emulator's CLI tests and the engine's native tests (each includes this file by path).

use std::process::{Child, Command};
use std::time::Duration;

/// Stops `child` by its PID and reaps it.
pub fn stop(child: &mut Child) {
    let _ = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status();
    for _ in 0..40 {
        if matches!(child.try_wait(), Ok(Some(_))) {
            return;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    let _ = child.kill();
    let _ = child.wait();
}

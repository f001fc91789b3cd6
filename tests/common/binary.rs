//! Running the real binary, for the tests that drive it.

use std::path::Path;
use std::process::Output;
use std::time::Duration;

use assert_cmd::Command;

/// Long enough for any run of the tests; a run that hangs fails instead of blocking CI.
pub const TIMEOUT: Duration = Duration::from_secs(120);

/// Runs `kubeharden ARGS` in `dir`, with git (which folder walks run) isolated from the
/// machine's configuration.
pub fn kubeharden(dir: &Path, args: &[&str]) -> Output {
    Command::cargo_bin("kubeharden")
        .unwrap()
        .current_dir(dir)
        .env("GIT_CONFIG_GLOBAL", "/dev/null")
        .env("GIT_CONFIG_NOSYSTEM", "1")
        .args(args)
        .timeout(TIMEOUT)
        .output()
        .unwrap()
}

/// What a run printed on standard error.
pub fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

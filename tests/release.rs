//! What a release promises: `--version` names the build, and `deploy/install.sh` installs an
//! archive (checksum verified) without root. Only local files and temp dirs; no network.

use std::process::Command;

const BIN: &str = env!("CARGO_BIN_EXE_codex-claude-proxy");

#[test]
fn version_names_the_commit_and_the_target() {
    let out = Command::new(BIN).arg("--version").output().unwrap();
    assert!(out.status.success());
    let text = String::from_utf8(out.stdout).unwrap();
    let rest = text
        .strip_prefix(&format!(
            "codex-claude-proxy {} (commit ",
            env!("CARGO_PKG_VERSION")
        ))
        .unwrap_or_else(|| panic!("{text:?}"));
    let (commit, target) = rest
        .strip_suffix(")\n")
        .and_then(|r| r.split_once(", "))
        .unwrap_or_else(|| panic!("{text:?}"));
    assert!(
        commit == "unknown"
            || (commit.len() == 12 && commit.bytes().all(|b| b.is_ascii_hexdigit())),
        "{commit:?}"
    );
    // A triple for this machine: its CPU first, its OS in it (macOS is `apple-darwin`).
    let os = match std::env::consts::OS {
        "macos" => "darwin",
        os => os,
    };
    assert!(
        target.starts_with(std::env::consts::ARCH) && target.contains(os),
        "{target:?}"
    );
    // `-V` is the same.
    let short = Command::new(BIN).arg("-V").output().unwrap();
    assert_eq!(String::from_utf8(short.stdout).unwrap(), text);
}

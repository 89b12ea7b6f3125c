//! Build facts for `--version`: the git commit and the target triple, as compile-time env vars
//! (`CCP_COMMIT`, `CCP_TARGET`). A build outside a git checkout (a source tarball, a container
//! build without `.git`) says `unknown` instead of failing.

use std::path::PathBuf;
use std::process::Command;

fn main() {
    let target = std::env::var("TARGET").unwrap_or_else(|_| "unknown".to_owned());
    println!("cargo:rustc-env=CCP_TARGET={target}");
    // A release pipeline that builds from an exported tree can still name its commit.
    println!("cargo:rerun-if-env-changed=CCP_COMMIT");
    let own = own_checkout();
    let commit = std::env::var("CCP_COMMIT")
        .ok()
        .filter(|c| !c.trim().is_empty())
        .or_else(|| own.then(|| git(&["rev-parse", "--short=12", "HEAD"]))?)
        .unwrap_or_else(|| "unknown".to_owned());
    println!("cargo:rustc-env=CCP_COMMIT={commit}");
    if own {
        // Rebuild when HEAD moves: HEAD itself (a checkout) and the branch it names (a commit).
        for name in ["HEAD", "packed-refs"] {
            watch(git(&["rev-parse", "--git-path", name]));
        }
        if let Some(branch) = git(&["symbolic-ref", "-q", "HEAD"]) {
            watch(git(&["rev-parse", "--git-path", &branch]));
        }
    }
}

/// Whether the package directory is the top of a git work tree (not a tarball unpacked inside
/// some other repository, whose commit would be a lie).
fn own_checkout() -> bool {
    let top = git(&["rev-parse", "--show-toplevel"]).map(PathBuf::from);
    let here = std::env::var_os("CARGO_MANIFEST_DIR").map(PathBuf::from);
    match (
        top.and_then(|p| p.canonicalize().ok()),
        here.and_then(|p| p.canonicalize().ok()),
    ) {
        (Some(top), Some(here)) => top == here,
        _ => false,
    }
}

/// The trimmed output of a successful `git` command run in the package directory.
fn git(args: &[&str]) -> Option<String> {
    let out = Command::new("git").args(args).output().ok()?;
    let text = String::from_utf8(out.stdout).ok()?;
    let text = text.trim();
    (out.status.success() && !text.is_empty()).then(|| text.to_owned())
}

fn watch(path: Option<String>) {
    if let Some(p) = path.map(PathBuf::from).filter(|p| p.exists()) {
        println!("cargo:rerun-if-changed={}", p.display());
    }
}

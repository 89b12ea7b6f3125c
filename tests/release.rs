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

/// `deploy/install.sh` run with `sh` against local files: a temp HOME, no network.
#[cfg(unix)]
mod install {
    use std::os::unix::fs::PermissionsExt;
    use std::path::{Path, PathBuf};
    use std::process::{Command, Output};
    use std::sync::atomic::{AtomicUsize, Ordering};

    const SCRIPT: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/deploy/install.sh");
    const VERSION: &str = "9.9.9";
    const FAKE_BIN: &str = "#!/bin/sh\necho 'codex-claude-proxy 9.9.9 (commit fake, test)'\n";

    /// A fresh directory, removed on drop.
    struct Temp(PathBuf);

    impl Temp {
        fn new() -> Temp {
            static N: AtomicUsize = AtomicUsize::new(0);
            let n = N.fetch_add(1, Ordering::SeqCst);
            let dir = std::env::temp_dir().join(format!("ccp-install-{}-{n}", std::process::id()));
            let _ = std::fs::remove_dir_all(&dir);
            std::fs::create_dir_all(&dir).unwrap();
            Temp(dir)
        }
    }

    impl Drop for Temp {
        fn drop(&mut self) {
            let _ = std::fs::remove_dir_all(&self.0);
        }
    }

    /// The triple install.sh picks on this machine.
    fn target() -> String {
        let os = match std::env::consts::OS {
            "macos" => "apple-darwin",
            _ => "unknown-linux-musl",
        };
        format!("{}-{os}", std::env::consts::ARCH)
    }

    fn sha256_hex(path: &Path) -> String {
        let out = Command::new("sha256sum")
            .arg(path)
            .output()
            .or_else(|_| {
                Command::new("shasum")
                    .args(["-a", "256"])
                    .arg(path)
                    .output()
            })
            .unwrap();
        String::from_utf8(out.stdout).unwrap()[..64].to_owned()
    }

    /// A release as `make dist` lays it out: the archive (a stand-in binary, README, LICENSE)
    /// and SHA256SUMS, in `dir`. Returns the archive's path.
    fn release(dir: &Path) -> PathBuf {
        let top = format!("codex-claude-proxy-{VERSION}-{}", target());
        let stage = dir.join("stage");
        std::fs::create_dir_all(stage.join(&top)).unwrap();
        let bin = stage.join(&top).join("codex-claude-proxy");
        std::fs::write(&bin, FAKE_BIN).unwrap();
        std::fs::set_permissions(&bin, std::fs::Permissions::from_mode(0o755)).unwrap();
        std::fs::write(stage.join(&top).join("README.md"), "readme").unwrap();
        std::fs::write(stage.join(&top).join("LICENSE"), "license").unwrap();
        let archive = dir.join(format!("{top}.tar.gz"));
        let ok = Command::new("tar")
            .arg("-czf")
            .arg(&archive)
            .arg("-C")
            .arg(&stage)
            .arg(&top)
            .status()
            .unwrap();
        assert!(ok.success());
        std::fs::remove_dir_all(&stage).unwrap();
        let sums = format!(
            "{}  other-file.tar.gz\n{}  {top}.tar.gz\n",
            "0".repeat(64),
            sha256_hex(&archive)
        );
        std::fs::write(dir.join("SHA256SUMS"), sums).unwrap();
        archive
    }

    /// Runs install.sh with `args`, HOME=`home`, bash as the login shell, and `env`.
    fn install(home: &Path, args: &[&str], env: &[(&str, &str)]) -> Output {
        let mut cmd = Command::new("sh");
        cmd.arg(SCRIPT)
            .args(args)
            .env_clear()
            .env("HOME", home)
            .env("PATH", std::env::var("PATH").unwrap())
            .env("SHELL", "/bin/bash");
        for (k, v) in env {
            cmd.env(k, v);
        }
        cmd.output().unwrap()
    }

    fn text(b: &[u8]) -> String {
        String::from_utf8_lossy(b).into_owned()
    }

    #[test]
    fn installs_a_local_archive_into_local_bin_and_says_how_to_reach_it() {
        let (home, files) = (Temp::new(), Temp::new());
        let archive = release(&files.0);
        let out = install(&home.0, &["--archive", archive.to_str().unwrap()], &[]);
        let (stdout, stderr) = (text(&out.stdout), text(&out.stderr));
        assert!(out.status.success(), "{stdout}{stderr}");
        let bin = home.0.join(".local/bin/codex-claude-proxy");
        assert_eq!(std::fs::read_to_string(&bin).unwrap(), FAKE_BIN);
        let mode = std::fs::metadata(&bin).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o755);
        assert!(
            stdout.contains("codex-claude-proxy 9.9.9 (commit fake, test)"),
            "{stdout}"
        );
        assert!(stdout.contains("is not on your PATH"), "{stdout}");
        assert!(
            stdout.contains(r#"echo 'export PATH="$HOME/.local/bin:$PATH"' >> ~/.bashrc"#),
            "{stdout}"
        );
        // Only the binary lands there, and no temp file is left beside it.
        assert_eq!(std::fs::read_dir(bin.parent().unwrap()).unwrap().count(), 1);

        // Again, into a directory already on PATH: replaced in place, no PATH advice.
        let dir = home.0.join("bin");
        let path = format!("{}:{}", dir.display(), std::env::var("PATH").unwrap());
        let args = [
            "--archive",
            archive.to_str().unwrap(),
            "--dir",
            dir.to_str().unwrap(),
        ];
        let out = install(&home.0, &args, &[("PATH", &path)]);
        assert!(out.status.success(), "{}", text(&out.stderr));
        assert!(!text(&out.stdout).contains("PATH"), "{}", text(&out.stdout));
        assert_eq!(
            std::fs::read_to_string(dir.join("codex-claude-proxy")).unwrap(),
            FAKE_BIN
        );
    }

    #[test]
    fn refuses_a_wrong_or_missing_checksum_and_installs_nothing() {
        let (home, files) = (Temp::new(), Temp::new());
        let archive = release(&files.0);
        let name = archive.file_name().unwrap().to_str().unwrap().to_owned();
        let sums = files.0.join("SHA256SUMS");
        let arg = archive.to_str().unwrap();
        for (content, why) in [
            (
                format!("{}  {name}\n", "ab".repeat(32)),
                "checksum mismatch",
            ),
            (
                "0000  something-else.tar.gz\n".to_owned(),
                "has no checksum for",
            ),
        ] {
            std::fs::write(&sums, content).unwrap();
            let out = install(&home.0, &["--archive", arg], &[]);
            refused(&out, &home.0, &[why, "nothing installed"]);
        }
        std::fs::remove_file(&sums).unwrap();
        let out = install(&home.0, &["--archive", arg], &[]);
        refused(&out, &home.0, &["--checksums"]);
    }

    /// install.sh failed, saying each of `words`, and left nothing under `home`'s `.local`.
    fn refused(out: &Output, home: &Path, words: &[&str]) {
        let stderr = text(&out.stderr);
        assert!(!out.status.success(), "{stderr}");
        for w in words {
            assert!(stderr.contains(w), "{w:?} not in {stderr}");
        }
        assert!(!home.join(".local").exists(), "nothing may be created");
    }

    #[test]
    fn help_even_when_piped_and_bad_arguments_named() {
        let home = Temp::new();
        // `curl … | sh -s -- --help`: the script arrives on stdin.
        let out = Command::new("sh")
            .args(["-s", "--", "--help"])
            .stdin(std::fs::File::open(SCRIPT).unwrap())
            .output()
            .unwrap();
        assert!(out.status.success());
        assert!(
            text(&out.stdout).contains("--archive FILE"),
            "{}",
            text(&out.stdout)
        );
        let out = install(&home.0, &["--dir"], &[]);
        refused(&out, &home.0, &["--dir needs a value"]);
        let out = install(&home.0, &["--bogus"], &[]);
        refused(&out, &home.0, &["unknown argument '--bogus'"]);
        let out = install(&home.0, &["--archive", "/nonexistent.tar.gz"], &[]);
        refused(&out, &home.0, &["no such archive"]);
    }

    /// A stand-in for the releases page on 127.0.0.1, answering `requests` requests: `latest`
    /// redirects to the tag, `download/v9.9.9/NAME` serves `files/NAME`.
    fn releases_server(files: PathBuf, requests: usize) -> (String, std::thread::JoinHandle<()>) {
        let server = tiny_http::Server::http("127.0.0.1:0").unwrap();
        let url = format!("http://{}", server.server_addr().to_ip().unwrap());
        let base = url.clone();
        let handle = std::thread::spawn(move || {
            for _ in 0..requests {
                let Ok(Some(mut req)) = server.recv_timeout(std::time::Duration::from_secs(30))
                else {
                    return;
                };
                let mut body = Vec::new();
                let _ = req.as_reader().read_to_end(&mut body);
                let path = req.url().to_owned();
                let resp = if path == "/latest" {
                    let loc = format!("{base}/tag/v{VERSION}");
                    tiny_http::Response::from_data(Vec::new())
                        .with_status_code(302)
                        .with_header(tiny_http::Header::from_bytes("Location", loc).unwrap())
                } else if path.starts_with("/tag/") {
                    tiny_http::Response::from_data(b"release page".to_vec())
                } else {
                    let name = path
                        .strip_prefix(&format!("/download/v{VERSION}/"))
                        .unwrap_or("-");
                    match std::fs::read(files.join(name)) {
                        Ok(data) => tiny_http::Response::from_data(data),
                        Err(_) => {
                            tiny_http::Response::from_data(b"no".to_vec()).with_status_code(404)
                        }
                    }
                };
                let _ = req.respond(resp);
            }
        });
        (url, handle)
    }

    fn have(tool: &str) -> bool {
        Command::new("sh")
            .args(["-c", &format!("command -v {tool}")])
            .output()
            .is_ok_and(|o| o.status.success())
    }

    #[test]
    fn downloads_the_latest_release_and_verifies_it() {
        if !have("curl") && !have("wget") {
            eprintln!("skipped: neither curl nor wget");
            return;
        }
        let (home, files) = (Temp::new(), Temp::new());
        let archive = release(&files.0);
        // latest → tag, tag page, archive, SHA256SUMS.
        let (url, server) = releases_server(files.0.clone(), 4);
        let out = install(&home.0, &[], &[("CCP_RELEASES_URL", &url)]);
        let (stdout, stderr) = (text(&out.stdout), text(&out.stderr));
        assert!(out.status.success(), "{stdout}{stderr}");
        assert!(stdout.contains(&format!(
            "Downloading codex-claude-proxy-{VERSION}-{}.tar.gz",
            target()
        )));
        let bin = home.0.join(".local/bin/codex-claude-proxy");
        assert_eq!(std::fs::read_to_string(bin).unwrap(), FAKE_BIN);
        server.join().unwrap();

        // A given version whose download does not match SHA256SUMS: refused.
        let home = Temp::new();
        let name = archive.file_name().unwrap().to_str().unwrap();
        std::fs::write(
            files.0.join("SHA256SUMS"),
            format!("{}  {name}\n", "0".repeat(64)),
        )
        .unwrap();
        let (url, server) = releases_server(files.0.clone(), 2);
        let out = install(
            &home.0,
            &["--version", "v9.9.9"],
            &[("CCP_RELEASES_URL", &url)],
        );
        refused(&out, &home.0, &["checksum mismatch", "nothing installed"]);
        server.join().unwrap();
    }
}

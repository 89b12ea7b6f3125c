//! The ChatGPT OAuth tokens in `$CODEX_HOME/auth.json`, shared with the Codex CLI.
//!
//! Rules (README "Auth"): the file is re-read whenever it changes on disk; the access token is
//! refreshed when its JWT `exp` is within 60 s, or once after an upstream 401. Refresh tokens are
//! single use and the Codex CLI may refresh too, so a refresh runs under an in-process mutex and
//! an exclusive lock on the file, re-reads the file first, and skips the refresh when someone else
//! already did it. The new tokens are written atomically (temp file in the same directory, 0600,
//! fsync, rename), keeping every field this proxy does not know. Tokens are never logged.

use std::fmt;
use std::fs::{self, File, OpenOptions};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::{SystemTime, UNIX_EPOCH};

use serde_json::{Value, json};

use crate::clock;
use crate::error::Error;

/// The Codex CLI's public OAuth client id.
pub const CLIENT_ID: &str = "app_EMoamEEZ73f0CkXaXp7hrann";
/// Refresh this long before the access token expires.
const EXPIRY_MARGIN: u64 = 60;

/// A token that prints as `<redacted>` in logs and debug output.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    /// The token itself, for the `Authorization` header only.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("<redacted>")
    }
}

/// What a request needs to call the backend.
#[derive(Debug, Clone)]
pub struct Credentials {
    pub access_token: Secret,
    pub account_id: Option<String>,
    /// JWT `exp` of the access token (Unix seconds), when readable.
    pub expires_at: Option<u64>,
}

/// The token file as last read, and what identifies that version on disk.
struct Cached {
    stamp: (SystemTime, u64),
    creds: Credentials,
}

/// Owner of the token file for this process.
pub struct Auth {
    path: PathBuf,
    refresh_url: String,
    agent: ureq::Agent,
    cache: Mutex<Option<Cached>>,
    /// Held while refreshing, so concurrent requests wait and reuse the result.
    refreshing: Mutex<()>,
}

impl Auth {
    /// Tokens from `codex_home/auth.json`, refreshed through `refresh_url` with `agent`.
    pub fn new(codex_home: &Path, refresh_url: String, agent: ureq::Agent) -> Auth {
        Auth {
            path: codex_home.join("auth.json"),
            refresh_url,
            agent,
            cache: Mutex::new(None),
            refreshing: Mutex::new(()),
        }
    }

    /// Path of the token file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Current credentials, refreshed first if the access token is about to expire.
    pub fn credentials(&self) -> Result<Credentials, Error> {
        let creds = self.load()?;
        if is_fresh(&creds, now()) {
            return Ok(creds);
        }
        match self.refresh(&creds.access_token) {
            Ok(c) => Ok(c),
            // A token inside the margin still works for a while; don't fail the request for it.
            Err(e) if creds.expires_at.is_some_and(|exp| exp > now() + 5) => {
                log::warn!("{e}; using the current access token until it expires");
                Ok(creds)
            }
            Err(e) => Err(e),
        }
    }

    /// After the backend rejected `rejected` with 401: new credentials, refreshing unless the
    /// file already holds a different token (the Codex CLI refreshed, or the user logged in).
    pub fn after_unauthorized(&self, rejected: &Credentials) -> Result<Credentials, Error> {
        self.refresh(&rejected.access_token)
    }

    /// Reads the file if it changed since the last read.
    fn load(&self) -> Result<Credentials, Error> {
        let meta = fs::metadata(&self.path).map_err(|e| missing(&self.path, &e.to_string()))?;
        let stamp = (meta.modified().unwrap_or(UNIX_EPOCH), meta.len());
        let mut cache = self.cache.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(c) = cache.as_ref().filter(|c| c.stamp == stamp) {
            return Ok(c.creds.clone());
        }
        let creds =
            parse_credentials(&read_json(&self.path)?).map_err(|m| missing(&self.path, &m))?;
        if cache.is_some() {
            log::info!(
                "{} changed on disk; using the new tokens",
                self.path.display()
            );
        }
        *cache = Some(Cached {
            stamp,
            creds: creds.clone(),
        });
        Ok(creds)
    }

    /// Refreshes unless the file on disk no longer holds `stale`.
    fn refresh(&self, stale: &Secret) -> Result<Credentials, Error> {
        let _one_at_a_time = self.refreshing.lock().unwrap_or_else(|p| p.into_inner());
        // Cross-process: the Codex CLI or another proxy may be refreshing the same login.
        let lock = lock_token_file(&self.path).map_err(|e| {
            if e.kind() == std::io::ErrorKind::NotFound {
                missing(&self.path, &e.to_string())
            } else {
                Error::Auth(format!("cannot lock {}: {e}", self.path.display()))
            }
        })?;
        let mut doc = read_json(&self.path)?;
        let on_disk = parse_credentials(&doc).map_err(|m| missing(&self.path, &m))?;
        if on_disk.access_token != *stale && is_fresh(&on_disk, now()) {
            drop(lock);
            self.invalidate();
            return self.load();
        }
        let refresh_token = doc["tokens"]["refresh_token"]
            .as_str()
            .filter(|t| !t.is_empty())
            .ok_or_else(|| missing(&self.path, "it has no tokens.refresh_token"))?
            .to_owned();
        log::info!("refreshing the ChatGPT access token");
        let fresh = self.request_tokens(&refresh_token)?;
        let tokens = &mut doc["tokens"];
        for key in ["access_token", "refresh_token", "id_token"] {
            if let Some(v) = fresh[key].as_str().filter(|v| !v.is_empty()) {
                tokens[key] = json!(v);
            }
        }
        doc["last_refresh"] = json!(clock::rfc3339(now()));
        write_atomic(&self.path, &doc)?;
        drop(lock); // after the new file is in place
        self.invalidate();
        self.load()
    }

    fn request_tokens(&self, refresh_token: &str) -> Result<Value, Error> {
        let body = json!({"client_id": CLIENT_ID, "grant_type": "refresh_token", "refresh_token": refresh_token});
        let fail = |why: String| {
            Error::Auth(format!(
                "could not refresh the ChatGPT login ({why}); run `codex login` (or `codex login --device-auth` on a server) and try again"
            ))
        };
        let (status, v) = post(
            &self.agent,
            &self.refresh_url,
            "application/json",
            body.to_string().as_bytes(),
        )
        .map_err(fail)?;
        if status != 200 {
            let code = v["error"]["code"]
                .as_str()
                .or_else(|| v["error"].as_str())
                .or_else(|| v["code"].as_str())
                .unwrap_or("unknown error");
            return Err(fail(format!("token endpoint answered {status}: {code}")));
        }
        if v["access_token"].as_str().is_none_or(str::is_empty) {
            return Err(fail(
                "token endpoint answered without an access_token".into(),
            ));
        }
        Ok(v)
    }

    fn invalidate(&self) {
        *self.cache.lock().unwrap_or_else(|p| p.into_inner()) = None;
    }
}

/// POSTs `body` to an OAuth endpoint; the status and the JSON answer (`null` when not JSON),
/// read up to 1 MiB.
pub fn post(
    agent: &ureq::Agent,
    url: &str,
    content_type: &str,
    body: &[u8],
) -> Result<(u16, Value), String> {
    let sent = agent
        .post(url)
        .header("Content-Type", content_type)
        .send(body);
    let mut resp = sent.map_err(|e| format!("cannot reach {url}: {e}"))?;
    let status = resp.status().as_u16();
    let text = resp
        .body_mut()
        .with_config()
        .limit(1 << 20)
        .read_to_string()
        .map_err(|e| format!("reading the answer of {url}: {e}"))?;
    Ok((status, serde_json::from_str(&text).unwrap_or(Value::Null)))
}

fn missing(path: &Path, why: &str) -> Error {
    Error::Auth(format!(
        "no usable ChatGPT login in {} ({why}); run `codex login` first (or set CODEX_HOME)",
        path.display()
    ))
}

fn read_json(path: &Path) -> Result<Value, Error> {
    let bytes = fs::read(path).map_err(|e| missing(path, &e.to_string()))?;
    serde_json::from_slice(&bytes).map_err(|e| missing(path, &format!("not valid JSON: {e}")))
}

/// Access token, account id (from `tokens.account_id` or the id token's claim) and expiry.
fn parse_credentials(doc: &Value) -> Result<Credentials, String> {
    let tokens = &doc["tokens"];
    let access = tokens["access_token"]
        .as_str()
        .filter(|t| !t.is_empty())
        .ok_or("it has no tokens.access_token")?;
    let account_id = tokens["account_id"]
        .as_str()
        .filter(|s| !s.is_empty())
        .map(str::to_owned)
        .or_else(|| {
            let claims = jwt_claims(tokens["id_token"].as_str()?)?;
            claims["https://api.openai.com/auth"]["chatgpt_account_id"]
                .as_str()
                .map(str::to_owned)
        });
    let expires_at = jwt_claims(access).and_then(|c| c["exp"].as_u64());
    Ok(Credentials {
        access_token: Secret(access.to_owned()),
        account_id,
        expires_at,
    })
}

/// An unsigned JWT (`alg: none`) carrying `claims`: what test fixtures and fake servers hand
/// out as tokens. The proxy only ever reads claims; it never needs a real signature.
pub fn unsigned_jwt(claims: &Value) -> String {
    let b64 = crate::base64::encode_url;
    format!(
        "{}.{}.sig",
        b64(br#"{"alg":"none"}"#),
        b64(claims.to_string().as_bytes())
    )
}

/// The payload of a JWT, without verifying it (the backend does that).
pub fn jwt_claims(jwt: &str) -> Option<Value> {
    let payload = jwt.split('.').nth(1)?;
    serde_json::from_slice(&crate::base64::decode(payload.as_bytes(), usize::MAX)).ok()
}

fn is_fresh(c: &Credentials, now: u64) -> bool {
    // Without a readable `exp` we cannot tell; the 401 path refreshes if it is really stale.
    c.expires_at.is_none_or(|exp| exp > now + EXPIRY_MARGIN)
}

fn now() -> u64 {
    clock::unix_now()
}

/// Takes the cross-process lock that serialises writers of the token file `path` (refreshes,
/// `login`, `logout`); it is released when the returned file is dropped. Unix: an advisory lock
/// on the file itself (the file must exist). Windows locks are mandatory, so a lock on the token
/// file would make every other reader fail while it is held (request threads, the Codex CLI):
/// there the lock is on `auth.json.lock` beside it.
pub fn lock_token_file(path: &Path) -> std::io::Result<File> {
    #[cfg(not(windows))]
    let file = File::open(path)?;
    #[cfg(windows)]
    let file = {
        let mut name = path.file_name().unwrap_or_default().to_os_string();
        name.push(".lock");
        OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(false)
            .open(path.with_file_name(name))?
    };
    file.lock()?;
    Ok(file)
}

/// Writes `doc` next to `path` and renames it over, so a crash leaves the old or the new file,
/// never a truncated one. The file is created 0600 and pretty-printed like the Codex CLI's.
pub fn write_atomic(path: &Path, doc: &Value) -> Result<(), Error> {
    let fail = |what: &str, e: std::io::Error| {
        Error::Auth(format!("cannot save {}: {what}: {e}", path.display()))
    };
    let dir = path.parent().unwrap_or(Path::new("."));
    // Unique per process and call, so two writers never share a temp file.
    static SEQ: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
    let seq = SEQ.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let tmp = dir.join(format!(".auth.json.{}.{seq}.tmp", std::process::id()));
    let mut bytes = serde_json::to_vec_pretty(doc).map_err(|e| fail("encode", e.into()))?;
    bytes.push(b'\n');
    let mut opts = OpenOptions::new();
    opts.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut opts, 0o600);
    let result = (|| {
        let mut f = opts.open(&tmp)?;
        f.write_all(&bytes)?;
        f.sync_all()?;
        replace(&tmp, path)?;
        // Make the rename itself durable.
        if let Ok(d) = File::open(dir) {
            let _ = d.sync_all();
        }
        Ok(())
    })();
    if let Err(e) = result {
        let _ = fs::remove_file(&tmp);
        return Err(fail("write", e));
    }
    Ok(())
}

/// Renames `from` over `to`. Windows refuses while another program holds `to` open without
/// delete sharing (a virus scanner, the search indexer, an editor): retried for up to a second.
fn replace(from: &Path, to: &Path) -> std::io::Result<()> {
    let mut tries = 0;
    loop {
        match fs::rename(from, to) {
            Err(e)
                if cfg!(windows)
                    && e.kind() == std::io::ErrorKind::PermissionDenied
                    && tries < 20 =>
            {
                tries += 1;
                std::thread::sleep(std::time::Duration::from_millis(50));
            }
            other => return other,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn jwt(claims: Value) -> String {
        unsigned_jwt(&claims)
    }

    #[test]
    fn credentials_from_codex_file() {
        let id = jwt(json!({"https://api.openai.com/auth": {"chatgpt_account_id": "acc-1"}}));
        let access = jwt(json!({"exp": 2_000_000_000u64}));
        let doc =
            json!({"tokens": {"id_token": id, "access_token": access, "refresh_token": "rt"}});
        let c = parse_credentials(&doc).unwrap();
        assert_eq!(c.account_id.as_deref(), Some("acc-1"));
        assert_eq!(c.expires_at, Some(2_000_000_000));
        assert!(is_fresh(&c, 2_000_000_000 - 61));
        assert!(!is_fresh(&c, 2_000_000_000 - 60));
        assert!(format!("{c:?}").contains("<redacted>") && !format!("{c:?}").contains(&access));
        assert!(parse_credentials(&json!({"tokens": {}})).is_err());
    }

    #[test]
    fn atomic_write_is_private_and_complete() {
        let dir = std::env::temp_dir().join(format!("ccp-auth-{}", std::process::id()));
        fs::create_dir_all(&dir).unwrap();
        let path = dir.join("auth.json");
        fs::write(&path, "{}").unwrap();
        write_atomic(&path, &json!({"a": 1, "keep": {"x": true}})).unwrap();
        let back: Value = serde_json::from_slice(&fs::read(&path).unwrap()).unwrap();
        assert_eq!(back, json!({"a": 1, "keep": {"x": true}}));
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            assert_eq!(
                fs::metadata(&path).unwrap().permissions().mode() & 0o777,
                0o600
            );
        }
        assert_eq!(
            fs::read_dir(&dir).unwrap().count(),
            1,
            "no temp file left behind"
        );
        // A write that cannot complete (here: the target is a directory) changes nothing.
        let blocked = dir.join("blocked");
        fs::create_dir(&blocked).unwrap();
        assert!(write_atomic(&blocked, &json!({"a": 2})).is_err());
        assert!(blocked.is_dir());
        let back: Value = serde_json::from_slice(&fs::read(&path).unwrap()).unwrap();
        assert_eq!(back["a"], 1, "the old file is untouched");
        assert_eq!(
            fs::read_dir(&dir).unwrap().count(),
            2,
            "no temp file left behind"
        );
        fs::remove_dir_all(&dir).unwrap();
    }
}

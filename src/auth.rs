//! The ChatGPT OAuth tokens in `$CODEX_HOME/auth.json`, shared with the Codex CLI.
//!
//! Rules (README "Auth"): the file is re-read whenever it changes on disk; the access token is
//! refreshed when its JWT `exp` is within 60 s, or once after an upstream 401. Refresh tokens are
//! single use and the Codex CLI may refresh too, so one refresh runs at a time: other requests
//! wait for its result (never longer than the token endpoint is given), and after a failure no
//! new attempt is made until a backoff has passed or the file changed. Across processes the
//! refresh takes an exclusive lock on the file, re-reads it, and skips the refresh when someone
//! else already did it. Before the refresh token is spent, the temp file its successor goes to
//! exists ([`tokenfile::Pending`]); if saving still fails, the new tokens are used from memory
//! and saving is retried. Leftovers of an interrupted save are adopted at start and before each
//! refresh. `/health` reads the state without waiting on any of this. Tokens are never logged.

use std::fmt;
use std::fs::File;
use std::path::{Path, PathBuf};
use std::sync::{Condvar, Mutex, MutexGuard, Once};
use std::time::{Duration, Instant};

use serde_json::{Value, json};

use crate::clock;
use crate::config::Config;
use crate::error::{Error, LOGIN_ADVICE};
use crate::oauth::{CLIENT_ID, jwt_claims, post};
use crate::tokenfile::{self, Pending, Stamp};

pub use crate::tokenfile::write_atomic;

/// Refresh this long before the access token expires.
const EXPIRY_MARGIN: u64 = 60;
/// After a failed refresh, no new attempt for this long; doubled after each further failure,
/// up to [`MAX_BACKOFF`]. A change of the file on disk (a new login) ends the wait.
const FIRST_BACKOFF: Duration = Duration::from_secs(10);
const MAX_BACKOFF: Duration = Duration::from_secs(300);

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

/// The login as `/health` reports it.
#[derive(Debug, Clone, PartialEq)]
pub struct Health {
    /// A usable token now, or one the next request can refresh.
    pub ok: bool,
    /// Seconds until the access token expires, when known.
    pub expires_in: Option<u64>,
    /// Why there is no login, or why the last refresh failed.
    pub error: Option<String>,
}

/// The token file as last read, and what identifies that version on disk.
struct Cached {
    stamp: Stamp,
    creds: Credentials,
}

/// Tokens a refresh obtained but could not save: they replace the file's content (the file's
/// refresh token is spent) until saved, or until the file changes on disk.
struct Unsaved {
    doc: Value,
    /// The version on disk they supersede.
    over: Stamp,
    /// A temp file of ours that already holds them (its rename failed).
    kept: Option<PathBuf>,
    last_try: Instant,
}

/// Whether a refresh runs, and how the last one failed.
#[derive(Default)]
struct RefreshState {
    running: bool,
    failure: Option<Failure>,
}

struct Failure {
    error: Error,
    /// The version of the file the refresh failed on.
    on: Option<Stamp>,
    retry_at: Instant,
    attempts: u32,
}

/// Owner of the token file for this process.
pub struct Auth {
    /// `auth.json` as configured (it may be a symlink).
    path: PathBuf,
    codex_home: PathBuf,
    refresh_url: String,
    agent: ureq::Agent,
    /// Longest wait for the token endpoint, and for another process's lock on the file.
    timeout: Duration,
    cache: Mutex<Option<Cached>>,
    unsaved: Mutex<Option<Unsaved>>,
    state: Mutex<RefreshState>,
    /// Signalled when a refresh ends.
    finished: Condvar,
    /// Start-up checks (permissions, leftovers), once per process.
    checked: Once,
}

/// Locks a mutex, also after a panic elsewhere (the data stays consistent: every writer
/// replaces whole values).
fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

impl Auth {
    /// Tokens from `cfg.codex_home/auth.json`, refreshed through `cfg.refresh_url` with `agent`.
    pub fn new(cfg: &Config, agent: ureq::Agent) -> Auth {
        Auth {
            path: cfg.codex_home.join("auth.json"),
            codex_home: cfg.codex_home.clone(),
            refresh_url: cfg.refresh_url.clone(),
            agent,
            timeout: cfg.refresh_timeout,
            cache: Mutex::new(None),
            unsaved: Mutex::new(None),
            state: Mutex::new(RefreshState::default()),
            finished: Condvar::new(),
            checked: Once::new(),
        }
    }

    /// Path of the token file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Current credentials, refreshed first if the access token is about to expire.
    pub fn credentials(&self) -> Result<Credentials, Error> {
        self.retry_unsaved();
        let creds = self.load()?;
        if is_fresh(&creds, now()) {
            return Ok(creds);
        }
        match self.refresh(&creds.access_token) {
            Ok(c) => Ok(c),
            // A token inside the margin still works for a while; don't fail the request for it.
            Err(e) if creds.expires_at.is_some_and(|exp| exp > now() + 5) => {
                log::debug!("{e}; using the current access token until it expires");
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

    /// The login's state for `/health`: reads the file (or the cache) and the last refresh
    /// outcome; never refreshes and never waits for a refresh.
    pub fn health(&self) -> Health {
        let creds = match self.load() {
            Ok(c) => c,
            Err(e) => {
                return Health {
                    ok: false,
                    expires_in: None,
                    error: Some(e.to_string()),
                };
            }
        };
        let failure = lock(&self.state)
            .failure
            .as_ref()
            .map(|f| f.error.to_string());
        let now = now();
        let expired = creds.expires_at.is_some_and(|exp| exp <= now);
        Health {
            ok: !(expired && failure.is_some()),
            expires_in: creds.expires_at.map(|e| e.saturating_sub(now)),
            error: failure,
        }
    }

    /// Reads the file if it changed since the last read.
    fn load(&self) -> Result<Credentials, Error> {
        self.checked.call_once(|| self.startup_checks());
        let stamp = tokenfile::stamp(&self.path).map_err(|e| unreadable(&self.path, &e))?;
        let mut cache = lock(&self.cache);
        if let Some(c) = cache.as_ref().filter(|c| c.stamp == stamp) {
            return Ok(c.creds.clone());
        }
        let creds =
            parse_credentials(&self.current_doc(stamp)?).map_err(|m| missing(&self.path, &m))?;
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

    /// The token document: the file, unless it is the version unsaved tokens supersede.
    fn current_doc(&self, on_disk: Stamp) -> Result<Value, Error> {
        {
            let mut unsaved = lock(&self.unsaved);
            match unsaved.as_ref() {
                Some(u) if u.over == on_disk => return Ok(u.doc.clone()),
                Some(_) => {
                    log::warn!(
                        "{} changed on disk before the refreshed tokens could be saved; using the file",
                        self.path.display()
                    );
                    *unsaved = None;
                }
                None => {}
            }
        }
        read_json(&self.path)
    }

    /// Once per process, before the first read: warn about permissions others could abuse, and
    /// adopt what an interrupted save left (only if no other process holds the file now).
    fn startup_checks(&self) {
        let Ok(target) = tokenfile::resolve(&self.path) else {
            return;
        };
        for warning in tokenfile::permission_warnings(&self.codex_home, &target) {
            log::warn!("{warning}");
        }
        match tokenfile::open_lock(&target) {
            Ok(file) if file.try_lock().is_ok() => self.adopt(&target),
            Ok(_) => {}
            // Killed before the first login was renamed into place: nothing to lock.
            Err(_) => self.adopt(&target),
        }
    }

    /// Adopts a leftover temp file holding newer tokens (call with the file locked).
    fn adopt(&self, target: &Path) {
        let valid = |doc: &Value| {
            parse_credentials(doc).is_ok() && doc["tokens"]["refresh_token"].is_string()
        };
        if let Some(leftover) = tokenfile::adopt_leftover(target, &valid) {
            let mut unsaved = lock(&self.unsaved);
            if unsaved
                .as_ref()
                .is_some_and(|u| u.kept.as_ref() == Some(&leftover))
            {
                *unsaved = None;
                log::info!("saved the refreshed tokens to {}", target.display());
            } else {
                log::warn!(
                    "adopted newer tokens from {} (a save was interrupted)",
                    leftover.display()
                );
            }
            drop(unsaved);
            self.invalidate();
        }
    }

    /// Tries again to save tokens a refresh could not save, at most once a second.
    fn retry_unsaved(&self) {
        {
            let unsaved = lock(&self.unsaved);
            match unsaved.as_ref() {
                Some(u) if u.last_try.elapsed() >= Duration::from_secs(1) => {}
                _ => return,
            }
        }
        let Ok(target) = tokenfile::resolve(&self.path) else {
            return;
        };
        let Ok(file) = tokenfile::open_lock(&target) else {
            return;
        };
        if file.try_lock().is_err() {
            return; // someone is writing it; they or the next call will settle it
        }
        self.adopt(&target);
        let mut unsaved = lock(&self.unsaved);
        let Some(u) = unsaved.as_mut() else {
            return;
        };
        u.last_try = Instant::now();
        if u.kept.as_ref().is_some_and(|k| !k.exists()) {
            u.kept = None; // gone (someone removed it): write the tokens anew
        }
        if u.kept.is_some() || tokenfile::stamp(&target).ok() != Some(u.over) {
            return;
        }
        match Pending::create(&target, 0).and_then(|p| p.commit(&u.doc).map_err(Error::from)) {
            Ok(()) => {
                *unsaved = None;
                drop(unsaved);
                self.invalidate();
                log::info!("saved the refreshed tokens to {}", target.display());
            }
            Err(e) => log::debug!("still cannot save the refreshed tokens: {e}"),
        }
    }

    /// A refresh, unless one already runs (then its result) or the last one failed recently
    /// (then its error).
    fn refresh(&self, stale: &Secret) -> Result<Credentials, Error> {
        let mut state = lock(&self.state);
        while state.running {
            // Someone is refreshing: wait for their result instead of spending the token again.
            // They give up after `timeout` (plus as long again for another process's lock).
            let (s, _) = self
                .finished
                .wait_timeout_while(state, self.timeout * 2 + Duration::from_secs(1), |s| {
                    s.running
                })
                .unwrap_or_else(|p| p.into_inner());
            if s.running {
                return Err(Error::Overloaded(
                    "the ChatGPT login is being refreshed and the token endpoint is slow; retry shortly"
                        .into(),
                ));
            }
            drop(s);
            let creds = self.load()?;
            if creds.access_token != *stale {
                return Ok(creds);
            }
            state = lock(&self.state);
        }
        let on_disk = tokenfile::stamp(&self.path).ok();
        let previous = state.failure.take();
        if let Some(f) = &previous
            && f.on == on_disk
            && Instant::now() < f.retry_at
        {
            let wait = f.retry_at.saturating_duration_since(Instant::now());
            let e = with_next_attempt(&f.error, wait);
            state.failure = previous;
            return Err(e);
        }
        state.running = true;
        drop(state);
        let running = Running(self);
        let result = self.refresh_now(stale);
        let mut state = lock(&self.state);
        state.failure = match &result {
            Ok(_) => None,
            Err(e) => {
                // Consecutive failures on the same login; a new login starts over.
                let attempts = previous
                    .filter(|p| p.on == on_disk)
                    .map_or(1, |p| p.attempts + 1);
                let wait = FIRST_BACKOFF
                    .saturating_mul(1 << (attempts - 1).min(8))
                    .min(MAX_BACKOFF);
                log::warn!("{}", with_next_attempt(e, wait));
                Some(Failure {
                    error: e.clone(),
                    on: tokenfile::stamp(&self.path).ok(),
                    retry_at: Instant::now() + wait,
                    attempts,
                })
            }
        };
        drop(state);
        drop(running);
        result
    }

    /// The refresh itself, under the file lock: adopt leftovers, re-read, skip if someone else
    /// refreshed, prepare the temp file, spend the refresh token, save.
    fn refresh_now(&self, stale: &Secret) -> Result<Credentials, Error> {
        let target = tokenfile::resolve(&self.path).map_err(|e| unreadable(&self.path, &e))?;
        let file = tokenfile::open_lock(&target).map_err(|e| unreadable(&target, &e))?;
        let file = tokenfile::lock_within(file, &target, self.timeout)?;
        self.adopt(&target);
        let stamp = tokenfile::stamp(&target).map_err(|e| unreadable(&target, &e))?;
        let mut doc = self.current_doc(stamp)?;
        let on_disk = parse_credentials(&doc).map_err(|m| missing(&self.path, &m))?;
        if on_disk.access_token != *stale && is_fresh(&on_disk, now()) {
            drop(file);
            self.invalidate();
            return self.load();
        }
        let refresh_token = doc["tokens"]["refresh_token"]
            .as_str()
            .filter(|t| !t.is_empty())
            .ok_or_else(|| missing(&self.path, "it has no tokens.refresh_token"))?
            .to_owned();
        // The successor's home exists (and has room) before the token is spent.
        let room = serde_json::to_vec_pretty(&doc).map_or(0, |b| b.len()) + 4096;
        let pending = Pending::create(&target, room)?;
        log::info!("refreshing the ChatGPT access token");
        let fresh = self.request_tokens(&refresh_token)?;
        let tokens = &mut doc["tokens"];
        for key in ["access_token", "refresh_token", "id_token"] {
            if let Some(v) = fresh[key].as_str().filter(|v| !v.is_empty()) {
                tokens[key] = json!(v);
            }
        }
        doc["last_refresh"] = json!(clock::rfc3339(now()));
        if let Err(e) = pending.commit(&doc) {
            log::error!(
                "{}; the new tokens are used from memory and saving is retried",
                e.error
            );
            *lock(&self.unsaved) = Some(Unsaved {
                doc,
                over: stamp,
                kept: e.kept,
                last_try: Instant::now(),
            });
        }
        drop(file); // releases the lock, after the new file is in place
        self.invalidate();
        self.load()
    }

    fn request_tokens(&self, refresh_token: &str) -> Result<Value, Error> {
        let body = json!({"client_id": CLIENT_ID, "grant_type": "refresh_token", "refresh_token": refresh_token});
        // Refused for good: only a new login helps.
        let refused = |why: String| {
            Error::Auth(format!(
                "could not refresh the ChatGPT login ({why}); {LOGIN_ADVICE}"
            ))
        };
        // The endpoint failed or is unreachable: a later attempt may work.
        let failed =
            |why: String| Error::Overloaded(format!("could not refresh the ChatGPT login ({why})"));
        let (status, v) = post(
            &self.agent,
            &self.refresh_url,
            "application/json",
            body.to_string().as_bytes(),
            Some(self.timeout),
        )
        .map_err(failed)?;
        if status != 200 {
            let code = v["error"]["code"]
                .as_str()
                .or_else(|| v["error"].as_str())
                .or_else(|| v["code"].as_str())
                .unwrap_or("unknown error");
            let why = format!("token endpoint answered {status}: {code}");
            return Err(if matches!(status, 400 | 401 | 403) {
                refused(why)
            } else {
                failed(why)
            });
        }
        if v["access_token"].as_str().is_none_or(str::is_empty) {
            return Err(failed(
                "token endpoint answered without an access_token".into(),
            ));
        }
        Ok(v)
    }

    fn invalidate(&self) {
        *lock(&self.cache) = None;
    }
}

/// Marks the end of a refresh, also when it panicked, and wakes the requests waiting for it.
struct Running<'a>(&'a Auth);

impl Drop for Running<'_> {
    fn drop(&mut self) {
        lock(&self.0.state).running = false;
        self.0.finished.notify_all();
    }
}

/// `e`, saying when the next refresh attempt will be made.
fn with_next_attempt(e: &Error, wait: Duration) -> Error {
    let note = |m: &str| format!("{m}; next attempt in {} s", wait.as_secs().max(1));
    match e {
        Error::Auth(m) => Error::Auth(note(m)),
        Error::Overloaded(m) => Error::Overloaded(note(m)),
        other => other.clone(),
    }
}

fn missing(path: &Path, why: &str) -> Error {
    Error::Auth(format!(
        "no usable ChatGPT login in {} ({why}); {LOGIN_ADVICE}, or set CODEX_HOME to the directory holding auth.json",
        path.display()
    ))
}

/// The token file cannot be opened: a permission problem says so (signing in again would not
/// help), anything else is a missing login.
fn unreadable(path: &Path, e: &std::io::Error) -> Error {
    if e.kind() == std::io::ErrorKind::PermissionDenied {
        Error::Auth(tokenfile::permission_problem("reading", path))
    } else {
        missing(path, &e.to_string())
    }
}

fn read_json(path: &Path) -> Result<Value, Error> {
    let bytes = std::fs::read(path).map_err(|e| unreadable(path, &e))?;
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

fn is_fresh(c: &Credentials, now: u64) -> bool {
    // Without a readable `exp` we cannot tell; the 401 path refreshes if it is really stale.
    c.expires_at.is_none_or(|exp| exp > now + EXPIRY_MARGIN)
}

fn now() -> u64 {
    clock::unix_now()
}

/// Takes the cross-process lock that serialises writers of the token file `path` (refreshes,
/// `login`, `logout`), waiting as long as it takes; it is released when the returned file is
/// dropped. See [`tokenfile::open_lock`].
pub fn lock_token_file(path: &Path) -> std::io::Result<File> {
    let file = tokenfile::open_lock(&tokenfile::resolve(path)?)?;
    file.lock()?;
    Ok(file)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn jwt(claims: Value) -> String {
        crate::oauth::unsigned_jwt(&claims)
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
}

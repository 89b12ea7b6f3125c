//! Log output, one line per record, as text or JSON (`--log-format json`), to stderr or (under
//! the `claude` launcher, whose terminal belongs to Claude Code) to a file.
//! HTTP-client crates are held at `warn`: their trace output includes request headers, and so
//! tokens. Messages themselves never contain tokens (see `auth::Secret`).

use std::fs::File;
use std::io::Write;
use std::sync::{Mutex, OnceLock};

use log::{Level, LevelFilter, Log, Metadata, Record};

use crate::clock;
use crate::config::{Config, LogFormat};

struct Logger {
    level: LevelFilter,
    format: LogFormat,
}

/// The format chosen at `init`, for records written with [`event`].
static FORMAT: OnceLock<LogFormat> = OnceLock::new();
/// Where lines go when not to stderr.
static FILE: OnceLock<Mutex<File>> = OnceLock::new();

/// Installs the logger for the process, writing to stderr until [`to_file`] (a second call is
/// ignored).
pub fn init(cfg: &Config) {
    let logger = Logger {
        level: cfg.log_level,
        format: cfg.log_format,
    };
    if log::set_boxed_logger(Box::new(logger)).is_ok() {
        log::set_max_level(cfg.log_level);
        let _ = FORMAT.set(cfg.log_format);
    }
}

/// From now on, writes the log to `file` instead of stderr (once; a second call is ignored).
/// The `claude` launcher calls it when it starts a proxy of its own, whose log must stay out
/// of Claude Code's terminal.
pub fn to_file(file: File) {
    let _ = FILE.set(Mutex::new(file));
}

/// Writes one finished line; a failing log destination must not take the proxy down.
fn write_line(line: &str) {
    match FILE.get() {
        Some(f) => {
            let _ = f
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .write_all(line.as_bytes());
        }
        None => {
            let _ = std::io::stderr().lock().write_all(line.as_bytes());
        }
    }
}

/// Logs a record with structured fields (the per-request line): in JSON format the fields
/// become top-level keys next to `time`, `level` and `message`; in text format only `text`
/// is written.
pub fn event(level: Level, text: &str, fields: serde_json::Value) {
    if !log::log_enabled!(level) {
        return;
    }
    match FORMAT.get() {
        Some(LogFormat::Json) => {
            let mut obj = match fields {
                serde_json::Value::Object(m) => m,
                _ => serde_json::Map::new(),
            };
            obj.insert(
                "time".into(),
                clock::rfc3339_millis(clock::unix_now_precise()).into(),
            );
            obj.insert("level".into(), level.as_str().into());
            obj.insert("message".into(), text.into());
            write_line(&format!("{}\n", serde_json::Value::Object(obj)));
        }
        _ => log::log!(level, "{text}"),
    }
}

/// Dependencies that may log secrets at debug or trace level.
fn is_noisy(target: &str) -> bool {
    ["ureq", "rustls", "tiny_http"]
        .iter()
        .any(|p| target.starts_with(p))
}

impl Log for Logger {
    fn enabled(&self, m: &Metadata) -> bool {
        m.level() <= self.level && (!is_noisy(m.target()) || m.level() <= Level::Warn)
    }

    fn log(&self, record: &Record) {
        if !self.enabled(record.metadata()) {
            return;
        }
        write_line(&format_line(self.format, clock::unix_now_precise(), record));
    }

    fn flush(&self) {}
}

fn format_line(format: LogFormat, now: std::time::Duration, record: &Record) -> String {
    let time = clock::rfc3339_millis(now);
    match format {
        LogFormat::Text => format!("{time} {:<5} {}\n", record.level(), record.args()),
        LogFormat::Json => {
            let v = serde_json::json!({
                "time": time,
                "level": record.level().as_str(),
                "target": record.target(),
                "message": record.args().to_string(),
            });
            format!("{v}\n")
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn text_and_json_lines() {
        let args = format_args!("hello {}", 1);
        let record = Record::builder()
            .args(args)
            .level(Level::Info)
            .target("codex_claude_proxy")
            .build();
        let t = std::time::Duration::from_secs(0);
        assert_eq!(
            format_line(LogFormat::Text, t, &record),
            "1970-01-01T00:00:00.000Z INFO  hello 1\n"
        );
        let json: serde_json::Value =
            serde_json::from_str(&format_line(LogFormat::Json, t, &record)).unwrap();
        assert_eq!(json["message"], "hello 1");
        assert_eq!(json["level"], "INFO");
    }

    #[test]
    fn noisy_crates_are_capped() {
        let l = Logger {
            level: LevelFilter::Trace,
            format: LogFormat::Text,
        };
        let m = Metadata::builder()
            .level(Level::Trace)
            .target("ureq::unversioned")
            .build();
        assert!(!l.enabled(&m));
        let m = Metadata::builder()
            .level(Level::Trace)
            .target("codex_claude_proxy::handler")
            .build();
        assert!(l.enabled(&m));
    }
}

//! The one log line per `/v1/messages` request: route, status, timings, tokens, tool calls and
//! the stop reason; as text, or as JSON fields with `--log-format json`.

use std::time::Instant;

use serde_json::{Value, json};

use crate::catalogue::Lane;
use crate::error::Error;
use crate::logging;
use crate::translate::stream::StreamTranslator;

/// The one log line per request.
pub struct LogLine {
    pub claude_model: String,
    pub upstream_model: String,
    pub lane: Lane,
    pub effort: String,
    pub stream: bool,
    pub started: Instant,
    pub first_byte: Option<std::time::Duration>,
    /// Estimated input tokens of the translated request.
    pub estimate: u64,
}

impl LogLine {
    pub fn route(&self) -> String {
        format!(
            "{} → {} ({}) effort={} stream={}",
            self.claude_model,
            self.upstream_model,
            self.lane.name(),
            self.effort,
            self.stream
        )
    }

    /// Fields shared by the success and error lines, for `--log-format json`.
    fn fields(&self, status: u16) -> serde_json::Map<String, Value> {
        let mut m = serde_json::Map::new();
        m.insert("event".into(), json!("request"));
        m.insert("model".into(), json!(self.claude_model));
        m.insert("upstream_model".into(), json!(self.upstream_model));
        m.insert("lane".into(), json!(self.lane.name()));
        m.insert("effort".into(), json!(self.effort));
        m.insert("stream".into(), json!(self.stream));
        m.insert("status".into(), json!(status));
        m.insert(
            "duration_ms".into(),
            json!(self.started.elapsed().as_millis() as u64),
        );
        m.insert(
            "first_byte_ms".into(),
            json!(self.first_byte.map(|d| d.as_millis() as u64)),
        );
        m
    }

    pub fn done(&self, status: u16, tr: &StreamTranslator) {
        let u = tr.usage;
        let total_in = u.input_tokens + u.cache_read_input_tokens;
        let hit = (u.cache_read_input_tokens * 100)
            .checked_div(total_in)
            .unwrap_or(0);
        let text = format!(
            "{} {status} {} ms first_byte={} ms in={} cached={} ({hit}%) out={} tools={} stop={}",
            self.route(),
            self.started.elapsed().as_millis(),
            self.first_byte.map_or(0, |d| d.as_millis()),
            u.input_tokens,
            u.cache_read_input_tokens,
            u.output_tokens,
            tr.tool_calls(),
            tr.stop_reason.unwrap_or("-"),
        );
        let mut f = self.fields(status);
        f.insert("input_tokens".into(), json!(u.input_tokens));
        f.insert("cached_tokens".into(), json!(u.cache_read_input_tokens));
        f.insert("cache_hit_percent".into(), json!(hit));
        f.insert("output_tokens".into(), json!(u.output_tokens));
        f.insert("tool_calls".into(), json!(tr.tool_calls()));
        f.insert("stop_reason".into(), json!(tr.stop_reason));
        logging::event(log::Level::Info, &text, Value::Object(f));
    }

    /// Logs a failed request; `status` is what the client got (200 when the error came
    /// inside the stream).
    pub fn error(&self, status: u16, e: &Error) {
        let text = format!(
            "{} {status} {} ms {}: {e}",
            self.route(),
            self.started.elapsed().as_millis(),
            e.kind()
        );
        let mut f = self.fields(status);
        f.insert("error_type".into(), json!(e.kind()));
        f.insert("error".into(), json!(e.to_string()));
        logging::event(log::Level::Warn, &text, Value::Object(f));
    }
}

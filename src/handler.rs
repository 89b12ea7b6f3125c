//! One request, end to end: body → [`translate`](crate::translate) → [`upstream`](crate::upstream)
//! → stream translation → client. Owns the streaming loop: pings while the upstream is silent,
//! the moment the 200 is committed, in-stream errors, and client disconnects.

use std::io::{self, BufReader, Read};
use std::time::Instant;

use serde_json::json;
use tiny_http::Request;

use crate::anthropic::{self, Event};
use crate::app::App;
use crate::catalogue::Source;
use crate::clock;
use crate::error::Error;
use crate::http::{ChunkedWriter, new_id, read_body, respond_error, respond_json};
use crate::reqlog::LogLine;
use crate::responses;
use crate::sse::{Buffered, SseReader};
use crate::translate::collect::Collector;
use crate::translate::ids::ToolNames;
use crate::translate::request::{Context, ThinkingMode, Translated, translate};
use crate::translate::stream::{Sink, SseSink, Step, StreamTranslator};
use crate::translate::{models, tokens};
use crate::upstream::Stream;

/// Longest upstream SSE line (the `response.created` echo of a big prompt is the largest).
const MAX_SSE_LINE: usize = 16 << 20;

/// `POST /v1/messages`.
pub fn messages(mut request: Request, app: &App) {
    let started = Instant::now();
    let request_id = new_id("req_");
    let (mut line, plan, upstream) = match forward(&mut request, app, started) {
        Ok(sent) => sent,
        Err(e) => {
            respond_error(request, &e);
            return;
        }
    };
    line.first_byte = Some(started.elapsed());
    // 16 KiB: the buffer is zeroed at its first fill, so it is resident for the whole stream;
    // 64 KiB cost 10 MiB more for 200 streams and streamed no faster (`make bench`).
    let mut reader = SseReader::new(
        BufReader::with_capacity(16 * 1024, upstream.into_reader()),
        MAX_SSE_LINE,
    );
    let mut tr = StreamTranslator::new(
        new_id("msg_"),
        models::base_id(&line.claude_model).to_owned(),
        line.upstream_model.clone(),
        plan.thinking,
        plan.names,
        line.estimate,
        clock::unix_now(),
    );
    let outcome = if line.stream {
        stream_answer(request, request_id, &mut reader, &mut tr, &line, app)
    } else {
        collect_answer(request, &mut reader, &mut tr, &line, app)
    };
    if tr.finished() {
        // ureq pools a connection only once its body was read to the end; the terminal event
        // is followed by just the chunked trailer, so this read is short and keeps the
        // connection (and its TLS session) for the next request.
        let _ = io::copy(&mut reader.into_inner().take(64 * 1024), &mut io::sink());
    }
    match outcome {
        Ok(status) => line.done(status, &tr),
        Err(Failure::Upstream(e)) => line.error(e.status(), &e),
        // The client already has its 200; the error went out as an `error` event.
        Err(Failure::InStream(e)) => line.error(200, &e),
        Err(Failure::Client(e)) => log::info!(
            "{} -> client disconnected after {} ms ({e}); upstream closed",
            line.route(),
            started.elapsed().as_millis()
        ),
    }
}

/// The upstream event stream of one request.
type UpstreamEvents = SseReader<BufReader<ureq::BodyReader<'static>>>;

/// Streams the translated events; returns the status the client got.
fn stream_answer(
    request: Request,
    request_id: String,
    reader: &mut UpstreamEvents,
    tr: &mut StreamTranslator,
    line: &LogLine,
    app: &App,
) -> Result<u16, Failure> {
    let mut down = Streamer {
        sink: SseSink::default(),
        writer: None,
        request: Some(request),
        request_id,
        ping_interval: app.cfg.ping_interval,
        last_write: line.started,
    };
    let result = pump(reader, tr, &mut down, app).map_err(|f| f.explained(line, app));
    down.end(result, tr)
}

/// Folds the stream into one `message` for a non-streaming client.
fn collect_answer(
    request: Request,
    reader: &mut UpstreamEvents,
    tr: &mut StreamTranslator,
    line: &LogLine,
    app: &App,
) -> Result<u16, Failure> {
    let mut down = Collect(Collector::default());
    match pump(reader, tr, &mut down, app).map_err(|f| f.explained(line, app)) {
        Ok(()) => {
            let message = down.0.finish();
            respond_json(request, 200, message.to_string().into_bytes());
            Ok(200)
        }
        Err(Failure::Upstream(e)) => {
            respond_error(request, &e);
            Err(Failure::Upstream(e))
        }
        Err(f) => Err(f),
    }
}

/// What the answer's translation needs from the request, once the request is gone.
struct Plan {
    thinking: ThinkingMode,
    names: ToolNames,
}

/// Reads, parses and translates the request, estimates its tokens and sends it upstream. The
/// request's bytes, and everything borrowed from them, are gone before the answer streams.
/// Errors are logged here.
fn forward(
    request: &mut Request,
    app: &App,
    started: Instant,
) -> Result<(LogLine, Plan, Stream), Error> {
    let rejected = |e: Error| {
        log::warn!("POST /v1/messages -> {} {}: {e}", e.status(), e.kind());
        e
    };
    let body = read_body(request, app.cfg.max_body_bytes, &app.buffers).map_err(rejected)?;
    let parsed = parse(&body, request).map_err(rejected)?;
    let t = prepare(&parsed, request, app).map_err(rejected)?;
    // About the client's size (the texts pass through as they came): sized once, not grown by
    // doubling, which copied a long history's body several times over.
    let mut upstream_body = app.buffers.take(body.len() + body.len() / 8 + 4096);
    serde_json::to_writer(&mut *upstream_body, &t.body).map_err(|e| {
        rejected(Error::BadRequest(format!(
            "cannot encode the upstream request: {e}"
        )))
    })?;
    let session = t.body.prompt_cache_key.clone().unwrap_or_default();
    let send = || app.upstream.send(&upstream_body, &session, t.lane);
    let count = || tokens::estimate(&t.body, &app.tokens);
    // The estimate (message_start's input_tokens, the log line, a prompt-too-long answer) is
    // not needed before the backend answers, so a long history is counted while the request
    // travels: a cold 2 MiB history costs ~10 ms, more than the rest of the translation.
    let (estimate, sent) = if upstream_body.len() >= COUNT_ALONGSIDE {
        std::thread::scope(|s| {
            match std::thread::Builder::new()
                .name("count".into())
                .spawn_scoped(s, count)
            {
                Ok(counting) => {
                    let sent = send();
                    (counting.join().unwrap_or(0), sent)
                }
                Err(_) => (count(), send()),
            }
        })
    } else {
        (count(), send())
    };
    let line = LogLine {
        claude_model: parsed.model.to_string(),
        upstream_model: t.body.model.clone(),
        lane: t.lane,
        effort: t
            .body
            .reasoning
            .as_ref()
            .map(|r| r.effort.clone())
            .unwrap_or_default(),
        stream: t.stream,
        started,
        first_byte: None,
        estimate,
    };
    match sent {
        Ok(upstream) => Ok((
            line,
            Plan {
                thinking: t.thinking,
                names: t.names,
            },
            upstream,
        )),
        Err(e) => {
            let e = explain(e, &line, app);
            line.error(e.status(), &e);
            Err(e)
        }
    }
}

/// Upstream bodies from this size on are counted on a second thread (see [`forward`]); below
/// it, a thread costs more than it saves.
const COUNT_ALONGSIDE: usize = 256 * 1024;

/// Parses the body; it stays borrowed by the result (texts, tool inputs and schemas).
fn parse<'a>(body: &'a [u8], request: &Request) -> Result<anthropic::Request<'a>, Error> {
    if let Some(enc) = header(request, "content-encoding").filter(|e| e != "identity") {
        return Err(Error::BadRequest(format!(
            "Content-Encoding {enc} is not supported by the proxy; send the body uncompressed \
             (unset CLAUDE_CODE_GZIP_REQUEST_BODIES)"
        )));
    }
    if body.iter().all(u8::is_ascii_whitespace) {
        return Err(Error::BadRequest(
            "request body is empty; expected a JSON object".into(),
        ));
    }
    serde_json::from_slice(body)
        .map_err(|e| Error::BadRequest(crate::fieldpath::describe(body, &e)))
}

/// Translates a parsed request for the model and lane the catalogue gives it.
fn prepare<'a>(
    parsed: &'a anthropic::Request<'a>,
    request: &Request,
    app: &App,
) -> Result<Translated<'a>, Error> {
    let session = header(request, "x-claude-code-session-id");
    let cat = app.upstream.catalogue_for(&parsed.model);
    translate(
        parsed,
        &Context {
            map: &cat.map,
            models: &cat.models,
            session_header: session.as_deref(),
        },
    )
}

/// Context window assumed when the model list does not give one (late-2026 models).
const DEFAULT_CONTEXT_WINDOW: u64 = 272_000;

/// Makes an upstream error actionable: a model that needs a newer Codex client names the version
/// and the setting; a "model not supported" error names the mapping and the models the account
/// offers; a context overflow gets the numbers Claude Code parses (`prompt is too long: N tokens
/// > M maximum`) to size its compaction.
fn explain(e: Error, line: &LogLine, app: &App) -> Error {
    match e {
        Error::BadRequest(m) if m.to_ascii_lowercase().contains("requires a newer version") => {
            let announced = app.upstream.client_version();
            let cat = app.upstream.cached_catalogue();
            let needs = cat
                .entry(&line.upstream_model)
                .and_then(|m| m.minimal_client_version.clone());
            let (needs_text, target) = match &needs {
                Some(v) => (format!("; the model needs {v} or later"), v.clone()),
                None => (String::new(), "a current Codex release".to_owned()),
            };
            let mapped = if models::base_id(&line.claude_model) == line.upstream_model {
                String::new()
            } else {
                format!(" ({} is mapped to it)", line.claude_model)
            };
            Error::BadRequest(format!(
                "{}{mapped} requires a newer Codex client than the {announced} this proxy announces\
                 {needs_text}. Set CODEX_CLIENT_VERSION (or --client-version) to {target}, or pick \
                 another model. Backend: {m}",
                line.upstream_model
            ))
        }
        Error::BadRequest(m) if m.contains("not supported") && m.contains("model") => {
            let cat = app.upstream.catalogue();
            let available: Vec<&str> = cat
                .models
                .iter()
                .filter(|m| m.listed() && cat.source == Source::Live)
                .map(|m| m.slug.as_str())
                .collect();
            let list = if available.is_empty() {
                "unknown".to_owned()
            } else {
                available.join(", ")
            };
            Error::BadRequest(format!(
                "{m} ({} was mapped to {}; set CODEX_THINKING_MODEL / CODEX_BIG_MODEL / CODEX_SMALL_MODEL \
                 to a model your account offers: {list})",
                line.claude_model, line.upstream_model
            ))
        }
        Error::PromptTooLong { tokens: None, .. } => {
            let limit = app
                .upstream
                .cached_catalogue()
                .context_window(&line.upstream_model)
                .unwrap_or(DEFAULT_CONTEXT_WINDOW);
            // The backend does not say by how much; our estimate may be below the real count,
            // and Claude Code needs "actual > limit" to size the compaction.
            Error::PromptTooLong {
                tokens: Some(line.estimate.max(limit + 1)),
                limit: Some(limit),
            }
        }
        other => other,
    }
}

/// Why the pump stopped early.
enum Failure {
    /// Writing to the client failed: it went away.
    Client(io::Error),
    /// The upstream failed; the client should hear about it.
    Upstream(Error),
    /// The upstream failed after the 200 was sent; the client got an `error` event.
    InStream(Error),
}

impl Failure {
    fn explained(self, line: &LogLine, app: &App) -> Failure {
        match self {
            Failure::Upstream(e) => Failure::Upstream(explain(e, line, app)),
            client => client,
        }
    }
}

/// Where translated events go: the client's socket, or a collector.
trait Downstream: Sink {
    /// Delivers what the upstream events so far produced.
    fn deliver(&mut self) -> io::Result<()>;
    /// Bytes translated and not yet delivered.
    fn pending(&self) -> usize;
    /// Called when the upstream was silent for a ping interval or sent only a keep-alive:
    /// sends a ping if the client has heard nothing for a ping interval.
    fn idle(&mut self, tr: &mut StreamTranslator) -> io::Result<()>;
}

/// Most translated bytes held back while more upstream events are already here.
const MAX_BATCH: usize = 64 * 1024;

/// Reads upstream events until the terminal one, feeding the translator, and delivers what
/// they produce: events already in the read buffer leave together in one chunk, and the chunk
/// leaves as soon as reading on would wait for the upstream (never held for a later event).
/// What the last events produced is still pending when it returns: the caller ends the answer
/// with it (in the same write as the end of the body, or before the error event).
///
/// Silence is measured between complete events, not reads: an upstream trickling bytes that
/// never finish an event still times out, and the client still gets its pings meanwhile.
/// Keep-alive comments do not count as events either (the Codex CLI's idle timeout ignores
/// them too).
fn pump<R: Buffered>(
    reader: &mut SseReader<R>,
    tr: &mut StreamTranslator,
    down: &mut dyn Downstream,
    app: &App,
) -> Result<(), Failure> {
    let mut last_event = Instant::now();
    // An event arrived since the last wait (the clock is read once per wait, not per event).
    let mut fresh = false;
    loop {
        if app.cut() {
            return Err(Failure::Upstream(Error::Overloaded(
                "the proxy is shutting down and could not finish this answer; retry the request"
                    .into(),
            )));
        }
        if !reader.event_ready() {
            // Reading on may wait for the upstream: what was translated leaves now.
            down.deliver().map_err(Failure::Client)?;
            let now = Instant::now();
            if std::mem::take(&mut fresh) {
                last_event = now;
            }
            reader.set_deadline(Some(now + app.cfg.ping_interval));
        } else if down.pending() >= MAX_BATCH {
            down.deliver().map_err(Failure::Client)?;
        }
        match reader.next_event() {
            Ok(Some(ev)) if ev.comment => {
                // The client may be owed a ping.
                down.idle(tr).map_err(Failure::Client)?;
            }
            Ok(Some(ev)) => {
                fresh = true;
                let parsed = match responses::parse_event(ev.data) {
                    Ok(p) => p,
                    Err(e) => {
                        log::debug!("skipping an unreadable upstream event ({e})");
                        continue;
                    }
                };
                let step = tr.on_event(&parsed, down).map_err(Failure::Upstream)?;
                if step == Step::Done {
                    return Ok(());
                }
            }
            Ok(None) => return Err(Failure::Upstream(tr.truncated())),
            Err(e) if is_timeout(&e) => {
                let silent = last_event.elapsed();
                if silent >= app.cfg.idle_timeout {
                    return Err(Failure::Upstream(Error::Timeout(format!(
                        "the ChatGPT backend sent no complete event for {} s",
                        silent.as_secs()
                    ))));
                }
                down.idle(tr).map_err(Failure::Client)?;
            }
            Err(e) => {
                return Err(Failure::Upstream(Error::Upstream {
                    status: 502,
                    message: format!("the upstream stream broke: {e}"),
                }));
            }
        }
    }
}

fn is_timeout(e: &io::Error) -> bool {
    matches!(
        e.kind(),
        io::ErrorKind::TimedOut | io::ErrorKind::WouldBlock
    ) || e
        .get_ref()
        .and_then(|inner| inner.downcast_ref::<ureq::Error>())
        .is_some_and(|u| matches!(u, ureq::Error::Timeout(_)))
}

/// Streams to the client; commits the 200 at the first event it has to send, so failures the
/// upstream reports before any content still become proper HTTP errors.
struct Streamer {
    sink: SseSink,
    writer: Option<ChunkedWriter>,
    request: Option<Request>,
    request_id: String,
    ping_interval: std::time::Duration,
    last_write: Instant,
}

impl Streamer {
    /// Ends the answer after `result`: what is still pending, then (after an upstream failure)
    /// the `error` event, then the end of the body, in one write. A failure before anything was
    /// translated is still a plain HTTP error; a stream that ended without one event was cut.
    /// Returns the status the client got.
    fn end(mut self, result: Result<(), Failure>, tr: &StreamTranslator) -> Result<u16, Failure> {
        let failure = match result {
            Ok(()) => None,
            Err(Failure::Upstream(e)) => Some(e),
            Err(f) => return Err(f),
        };
        if self.writer.is_none() && self.sink.buf.is_empty() {
            let e = failure.unwrap_or_else(|| tr.truncated());
            if let Some(request) = self.request.take() {
                respond_error(request, &e);
            }
            return Err(Failure::Upstream(e));
        }
        if let Some(e) = &failure {
            crate::sse::encode(&mut self.sink.buf, "error", &e.to_json());
        }
        let writer = match (self.writer.take(), self.request.take()) {
            (Some(w), _) => w,
            (None, Some(request)) => ChunkedWriter::start(request, &self.request_id),
            (None, None) => {
                return Err(Failure::Client(io::Error::other(
                    "response already finished",
                )));
            }
        };
        let ended = writer.finish(&self.sink.buf);
        match failure {
            Some(e) => Err(Failure::InStream(e)),
            None => ended.map(|()| 200).map_err(Failure::Client),
        }
    }
}

impl Sink for Streamer {
    fn event(&mut self, ev: &Event<'_>) {
        self.sink.event(ev);
    }
}

impl Downstream for Streamer {
    fn pending(&self) -> usize {
        self.sink.buf.len()
    }

    fn deliver(&mut self) -> io::Result<()> {
        if self.sink.buf.is_empty() {
            return Ok(());
        }
        if self.writer.is_none() {
            let Some(request) = self.request.take() else {
                return Err(io::Error::other("response already finished"));
            };
            self.writer = Some(ChunkedWriter::start(request, &self.request_id));
        }
        let result = match self.writer.as_mut() {
            Some(w) => w.chunk(&self.sink.buf),
            None => Ok(()),
        };
        self.sink.buf.clear();
        self.last_write = Instant::now();
        result
    }

    fn idle(&mut self, tr: &mut StreamTranslator) -> io::Result<()> {
        if self.last_write.elapsed() < self.ping_interval.mul_f32(0.9) {
            return Ok(());
        }
        tr.start(self);
        self.sink.event(&Event::Ping);
        self.deliver()
    }
}

/// Collects the answer for a non-streaming client; silence needs no pings.
struct Collect(Collector);

impl Sink for Collect {
    fn event(&mut self, ev: &Event<'_>) {
        self.0.event(ev);
    }
}

impl Downstream for Collect {
    fn deliver(&mut self) -> io::Result<()> {
        Ok(())
    }
    fn pending(&self) -> usize {
        0
    }
    fn idle(&mut self, _: &mut StreamTranslator) -> io::Result<()> {
        Ok(())
    }
}

/// `POST /v1/messages/count_tokens`: an estimate over the translated request.
pub fn count_tokens(mut request: Request, app: &App) {
    let result = read_body(&mut request, app.cfg.max_body_bytes, &app.buffers).and_then(|body| {
        let parsed = parse(&body, &request)?;
        let t = prepare(&parsed, &request, app)?;
        Ok(tokens::estimate(&t.body, &app.tokens))
    });
    match result {
        Ok(n) => respond_json(
            request,
            200,
            json!({"input_tokens": n}).to_string().into_bytes(),
        ),
        Err(e) => {
            log::warn!(
                "POST /v1/messages/count_tokens -> {} {}: {e}",
                e.status(),
                e.kind()
            );
            respond_error(request, &e);
        }
    }
}

fn header(request: &Request, name: &str) -> Option<String> {
    request
        .headers()
        .iter()
        .find(|h| h.field.as_str().as_str().eq_ignore_ascii_case(name))
        .map(|h| h.value.as_str().to_owned())
}

//! Golden files for translation. Each real Claude Code request in `fixtures/claude-code/` has
//! its upstream body checked in under `golden/requests/`, and each upstream stream in
//! `fixtures/upstream/` its Anthropic stream under `golden/streams/` (one file per thinking mode).
//! After an intended change, regenerate with `UPDATE_GOLDEN=1 cargo test --test golden` and
//! review the diff.

use std::path::{Path, PathBuf};

use codex_claude_proxy::anthropic::Event;
use codex_claude_proxy::catalogue::{self, Lane, ModelInfo, ModelMap, Version};
use codex_claude_proxy::sse::SseReader;
use codex_claude_proxy::translate::collect::Collector;
use codex_claude_proxy::translate::ids::ToolNames;
use codex_claude_proxy::translate::request::{Context, ThinkingMode, translate};
use codex_claude_proxy::translate::stream::{Sink, SseSink, Step, StreamTranslator};
use codex_claude_proxy::{anthropic, responses};
use serde_json::Value;

/// The streaming answer and the folded non-streaming one, from the same events.
#[derive(Default)]
struct Both {
    sse: SseSink,
    collect: Collector,
}

impl Sink for Both {
    fn event(&mut self, ev: &Event<'_>) {
        self.sse.event(ev);
        self.collect.event(ev);
    }
}

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests")
}

/// Compares `got` with the golden file, or rewrites it under UPDATE_GOLDEN=1.
fn check(golden: &Path, got: &str, failures: &mut Vec<String>) {
    if std::env::var_os("UPDATE_GOLDEN").is_some() {
        std::fs::create_dir_all(golden.parent().unwrap()).unwrap();
        std::fs::write(golden, got).unwrap();
        return;
    }
    let want = std::fs::read_to_string(golden).unwrap_or_default();
    if want != got {
        let line = want
            .lines()
            .zip(got.lines())
            .position(|(a, b)| a != b)
            .unwrap_or(want.lines().count().min(got.lines().count()));
        failures.push(format!(
            "{} differs at line {}\n~~~ expected\n{}\n~~~ got\n{}\n~~~",
            golden.display(),
            line + 1,
            want.lines().nth(line).unwrap_or("<end>"),
            got.lines().nth(line).unwrap_or("<end>"),
        ));
    }
}

fn sorted(dir: &Path, suffix: &str) -> Vec<PathBuf> {
    let mut v: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.to_string_lossy().ends_with(suffix))
        .collect();
    v.sort();
    v
}

/// Compact JSON text laid out as `serde_json::to_string_pretty` would (two-space indent), keys
/// in the order they come: the golden files show the bytes the proxy sends.
fn pretty(json: &str) -> String {
    let mut out = String::with_capacity(json.len() * 2);
    let (mut depth, mut in_string, mut escaped) = (0usize, false, false);
    let newline = |out: &mut String, depth: usize| {
        out.push('\n');
        out.push_str(&"  ".repeat(depth));
    };
    let mut chars = json.chars().peekable();
    while let Some(c) = chars.next() {
        if in_string {
            out.push(c);
            match c {
                _ if escaped => escaped = false,
                '\\' => escaped = true,
                '"' => in_string = false,
                _ => {}
            }
            continue;
        }
        match c {
            '"' => {
                in_string = true;
                out.push(c);
            }
            '{' | '[' => {
                out.push(c);
                if matches!(chars.peek(), Some('}' | ']')) {
                    out.push(chars.next().unwrap());
                } else {
                    depth += 1;
                    newline(&mut out, depth);
                }
            }
            '}' | ']' => {
                depth -= 1;
                newline(&mut out, depth);
                out.push(c);
            }
            ',' => {
                out.push(c);
                newline(&mut out, depth);
            }
            ':' => out.push_str(": "),
            _ => out.push(c),
        }
    }
    out
}

/// The Codex CLI 0.171.0 model catalogue, as the backend serves it.
fn live_catalogue() -> Vec<ModelInfo> {
    let text = std::fs::read_to_string(root().join("fixtures/upstream/models-codex-0.171.0.json"))
        .unwrap();
    catalogue::parse_list(&text).unwrap()
}

/// Every captured `/v1/messages` request, translated twice: with the mapping chosen from the
/// live catalogue (all current models take the Responses Lite lane) into `golden/requests/lite/`,
/// and with every family on `gpt-5.5` (the full lane) into `golden/requests/full/`.
#[test]
fn claude_code_requests_translate_to_golden_upstream_bodies() {
    let models = live_catalogue();
    let current = catalogue::pick_defaults(&models, &Version::DEFAULT).unwrap();
    assert_eq!(
        (current.thinking.as_str(), current.small.as_str()),
        ("gpt-6.2-sol", "gpt-6-luna")
    );
    let full = ModelMap {
        thinking: "gpt-5.5".into(),
        big: "gpt-5.5".into(),
        small: "gpt-5.5".into(),
    };
    let mut failures = Vec::new();
    for (map, dir, lane) in [(&current, "lite", Lane::Lite), (&full, "full", Lane::Full)] {
        let mut n = 0;
        for path in sorted(&root().join("fixtures/claude-code"), ".request.json") {
            let fixture: Value = serde_json::from_slice(&std::fs::read(&path).unwrap()).unwrap();
            if !fixture["path"]
                .as_str()
                .unwrap()
                .starts_with("/v1/messages")
            {
                continue;
            }
            let text = fixture["body"].to_string();
            let req: anthropic::Request = serde_json::from_str(&text).unwrap();
            let session = fixture["headers"]["X-Claude-Code-Session-Id"].as_str();
            let t = translate(
                &req,
                &Context {
                    map,
                    models: &models,
                    session_header: session,
                },
            )
            .unwrap();
            let name = path.file_name().unwrap().to_string_lossy().to_string();
            // Only an explicit older model (`gpt-5.3-codex`) leaves the lane of its directory.
            if !req.model.starts_with("gpt-") {
                assert_eq!(t.lane, lane, "{dir}/{name}");
            }
            // What the proxy sends (compact, raw texts as they came), laid out for review.
            let body = pretty(&serde_json::to_string(&t.body).unwrap()) + "\n";
            let golden = name.replace(".request.json", ".upstream.json");
            check(
                &root().join("golden/requests").join(dir).join(golden),
                &body,
                &mut failures,
            );
            n += 1;
        }
        assert!(n >= 42, "only {n} request fixtures");
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn upstream_streams_translate_to_golden_anthropic_streams() {
    let mut failures = Vec::new();
    for path in sorted(&root().join("fixtures/upstream"), ".sse") {
        let bytes = std::fs::read(&path).unwrap();
        for (mode, tag) in [
            (ThinkingMode::Summarized, "thinking"),
            (ThinkingMode::Off, "plain"),
        ] {
            let mut t = StreamTranslator::new(
                "msg_golden".into(),
                "claude-opus-5-5".into(),
                "gpt-5.6-sol".into(),
                mode,
                ToolNames::default(),
                1000,
                1_764_000_000,
            );
            let mut sink = Both::default();
            let mut reader = SseReader::new(&bytes[..], 1 << 24);
            let mut ending = String::from("<upstream ended without a terminal event>");
            while let Some(ev) = reader.next_event().unwrap() {
                if ev.comment {
                    continue;
                }
                let parsed = responses::parse_event(ev.data).unwrap();
                match t.on_event(&parsed, &mut sink) {
                    Ok(Step::Done) => {
                        ending = "<done>".into();
                        break;
                    }
                    Ok(Step::Continue) => {}
                    Err(e) => {
                        ending = format!("<error {} {}: {e}>", e.status(), e.kind());
                        break;
                    }
                }
            }
            if mode == ThinkingMode::Off && ending == "<done>" {
                // A non-streaming client gets the same events folded into one message.
                let message = serde_json::to_string_pretty(&sink.collect.finish()).unwrap() + "\n";
                let name = path
                    .file_name()
                    .unwrap()
                    .to_string_lossy()
                    .replace(".sse", ".message.json");
                check(
                    &root().join("golden/streams").join(name),
                    &message,
                    &mut failures,
                );
            }
            let got = format!("{}{ending}\n", String::from_utf8(sink.sse.buf).unwrap());
            let name = path
                .file_name()
                .unwrap()
                .to_string_lossy()
                .replace(".sse", &format!(".{tag}.sse"));
            check(
                &root().join("golden/streams").join(name),
                &got,
                &mut failures,
            );
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

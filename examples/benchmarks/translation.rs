//! The stream translation alone, in this process: the proxy's own part of a stream's cost.

use super::*;

/// The stream translation alone, in this process (no sockets, no ureq): an upstream body of
/// `n` text deltas as the mock writes them (without the HTTP chunk framing), read from a 16 KiB
/// buffer as the proxy reads it, parsed, translated and encoded, the output taken away at every
/// 64 KiB as `deliver` would. Nanoseconds per event in the fastest of 31 runs (the cost itself,
/// without what else the machine was doing).
pub(super) fn translation_alone(n: usize) -> f64 {
    use codex_claude_proxy::responses::parse_event;
    use codex_claude_proxy::sse::SseReader;
    use codex_claude_proxy::translate::ids::ToolNames;
    use codex_claude_proxy::translate::request::ThinkingMode;
    use codex_claude_proxy::translate::stream::{SseSink, Step, StreamTranslator};
    let mut upstream = Vec::new();
    let mut event = |name: &str, data: &str| {
        let _ = write!(upstream, "event: {name}\ndata: {data}\n\n");
    };
    event(
        "response.created",
        r#"{"type":"response.created","response":{"id":"r"}}"#,
    );
    for i in 0..n {
        let data = format!(
            r#"{{"type":"response.output_text.delta","item_id":"msg_1","output_index":0,"content_index":0,"delta":"@{}"}}"#,
            1_000_000_000 + i
        );
        event("response.output_text.delta", &data);
    }
    event(
        "response.completed",
        r#"{"type":"response.completed","response":{"id":"r","usage":{"input_tokens":10,"output_tokens":5}}}"#,
    );
    let runs: Vec<f64> = (0..31)
        .map(|_| {
            let began = Instant::now();
            let mut tr = StreamTranslator::new(
                "msg_1".into(),
                "claude".into(),
                "gpt".into(),
                ThinkingMode::Off,
                ToolNames::default(),
                0,
                0,
            );
            let mut sink = SseSink::default();
            let mut reader =
                SseReader::new(BufReader::with_capacity(16 << 10, &upstream[..]), 1 << 20);
            while let Ok(Some(ev)) = reader.next_event() {
                let Ok(parsed) = parse_event(ev.data) else {
                    continue;
                };
                if tr.on_event(&parsed, &mut sink) != Ok(Step::Continue) {
                    break;
                }
                if sink.buf.len() >= 64 << 10 {
                    sink.buf.clear();
                }
            }
            began.elapsed().as_nanos() as f64 / n as f64
        })
        .collect();
    runs.into_iter().fold(f64::MAX, f64::min)
}

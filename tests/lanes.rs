//! Today's backend, black box: the mock serves the Codex CLI 0.171.0 catalogue and refuses what
//! the real backend refuses (a request breaking its lane's rules, `-luna` on the full lane, a
//! model newer than the announced client). The proxy must pick current models, send each on its
//! lane, explain version gating, and follow the catalogue when it changes.

mod common;

use codex_claude_proxy::catalogue::Version;
use common::*;
use serde_json::{Value, json};

fn ask(model: &str) -> Value {
    json!({"model": model, "max_tokens": 100, "stream": true,
        "tools": [{"name": "Bash", "description": "run", "input_schema": {"type": "object", "properties": {"command": {"type": "string"}}}}],
        "system": [{"type": "text", "text": "You are Claude Code."}],
        "messages": [{"role": "user", "content": "hi"}]})
}

fn is_lite(seen: &Seen) -> bool {
    seen.header(rules::LITE) == Some("true")
}

#[test]
fn default_mapping_picks_current_models_on_their_lanes() {
    let mock = Mock::start(|_, _| Reply::sse(text_stream(&["ok"])));
    let home = CodexHome::valid();
    let p = proxy(&mock, &home, |_| {});
    for (claude, codex) in [
        ("claude-opus-5-5", "gpt-6.2-sol"),
        ("claude-sonnet-4-5-20250929", "gpt-6.2-sol"),
        ("claude-haiku-5-5", "gpt-6-luna"),
    ] {
        let a = post_messages(p.addr, &ask(claude));
        assert_eq!(a.status, 200, "{claude}: {}", a.text());
        let up = mock.last();
        assert_eq!(up.json()["model"], codex, "{claude}");
        assert!(is_lite(&up), "{claude} goes on the lite lane");
    }
    // An explicit full-lane model keeps today's dialect.
    let a = post_messages(p.addr, &ask("gpt-5.5"));
    assert_eq!(a.status, 200, "{}", a.text());
    let up = mock.last();
    assert!(!is_lite(&up));
    let body = up.json();
    assert_eq!(body["instructions"], "You are Claude Code.");
    assert_eq!(body["tools"][0]["name"], "Bash");
    // The announced client: the header, the User-Agent and the model list agree.
    assert_eq!(up.header("version"), Some("0.171.0"));
    assert!(
        up.header("user-agent")
            .unwrap()
            .starts_with("codex_cli_rs/0.171.0 (")
    );
    assert_eq!(mock.model_reads(), 1, "the list is read once and cached");
    let reads = mock.model_reads.lock().unwrap().clone();
    assert!(reads[0].path.ends_with("/models?client_version=0.171.0"));
    // /v1/models shows the same mapping and the real context windows.
    let m = call(p.addr, "GET", "/v1/models", &[], b"").json();
    let opus = m["data"]
        .as_array()
        .unwrap()
        .iter()
        .find(|d| d["id"] == "claude-opus-5-5")
        .unwrap();
    assert_eq!(opus["display_name"], "Opus → gpt-6.2-sol");
    assert_eq!(opus["max_input_tokens"], 500_000);
    p.stop();
}

#[test]
fn explicit_settings_win() {
    let mock = Mock::start(|_, _| Reply::sse(text_stream(&["ok"])));
    let home = CodexHome::valid();
    let p = proxy(&mock, &home, |c| {
        c.big_model = Some("gpt-6.1-terra".into());
        c.small_model = Some("gpt-5.6-luna".into());
    });
    assert_eq!(post_messages(p.addr, &ask("claude-sonnet-5-5")).status, 200);
    assert_eq!(mock.last().json()["model"], "gpt-6.1-terra");
    assert_eq!(post_messages(p.addr, &ask("claude-haiku-5-5")).status, 200);
    assert_eq!(mock.last().json()["model"], "gpt-5.6-luna");
    p.stop();
}

#[test]
fn luna_never_goes_out_on_the_full_lane() {
    // The model list cannot be read: the built-in table decides, and still says lite.
    let mock = Mock::scripted_models(|seen, _| {
        if seen.path.contains("/models") {
            Reply::json(500, json!({"detail": "models are down"}))
        } else {
            Reply::sse(text_stream(&["ok"]))
        }
    });
    let home = CodexHome::valid();
    let p = proxy(&mock, &home, |c| {
        c.small_model = Some("gpt-5.6-luna".into());
    });
    for model in [
        "claude-haiku-5-5",
        "gpt-6-luna",
        "gpt-5.6-luna",
        "gpt-7-luna",
    ] {
        let a = post_messages(p.addr, &ask(model));
        assert_eq!(a.status, 200, "{model}: {}", a.text());
        let up = mock.last();
        assert!(up.json()["model"].as_str().unwrap().contains("-luna"));
        assert!(is_lite(&up), "{model} went out on the full lane");
    }
    let sent = mock.requests();
    assert!(
        sent.iter().filter(|s| s.path.contains("/models")).count() == 1,
        "a failed read is not retried on every request"
    );
    p.stop();
}

#[test]
fn a_model_that_needs_a_newer_client_gives_a_clear_error() {
    let mock = Mock::start(|_, _| Reply::sse(text_stream(&["ok"])));
    let home = CodexHome::valid();
    let p = proxy(&mock, &home, |c| {
        c.client_version = Version::parse("0.150.0").unwrap();
    });
    let a = post_messages(p.addr, &ask("gpt-6.2-sol"));
    assert_eq!(a.status, 400, "{}", a.text());
    assert_eq!(a.json()["error"]["type"], "invalid_request_error");
    let msg = a.json()["error"]["message"].as_str().unwrap().to_owned();
    for want in [
        "gpt-6.2-sol",
        "0.150.0",
        "needs 0.166.0 or later",
        "CODEX_CLIENT_VERSION",
        "requires a newer version of Codex",
    ] {
        assert!(msg.contains(want), "{want:?} missing in: {msg}");
    }
    assert_eq!(mock.last().header("version"), Some("0.150.0"));
    // The defaults stay within what this client may use (the 0.144 models).
    let a = post_messages(p.addr, &ask("claude-sonnet-5-5"));
    assert_eq!(a.status, 200, "{}", a.text());
    assert_eq!(mock.last().json()["model"], "gpt-5.6-sol");
    p.stop();
}

#[test]
fn the_catalogue_is_read_again_when_the_etag_changes() {
    let mock = Mock::start(|_, _| Reply::sse(text_stream(&["ok"])));
    let home = CodexHome::valid();
    let p = proxy(&mock, &home, |_| {});
    assert_eq!(post_messages(p.addr, &ask("claude-sonnet-5-5")).status, 200);
    assert_eq!(mock.last().json()["model"], "gpt-6.2-sol");
    assert_eq!(post_messages(p.addr, &ask("claude-sonnet-5-5")).status, 200);
    assert_eq!(mock.model_reads(), 1, "same etag: no new read");

    // A new model ships; the backend's replies now name a new etag.
    let mut list: Value =
        serde_json::from_slice(&fixture("upstream/models-codex-0.171.0.json")).unwrap();
    list["models"].as_array_mut().unwrap().insert(
        0,
        json!({"slug": "gpt-7-sol", "priority": 0, "visibility": "list", "use_responses_lite": true,
            "context_window": 600000, "minimal_client_version": "0.170.0", "upgrade": null}),
    );
    mock.set_catalogue(json!({"models": list["models"]}), "cat-2");
    // This reply carries the new etag; the list is read before the next request.
    assert_eq!(post_messages(p.addr, &ask("claude-sonnet-5-5")).status, 200);
    assert_eq!(mock.last().json()["model"], "gpt-6.2-sol");
    assert_eq!(post_messages(p.addr, &ask("claude-sonnet-5-5")).status, 200);
    assert_eq!(mock.model_reads(), 2);
    assert_eq!(mock.last().json()["model"], "gpt-7-sol");
    assert!(is_lite(&mock.last()));
    p.stop();
}

#[test]
fn an_unknown_model_name_reads_the_list_again_once() {
    let mock = Mock::start(|_, _| Reply::sse(text_stream(&["ok"])));
    let home = CodexHome::valid();
    let p = proxy(&mock, &home, |_| {});
    assert_eq!(post_messages(p.addr, &ask("claude-opus-5-5")).status, 200);
    assert_eq!(mock.model_reads(), 1);
    // The account gains a full-lane model the proxy has never heard of (same etag).
    mock.set_catalogue(
        json!({"models": [{"slug": "gpt-5.9-classic", "use_responses_lite": false, "priority": 1}]}),
        "cat-1",
    );
    let a = post_messages(p.addr, &ask("gpt-5.9-classic"));
    assert_eq!(a.status, 200, "{}", a.text());
    assert_eq!(mock.model_reads(), 2);
    assert!(
        !is_lite(&mock.last()),
        "its entry says full lane, its name alone would say lite"
    );
    // Asking again, or for a name no list has, does not read it on every request.
    for model in ["gpt-5.9-classic", "gpt-nope", "gpt-nope"] {
        post_messages(p.addr, &ask(model));
    }
    assert_eq!(mock.model_reads(), 3, "one more read, for gpt-nope");
    p.stop();
}

#[test]
fn non_streaming_answers_fold_the_lite_stream() {
    let mock = Mock::start(|_, _| Reply::sse(fixture("upstream/lite_text.sse")));
    let home = CodexHome::valid();
    let p = proxy(&mock, &home, |_| {});
    let mut req = ask("claude-opus-5-5");
    req["stream"] = json!(false);
    let a = post_messages(p.addr, &req);
    assert_eq!(a.status, 200, "{}", a.text());
    let m = a.json();
    assert_eq!(
        m["content"],
        json!([{"type": "text", "text": "The tests pass now: the parser keeps its buffer."}])
    );
    assert_eq!(m["stop_reason"], "end_turn");
    assert_eq!(m["usage"]["cache_read_input_tokens"], 7040);
    p.stop();
}

#[test]
fn web_search_runs_on_a_full_lane_model() {
    let mock = Mock::start(|_, _| Reply::sse(text_stream(&["found it"])));
    let home = CodexHome::valid();
    let p = proxy(&mock, &home, |_| {});
    let req = json!({"model": "claude-haiku-5-5", "max_tokens": 100, "stream": true,
        "tools": [{"type": "web_search_20250305", "name": "web_search", "max_uses": 8}],
        "messages": [{"role": "user", "content": "Perform a web search for the query: rust 2027 edition"}]});
    let a = post_messages(p.addr, &req);
    assert_eq!(a.status, 200, "{}", a.text());
    let up = mock.last();
    assert!(!is_lite(&up));
    let body = up.json();
    assert_eq!(body["model"], "gpt-5.5");
    assert_eq!(body["tools"], json!([{"type": "web_search"}]));
    p.stop();
}

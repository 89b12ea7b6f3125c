//! What today's Codex backend refuses before it answers, and the model list it serves, shared by
//! the test mock (`tests/common`) and the fake backend (`examples/fake_upstream.rs`). Sources:
//! reference upstream.md §7.3 (catalogue, client version gating) and §9 (Responses Lite).

use codex_claude_proxy::catalogue::Version;
use serde_json::{Value, json};

/// The header that marks a Responses Lite request.
pub const LITE: &str = "x-openai-internal-codex-responses-lite";

/// The entries of `catalogue` (`{"models": [...]}`) a client of `client_version` may see; `None`
/// when the query names no readable version.
pub fn visible_models(catalogue: &Value, client_version: &str) -> Option<Value> {
    let client = Version::parse(client_version)?;
    let visible: Vec<Value> = catalogue["models"]
        .as_array()
        .map(Vec::as_slice)
        .unwrap_or(&[])
        .iter()
        .filter(|m| min_version(m).is_none_or(|min| min <= client))
        .cloned()
        .collect();
    Some(json!({ "models": visible }))
}

/// The `client_version` query parameter of a `/models` request path.
pub fn client_version_query(path: &str) -> &str {
    path.split("client_version=")
        .nth(1)
        .and_then(|v| v.split('&').next())
        .unwrap_or("")
}

fn min_version(entry: &Value) -> Option<Version> {
    entry["minimal_client_version"]
        .as_str()
        .and_then(Version::parse)
}

/// The status and body the backend answers a `POST …/responses` with instead of a stream, if it
/// refuses it: a model the announced client version (`version` header) is too old for (400),
/// `-luna` on the full lane (404); on the lite lane a full-lane model, `instructions`, top-level
/// `tools`, parallel tool calls, a missing `reasoning.context: all_turns`, hosted tools or a
/// misplaced `additional_tools` item (400); on the full lane missing instructions or an
/// `additional_tools` item (400). `header` looks a request header up by name.
pub fn refusal(
    header: &dyn Fn(&str) -> Option<String>,
    body: &Value,
    catalogue: &Value,
) -> Option<(u16, Value)> {
    let model = body["model"].as_str().unwrap_or("");
    let bad = |m: &str| Some((400, json!({ "detail": m })));
    let entry = catalogue["models"]
        .as_array()
        .and_then(|list| list.iter().find(|m| m["slug"] == model));
    let client = header("version").and_then(|v| Version::parse(&v));
    if let Some(min) = entry.and_then(min_version)
        && client.is_none_or(|c| c < min)
    {
        return bad(&format!(
            "The '{model}' model requires a newer version of Codex. Please upgrade to the latest app or CLI and try again."
        ));
    }
    let lite = header(LITE).as_deref() == Some("true");
    if !lite && model.contains("-luna") {
        return Some((
            404,
            json!({"error": {"message": format!("Model not found {model}-free-2026-11"), "type": "invalid_request_error", "code": "model_not_found"}}),
        ));
    }
    let input = body["input"].as_array().map(Vec::as_slice).unwrap_or(&[]);
    let extra_tools: Vec<usize> = (0..input.len())
        .filter(|&i| input[i]["type"] == "additional_tools")
        .collect();
    if !lite {
        if body["instructions"]
            .as_str()
            .is_none_or(|i| i.trim().is_empty())
        {
            return bad("Instructions are required");
        }
        if !extra_tools.is_empty() {
            return bad("additional_tools input items require Responses Lite");
        }
        return None;
    }
    if entry.is_some_and(|e| e["use_responses_lite"] == false) {
        return bad(&format!(
            "The '{model}' model is not available on Responses Lite."
        ));
    }
    if body.get("instructions").is_some() {
        return bad("Unsupported parameter: instructions");
    }
    if body.get("tools").is_some() {
        return bad("Unsupported parameter: tools");
    }
    if body["parallel_tool_calls"] != false {
        return bad(
            "X-OpenAI-Internal-Codex-Responses-Lite requires parallel_tool_calls to be false.",
        );
    }
    if body["reasoning"]["context"] != "all_turns" {
        return bad(
            "X-OpenAI-Internal-Codex-Responses-Lite requires reasoning.context to be all_turns.",
        );
    }
    if extra_tools.len() > 1 || extra_tools.first().is_some_and(|&i| i != 0) {
        return bad("additional_tools must be one item, first in input");
    }
    let hosted = extra_tools.iter().any(|&i| {
        input[i]["tools"].as_array().is_some_and(|t| {
            t.iter()
                .any(|t| t["type"] != "function" && t["type"] != "namespace")
        })
    });
    if hosted {
        return bad("Hosted tools are not supported with Responses Lite.");
    }
    None
}

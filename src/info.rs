//! The small read-only endpoints: `GET /v1/models` and `GET /health`.

use serde_json::{Value, json};
use tiny_http::Request;

use crate::app::App;
use crate::catalogue::Source;
use crate::http::{SERVICE, respond_json};

/// `GET /v1/models`: the Claude families with the Codex model each maps to, then the account's
/// own Codex models (usable directly as model ids).
pub fn models(request: Request, app: &App) {
    let cat = app.upstream.catalogue();
    let map = &cat.map;
    let mut data = Vec::new();
    // The ids Claude Code asks for (its current and previous families), each with the Codex
    // model that serves it and that model's real context window.
    for (id, name, target) in [
        ("claude-opus-5-5", "Opus", &map.thinking),
        ("claude-sonnet-5-5", "Sonnet", &map.big),
        ("claude-haiku-5-5", "Haiku", &map.small),
        ("claude-opus-4-8", "Opus 4.8", &map.thinking),
        ("claude-sonnet-4-5-20250929", "Sonnet 4.5", &map.big),
        ("claude-haiku-4-5-20251001", "Haiku 4.5", &map.small),
    ] {
        data.push(
            json!({"type": "model", "id": id, "display_name": format!("{name} → {target}"),
            "created_at": "2026-01-01T00:00:00Z", "max_input_tokens": cat.context_window(target)}),
        );
    }
    // The account's own models, from the live list only (the built-in table is a guess).
    for m in cat.models.iter().filter(|_| cat.source == Source::Live) {
        if !m.listed() {
            continue;
        }
        data.push(json!({"type": "model", "id": m.slug, "display_name": m.display_name.clone().unwrap_or_else(|| m.slug.clone()),
            "created_at": "2026-01-01T00:00:00Z", "max_input_tokens": m.context_window}));
    }
    let first = data.first().map(|d| d["id"].clone()).unwrap_or(Value::Null);
    let last = data.last().map(|d| d["id"].clone()).unwrap_or(Value::Null);
    let body = json!({"data": data, "has_more": false, "first_id": first, "last_id": last});
    respond_json(request, 200, body.to_string().into_bytes());
}

/// `GET /health`: liveness, whether a login is available (never the token itself), the models
/// in use, and the settings a `claude` launcher compares before reusing this proxy. Never waits
/// for a token refresh.
pub fn health(request: Request, app: &App) {
    let h = app.upstream.auth.health();
    let mut auth = json!({"ok": h.ok, "expires_in": h.expires_in});
    if let Some(e) = h.error {
        auth["error"] = json!(e);
    }
    let settings: serde_json::Map<String, Value> = app
        .cfg
        .shared_settings()
        .into_iter()
        .map(|(flag, v)| (flag.trim_start_matches('-').to_owned(), Value::String(v)))
        .collect();
    let map = app.upstream.cached_catalogue().map.clone();
    let models = json!({"opus": map.thinking, "sonnet": map.big, "haiku": map.small});
    let body = json!({"status": "ok", "service": SERVICE, "version": env!("CARGO_PKG_VERSION"),
        "auth": auth, "upstream": app.cfg.upstream_url, "settings": settings, "models": models});
    respond_json(request, 200, body.to_string().into_bytes());
}

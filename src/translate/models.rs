//! Which Codex model serves a Claude model id, and which reasoning effort a request's
//! `thinking` / `output_config` asks for. Both are pure functions of the request, the configured
//! mapping and (when known) the backend's model list.

use serde::Deserialize;

use crate::anthropic::{Request, Role};

/// The configured Claude-family → Codex-model mapping.
#[derive(Debug, Clone)]
pub struct ModelMap {
    pub thinking: String,
    pub big: String,
    pub small: String,
}

/// One entry of the backend's `GET /codex/models` list (only the fields we use).
#[derive(Debug, Clone, Deserialize, PartialEq)]
pub struct ModelInfo {
    pub slug: String,
    #[serde(default)]
    pub display_name: Option<String>,
    #[serde(default)]
    pub context_window: Option<u64>,
    #[serde(default)]
    pub supported_reasoning_levels: Vec<ReasoningLevel>,
    #[serde(default)]
    pub supports_reasoning_summary_parameter: Option<bool>,
    #[serde(default)]
    pub visibility: Option<String>,
}

#[derive(Debug, Clone, Deserialize, PartialEq)]
pub struct ReasoningLevel {
    pub effort: String,
}

/// Strips Claude Code's `[1m]` context marker and surrounding space.
pub fn base_id(requested: &str) -> &str {
    let id = requested.trim();
    match id.rfind('[') {
        Some(i) if id.ends_with(']') => id[..i].trim_end(),
        _ => id,
    }
}

/// True for ids that already name an OpenAI model: they go to the backend unchanged.
pub fn is_openai_id(id: &str) -> bool {
    let id = id.to_ascii_lowercase();
    ["gpt-", "codex-", "o1", "o3", "o4"]
        .iter()
        .any(|p| id.starts_with(p))
}

impl ModelMap {
    /// The Codex model for a requested id: opus → thinking, haiku → small, everything else
    /// (sonnet, unknown ids) → big; an OpenAI id passes through.
    pub fn resolve(&self, requested: &str) -> String {
        let id = base_id(requested);
        if is_openai_id(id) {
            return id.to_owned();
        }
        let lower = id.to_ascii_lowercase();
        if lower.contains("opus") {
            self.thinking.clone()
        } else if lower.contains("haiku") {
            self.small.clone()
        } else {
            self.big.clone()
        }
    }
}

/// Efforts a model accepts when the backend's list does not say.
const FALLBACK_EFFORTS: [&str; 4] = ["low", "medium", "high", "xhigh"];
/// All efforts, weakest first, for clamping to the nearest supported one.
const LADDER: [&str; 8] = [
    "none", "minimal", "low", "medium", "high", "xhigh", "max", "ultra",
];

/// The `reasoning.effort` for a request (README "Thinking and effort"):
/// an explicit effort wins (the latest per-turn one from a `system` message, else
/// `output_config.effort`); else a `budget_tokens` maps by size; `disabled` is the lowest effort;
/// otherwise `medium`. The result is clamped to what the model supports.
pub fn effort(req: &Request, model: Option<&ModelInfo>) -> String {
    let per_turn = req
        .messages
        .iter()
        .rev()
        .filter(|m| m.role == Role::System)
        .find_map(|m| m.output_config.as_ref()?.effort.clone());
    let explicit = per_turn.or_else(|| req.output_config.as_ref()?.effort.clone());
    let thinking = req.thinking.as_ref();
    let wanted = match (explicit, thinking) {
        (_, Some(t)) if t.kind == "disabled" => "none".to_owned(),
        (Some(e), _) => e.to_ascii_lowercase(),
        (None, Some(t)) if t.kind == "enabled" => match t.budget_tokens.unwrap_or(0) {
            0..=3_999 => "low",
            4_000..=15_999 => "medium",
            _ => "high",
        }
        .to_owned(),
        _ => "medium".to_owned(),
    };
    let supported: Vec<&str> = match model {
        Some(m) if !m.supported_reasoning_levels.is_empty() => m
            .supported_reasoning_levels
            .iter()
            .map(|l| l.effort.as_str())
            .collect(),
        _ => FALLBACK_EFFORTS.to_vec(),
    };
    clamp(&wanted, &supported)
}

/// The supported effort closest to `wanted`, preferring the stronger one on a tie.
fn clamp(wanted: &str, supported: &[&str]) -> String {
    if supported.contains(&wanted) {
        return wanted.to_owned();
    }
    let rank = |e: &str| LADDER.iter().position(|l| *l == e);
    let Some(w) = rank(wanted).or_else(|| rank("medium")) else {
        return "medium".to_owned();
    };
    supported
        .iter()
        .filter_map(|s| rank(s).map(|r| (r, *s)))
        .min_by_key(|(r, _)| (r.abs_diff(w), usize::MAX - r))
        .map(|(_, s)| s.to_owned())
        .unwrap_or_else(|| "medium".to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn map() -> ModelMap {
        ModelMap {
            thinking: "T".into(),
            big: "B".into(),
            small: "S".into(),
        }
    }

    #[test]
    fn family_mapping() {
        let m = map();
        assert_eq!(m.resolve("claude-opus-5-5"), "T");
        assert_eq!(m.resolve("claude-sonnet-4-5-20250929"), "B");
        assert_eq!(m.resolve("claude-haiku-5-5"), "S");
        assert_eq!(m.resolve("claude-3-5-haiku-20241022"), "S");
        assert_eq!(m.resolve("mystery"), "B");
        assert_eq!(m.resolve("gpt-5.5[1m]"), "gpt-5.5");
        assert_eq!(m.resolve("GPT-5.6-sol"), "GPT-5.6-sol");
        assert_eq!(base_id("claude-opus-4-8[1m]"), "claude-opus-4-8");
    }

    fn req(json: &str) -> Request {
        serde_json::from_str(json).unwrap()
    }

    #[test]
    fn effort_table() {
        let cases = [
            (r#"{"model":"m","messages":[]}"#, "medium"),
            (
                r#"{"model":"m","messages":[],"thinking":{"type":"adaptive"},"output_config":{"effort":"high"}}"#,
                "high",
            ),
            (
                r#"{"model":"m","messages":[],"thinking":{"type":"enabled","budget_tokens":31999}}"#,
                "high",
            ),
            (
                r#"{"model":"m","messages":[],"thinking":{"type":"enabled","budget_tokens":8000}}"#,
                "medium",
            ),
            (
                r#"{"model":"m","messages":[],"thinking":{"type":"enabled","budget_tokens":1024}}"#,
                "low",
            ),
            (
                r#"{"model":"m","messages":[],"thinking":{"type":"disabled"},"output_config":{"effort":"high"}}"#,
                "low",
            ),
            (
                r#"{"model":"m","messages":[],"output_config":{"effort":"max"}}"#,
                "xhigh",
            ),
            (
                r#"{"model":"m","messages":[{"role":"user","content":"x"},{"role":"system","content":"y","output_config":{"effort":"low"}}],"output_config":{"effort":"high"}}"#,
                "low",
            ),
        ];
        for (json, want) in cases {
            assert_eq!(effort(&req(json), None), want, "{json}");
        }
    }

    #[test]
    fn effort_respects_the_model_list() {
        let info = ModelInfo {
            slug: "gpt-5.6-sol".into(),
            display_name: None,
            context_window: Some(272_000),
            supported_reasoning_levels: ["low", "medium", "high", "xhigh", "max"]
                .iter()
                .map(|e| ReasoningLevel {
                    effort: e.to_string(),
                })
                .collect(),
            supports_reasoning_summary_parameter: Some(true),
            visibility: None,
        };
        let r = req(r#"{"model":"m","messages":[],"output_config":{"effort":"max"}}"#);
        assert_eq!(effort(&r, Some(&info)), "max");
        assert_eq!(clamp("ultra", &["low", "medium"]), "medium");
        assert_eq!(clamp("minimal", &["low", "high"]), "low");
        assert_eq!(clamp("bogus", &["low", "medium", "high"]), "medium");
    }
}

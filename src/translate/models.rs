//! Which reasoning effort a request's `thinking` / `output_config` asks for, clamped to what the
//! model's catalogue entry lists. The Claude-family → Codex-model mapping itself lives in
//! [`crate::catalogue`] and is re-exported here.

pub use crate::catalogue::{ModelInfo, ModelMap, ReasoningLevel, base_id, is_openai_id};

use crate::anthropic::{Request, Role};

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

    fn req(json: &str) -> Request<'_> {
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
            supported_reasoning_levels: ["low", "medium", "high", "xhigh", "max"]
                .iter()
                .map(|e| ReasoningLevel {
                    effort: e.to_string(),
                })
                .collect(),
            ..ModelInfo::default()
        };
        let r = req(r#"{"model":"m","messages":[],"output_config":{"effort":"max"}}"#);
        assert_eq!(effort(&r, Some(&info)), "max");
        assert_eq!(clamp("ultra", &["low", "medium"]), "medium");
        assert_eq!(clamp("minimal", &["low", "high"]), "low");
        assert_eq!(clamp("bogus", &["low", "medium", "high"]), "medium");
    }
}

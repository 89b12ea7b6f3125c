//! `count_tokens` accuracy: the heuristic `tokens::estimate` against exact `o200k_base` counts of
//! the same translated requests, for every Claude Code fixture sent to `/v1/messages` or
//! `/v1/messages/count_tokens`. The exact counts are recorded in `tests/fixtures/tokens/exact.json`
//! (how to regenerate them: `tests/fixtures/tokens/README.md`). Run with `--nocapture` for the
//! table.

use std::collections::BTreeMap;
use std::path::Path;

use codex_claude_proxy::anthropic;
use codex_claude_proxy::responses::Request;
use codex_claude_proxy::translate::models::ModelMap;
use codex_claude_proxy::translate::request::{Context, translate};
use codex_claude_proxy::translate::tokens;
use serde_json::{Value, json};

const FIXTURES: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/claude-code");
const EXACT: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/tests/fixtures/tokens/exact.json"
);
/// Allowed error of each fixture's estimate, and of the sum over all fixtures.
const MAX_ERROR: f64 = 0.10;
const MAX_AGGREGATE_ERROR: f64 = 0.05;

/// Every `/v1/messages` and `/v1/messages/count_tokens` fixture, translated, by file name.
fn translated() -> BTreeMap<String, Request> {
    let map = ModelMap {
        thinking: "gpt-5.6-sol".into(),
        big: "gpt-5.6-terra".into(),
        small: "gpt-5.6-luna".into(),
    };
    let ctx = Context {
        map: &map,
        models: &[],
        session_header: None,
    };
    let mut out = BTreeMap::new();
    for entry in std::fs::read_dir(FIXTURES).unwrap() {
        let path = entry.unwrap().path();
        let name = path.file_name().unwrap().to_string_lossy().into_owned();
        if !name.ends_with(".request.json") {
            continue;
        }
        let file: Value = serde_json::from_slice(&std::fs::read(&path).unwrap()).unwrap();
        let target = file["path"].as_str().unwrap();
        let route = target.split('?').next().unwrap();
        if route != "/v1/messages" && route != "/v1/messages/count_tokens" {
            continue;
        }
        let req: anthropic::Request = serde_json::from_value(file["body"].clone()).unwrap();
        let t = translate(&req, &ctx).unwrap_or_else(|e| panic!("{name}: {e:?}"));
        out.insert(name, t.body);
    }
    assert!(out.len() >= 40, "only {} request fixtures found", out.len());
    out
}

#[test]
fn estimate_is_within_ten_percent_of_exact_o200k_counts() {
    let exact: BTreeMap<String, u64> = serde_json::from_slice(
        &std::fs::read(EXACT)
            .unwrap_or_else(|e| panic!("{EXACT}: {e}; see tests/fixtures/tokens/README.md")),
    )
    .unwrap();
    let requests = translated();
    let stale: Vec<&String> = exact
        .keys()
        .filter(|k| !requests.contains_key(*k))
        .collect();
    assert!(
        stale.is_empty(),
        "exact.json names fixtures that do not exist: {stale:?}"
    );

    let (mut sum_exact, mut sum_estimate, mut failures) = (0, 0, Vec::new());
    println!(
        "{:<55} {:>7} {:>8} {:>7}",
        "fixture", "exact", "estimate", "error"
    );
    for (name, req) in &requests {
        let Some(&want) = exact.get(name) else {
            failures.push(format!("{name}: no exact count in exact.json"));
            continue;
        };
        let got = tokens::estimate(req);
        let error = got as f64 / want as f64 - 1.0;
        println!("{name:<55} {want:>7} {got:>8} {:>+6.1}%", error * 100.0);
        if error.abs() > MAX_ERROR {
            failures.push(format!(
                "{name}: estimate {got}, exact {want} ({:+.1}%)",
                error * 100.0
            ));
        }
        sum_exact += want;
        sum_estimate += got;
    }
    let aggregate = sum_estimate as f64 / sum_exact as f64 - 1.0;
    println!(
        "{:<55} {sum_exact:>7} {sum_estimate:>8} {:>+6.1}%",
        "all",
        aggregate * 100.0
    );
    if aggregate.abs() > MAX_AGGREGATE_ERROR {
        failures.push(format!(
            "aggregate: estimate {sum_estimate}, exact {sum_exact} ({:+.1}%)",
            aggregate * 100.0
        ));
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

/// With `DUMP_TOKEN_TEXTS=<file>`, writes what the exact counter needs: per fixture, the texts
/// `estimate` tokenizes and the tokens it adds itself (role markers, images). Without it, checks
/// that every fixture has texts to count.
#[test]
fn dump_token_texts() {
    let mut dump = serde_json::Map::new();
    for (name, req) in translated() {
        let mut texts = Vec::new();
        let fixed = tokens::count(&req, &mut |t: &str| {
            texts.push(t.to_owned());
            0
        });
        assert!(!texts.is_empty(), "{name}");
        dump.insert(name, json!({"fixed": fixed, "texts": texts}));
    }
    if let Some(out) = std::env::var_os("DUMP_TOKEN_TEXTS") {
        std::fs::write(
            Path::new(&out),
            serde_json::to_vec(&Value::Object(dump)).unwrap(),
        )
        .unwrap();
    }
}

//! `count_tokens` accuracy: the estimator against exact `o200k_base` counts, for sample texts
//! of twenty classes (prose in a dozen scripts, code, diffs, JSON, minified JS, blobs, numbers,
//! whitespace, emoji; one test per class) and for every Claude Code fixture sent to
//! `/v1/messages` or `/v1/messages/count_tokens`, translated as the proxy sends it. The exact
//! counts are checked in (`tests/fixtures/tokens/texts.tsv`, `exact.json`; how they were made:
//! `tests/fixtures/tokens/README.md`). Run with `--nocapture` for the tables.

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
/// Allowed error of the estimate of a whole class (and of all samples together): undercounting
/// is the dangerous side, since Claude Code uses the count to decide what fits.
const BAND: (f64, f64) = (-0.05, 0.10);
/// Allowed error of each single request. The `10-count-tokens` fixtures hold a synthetic list of
/// Greek letter names, three of which ("iota", "kappa", "zeta") happen to be two tokens each:
/// about -14 %, the worst request.
const REQUEST_BAND: (f64, f64) = (-0.15, 0.10);

/// Every `/v1/messages` and `/v1/messages/count_tokens` fixture, translated, by file name.
fn translated() -> BTreeMap<String, Request<'static>> {
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
        // Requests borrow from their body: leaked, in a test.
        let body: &'static str = Box::leak(file["body"].to_string().into_boxed_str());
        let req: &'static anthropic::Request =
            Box::leak(Box::new(serde_json::from_str(body).unwrap()));
        let t = translate(req, &ctx).unwrap_or_else(|e| panic!("{name}: {e:?}"));
        out.insert(name, t.body);
    }
    assert!(out.len() >= 40, "only {} request fixtures found", out.len());
    out
}

#[test]
fn whole_claude_code_requests() {
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
        let got = tokens::estimate(req, &tokens::Memo::default());
        let error = got as f64 / want as f64 - 1.0;
        println!("{name:<55} {want:>7} {got:>8} {:>+6.1}%", error * 100.0);
        if !(REQUEST_BAND.0..=REQUEST_BAND.1).contains(&error) {
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
    if !(BAND.0..=BAND.1).contains(&aggregate) {
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
        let fixed = tokens::count(&req, &mut |t| {
            texts.push(t.as_str().into_owned());
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

/// Sample texts by class, with their exact `o200k_base` counts (`tests/fixtures/tokens/texts.tsv`).
fn samples() -> Vec<(String, String, u64)> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/tokens");
    let tsv = std::fs::read_to_string(dir.join("texts.tsv")).unwrap();
    tsv.lines()
        .map(|line| {
            let (name, exact) = line.split_once('\t').unwrap();
            let text = std::fs::read_to_string(dir.join("texts").join(name)).unwrap();
            (name.to_owned(), text, exact.parse().unwrap())
        })
        .collect()
}

/// Compares the estimate for the samples whose name starts with `prefix` with the exact counts.
fn check(prefix: &str) {
    let (mut sum_exact, mut sum_estimate) = (0, 0);
    println!(
        "{:<40} {:>7} {:>8} {:>7}",
        "sample", "exact", "estimate", "error"
    );
    for (name, text, exact) in samples().iter().filter(|s| s.0.starts_with(prefix)) {
        let got = tokens::text(text);
        println!(
            "{name:<40} {exact:>7} {got:>8} {:>+6.1}%",
            (got as f64 / *exact as f64 - 1.0) * 100.0
        );
        sum_exact += exact;
        sum_estimate += got;
    }
    assert!(sum_exact > 0, "no samples named {prefix}*");
    let error = sum_estimate as f64 / sum_exact as f64 - 1.0;
    println!(
        "{:<40} {sum_exact:>7} {sum_estimate:>8} {:>+6.1}%",
        "all",
        error * 100.0
    );
    assert!(
        (BAND.0..=BAND.1).contains(&error),
        "{prefix}: estimate {sum_estimate}, exact {sum_exact} ({:+.1}%)",
        error * 100.0
    );
}

macro_rules! text_classes {
    ($($class:ident)*) => {
        $(
            #[test]
            fn $class() {
                check(concat!(stringify!($class), "/"));
            }
        )*

        #[test]
        fn every_sample_belongs_to_a_tested_class() {
            let classes = [$(concat!(stringify!($class), "/")),*];
            for (name, _, _) in samples() {
                assert!(classes.iter().any(|c| name.starts_with(c)), "{name}: no test for its class");
            }
        }
    };
}

text_classes!(
    english latin cyrillic greek arabic hebrew devanagari thai chinese japanese korean emoji code
    diff json minjs base64 hex numbers whitespace
);

#[test]
fn all_text_samples() {
    check("");
}

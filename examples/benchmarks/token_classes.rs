//! count_tokens accuracy and speed per text class: the estimator (the same code the proxy runs)
//! over the samples in `tests/fixtures/tokens/texts/`, against their exact o200k counts, and the
//! table `make bench` prints of them.

use std::collections::BTreeMap;
use std::time::Instant;

use codex_claude_proxy::translate::tokens;

const DIR: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/tokens");

pub struct Class {
    pub name: String,
    pub samples: usize,
    pub bytes: usize,
    pub exact: u64,
    pub estimate: u64,
    /// Estimator throughput over this class's text, MB/s.
    pub mb_per_s: f64,
}

pub fn classes() -> Vec<Class> {
    let tsv = std::fs::read_to_string(format!("{DIR}/texts.tsv")).expect("texts.tsv");
    let mut by: BTreeMap<String, Vec<(String, u64)>> = BTreeMap::new();
    for line in tsv.lines() {
        let Some((name, exact)) = line.split_once('\t') else {
            continue;
        };
        let text = std::fs::read_to_string(format!("{DIR}/texts/{name}")).expect("sample");
        let class = name.split('/').next().unwrap_or(name).to_owned();
        by.entry(class)
            .or_default()
            .push((text, exact.parse().expect("count")));
    }
    by.into_iter()
        .map(|(name, samples)| {
            let exact = samples.iter().map(|s| s.1).sum();
            let estimate = samples.iter().map(|s| tokens::text(&s.0)).sum();
            let bytes: usize = samples.iter().map(|s| s.0.len()).sum();
            // Enough rounds for about 8 MB of text, for a stable figure.
            let rounds = (8 << 20) / bytes.max(1) + 1;
            let began = Instant::now();
            let mut sink = 0;
            for _ in 0..rounds {
                for (text, _) in &samples {
                    sink += tokens::text(std::hint::black_box(text));
                }
            }
            std::hint::black_box(sink);
            let mb_per_s = (bytes * rounds) as f64 / began.elapsed().as_secs_f64() / 1e6;
            Class {
                name,
                samples: samples.len(),
                bytes,
                exact,
                estimate,
                mb_per_s,
            }
        })
        .collect()
}

/// Prints the table of classes.
pub fn print() {
    let classes = classes();
    println!(
        "\ncount_tokens: estimate vs exact o200k counts per text class (tests/fixtures/tokens),\n\
         and the estimator's speed on that text\n"
    );
    println!(
        "{:<12} {:>7} {:>7} {:>7} {:>8} {:>7} {:>7}",
        "class", "samples", "bytes", "exact", "estimate", "error", "MB/s"
    );
    let (mut exact, mut estimate) = (0, 0);
    for c in &classes {
        println!(
            "{:<12} {:>7} {:>7} {:>7} {:>8} {:>+6.1}% {:>7.0}",
            c.name,
            c.samples,
            c.bytes,
            c.exact,
            c.estimate,
            (c.estimate as f64 / c.exact as f64 - 1.0) * 100.0,
            c.mb_per_s
        );
        exact += c.exact;
        estimate += c.estimate;
    }
    println!(
        "{:<12} {:>7} {:>7} {:>7} {:>8} {:>+6.1}%",
        "all",
        classes.iter().map(|c| c.samples).sum::<usize>(),
        classes.iter().map(|c| c.bytes).sum::<usize>(),
        exact,
        estimate,
        (estimate as f64 / exact as f64 - 1.0) * 100.0
    );
}

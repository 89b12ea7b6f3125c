//! The printed table: rows of via / direct / ratio, percentiles, units, the machine.

use super::*;

pub(super) fn pctl(sorted: &[u64], q: f64) -> u64 {
    if sorted.is_empty() {
        return 0;
    }
    sorted[((q * sorted.len() as f64).ceil() as usize).clamp(1, sorted.len()) - 1]
}

pub(super) fn dur(ns: u64) -> String {
    match ns {
        0..10_000 => format!("{:.1} µs", ns as f64 / 1e3),
        10_000..10_000_000 => format!("{} µs", ns / 1000),
        10_000_000..10_000_000_000 => format!("{:.1} ms", ns as f64 / 1e6),
        _ => format!("{:.2} s", ns as f64 / 1e9),
    }
}

pub(super) fn mib(kb: u64) -> String {
    format!("{:.1} MiB", kb as f64 / 1024.0)
}

pub(super) struct Table(pub(super) Vec<[String; 4]>);

impl Table {
    pub(super) fn section(&mut self, title: &str) {
        self.0.push([
            format!("[{title}]"),
            String::new(),
            String::new(),
            String::new(),
        ]);
    }
    /// A row whose ratio is via / direct of the two raw numbers.
    pub(super) fn cmp(
        &mut self,
        metric: &str,
        via: f64,
        direct: f64,
        show: impl Fn(f64) -> String,
    ) {
        let ratio = if direct > 0.0 {
            format!("×{:.2}", via / direct)
        } else {
            "—".into()
        };
        self.0
            .push([format!("  {metric}"), show(via), show(direct), ratio]);
    }
    /// Rows of durations (ns) at the given quantiles of two sorted samples.
    pub(super) fn times(&mut self, metric: &str, quantiles: &[f64], via: &[u64], direct: &[u64]) {
        for &q in quantiles {
            let name = if quantiles.len() == 1 {
                metric.to_owned()
            } else if q >= 1.0 {
                format!("{metric} max")
            } else {
                format!("{metric} p{}", (q * 100.0).round())
            };
            let (a, b) = (pctl(via, q) as f64, pctl(direct, q) as f64);
            self.cmp(&name, a, b, |v| dur(v as u64));
        }
    }
    pub(super) fn row(&mut self, metric: &str, via: String, direct: String) {
        self.0
            .push([format!("  {metric}"), via, direct, "—".into()]);
    }
    pub(super) fn print(&self) {
        let head = ["metric", "via proxy", "direct", "ratio"].map(String::from);
        let rows: Vec<&[String; 4]> = std::iter::once(&head).chain(&self.0).collect();
        // Section titles span the row, so they do not widen the first column.
        let cells = rows.iter().filter(|r| !r[1].is_empty());
        let w: Vec<usize> = (0..4)
            .map(|c| {
                cells
                    .clone()
                    .map(|r| r[c].chars().count())
                    .max()
                    .unwrap_or(0)
            })
            .collect();
        for (i, r) in rows.iter().enumerate() {
            if r[1].is_empty() && i > 0 {
                println!("{}", r[0]);
                continue;
            }
            println!(
                "{:<w0$}  {:>w1$}  {:>w2$}  {:>w3$}",
                r[0],
                r[1],
                r[2],
                r[3],
                w0 = w[0],
                w1 = w[1],
                w2 = w[2],
                w3 = w[3]
            );
            if i == 0 {
                println!("{}", "-".repeat(w.iter().sum::<usize>() + 6));
            }
        }
    }
}

pub(super) fn machine() -> String {
    let cpus = thread::available_parallelism().map_or(0, usize::from);
    let cpuinfo = std::fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
    let model = cpuinfo.lines().find_map(|l| {
        l.strip_prefix("model name")?
            .split_once(':')
            .map(|(_, v)| v.trim().to_owned())
    });
    let kernel = std::fs::read_to_string("/proc/sys/kernel/osrelease").unwrap_or_default();
    format!(
        "nproc {cpus}, {}, Linux {}",
        model.unwrap_or_else(|| "unknown CPU".into()),
        kernel.trim()
    )
}

//! The backend's model catalogue (`GET …/codex/models`): its entries, Codex client versions, the
//! request dialect ("lane") each model takes, and the default models picked from it. Pure: the
//! fetching and caching live in [`crate::upstream`].
//!
//! Rules (README "Models"):
//! * A model whose entry says `use_responses_lite: true` goes on the Responses Lite lane, any
//!   other on the full lane. Without an entry, the built-in table decides, then the name (current
//!   families are lite; `-luna` is never sent on the full lane, where it does not exist).
//! * Defaults: among entries that are listed, have no `upgrade` pointer and accept the announced
//!   client version, the first by `priority` serves opus and sonnet; the first fast, affordable
//!   one (`-luna`, `mini`, "affordable") serves haiku. Explicit settings always win.

use std::borrow::Cow;
use std::sync::OnceLock;

use serde::{Deserialize, Deserializer};
use serde_json::Value;

/// The Codex CLI release the proxy announces unless told otherwise.
pub const DEFAULT_CLIENT_VERSION: &str = "0.171.0";

/// Which request dialect a model takes (upstream.md §2 and §9).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Lane {
    /// `instructions` + top-level `tools`.
    Full,
    /// Responses Lite: system prompt and tools as leading `developer` input items.
    Lite,
}

impl Lane {
    pub fn name(self) -> &'static str {
        match self {
            Lane::Full => "full",
            Lane::Lite => "lite",
        }
    }
}

/// One entry of the model list (only the fields the proxy uses; others are ignored).
#[derive(Debug, Clone, Default, Deserialize, PartialEq)]
pub struct ModelInfo {
    pub slug: String,
    #[serde(default)]
    pub display_name: Option<String>,
    #[serde(default)]
    pub description: Option<String>,
    #[serde(default)]
    pub priority: Option<i64>,
    /// `list` or `hide`.
    #[serde(default)]
    pub visibility: Option<String>,
    #[serde(default)]
    pub use_responses_lite: Option<bool>,
    #[serde(default)]
    pub context_window: Option<u64>,
    #[serde(default)]
    pub minimal_client_version: Option<String>,
    /// The successor of a legacy model (`"upgrade": {"model": "gpt-6-sol"}`).
    #[serde(default, deserialize_with = "upgrade")]
    pub upgrade: Option<String>,
    #[serde(default, deserialize_with = "nullable")]
    pub supported_reasoning_levels: Vec<ReasoningLevel>,
    #[serde(default)]
    pub input_modalities: Option<Vec<String>>,
    #[serde(default)]
    pub default_verbosity: Option<String>,
    #[serde(default)]
    pub support_verbosity: Option<bool>,
    #[serde(default)]
    pub supports_reasoning_summary_parameter: Option<bool>,
}

#[derive(Debug, Clone, Deserialize, PartialEq)]
pub struct ReasoningLevel {
    pub effort: String,
}

/// `null` reads as the empty value.
fn nullable<'de, D: Deserializer<'de>, T: Default + Deserialize<'de>>(d: D) -> Result<T, D::Error> {
    Ok(Option::<T>::deserialize(d)?.unwrap_or_default())
}

/// `{"model": "x"}` or `"x"`; anything else is no pointer.
fn upgrade<'de, D: Deserializer<'de>>(d: D) -> Result<Option<String>, D::Error> {
    let v = Value::deserialize(d)?;
    let slug = v["model"].as_str().or_else(|| v.as_str());
    Ok(slug.filter(|s| !s.is_empty()).map(str::to_owned))
}

impl ModelInfo {
    /// The lane this model takes: its entry's flag, else the rule for its name.
    pub fn lane(&self) -> Lane {
        match self.use_responses_lite {
            Some(true) => Lane::Lite,
            Some(false) if !is_luna(&self.slug) => Lane::Full,
            _ => lane_by_name(&self.slug),
        }
    }

    /// Offered in the model picker (not `hide`).
    pub fn listed(&self) -> bool {
        self.visibility.as_deref() != Some("hide")
    }

    /// Whether a client announcing `client` may use this model.
    pub fn usable_with(&self, client: &Version) -> bool {
        self.needs_version().is_none_or(|min| &min <= client)
    }

    /// The client version this model needs, when the entry says.
    pub fn needs_version(&self) -> Option<Version> {
        self.minimal_client_version
            .as_deref()
            .and_then(Version::parse)
    }

    pub fn accepts_images(&self) -> bool {
        self.input_modalities
            .as_ref()
            .is_none_or(|m| m.iter().any(|x| x == "image"))
    }

    /// The `text.verbosity` the model wants, if it takes one.
    pub fn verbosity(&self) -> Option<&str> {
        match self.support_verbosity {
            Some(false) => None,
            _ => self.default_verbosity.as_deref(),
        }
    }

    /// A model for quick, cheap calls (Claude Code's haiku: titles, summaries).
    fn is_small(&self) -> bool {
        let description = self.description.as_deref().unwrap_or("").to_lowercase();
        is_luna(&self.slug) || self.slug.contains("mini") || description.contains("affordable")
    }
}

fn is_luna(slug: &str) -> bool {
    slug.to_ascii_lowercase().contains("-luna")
}

/// The lane for a model without an entry: the built-in table's, else current families
/// (`gpt-5.6` and later, named families, anything `-luna`) are lite and older ones full.
pub fn lane_by_name(slug: &str) -> Lane {
    let lower = slug.to_ascii_lowercase();
    if let Some(m) = builtin()
        .iter()
        .find(|m| m.slug == lower && m.use_responses_lite.is_some())
    {
        return if m.use_responses_lite == Some(true) {
            Lane::Lite
        } else {
            Lane::Full
        };
    }
    if is_luna(&lower) {
        return Lane::Lite;
    }
    let Some(rest) = lower.strip_prefix("gpt-") else {
        return Lane::Full;
    };
    let number = rest.split('-').next().unwrap_or("");
    let mut parts = number.split('.').map(|p| p.parse::<u64>().ok());
    match (parts.next().flatten(), parts.next().flatten()) {
        (Some(major), minor) if (major, minor.unwrap_or(0)) >= (5, 6) => Lane::Lite,
        (Some(_), _) => Lane::Full,
        // `gpt-daybreak-…` and other named models are current ones.
        (None, _) => Lane::Lite,
    }
}

/// The entry for `slug`: from `models` (the live list), else from the built-in table.
pub fn entry<'a>(models: &'a [ModelInfo], slug: &str) -> Option<&'a ModelInfo> {
    find(models, slug).or_else(|| find(builtin(), slug))
}

/// The entry for `slug` in `models`.
pub fn find<'a>(models: &'a [ModelInfo], slug: &str) -> Option<&'a ModelInfo> {
    models.iter().find(|m| m.slug.eq_ignore_ascii_case(slug))
}

/// The lane for `slug`, from its entry if any.
pub fn lane(models: &[ModelInfo], slug: &str) -> Lane {
    entry(models, slug).map_or_else(|| lane_by_name(slug), ModelInfo::lane)
}

/// A model that takes the full lane (for hosted tools such as web search), by priority; from
/// `models`, else from the built-in table.
pub fn full_lane_model(models: &[ModelInfo]) -> Option<&str> {
    let pick = |list: &'static [ModelInfo]| -> Option<&'static str> {
        by_priority(list.iter().filter(|m| m.listed() && m.lane() == Lane::Full))
            .first()
            .map(|m| m.slug.as_str())
    };
    let live = by_priority(
        models
            .iter()
            .filter(|m| m.listed() && m.lane() == Lane::Full),
    );
    match live.first() {
        Some(m) => Some(m.slug.as_str()),
        None if models.is_empty() => pick(builtin()),
        None => None,
    }
}

fn by_priority<'a>(models: impl Iterator<Item = &'a ModelInfo>) -> Vec<&'a ModelInfo> {
    let mut v: Vec<&ModelInfo> = models.collect();
    v.sort_by_key(|m| m.priority.unwrap_or(i64::MAX));
    v
}

/// A Codex client version, `major.minor.patch[-pre]`; a pre-release sorts before its release.
/// Shown (and sent) as written.
#[derive(Debug, Clone)]
pub struct Version {
    parts: [u64; 3],
    release: bool,
    text: Cow<'static, str>,
}

impl Version {
    /// [`DEFAULT_CLIENT_VERSION`] (a unit test checks they agree).
    pub const DEFAULT: Version = Version {
        parts: [0, 171, 0],
        release: true,
        text: Cow::Borrowed(DEFAULT_CLIENT_VERSION),
    };

    pub fn parse(s: &str) -> Option<Version> {
        let s = s.trim().trim_start_matches('v');
        let (core, pre) = match s.find(['-', '+']) {
            Some(i) => (&s[..i], s[i..].starts_with('-')),
            None => (s, false),
        };
        let mut parts = [0u64; 3];
        let mut n = 0;
        for p in core.split('.') {
            if n == 3 || p.is_empty() || !p.bytes().all(|b| b.is_ascii_digit()) {
                return None;
            }
            parts[n] = p.parse().ok()?;
            n += 1;
        }
        let printable = s.bytes().all(|b| b.is_ascii_graphic()) && s.len() <= 64;
        (n >= 2 && printable).then(|| Version {
            parts,
            release: !pre,
            text: Cow::Owned(s.to_owned()),
        })
    }

    fn key(&self) -> ([u64; 3], bool) {
        (self.parts, self.release)
    }
}

impl PartialEq for Version {
    fn eq(&self, other: &Self) -> bool {
        self.key() == other.key()
    }
}

impl Eq for Version {}

impl PartialOrd for Version {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for Version {
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        self.key().cmp(&other.key())
    }
}

impl std::fmt::Display for Version {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.text)
    }
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

/// The Claude-family → Codex-model mapping in force.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ModelMap {
    pub thinking: String,
    pub big: String,
    pub small: String,
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

/// The model settings the user gave (`CODEX_*_MODEL`); `None` means "pick from the catalogue".
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ModelSettings {
    pub thinking: Option<String>,
    pub big: Option<String>,
    pub small: Option<String>,
}

/// The current defaults among `models` for a client announcing `client`; `None` when no entry
/// qualifies.
/// When nothing current qualifies (an old client version), legacy models that still work do.
pub fn pick_defaults(models: &[ModelInfo], client: &Version) -> Option<ModelMap> {
    let usable = |m: &&ModelInfo| m.listed() && m.usable_with(client);
    let mut current = by_priority(models.iter().filter(usable).filter(|m| m.upgrade.is_none()));
    if current.is_empty() {
        current = by_priority(models.iter().filter(usable));
    }
    let top = current.first()?;
    let small = current.iter().find(|m| m.is_small()).unwrap_or(top);
    Some(ModelMap {
        thinking: top.slug.clone(),
        big: top.slug.clone(),
        small: small.slug.clone(),
    })
}

/// Where a catalogue came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Source {
    /// The backend's list.
    Live,
    /// The built-in table (the list could not be read).
    BuiltIn,
}

/// A model list with the mapping it implies: what every request is translated against.
#[derive(Debug, Clone)]
pub struct Catalogue {
    /// The live list, or the built-in table.
    pub models: Vec<ModelInfo>,
    pub source: Source,
    pub map: ModelMap,
    pub settings: ModelSettings,
    /// The announced client version.
    pub client: Version,
}

impl Catalogue {
    /// The mapping for `models`: explicit settings first, then the defaults picked from the list
    /// (or from the built-in table if the list offers nothing current).
    pub fn new(
        models: Vec<ModelInfo>,
        source: Source,
        settings: ModelSettings,
        client: Version,
    ) -> Catalogue {
        let defaults = pick_defaults(&models, &client)
            .or_else(|| pick_defaults(builtin(), &client))
            .unwrap_or_else(|| ModelMap {
                thinking: "gpt-6.2-sol".into(),
                big: "gpt-6.2-sol".into(),
                small: "gpt-6-luna".into(),
            });
        let map = ModelMap {
            thinking: settings.thinking.clone().unwrap_or(defaults.thinking),
            big: settings.big.clone().unwrap_or(defaults.big),
            small: settings.small.clone().unwrap_or(defaults.small),
        };
        Catalogue {
            models,
            source,
            map,
            settings,
            client,
        }
    }

    /// The built-in table, for when the backend's list cannot be read.
    pub fn built_in(settings: ModelSettings, client: Version) -> Catalogue {
        Catalogue::new(builtin().to_vec(), Source::BuiltIn, settings, client)
    }

    /// Whether `slug` has an entry in this catalogue.
    pub fn lists(&self, slug: &str) -> bool {
        find(&self.models, slug).is_some()
    }

    /// The entry for `slug` (this catalogue, else the built-in table).
    pub fn entry(&self, slug: &str) -> Option<&ModelInfo> {
        entry(&self.models, slug)
    }

    pub fn context_window(&self, slug: &str) -> Option<u64> {
        self.entry(slug).and_then(|m| m.context_window)
    }

    /// The three families with their model and lane, e.g. `opus → gpt-6.2-sol (lite), …`; a
    /// model the user set is marked `set`, one the list does not offer `not offered`.
    pub fn describe(&self) -> String {
        [
            ("opus", &self.map.thinking, &self.settings.thinking),
            ("sonnet", &self.map.big, &self.settings.big),
            ("haiku", &self.map.small, &self.settings.small),
        ]
        .iter()
        .map(|(family, slug, set)| {
            let mut notes = vec![lane(&self.models, slug).name()];
            if set.is_some() {
                notes.push("set");
            }
            if self.source == Source::Live && !self.lists(slug) {
                notes.push("not offered");
            }
            format!("{family} → {slug} ({})", notes.join(", "))
        })
        .collect::<Vec<_>>()
        .join(", ")
    }

    /// One line per configured model that needs attention: a legacy model with a successor, a
    /// model the account's list does not offer, one the announced client is too old for.
    pub fn warnings(&self) -> Vec<String> {
        let mut out = Vec::new();
        for (setting, slug) in [
            ("CODEX_THINKING_MODEL", &self.settings.thinking),
            ("CODEX_BIG_MODEL", &self.settings.big),
            ("CODEX_SMALL_MODEL", &self.settings.small),
        ] {
            let Some(slug) = slug else { continue };
            let entry = self.entry(slug);
            if let Some(next) = entry.and_then(|m| m.upgrade.as_deref()) {
                out.push(format!(
                    "{setting}={slug} is a legacy model; its successor is {next} \
                     (set {setting}={next}, or unset it to use the current default)"
                ));
            }
            if let Some(min) = entry.and_then(ModelInfo::needs_version)
                && min > self.client
            {
                out.push(format!(
                    "{setting}={slug} needs Codex client {min} or later, the proxy announces {}; \
                     set CODEX_CLIENT_VERSION={min} (or --client-version)",
                    self.client
                ));
            } else if self.source == Source::Live && !self.lists(slug) {
                let offered: Vec<&str> = by_priority(self.models.iter().filter(|m| m.listed()))
                    .iter()
                    .map(|m| m.slug.as_str())
                    .collect();
                out.push(format!(
                    "{setting}={slug} is not offered to this account; available: {}",
                    offered.join(", ")
                ));
            }
        }
        out
    }
}

/// One row of the built-in table.
struct Row {
    slug: &'static str,
    priority: i64,
    listed: bool,
    lite: bool,
    window: u64,
    min_version: &'static str,
    efforts: &'static [&'static str],
    upgrade: Option<&'static str>,
    description: &'static str,
}

const ALL: &[&str] = &["low", "medium", "high", "xhigh", "max", "ultra"];
const TO_MAX: &[&str] = &["low", "medium", "high", "xhigh", "max"];
const TO_XHIGH: &[&str] = &["low", "medium", "high", "xhigh"];

/// The catalogue of Codex CLI 0.171.0 (November 2026), used when the backend's list cannot be
/// read (tests/fixtures/upstream/models-codex-0.171.0.json is the full version).
#[rustfmt::skip]
const BUILT_IN: &[Row] = &[
    Row { slug: "gpt-6.2-sol", priority: 1, listed: true, lite: true, window: 500_000, min_version: "0.166.0", efforts: ALL, upgrade: None, description: "Fast, go-to model for coding and everyday work." },
    Row { slug: "gpt-6.2-astra", priority: 2, listed: true, lite: true, window: 272_000, min_version: "0.166.0", efforts: ALL, upgrade: None, description: "Our most capable model for complex coding and professional work." },
    Row { slug: "gpt-6.1-terra", priority: 3, listed: true, lite: true, window: 500_000, min_version: "0.153.0", efforts: ALL, upgrade: None, description: "Efficient model that excels at visual understanding and computer use." },
    Row { slug: "gpt-6.1-sol", priority: 4, listed: true, lite: true, window: 500_000, min_version: "0.153.0", efforts: ALL, upgrade: None, description: "Previous generation model for coding and everyday work." },
    Row { slug: "gpt-6-astra", priority: 5, listed: true, lite: true, window: 272_000, min_version: "0.153.0", efforts: ALL, upgrade: None, description: "Previous generation model for complex coding and professional work." },
    Row { slug: "gpt-6-sol", priority: 6, listed: true, lite: true, window: 272_000, min_version: "0.155.0", efforts: ALL, upgrade: None, description: "Legacy model for coding and everyday work." },
    Row { slug: "gpt-6-luna", priority: 7, listed: true, lite: true, window: 272_000, min_version: "0.155.0", efforts: TO_MAX, upgrade: None, description: "Fast and affordable model for easier tasks." },
    Row { slug: "gpt-5.6-sol", priority: 8, listed: true, lite: true, window: 272_000, min_version: "0.144.0", efforts: ALL, upgrade: Some("gpt-6-sol"), description: "Legacy model for coding and everyday work." },
    Row { slug: "gpt-5.6-terra", priority: 9, listed: true, lite: true, window: 272_000, min_version: "0.144.0", efforts: ALL, upgrade: Some("gpt-6-sol"), description: "Legacy balanced model for agentic coding." },
    Row { slug: "gpt-5.6-luna", priority: 10, listed: true, lite: true, window: 272_000, min_version: "0.144.0", efforts: TO_MAX, upgrade: Some("gpt-6-luna"), description: "Legacy fast model for simpler tasks." },
    Row { slug: "gpt-daybreak-blue-latest", priority: 11, listed: false, lite: true, window: 272_000, min_version: "0.144.0", efforts: ALL, upgrade: None, description: "Cybersecurity specialty model." },
    Row { slug: "gpt-daybreak-red-latest", priority: 12, listed: false, lite: true, window: 372_000, min_version: "0.142.2", efforts: ALL, upgrade: None, description: "Cybersecurity specialty model." },
    Row { slug: "gpt-5.5", priority: 13, listed: true, lite: false, window: 272_000, min_version: "0.124.0", efforts: TO_XHIGH, upgrade: Some("gpt-6-sol"), description: "Legacy coding model." },
    Row { slug: "codex-auto-review", priority: 43, listed: false, lite: true, window: 272_000, min_version: "0.98.0", efforts: TO_MAX, upgrade: None, description: "Automatic approval review model for Codex." },
];

/// The built-in table as entries (built once).
pub fn builtin() -> &'static [ModelInfo] {
    static TABLE: OnceLock<Vec<ModelInfo>> = OnceLock::new();
    TABLE.get_or_init(|| {
        BUILT_IN
            .iter()
            .map(|r| ModelInfo {
                slug: r.slug.into(),
                description: Some(r.description.into()),
                priority: Some(r.priority),
                visibility: Some(if r.listed { "list" } else { "hide" }.into()),
                use_responses_lite: Some(r.lite),
                context_window: Some(r.window),
                minimal_client_version: Some(r.min_version.into()),
                upgrade: r.upgrade.map(str::to_owned),
                supported_reasoning_levels: r
                    .efforts
                    .iter()
                    .map(|e| ReasoningLevel {
                        effort: (*e).into(),
                    })
                    .collect(),
                input_modalities: Some(vec!["text".into(), "image".into()]),
                default_verbosity: Some("low".into()),
                support_verbosity: Some(true),
                supports_reasoning_summary_parameter: Some(true),
                ..ModelInfo::default()
            })
            .collect()
    })
}

/// Parses a `/models` reply body: `{"models": [...]}`. An entry that does not parse is skipped
/// (logged at debug) rather than losing the whole list.
pub fn parse_list(body: &str) -> Result<Vec<ModelInfo>, String> {
    let doc: Value = serde_json::from_str(body).map_err(|e| format!("not JSON: {e}"))?;
    let entries = doc["models"]
        .as_array()
        .ok_or("no `models` array in the reply")?;
    Ok(entries
        .iter()
        .filter_map(|e| match ModelInfo::deserialize(e) {
            Ok(m) if !m.slug.is_empty() => Some(m),
            Ok(_) => None,
            Err(err) => {
                log::debug!("skipping a model list entry the proxy cannot read: {err}");
                None
            }
        })
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn v(s: &str) -> Version {
        Version::parse(s).unwrap()
    }

    /// The Codex CLI 0.171.0 catalogue, as the backend serves it.
    fn live() -> Vec<ModelInfo> {
        let text = std::fs::read_to_string(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/tests/fixtures/upstream/models-codex-0.171.0.json"
        ))
        .unwrap();
        parse_list(&text).unwrap()
    }

    #[test]
    fn versions_compare_numerically() {
        assert!(v("0.171.0") > v("0.166.0"));
        assert!(v("0.99.0") < v("0.124.0"));
        assert!(v("0.172.0-alpha.1") < v("0.172.0"));
        assert!(v("0.172.0-alpha.1") > v("0.171.9"));
        assert_eq!(v("1.2"), v("1.2.0"));
        assert_eq!(v("v0.171.0").to_string(), "0.171.0");
        assert_eq!(v("0.172.0-alpha.1").to_string(), "0.172.0-alpha.1");
        assert_eq!(Version::DEFAULT, v(DEFAULT_CLIENT_VERSION));
        assert_eq!(Version::DEFAULT.to_string(), DEFAULT_CLIENT_VERSION);
        for bad in ["", "x", "1", "1..2", "1.2.3.4", "0.1x.0", "0.1.0-a b"] {
            assert!(Version::parse(bad).is_none(), "{bad}");
        }
    }

    #[test]
    fn the_live_catalogue_parses_and_decides_lanes() {
        let list = live();
        assert_eq!(list.len(), 14);
        assert_eq!(lane(&list, "gpt-6.2-sol"), Lane::Lite);
        assert_eq!(lane(&list, "gpt-5.5"), Lane::Full);
        assert_eq!(lane(&list, "gpt-5.6-luna"), Lane::Lite);
        let sol = find(&list, "gpt-6.2-sol").unwrap();
        assert_eq!(sol.context_window, Some(500_000));
        assert_eq!(sol.needs_version(), Some(v("0.166.0")));
        assert_eq!(sol.verbosity(), Some("low"));
        assert!(sol.accepts_images());
        assert_eq!(
            find(&list, "gpt-5.6-terra").unwrap().upgrade.as_deref(),
            Some("gpt-6-sol")
        );
        // The built-in table agrees with the catalogue it was written from.
        for m in &list {
            let b = find(builtin(), &m.slug).unwrap();
            assert_eq!(
                (b.lane(), b.priority, b.context_window, &b.upgrade),
                (m.lane(), m.priority, m.context_window, &m.upgrade),
                "{}",
                m.slug
            );
            assert_eq!(b.needs_version(), m.needs_version(), "{}", m.slug);
            assert_eq!(
                b.supported_reasoning_levels, m.supported_reasoning_levels,
                "{}",
                m.slug
            );
            assert_eq!(b.listed(), m.listed(), "{}", m.slug);
        }
    }

    #[test]
    fn lanes_for_models_without_an_entry() {
        for (slug, want) in [
            ("gpt-5.5", Lane::Full),
            ("gpt-5.4", Lane::Full),
            ("gpt-5.3-codex", Lane::Full),
            ("o3", Lane::Full),
            ("gpt-5.6-terra", Lane::Lite),
            ("gpt-7-nova", Lane::Lite),
            ("gpt-6.3-sol", Lane::Lite),
            ("gpt-5.4-luna", Lane::Lite),
            ("GPT-6-LUNA", Lane::Lite),
        ] {
            assert_eq!(lane(&[], slug), want, "{slug}");
        }
        // A luna entry never sends the model on the full lane, whatever the flag says.
        let odd = ModelInfo {
            slug: "gpt-9-luna".into(),
            use_responses_lite: Some(false),
            ..ModelInfo::default()
        };
        assert_eq!(odd.lane(), Lane::Lite);
    }

    #[test]
    fn defaults_follow_priority_upgrades_and_the_client_version() {
        let list = live();
        let map = pick_defaults(&list, &v(DEFAULT_CLIENT_VERSION)).unwrap();
        assert_eq!(
            (map.thinking.as_str(), map.big.as_str(), map.small.as_str()),
            ("gpt-6.2-sol", "gpt-6.2-sol", "gpt-6-luna")
        );
        // An old client cannot use the 0.166 models: the next current ones serve.
        let map = pick_defaults(&list, &v("0.160.0")).unwrap();
        assert_eq!(
            (map.big.as_str(), map.small.as_str()),
            ("gpt-6.1-terra", "gpt-6-luna")
        );
        // The proxy's former announcement reaches only legacy models: the best of those.
        let map = pick_defaults(&list, &v("0.144.1")).unwrap();
        assert_eq!(
            (map.big.as_str(), map.small.as_str()),
            ("gpt-5.6-sol", "gpt-5.6-luna")
        );
        assert!(pick_defaults(&list, &v("0.90.0")).is_none());
        // The built-in table gives the same answer as the catalogue.
        assert_eq!(
            pick_defaults(builtin(), &v(DEFAULT_CLIENT_VERSION)),
            pick_defaults(&list, &v(DEFAULT_CLIENT_VERSION))
        );
        // Without a small model, haiku gets the top one.
        let only = vec![ModelInfo {
            slug: "gpt-7-sol".into(),
            priority: Some(1),
            ..ModelInfo::default()
        }];
        assert_eq!(
            pick_defaults(&only, &v("0.171.0")).unwrap().small,
            "gpt-7-sol"
        );
    }

    #[test]
    fn explicit_settings_win_and_legacy_ones_are_flagged() {
        let settings = ModelSettings {
            big: Some("gpt-5.6-terra".into()),
            small: Some("gpt-nope".into()),
            ..ModelSettings::default()
        };
        let cat = Catalogue::new(live(), Source::Live, settings, v("0.171.0"));
        assert_eq!(cat.map.big, "gpt-5.6-terra");
        assert_eq!(cat.map.thinking, "gpt-6.2-sol");
        assert_eq!(
            cat.describe(),
            "opus → gpt-6.2-sol (lite), sonnet → gpt-5.6-terra (lite, set), \
             haiku → gpt-nope (lite, set, not offered)"
        );
        let w = cat.warnings();
        assert_eq!(w.len(), 2, "{w:?}");
        assert!(w[0].contains(
            "CODEX_BIG_MODEL=gpt-5.6-terra is a legacy model; its successor is gpt-6-sol"
        ));
        assert!(w[1].starts_with("CODEX_SMALL_MODEL=gpt-nope is not offered to this account; available: gpt-6.2-sol, gpt-6.2-astra"));
        // A model the announced client is too old for says which version to set.
        let settings = ModelSettings {
            thinking: Some("gpt-6.2-astra".into()),
            ..ModelSettings::default()
        };
        let cat = Catalogue::built_in(settings, v("0.150.0"));
        assert_eq!(cat.warnings().len(), 1);
        assert!(cat.warnings()[0].contains("set CODEX_CLIENT_VERSION=0.166.0"));
        assert_eq!(
            cat.map.big, "gpt-5.6-sol",
            "0.150 reaches only legacy models"
        );
    }

    #[test]
    fn web_search_finds_a_full_lane_model() {
        assert_eq!(full_lane_model(&live()), Some("gpt-5.5"));
        assert_eq!(full_lane_model(&[]), Some("gpt-5.5"));
        let lite_only: Vec<ModelInfo> =
            live().into_iter().filter(|m| m.slug != "gpt-5.5").collect();
        assert_eq!(full_lane_model(&lite_only), None);
    }

    #[test]
    fn lists_tolerate_odd_entries() {
        let list = parse_list(
            r#"{"models":[{"slug":"a","supported_reasoning_levels":null,"upgrade":"b"},{"slug":7},{"no":"slug"},{"slug":"c","upgrade":{"model":null}}]}"#,
        )
        .unwrap();
        let slugs: Vec<&str> = list.iter().map(|m| m.slug.as_str()).collect();
        assert_eq!(slugs, ["a", "c"]);
        assert_eq!(list[0].upgrade.as_deref(), Some("b"));
        assert_eq!(list[1].upgrade, None);
        assert!(parse_list("[]").is_err());
        assert!(parse_list("<html>").is_err());
    }

    #[test]
    fn family_mapping() {
        let m = ModelMap {
            thinking: "T".into(),
            big: "B".into(),
            small: "S".into(),
        };
        assert_eq!(m.resolve("claude-opus-5-5"), "T");
        assert_eq!(m.resolve("claude-sonnet-4-5-20250929"), "B");
        assert_eq!(m.resolve("claude-haiku-5-5"), "S");
        assert_eq!(m.resolve("claude-3-5-haiku-20241022"), "S");
        assert_eq!(m.resolve("mystery"), "B");
        assert_eq!(m.resolve("gpt-5.5[1m]"), "gpt-5.5");
        assert_eq!(m.resolve("GPT-5.6-sol"), "GPT-5.6-sol");
        assert_eq!(base_id("claude-opus-4-8[1m]"), "claude-opus-4-8");
    }
}

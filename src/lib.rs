//! codex-claude-proxy: the Anthropic Messages API on a ChatGPT subscription's Codex models.
//!
//! Data flow, one module per step:
//!
//! ```text
//! client ──HTTP──▶ server (route, limits, API key)
//!                    └▶ handler ──▶ translate::request ──▶ upstream (auth, retries) ──▶ Codex backend
//!                                                                                       │ SSE
//! client ◀──SSE/JSON── handler ◀── translate::stream ◀── sse (parse) ◀──────────────────┘
//! ```
//!
//! `translate`, `sse`, `anthropic`, `responses`, `catalogue`, `guard` and `error` are pure;
//! `server` (with `http`, `info` and the shared `app` state), `handler` (with `reqlog`),
//! `upstream`, `auth` and `tokenfile` do the I/O; no module imports one above it in this list. A thread serves each request, with blocking reads upstream
//! and one chunked write (and flush) downstream per batch of upstream events already read: a
//! batch leaves as soon as reading on would wait for the upstream.

#![cfg_attr(not(test), deny(clippy::unwrap_used, clippy::expect_used))]

pub mod anthropic;
pub mod app;
pub mod auth;
pub mod buffers;
pub mod catalogue;
pub mod clock;
pub mod config;
pub mod error;
pub mod fieldpath;
pub mod guard;
pub mod handler;
pub mod http;
pub mod info;
pub mod json_str;
pub mod json_text;
pub mod launcher;
pub mod logging;
pub mod login;
pub mod nofile;
pub mod oauth;
pub mod owner;
pub mod private;
pub mod redact;
pub mod reqlog;
pub mod responses;
pub mod server;
pub mod signals;
pub mod sse;
pub mod status;
pub mod tokenfile;
pub mod translate;
pub mod upstream;
pub mod usage;

pub use config::Config;
pub use error::Error;
pub use server::{Running, start};

//! The pure core: Anthropic Messages ⇄ Codex Responses. Nothing in here does I/O.
//!
//! Data flow: [`request::translate`] turns the client's request into the upstream body;
//! [`stream::StreamTranslator`] turns the upstream's events back into Anthropic events, which go
//! to the SSE writer or, for non-streaming clients, to [`collect::Collector`].
//! [`models`] picks the Codex model and reasoning effort, [`ids`] maps names and signatures both
//! ways, and [`tokens`] estimates token counts.

pub mod collect;
pub mod ids;
pub mod models;
pub mod request;
pub mod stream;
pub mod tokens;

//! The pure core: Anthropic Messages ⇄ Codex Responses. Nothing in here does I/O.
//!
//! Data flow: [`request::translate`] turns the client's request into the upstream body (its
//! [`input`] list built from the messages), in the dialect of the model's lane;
//! [`stream::StreamTranslator`] turns the upstream's events back into Anthropic events, which go
//! to the SSE writer or, for non-streaming clients, to [`collect::Collector`].
//! [`models`] picks the reasoning effort (the model comes from [`crate::catalogue`]), [`ids`] maps names and signatures both
//! ways, and [`tokens`] estimates token counts (the text part in [`o200k`]).

pub mod collect;
pub mod ids;
pub mod input;
pub mod models;
pub mod o200k;
pub mod request;
pub mod stream;
pub mod tokens;

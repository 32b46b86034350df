//! Test harnesses shared by the workspace's tests: real parts started on demand and cleaned
//! up afterwards (an ephemeral Postgres cluster, a smart-HTTP git server, mocks of the APIs
//! agent CLIs call).

pub mod attacks;
pub mod git_http;
mod mock_anthropic;
pub mod mock_api;
mod mock_gemini;
mod mock_openai;
pub mod pg;

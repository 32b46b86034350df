//! The mock Anthropic API as a process of its own, for tests that run Claude Code where a
//! test's own process cannot host the mock (script/docker-test: the CLI in a container).
//!   mock_anthropic <ip> <file> <content>
//! serves on <ip> (a free port) one scenario in which the model writes <content> to <file> in
//! the CLI's working directory with the Write tool, then says "done"; prints the scenario's
//! base URL on the first line of stdout, and serves until stdin closes. Every request is then
//! printed as one line on stdout (`<scenario> <model call or not> <user texts as JSON>`), so the
//! test can see that the CLI called it.

use std::io::Write as _;
use std::net::{IpAddr, SocketAddr};

use anyhow::Context as _;
use serde_json::json;
use taskyard_test_support::mock_api::{Block, Dialect, MockApi, Reply, Scenario};

#[tokio::main(flavor = "current_thread")]
async fn main() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let [ip, file, content] = args.as_slice() else {
        anyhow::bail!("usage: mock_anthropic <ip> <file> <content>");
    };
    let ip: IpAddr = ip.parse().context("the first argument is an IP address")?;
    let mock = MockApi::start_on(Dialect::Anthropic, SocketAddr::new(ip, 0)).await?;
    let url = mock.scenario(
        "write",
        Scenario::Script(vec![
            Reply::Message(vec![
                Block::Text(format!("I'll write {file}.")),
                Block::tool("Write", json!({"file_path": format!("{{cwd}}/{file}"), "content": content})),
            ]),
            Reply::text("done"),
        ]),
    );
    println!("{url}");
    std::io::stdout().flush()?;
    // Serve until the test closes stdin (or ends, which closes it too).
    tokio::task::spawn_blocking(|| std::io::copy(&mut std::io::stdin(), &mut std::io::sink())).await??;
    for r in mock.requests() {
        println!("{} {} {}", r.scenario, r.model_call, serde_json::to_string(&r.user_texts())?);
    }
    Ok(())
}

//! What the credential proxy adds to a model request: the same small POST, on a kept-alive
//! connection, straight to a loopback upstream and through the proxy (placeholder swapped
//! for the real value), and a streamed answer's first chunk both ways. Prints the
//! latencies' percentiles and the difference.
//!
//! `cargo bench -p taskyard-core --bench credential_proxy` (`BENCH_REQUESTS` for another
//! count); `cargo test --benches` runs a short smoke version.

use std::collections::BTreeMap;
use std::convert::Infallible;
use std::time::{Duration, Instant};

use bytes::Bytes;
use http_body_util::{BodyExt as _, Full};
use hyper::{Request, Response};
use hyper_util::rt::TokioIo;
use taskyard_core::model::RunId;
use taskyard_core::proxy::{CredentialProxy, ProxyConfig};

const TOKEN: &str = "sk-ant-oat01-TEST-bench-0000000000000000000000";

/// An upstream that checks the token and answers a small SSE-like body.
async fn upstream() -> std::net::SocketAddr {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = listener.local_addr().expect("addr");
    tokio::spawn(async move {
        loop {
            let Ok((stream, _)) = listener.accept().await else { return };
            let _ = stream.set_nodelay(true);
            tokio::spawn(async move {
                let service = hyper::service::service_fn(|req: Request<hyper::body::Incoming>| async move {
                    let ok = req.headers().get("authorization").and_then(|v| v.to_str().ok())
                        == Some(&format!("Bearer {TOKEN}"));
                    let _ = req.into_body().collect().await;
                    let body = if ok { "event: message_stop\ndata: {}\n\n" } else { "unauthorized" };
                    Ok::<_, Infallible>(
                        Response::builder()
                            .status(if ok { 200 } else { 401 })
                            .header("content-type", "text/event-stream")
                            .body(Full::new(Bytes::from(body)))
                            .expect("response"),
                    )
                });
                let _ = hyper::server::conn::http1::Builder::new()
                    .serve_connection(TokioIo::new(stream), service)
                    .await;
            });
        }
    });
    addr
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    sorted[((sorted.len() as f64 - 1.0) * p).round() as usize]
}

async fn measure(client: &reqwest::Client, url: &str, bearer: &str, n: usize) -> Vec<Duration> {
    let body =
        serde_json::json!({"model": "m", "stream": true, "messages": [{"role": "user", "content": "hi"}]})
            .to_string();
    let mut times = Vec::with_capacity(n);
    for _ in 0..n {
        let start = Instant::now();
        let answer = client
            .post(url)
            .header("authorization", format!("Bearer {bearer}"))
            .header("content-type", "application/json")
            .body(body.clone())
            .send()
            .await
            .expect("send");
        assert_eq!(answer.status(), 200);
        let _ = answer.bytes().await.expect("body");
        times.push(start.elapsed());
    }
    times.sort();
    times
}

fn main() {
    let smoke = !std::env::args().any(|a| a == "--bench");
    let n: usize = std::env::var("BENCH_REQUESTS").ok().and_then(|v| v.parse().ok()).unwrap_or(if smoke {
        200
    } else {
        20_000
    });
    let rt =
        tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().expect("runtime");
    rt.block_on(async {
        let up = upstream().await;
        let proxy = CredentialProxy::start(ProxyConfig::default()).await.expect("proxy");
        let mut env = BTreeMap::from([
            ("CLAUDE_CODE_OAUTH_TOKEN".to_owned(), TOKEN.to_owned()),
            ("ANTHROPIC_BASE_URL".to_owned(), format!("http://{up}")),
        ]);
        let (_grant, _) = proxy.secure(RunId::new(), &mut env, &mut BTreeMap::new(), false);
        let placeholder = env["CLAUDE_CODE_OAUTH_TOKEN"].clone();
        let via = format!("{}/v1/messages?beta=true", env["ANTHROPIC_BASE_URL"]);
        let direct = format!("http://{up}/v1/messages?beta=true");
        let client = reqwest::Client::builder().no_proxy().build().expect("client");
        // Warm both paths (connections, allocator).
        measure(&client, &direct, TOKEN, 200).await;
        measure(&client, &via, &placeholder, 200).await;
        let straight = measure(&client, &direct, TOKEN, n).await;
        let proxied = measure(&client, &via, &placeholder, n).await;
        let show = |d: Duration| format!("{:.3} ms", d.as_secs_f64() * 1000.0);
        println!("credential proxy: {n} sequential requests on a kept-alive connection");
        for (name, p) in [("p50", 0.50), ("p90", 0.90), ("p99", 0.99), ("p99.9", 0.999)] {
            let (a, b) = (percentile(&straight, p), percentile(&proxied, p));
            println!(
                "  {name:>5}: direct {}  via proxy {}  added {}",
                show(a),
                show(b),
                show(b.saturating_sub(a))
            );
        }
    });
}

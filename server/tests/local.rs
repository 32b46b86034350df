//! The server as the desktop app starts it (`taskyard_server::local`): in-process, SQLite in
//! the data folder, local mode on loopback with a fresh token per start, and clear errors for
//! a data folder it cannot use.

use taskyard_server::local::{self, LocalOptions};

#[tokio::test(flavor = "multi_thread")]
async fn starts_in_the_data_folder_and_answers_only_with_this_start_s_token() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let running = local::start(LocalOptions::new(&data)).await.expect("starts");
    assert!(data.join("taskyard.db").exists(), "the database is in the data folder");
    assert!(running.addr.ip().is_loopback());
    let url = reqwest::Url::parse(&running.url).unwrap();
    let token = url.query_pairs().find(|(k, _)| k == "token").map(|(_, v)| v.into_owned()).expect("a token");
    assert!(token.len() >= 32, "a long token: {token}");
    let base = format!("http://{}", running.addr);
    let client = reqwest::Client::new();
    let without = client.get(format!("{base}/api/projects")).send().await.unwrap();
    assert_eq!(without.status(), 401);
    let with = client.get(format!("{base}/api/projects")).bearer_auth(&token).send().await.unwrap();
    assert_eq!(with.status(), 200);
    assert_eq!(running.active_runs(), 0);
    running.stop().await.expect("stops");

    // A second start on the same data gets a token of its own; the first one is worthless.
    let again = local::start(LocalOptions::new(&data)).await.expect("starts again");
    let base = format!("http://{}", again.addr);
    let old = client.get(format!("{base}/api/projects")).bearer_auth(&token).send().await.unwrap();
    assert_eq!(old.status(), 401);
    again.stop().await.unwrap();
}

#[tokio::test(flavor = "multi_thread")]
async fn a_data_folder_that_cannot_be_made_is_named_in_the_error() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("a-file");
    std::fs::write(&file, "not a folder").unwrap();
    let error = local::start(LocalOptions::new(file.join("data"))).await.expect_err("refused");
    let text = format!("{error:#}");
    assert!(text.contains("cannot make the data folder") && text.contains("a-file/data"), "{text}");
    assert_eq!(std::fs::read_to_string(&file).unwrap(), "not a folder", "nothing is lost");
}

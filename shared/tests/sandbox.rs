//! Confinement, tried as an attacker would from inside a run: a `custom` command and the real
//! Claude Code CLI's Bash tool try to read the server's secrets, other runs' and projects'
//! files and the server's environment, and to write outside their worktree — all of it must
//! fail, while ordinary work (write, commit, diff, merge) still works inside the sandbox.

mod common;

use std::path::Path;

use common::*;
use serde_json::json;
use taskyard_core::model::*;
use taskyard_core::sandbox::Policy;
use taskyard_test_support::attacks;
use taskyard_test_support::mock_api::{Dialect, Reply, Scenario};

/// The attacks, as shell tests: each prints `OPEN <name>` when it got through, `DENIED
/// <name>` otherwise.
fn attack_script(f: &Fixture, other_repo: &Path, other_home: &Path) -> String {
    let data = f.data.display();
    let git_dir = f.repo.join(".git");
    let me = std::process::id();
    let reads = [
        ("key-file", format!("{data}/fernet.key")),
        ("database", format!("{data}/taskyard.db")),
        ("other-repository", format!("{}/README.md", other_repo.display())),
        ("other-run-home", format!("{}/.claude.json", other_home.display())),
        ("shadow", "/etc/shadow".into()),
        ("server-environ", format!("/proc/{me}/environ")),
        ("project-working-tree", format!("{}/README.md", f.repo.display())),
    ];
    // Writes into the repository's or the data directory's folder land, if anywhere, in
    // the sandbox's private /tmp (where the tests keep them): checked from outside instead.
    let writes = [
        ("write-repository", format!("{}/planted", f.repo.display())),
        ("write-data-dir", format!("{data}/planted")),
        ("write-hook", format!("{}/hooks/post-checkout", git_dir.display())),
        ("write-git-config", format!("{}/config", git_dir.display())),
        ("write-root", "/planted".into()),
        ("write-usr", "/usr/planted".into()),
        // What Taskyard's own git work reads to find the repository: pointed elsewhere, it
        // would commit into (or show the files of) another project as the server.
        ("plant-commondir", format!("{}/commondir", git_dir.display())),
        ("write-alternates", format!("{}/objects/info/alternates", git_dir.display())),
        ("write-worktree-link", ".git".into()),
    ];
    let mut script = attacks::script(&reads, &writes);
    // Another process of the server's: none is visible in the sandbox's own /proc.
    script += &attacks::verdict("server-proc", &format!("[ -e /proc/{me} ] && [ {me} != $$ ]"));
    script += "if ls /proc | grep -qx 1 && [ $(ls /proc | grep -c '^[0-9]') -lt 10 ]; then echo 'DENIED other-processes'; else echo 'OPEN other-processes'; fi\n";
    script
}

/// Files the attacks aim at, made where a server keeps them.
fn plant_targets(f: &Fixture) -> (std::path::PathBuf, std::path::PathBuf) {
    std::fs::create_dir_all(&f.data).unwrap();
    std::fs::write(f.data.join("fernet.key"), "TEST-KEY-NOT-REAL").unwrap();
    std::fs::write(f.data.join("taskyard.db"), "TEST-DB").unwrap();
    let other_repo = f.dir.path().join("other-repo");
    std::fs::create_dir_all(&other_repo).unwrap();
    std::fs::write(other_repo.join("README.md"), "other").unwrap();
    let other_home = f.data.join("homes").join("0190aaaa-0000-7000-8000-000000000000");
    std::fs::create_dir_all(&other_home).unwrap();
    std::fs::write(other_home.join(".claude.json"), "{}").unwrap();
    (other_repo, other_home)
}

fn verdicts(logs: &[LogEntry]) -> Vec<String> {
    logs.iter().flat_map(|e| attacks::verdicts(&e.text)).collect()
}

/// Verdicts of attacks that got through inside the sandbox, less the writes that can only
/// be judged from outside.
fn open_attacks(seen: &[String]) -> Vec<&String> {
    seen.iter()
        .filter(|v| v.starts_with("OPEN") && *v != "OPEN write-repository" && *v != "OPEN write-data-dir")
        .collect()
}

#[tokio::test]
async fn a_confined_command_reaches_nothing_but_its_own() {
    let f = fixture_configured(Dialect::Anthropic, |c| c.sandbox = Policy::Required).await;
    let (other_repo, other_home) = plant_targets(&f);
    let script = attack_script(&f, &other_repo, &other_home)
        + "echo work > work.txt && git add work.txt && git -c user.name=A -c user.email=a@example.com commit -qm work && echo COMMITTED\n"
        + "id -un\n";
    let task = f.task("custom", "attack", json!({ "command": script })).await;
    let run = f.run(&task).await;
    let logs = f.logs(run.id).await;
    let seen = verdicts(&logs);
    assert_eq!(seen.len(), 20, "every attack reported: {seen:#?}");
    assert!(open_attacks(&seen).is_empty(), "attacks that got through: {seen:#?}");
    assert!(
        logs.iter().any(|e| e.text.contains("confined: bubblewrap sandbox")),
        "the log says it is confined"
    );
    assert!(logs.iter().any(|e| e.text == "COMMITTED"), "git works inside: {:#?}", logs);
    assert!(logs.iter().any(|e| e.text == "agent"), "the agent is an unprivileged user of its own");
    assert_eq!(run.status, RunStatus::Succeeded, "{:?}", run.error);

    // Nothing was planted outside.
    assert!(!f.repo.join("planted").exists() && !f.data.join("planted").exists());
    assert!(!f.repo.join(".git/hooks/post-checkout").exists());
    assert!(!Path::new("/planted").exists());

    // The work is on the task's branch, and merges.
    let diff = f.runner.diff(run.id).await.expect("diff");
    assert!(diff.files.iter().any(|d| d.path == "work.txt"), "{:?}", diff.files);
    f.runner.merge(run.id).await.expect("merge");
    assert_eq!(git(&f.repo, &["show", "main:work.txt"]), "work");
    // The sandbox's own files are gone with the run.
    assert!(!f.data.join("sandbox").join(run.id.to_string()).exists());
}

#[tokio::test]
async fn a_stop_reaches_the_confined_agent_and_ends_it() {
    let f = fixture_configured(Dialect::Anthropic, |c| {
        c.sandbox = Policy::Required;
        c.stop_signals = Some(vec![(nix::sys::signal::Signal::SIGINT, std::time::Duration::from_secs(5))]);
    })
    .await;
    let script = "trap 'echo GOT-INT; exit 7' INT; echo READY; while :; do sleep 0.1; done";
    let task = f.task("custom", "loop", json!({ "command": script })).await;
    let run = f.runner.start(task.id).await.expect("start");
    f.wait_for_entry(run.id, |e| e.text == "READY").await;
    f.runner.stop(run.id).await.expect("stop");
    let run = f.runner.wait(run.id).await.expect("wait");
    assert_eq!(run.status, RunStatus::Cancelled);
    let logs = f.logs(run.id).await;
    assert!(logs.iter().any(|e| e.text == "GOT-INT"), "the agent handled its stop signal: {logs:#?}");
    assert!(taskyard_core::runner::process::run_processes(&run.id.to_string(), None).is_empty());
}

#[tokio::test]
async fn claude_codes_bash_tool_cannot_read_the_key_file() {
    let claude = tool("claude-code", "claude");
    // The CLI is on the server's PATH, as a team server's image has it.
    let bin = claude.parent().expect("bin").to_path_buf();
    let f = fixture_configured(Dialect::Anthropic, |c| {
        c.sandbox = Policy::Required;
        c.agent_path = format!("{}:{}", bin.display(), c.agent_path);
    })
    .await;
    let (other_repo, other_home) = plant_targets(&f);
    // The Bash tool refuses some shell forms: one script file, run by one command.
    let script_path = f.dir.path().join("attack.sh");
    std::fs::write(&script_path, attack_script(&f, &other_repo, &other_home)).unwrap();
    let script = std::fs::read_to_string(&script_path).unwrap();
    let url = f.mock.scenario(
        "attack",
        Scenario::Script(vec![
            Reply::tool("Bash", json!({ "command": script, "description": "look around" })),
            Reply::text("done"),
        ]),
    );
    let settings = merged(
        cli_settings(
            &claude,
            json!({ "ANTHROPIC_BASE_URL": url, "CLAUDE_CODE_OAUTH_TOKEN": "sk-ant-oat01-TEST-sandbox-000000000000" }),
        ),
        json!({ "api_retries": 0 }),
    );
    let task = f.task("claude", "attack", settings).await;
    let run = f.run(&task).await;
    let logs = f.logs(run.id).await;
    let result = logs
        .iter()
        .find(|e| event(e) == "tool_result")
        .and_then(|e| e.data.as_ref()?.get("content")?.as_str().map(str::to_owned))
        .unwrap_or_default();
    assert!(result.contains("DENIED key-file"), "the Bash tool ran inside the sandbox: {result}\n{logs:#?}");
    let seen: Vec<String> = result.lines().map(str::to_owned).collect();
    assert!(open_attacks(&seen).is_empty(), "attacks that got through: {result}");
    assert!(!f.repo.join("planted").exists() && !f.data.join("planted").exists());
    assert_eq!(run.status, RunStatus::Succeeded, "{:?}", run.error);
}

#[tokio::test]
async fn a_required_sandbox_that_cannot_be_made_refuses_runs_and_says_why() {
    let f = fixture_configured(Dialect::Anthropic, |c| {
        c.sandbox = Policy::Required;
        c.agent_path = "/nonexistent".into();
    })
    .await;
    let task = f.task("custom", "x", json!({ "command": "true" })).await;
    let err = f.runner.start(task.id).await.expect_err("refused");
    assert!(matches!(err, taskyard_core::runner::RunError::Unavailable(_)), "{err:?}");
    assert!(err.to_string().contains("bubblewrap"), "{err}");
    let status = f.runner.sandbox_status().await;
    assert!(!status.confined && status.problem.is_some(), "{status:?}");

    let f = fixture_configured(Dialect::Anthropic, |c| {
        c.sandbox = Policy::IfAvailable;
        c.agent_path = "/nonexistent:/usr/bin:/bin".into();
    })
    .await;
    let status = f.runner.sandbox_status().await;
    assert!(status.confined, "bubblewrap is on this PATH: {status:?}");
}

#[tokio::test]
async fn a_task_cannot_show_another_folder_by_naming_it_as_its_program_or_on_its_path() {
    use std::os::unix::fs::PermissionsExt as _;
    let f = fixture_configured(Dialect::Anthropic, |c| c.sandbox = Policy::Required).await;
    let (other_repo, _) = plant_targets(&f);
    let there = other_repo.join("run.sh");
    std::fs::write(&there, "#!/bin/sh\necho RAN\n").unwrap();
    std::fs::set_permissions(&there, std::fs::Permissions::from_mode(0o755)).unwrap();

    // On its PATH: the folder stays out of the sandbox.
    let probe = format!(
        "if cat '{}/README.md' >/dev/null 2>&1; then echo 'OPEN via-path'; else echo 'DENIED via-path'; fi",
        other_repo.display()
    );
    let path = format!("{}:/usr/bin:/bin", other_repo.display());
    let task = f.task("custom", "path", json!({ "command": probe, "env": { "PATH": path } })).await;
    let run = f.run(&task).await;
    let seen = verdicts(&f.logs(run.id).await);
    assert_eq!(seen, ["DENIED via-path"], "{:?}", run.error);

    // As its program: refused, saying why, with nothing run.
    let task = f.task("custom", "program", json!({ "command": [there.display().to_string()] })).await;
    let run = f.run(&task).await;
    assert_eq!(run.status, RunStatus::Failed);
    let logs = f.logs(run.id).await;
    assert!(!logs.iter().any(|e| e.text == "RAN"), "{logs:#?}");
    assert!(
        logs.iter().any(|e| e.text.contains("outside the folders this server runs agents from")),
        "{logs:#?}"
    );
}

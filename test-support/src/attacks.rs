//! Attacks on a sandbox as shell tests: each line prints `OPEN <name>` when the attack got
//! through and `DENIED <name>` otherwise, so one run reports every attack it tried.

/// A script that tries to read each of `reads` and append to each of `writes` (paths are
/// single-quoted; `$`-expressions in them are not expanded), then to each of the worktree's
/// own git metadata files that link it to its repository (run from the worktree).
pub fn script(reads: &[(&str, String)], writes: &[(&str, String)]) -> String {
    let mut script = String::from("set +e\n");
    for (name, path) in reads {
        script += &verdict(name, &format!("cat '{path}' >/dev/null 2>&1"));
    }
    for (name, path) in writes {
        script += &verdict(name, &format!("echo x >> '{path}' 2>/dev/null"));
    }
    script += "own=$(sed -n 's/^gitdir: //p' .git)\n";
    for file in ["commondir", "gitdir"] {
        script +=
            &verdict(&format!("write-worktree-{file}"), &format!("echo x >> \"$own/{file}\" 2>/dev/null"));
    }
    script
}

/// One shell test: `OPEN name` when `test` succeeds.
pub fn verdict(name: &str, test: &str) -> String {
    format!("if {test}; then echo 'OPEN {name}'; else echo 'DENIED {name}'; fi\n")
}

/// The verdict lines of a log's text.
pub fn verdicts(text: &str) -> Vec<String> {
    text.lines().filter(|l| l.starts_with("OPEN ") || l.starts_with("DENIED ")).map(str::to_owned).collect()
}

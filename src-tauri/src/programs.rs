//! The agent programs the user chose (Settings → Agents, on this computer): a path per agent
//! CLI, used instead of its name looked up in the agents' `PATH` when a task names no
//! program of its own. A path is checked before it is kept, so a mistake is said at once
//! and in words, and the program that worked before stays.

use std::path::{Path, PathBuf};

/// The longest path accepted (Linux's `PATH_MAX`).
const MAX_PATH: usize = 4096;

/// The adapter `name` (or one of its aliases) stands for, when it runs a CLI of its own; the
/// `custom` adapter runs whatever its task says, so it has no program to choose.
pub fn agent(name: &str) -> Result<&'static str, String> {
    let adapter =
        taskyard_core::agent::adapter(name).map_err(|_| format!("there is no agent called “{name}”"))?;
    match adapter.cli() {
        Some(_) => Ok(adapter.name()),
        None => Err(format!(
            "the {} agent runs the command each task names; it has no program to choose",
            adapter.name()
        )),
    }
}

/// `text` as a program this user can run: a full path (or `~/…`) to an executable file.
pub fn check(text: &str, home: Option<&Path>) -> Result<PathBuf, String> {
    let text = text.trim();
    if text.is_empty() {
        return Err("type the program's full path, or choose it".into());
    }
    if text.len() > MAX_PATH || text.contains('\0') {
        return Err("that is not a path".into());
    }
    let path = match (text.strip_prefix("~/"), home) {
        (Some(rest), Some(home)) => home.join(rest),
        _ => PathBuf::from(text),
    };
    if !path.is_absolute() {
        return Err(format!("“{text}” is not a full path: it starts with / (or ~/ for your home folder)"));
    }
    let shown = path.display();
    let meta = match std::fs::metadata(&path) {
        Ok(meta) => meta,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Err(format!("{shown} does not exist")),
        Err(e) => return Err(format!("cannot read {shown}: {e}")),
    };
    if meta.is_dir() {
        return Err(format!("{shown} is a folder: choose the program in it"));
    }
    if !meta.is_file() {
        return Err(format!("{shown} is not a file"));
    }
    // `access` rather than the mode bits alone: it also knows whose the file is and whether
    // its file system lets programs run at all (`noexec`).
    if nix::unistd::access(&path, nix::unistd::AccessFlags::X_OK).is_err() {
        return Err(format!(
            "{shown} is not executable: make it so (chmod +x), or choose the program itself rather than a file beside it"
        ));
    }
    Ok(path)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt as _;

    #[test]
    fn agents_with_a_cli_have_a_program_and_aliases_count() {
        assert_eq!(agent("claude"), Ok("claude"));
        assert_eq!(agent("gemini"), Ok("gemini"));
        assert_eq!(agent("codex"), Ok("codex"));
        assert!(agent("custom").unwrap_err().contains("no program to choose"));
        assert!(agent("nobody").unwrap_err().contains("no agent called “nobody”"));
    }

    #[test]
    fn only_an_executable_file_given_by_its_full_path_is_kept() {
        let dir = tempfile::tempdir().unwrap();
        let program = dir.path().join("claude");
        std::fs::write(&program, "#!/bin/sh\n").unwrap();
        let plain = dir.path().join("notes.txt");
        std::fs::write(&plain, "not a program").unwrap();
        std::fs::set_permissions(&program, std::fs::Permissions::from_mode(0o755)).unwrap();
        std::fs::set_permissions(&plain, std::fs::Permissions::from_mode(0o644)).unwrap();

        assert_eq!(check(&format!("  {}  ", program.display()), None), Ok(program.clone()));
        assert_eq!(check("~/claude", Some(dir.path())), Ok(program.clone()));
        let error = |text: &str| check(text, Some(dir.path())).unwrap_err();
        assert!(
            error(&plain.display().to_string()).contains("is not executable"),
            "{}",
            error(&plain.display().to_string())
        );
        assert!(error(&dir.path().display().to_string()).contains("is a folder"));
        assert!(error(&dir.path().join("gone").display().to_string()).ends_with("does not exist"));
        assert!(error("claude").contains("is not a full path"));
        assert!(error("").contains("type the program's full path"));
        assert!(error("/a\0b").contains("not a path"));
        assert!(error(&format!("/{}", "a".repeat(5000))).contains("not a path"));
        assert!(error("/dev/null").contains("is not a file"));
    }
}

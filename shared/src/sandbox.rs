//! Confinement of agent processes (and, later, terminals) with bubblewrap: a run sees its
//! worktree, its own home and tmp read-write, its repository's git metadata as far as git
//! needs, the system read-only — and nothing else of the machine.
//!
//! The sandbox is made of namespaces, not privileges: `bwrap` puts the agent in new user,
//! PID, mount, IPC, UTS and cgroup namespaces (the network is shared, so the agent reaches
//! the model APIs through Taskyard's loopback credential proxy), with every capability
//! dropped, on a read-only root that holds only what [`Confinement`] lists. The data
//! directory (database, key file, other runs' homes), other worktrees and repositories,
//! `/etc/shadow` and the server's `/proc` are simply not there.

use std::io;
use std::path::{Path, PathBuf};
use std::process::Stdio;

use crate::agent::CommandSpec;
use crate::runner::process::find_program;

/// Whether runs are confined.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Policy {
    /// Runs are not confined (a single user's own machine, by default).
    #[default]
    Off,
    /// Every run is confined; where this machine cannot confine, runs are refused.
    Required,
    /// Runs are confined where the machine allows it, else run unconfined — an admin's
    /// explicit choice, shown in `/health` and the admin console.
    IfAvailable,
}

/// What the runner says about confinement, for `/health` and the admin console.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, utoipa::ToSchema)]
pub struct Status {
    /// `off`, `required` or `if_available`.
    pub policy: &'static str,
    /// Whether runs started now are confined.
    pub confined: bool,
    /// Why runs are not confined (or are refused), when that is so.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub problem: Option<String>,
}

impl Policy {
    /// The policy's name in settings and status.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Off => "off",
            Self::Required => "required",
            Self::IfAvailable => "if_available",
        }
    }
}

/// The system directories a sandbox sees read-only, where they exist (as they are: a
/// symlink such as Debian's `/bin → usr/bin` stays a symlink).
const SYSTEM_DIRS: &[&str] = &["/usr", "/bin", "/sbin", "/lib", "/lib32", "/lib64", "/libx32", "/opt"];

/// The entries of `/etc` a sandbox sees (read-only): name resolution, TLS roots, time zone,
/// the dynamic linker's cache, alternatives — no shadow, no machine secrets. `passwd` and
/// `group` are written for the sandbox's own user.
const ETC_ENTRIES: &[&str] = &[
    "hosts",
    "host.conf",
    "resolv.conf",
    "nsswitch.conf",
    "gai.conf",
    "ssl",
    "ca-certificates",
    "ca-certificates.conf",
    "pki",
    "localtime",
    "timezone",
    "alternatives",
    "ld.so.cache",
    "ld.so.conf",
    "ld.so.conf.d",
    "protocols",
    "services",
    "mime.types",
    "os-release",
    "debian_version",
    "gitconfig",
    "inputrc",
    "profile",
    "bash.bashrc",
    "login.defs",
    "npmrc",
];

/// The user id an agent has inside its sandbox (mapped to the server's own user outside).
pub const SANDBOX_UID: u32 = 1000;

/// bubblewrap, found and tried on this machine.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Bubblewrap {
    program: PathBuf,
}

/// What one confined process may see.
#[derive(Debug, Clone, Default)]
pub struct Confinement {
    /// Folders it may read and write (its worktree, home, tmp), at the same paths.
    pub writable: Vec<PathBuf>,
    /// Folders or files it may read, at the same paths: the server's own PATH entries (and
    /// the programs on them).
    pub readable: Vec<PathBuf>,
    /// Whether the program and the PATH a task names may bring their folders in too (one
    /// user on their own machine, whose folders they all are). Otherwise a program must lie
    /// in a folder the sandbox shows anyway (the system's, `readable`): a task cannot make
    /// another project's folder visible by naming it as its program or on its PATH.
    pub trust_task_paths: bool,
    /// The worktree whose repository's git metadata it needs: the common git directory's
    /// `objects`, `refs` and `logs` read-write, the rest of it (`config`, `hooks`, other
    /// worktrees' metadata, its top level) and the files that link the worktree to it
    /// read-only, so an agent can neither plant a hook or config command that git would
    /// later run outside the sandbox nor point Taskyard's own git work at another
    /// repository.
    pub git_worktree: Option<PathBuf>,
    /// Where the sandbox's `passwd` and `group` files are written (outside anything the
    /// agent can write).
    pub etc_dir: PathBuf,
    /// The working directory inside.
    pub cwd: PathBuf,
    /// The home directory named in `passwd`.
    pub home: PathBuf,
    /// Folders never shown through `readable` or the PATH, nor any folder holding them
    /// (the data directory: a PATH entry such as `/var/lib` must not bring it in).
    pub hidden: Vec<PathBuf>,
}

impl Bubblewrap {
    /// Finds `bwrap` on `path` and checks that it can make a sandbox here (user namespaces
    /// allowed); the error says why not. Blocking: it runs `bwrap … true`.
    pub fn probe(path: &str) -> Result<Self, String> {
        let program = find_program("bwrap", path)
            .map_err(|_| "bubblewrap (`bwrap`) is not installed on the agents' PATH".to_owned())?;
        let bwrap = Self { program };
        let mut args = bwrap.namespace_args();
        args.extend(system_args());
        args.extend(["--".into(), "true".into()]);
        let out = std::process::Command::new(&bwrap.program)
            .args(&args)
            .env_clear()
            .env("PATH", "/usr/bin:/bin")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .output()
            .map_err(|e| format!("bubblewrap could not start: {e}"))?;
        if out.status.success() {
            return Ok(bwrap);
        }
        let why = String::from_utf8_lossy(&out.stderr).trim().chars().take(300).collect::<String>();
        Err(format!("bubblewrap cannot make a sandbox here (are user namespaces allowed?): {why}"))
    }

    /// `spec` run inside a sandbox that sees what `conf` lists. Writes the sandbox's
    /// `passwd` and `group` into `conf.etc_dir`. The program is looked up on `path` first,
    /// so a missing program is reported as such rather than by bubblewrap.
    pub fn wrap(&self, spec: &CommandSpec, conf: &Confinement, path: &str) -> io::Result<CommandSpec> {
        let program = find_program(&spec.program, path).map_err(|problem| {
            let kind = if problem.contains("not an executable") {
                io::ErrorKind::PermissionDenied
            } else {
                io::ErrorKind::NotFound
            };
            io::Error::new(kind, problem)
        })?;
        let mut readable = conf.readable.clone();
        if conf.trust_task_paths {
            readable.push(program.clone());
            readable.extend(path.split(':').filter(|d| !d.is_empty()).map(PathBuf::from));
        }
        let hidden: Vec<PathBuf> = conf
            .hidden
            .iter()
            .flat_map(|h| [h.clone(), std::fs::canonicalize(h).unwrap_or(h.clone())])
            .collect();
        let shown: Vec<PathBuf> = program_roots(&readable)
            .into_iter()
            .filter(|dir| !hidden.iter().any(|h| h.starts_with(dir) || dir.starts_with(h)))
            .collect();
        if !is_shown(&program, &shown) {
            return Err(io::Error::other(
                "it lies outside the folders this server runs agents from (the system's and the \
                 server's PATH)",
            ));
        }
        let mut args = self.namespace_args();
        args.extend(system_args());
        args.extend(self.identity_args(conf)?);
        for dir in shown {
            args.extend(bind("--ro-bind", &dir));
        }
        for dir in &conf.writable {
            args.extend(bind("--bind", dir));
        }
        if let Some(worktree) = &conf.git_worktree {
            args.extend(git_args(worktree));
        }
        // Last: the root itself read-only, so nothing can be written outside the binds.
        args.extend(["--remount-ro".into(), "/".into(), "--chdir".into(), conf.cwd.display().to_string()]);
        args.push("--".into());
        args.push(program.display().to_string());
        args.extend(spec.args.iter().cloned());
        Ok(CommandSpec { program: self.program.display().to_string(), args, env: spec.env.clone() })
    }

    /// New namespaces (the network shared), no capabilities, ending with its parent.
    fn namespace_args(&self) -> Vec<String> {
        [
            "--unshare-all",
            "--share-net",
            "--unshare-user",
            "--uid",
            &SANDBOX_UID.to_string(),
            "--gid",
            &SANDBOX_UID.to_string(),
            "--cap-drop",
            "ALL",
            "--die-with-parent",
            "--hostname",
            "taskyard",
        ]
        .iter()
        .map(|s| s.to_string())
        .collect()
    }

    /// `passwd` and `group` naming the sandbox's user, so tools that ask who they are
    /// (ssh, git, npm) get an answer.
    fn identity_args(&self, conf: &Confinement) -> io::Result<Vec<String>> {
        std::fs::create_dir_all(&conf.etc_dir)?;
        let passwd = conf.etc_dir.join("passwd");
        let group = conf.etc_dir.join("group");
        std::fs::write(
            &passwd,
            format!(
                "root:x:0:0:root:/root:/usr/sbin/nologin\nagent:x:{SANDBOX_UID}:{SANDBOX_UID}:Taskyard agent:{}:/bin/sh\n\
                 nobody:x:65534:65534:nobody:/nonexistent:/usr/sbin/nologin\n",
                conf.home.display()
            ),
        )?;
        std::fs::write(&group, format!("root:x:0:\nagent:x:{SANDBOX_UID}:\nnogroup:x:65534:\n"))?;
        let mut args = Vec::new();
        for (file, at) in [(passwd, "/etc/passwd"), (group, "/etc/group")] {
            args.extend(["--ro-bind".into(), file.display().to_string(), at.into()]);
        }
        Ok(args)
    }
}

fn bind(how: &str, path: &Path) -> [String; 3] {
    [how.into(), path.display().to_string(), path.display().to_string()]
}

/// The system as every sandbox sees it: system directories and the listed `/etc` entries
/// read-only, a private `/proc` (its own processes only), a minimal `/dev`, empty `/tmp`.
fn system_args() -> Vec<String> {
    let mut args = Vec::new();
    for dir in SYSTEM_DIRS {
        let path = Path::new(dir);
        match std::fs::symlink_metadata(path) {
            Ok(m) if m.file_type().is_symlink() => {
                if let Ok(target) = std::fs::read_link(path) {
                    args.extend(["--symlink".into(), target.display().to_string(), dir.to_string()]);
                }
            }
            Ok(_) => args.extend(bind("--ro-bind", path)),
            Err(_) => {}
        }
    }
    for entry in ETC_ENTRIES {
        let path = Path::new("/etc").join(entry);
        if path.exists() {
            args.extend(bind("--ro-bind", &path));
        }
    }
    args.extend(
        ["--proc", "/proc", "--dev", "/dev", "--tmpfs", "/tmp", "--tmpfs", "/var/tmp", "--tmpfs", "/run"]
            .map(String::from),
    );
    args
}

/// Whether `path` lies in a system directory every sandbox sees anyway.
fn in_system_dirs(path: &Path) -> bool {
    SYSTEM_DIRS.iter().any(|d| path.starts_with(d))
}

/// Whether `program` (as given and as its canonical target) is seen inside: in a system
/// directory or one of the `shown` folders.
fn is_shown(program: &Path, shown: &[PathBuf]) -> bool {
    let canonical = std::fs::canonicalize(program).unwrap_or_else(|_| program.to_path_buf());
    [program, canonical.as_path()]
        .iter()
        .all(|p| in_system_dirs(p) || shown.iter().any(|dir| p.starts_with(dir)))
}

/// The folders to show for programs and PATH entries outside the system directories: a
/// program inside a `node_modules` folder needs that whole folder (its `.bin` entries are
/// symlinks into the packages beside them), anything else its own folder. Both the path as
/// given (the one the agent uses) and its canonical target are shown.
fn program_roots(paths: &[PathBuf]) -> Vec<PathBuf> {
    let mut roots: Vec<PathBuf> = Vec::new();
    for given in paths {
        let canonical = std::fs::canonicalize(given).ok();
        for path in std::iter::once(given.clone()).chain(canonical) {
            if !path.is_absolute() || in_system_dirs(&path) || !path.exists() {
                continue;
            }
            let root = node_modules_root(&path).unwrap_or_else(|| {
                if path.is_dir() {
                    path.clone()
                } else {
                    path.parent().map(Path::to_path_buf).unwrap_or(path.clone())
                }
            });
            if root != Path::new("/") && !roots.iter().any(|r| root.starts_with(r)) {
                roots.retain(|r| !r.starts_with(&root));
                roots.push(root);
            }
        }
    }
    roots
}

/// The outermost `node_modules` folder on `path`, if any.
fn node_modules_root(path: &Path) -> Option<PathBuf> {
    let mut root = PathBuf::new();
    for part in path.components() {
        root.push(part);
        if part.as_os_str() == "node_modules" {
            return Some(root);
        }
    }
    None
}

/// The binds git needs for a linked worktree, and no more: in the repository's common
/// directory only `objects`, `refs` and `logs` are writable (commits and branches), and in
/// the worktree's own metadata everything but the files that say where the repository is.
///
/// Everything Taskyard's own git work (outside the sandbox, as the server) reads to find a
/// repository stays read-only: the worktree's `.git` file, its metadata's `commondir` and
/// `gitdir`, the common directory's top level (where a planted `commondir` would send the
/// project's repository elsewhere), `config`, `hooks`, `info`, the other worktrees'
/// metadata and `objects/info` (alternates would lend the repository another one's
/// objects). Made missing folders first, so they can be shown read-only.
fn git_args(worktree: &Path) -> Vec<String> {
    let Some(own) = linked_git_dir(worktree) else { return Vec::new() };
    let common = std::fs::read_to_string(own.join("commondir"))
        .ok()
        .map(|c| own.join(c.trim()))
        .and_then(|p| std::fs::canonicalize(p).ok());
    let Some(common) = common else { return Vec::new() };
    for dir in ["objects/info", "refs", "logs"] {
        let _ = std::fs::create_dir_all(common.join(dir));
    }
    let mut args = Vec::from(bind("--ro-bind", &common));
    for writable in ["objects", "refs", "logs"] {
        args.extend(bind("--bind", &common.join(writable)));
    }
    args.extend(bind("--ro-bind", &common.join("objects/info")));
    args.extend(bind("--bind", &own));
    let pointers = [own.join("commondir"), own.join("gitdir"), worktree.join(".git")];
    for file in pointers.iter().filter(|f| f.is_file()) {
        args.extend(bind("--ro-bind", file));
    }
    args
}

/// The git directory a linked worktree's `.git` file points at.
fn linked_git_dir(worktree: &Path) -> Option<PathBuf> {
    let text = std::fs::read_to_string(worktree.join(".git")).ok()?;
    let dir = text.strip_prefix("gitdir:")?.trim();
    let dir = if Path::new(dir).is_absolute() { PathBuf::from(dir) } else { worktree.join(dir) };
    std::fs::canonicalize(dir).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn programs_in_node_modules_bring_the_whole_folder() {
        let dir = tempfile::tempdir().unwrap();
        let nm = dir.path().join("tools/claude/node_modules");
        std::fs::create_dir_all(nm.join(".bin")).unwrap();
        std::fs::create_dir_all(nm.join("pkg/bin")).unwrap();
        std::fs::write(nm.join("pkg/bin/cli"), "").unwrap();
        std::os::unix::fs::symlink("../pkg/bin/cli", nm.join(".bin/cli")).unwrap();
        let other = dir.path().join("bin");
        std::fs::create_dir_all(&other).unwrap();
        let roots = program_roots(&[nm.join(".bin/cli"), nm.join(".bin"), other.clone(), "/usr/bin".into()]);
        let nm = std::fs::canonicalize(&nm).unwrap();
        let other = std::fs::canonicalize(&other).unwrap();
        assert!(roots.iter().any(|r| std::fs::canonicalize(r).unwrap() == nm), "{roots:?}");
        assert!(roots.iter().any(|r| std::fs::canonicalize(r).unwrap() == other), "{roots:?}");
        assert!(!roots.iter().any(|r| r.starts_with("/usr")), "{roots:?}");
    }
}

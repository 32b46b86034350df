//! The Taskyard desktop app: see the crate's library.

fn main() -> std::process::ExitCode {
    taskyard_desktop::main()
}

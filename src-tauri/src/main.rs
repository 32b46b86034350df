//! taskyard-desktop: the desktop shell. Until the window lands it starts the same command line
//! as the `taskyard` binary, linked in-process, so the desktop build exercises the server crate.

fn main() -> std::process::ExitCode {
    taskyard_server::cli::main()
}

//! The `taskyard` binary: parses the command line and hands over to the library.

fn main() -> std::process::ExitCode {
    taskyard_server::cli::main()
}

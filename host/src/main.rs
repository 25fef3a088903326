//! The `gatehouse` binary: a thin shell over [`gatehouse::cli`].

fn main() -> std::process::ExitCode {
    gatehouse::cli::main()
}

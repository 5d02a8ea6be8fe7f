//! The `patina` binary: parse the command line and hand over to [`patina::cli`].
#![forbid(unsafe_code)]

fn main() {
    std::process::exit(patina::cli::main());
}

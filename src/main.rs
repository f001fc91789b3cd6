fn main() -> std::process::ExitCode {
    kubeharden::cli::main()
}

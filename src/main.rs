fn main() -> std::process::ExitCode {
    pad_heap();
    kubeharden::cli::main()
}

/// Has glibc's allocator keep 64 MiB to spare at the top of each heap it grows. By default it
/// gives memory back once 128 KiB at the top are free and asks for it again with the next
/// batch of documents; in a stream whose every document is edited, what is kept of each
/// document (its edits and findings) stays scattered among what was freed, and that churn
/// took a sixth of `fix`'s time (32,000 edited Deployments, one core: 5.2 s → 4.4 s, 15 MB
/// more at peak; the 50 MB corpus stream and the corpus unchanged). Spare memory never
/// touched is address space only.
#[cfg(all(target_os = "linux", target_env = "gnu"))]
fn pad_heap() {
    // SAFETY: mallopt sets one of the allocator's parameters, before any other thread runs.
    unsafe {
        libc::mallopt(libc::M_TOP_PAD, 64 << 20);
    }
}

/// Elsewhere the allocator's own defaults stand.
#[cfg(not(all(target_os = "linux", target_env = "gnu")))]
fn pad_heap() {}

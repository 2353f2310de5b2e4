//! Giving memory back to the system between rounds.

/// Returns the allocator's free memory to the system. glibc keeps what a sync round
/// freed in per-thread arenas, so a daemon that synced a few thousand orders would
/// otherwise sit on that much memory until its next round.
pub fn release_free_memory() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: malloc_trim only walks the allocator's own free lists.
    unsafe {
        libc::malloc_trim(0);
    }
}

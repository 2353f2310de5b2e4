//! Giving memory back to the system between rounds.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

/// How long a connection to 1688 or to the database may stay idle before it is closed.
/// Within a round, calls and writes follow one another closely; between rounds (a minute
/// or more apart) a kept connection only holds its buffers, which grew to the size of an
/// order-list page, and gateways close idle connections on their side anyway.
pub const IDLE_CONNECTION_TIMEOUT: Duration = Duration::from_secs(15);

/// After the last round, how long until the idle connections are surely closed: their
/// timeout, plus the interval at which the pools look for them (the timeout again).
pub const SETTLE_AFTER_ROUND: Duration =
    Duration::from_secs(2 * IDLE_CONNECTION_TIMEOUT.as_secs() + 5);

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

/// Rounds ended so far: a settling trim only runs if no round ended after it was planned.
static ROUNDS_ENDED: AtomicU64 = AtomicU64::new(0);

/// Called when a round ends: frees memory now, and once more when the daemon has been
/// quiet for [`SETTLE_AFTER_ROUND`] (the memory of the connections closed meanwhile).
pub fn round_ended() {
    release_free_memory();
    let round = ROUNDS_ENDED.fetch_add(1, Ordering::Relaxed) + 1;
    tokio::spawn(async move {
        tokio::time::sleep(SETTLE_AFTER_ROUND).await;
        if ROUNDS_ENDED.load(Ordering::Relaxed) == round {
            release_free_memory();
        }
    });
}

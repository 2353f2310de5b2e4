//! Holding an account's lease while syncing it: claimed with one conditional statement,
//! renewed in the background at a third of its lifetime, released at the end. When a
//! renewal finds the lease gone, the run is cancelled; the fence in every page's
//! transaction makes sure nothing was written after the loss.

use std::sync::Arc;
use std::time::Duration;

use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

use crate::store::{Fence, Store, StoreResult};

pub struct LeaseKeeper {
    store: Arc<dyn Store>,
    fence: Fence,
    lost: CancellationToken,
    renewer: JoinHandle<()>,
}

impl LeaseKeeper {
    /// Claims the lease of `account` for `owner`; `None` when another owner holds it.
    pub async fn claim(
        store: Arc<dyn Store>,
        account: &str,
        owner: &str,
        ttl: Duration,
    ) -> StoreResult<Option<Self>> {
        let Some(lease) = store.try_claim_lease(account, owner, ttl).await? else {
            return Ok(None);
        };
        let fence = lease.fence;
        let lost = CancellationToken::new();
        let renewer = tokio::spawn(renew(store.clone(), fence.clone(), ttl, lost.clone()));
        tracing::debug!(
            account,
            owner,
            generation = fence.generation,
            "lease claimed"
        );
        Ok(Some(LeaseKeeper {
            store,
            fence,
            lost,
            renewer,
        }))
    }

    pub fn fence(&self) -> &Fence {
        &self.fence
    }

    /// A token for the run: cancelled with `parent` (shutdown) or when the lease is lost.
    pub fn run_token(&self, parent: &CancellationToken) -> CancellationToken {
        let token = parent.child_token();
        let (lost, run) = (self.lost.clone(), token.clone());
        tokio::spawn(async move {
            tokio::select! {
                _ = lost.cancelled() => run.cancel(),
                _ = run.cancelled() => {}
            }
        });
        token
    }

    /// Stops renewing and gives the lease up so that another instance may take it at once.
    pub async fn release(self) {
        self.renewer.abort();
        if let Err(e) = self.store.release_lease(&self.fence).await {
            // It expires by itself.
            tracing::warn!(account = %self.fence.account, error = %e, "cannot release the lease");
        }
    }
}

impl Drop for LeaseKeeper {
    fn drop(&mut self) {
        self.renewer.abort();
    }
}

async fn renew(store: Arc<dyn Store>, fence: Fence, ttl: Duration, lost: CancellationToken) {
    let period = (ttl / 3).max(Duration::from_millis(500));
    let mut deadline = tokio::time::Instant::now() + ttl;
    loop {
        tokio::time::sleep(period).await;
        match store.renew_lease(&fence, ttl).await {
            Ok(Some(_)) => deadline = tokio::time::Instant::now() + ttl,
            Ok(None) => {
                tracing::warn!(account = %fence.account, "the lease was lost to another instance; stopping the run");
                lost.cancel();
                return;
            }
            // A database hiccup: keep trying until the lease would have expired anyway.
            Err(e) if tokio::time::Instant::now() < deadline => {
                tracing::warn!(account = %fence.account, error = %e, "cannot renew the lease; retrying");
            }
            Err(e) => {
                tracing::warn!(account = %fence.account, error = %e, "the lease expired while the database was unreachable");
                lost.cancel();
                return;
            }
        }
    }
}

//! (in progress)
use super::StoreResult;
pub struct SqliteStore;
impl SqliteStore {
    pub async fn connect(_url: &str, _max: u32) -> StoreResult<Self> {
        unimplemented!()
    }
}

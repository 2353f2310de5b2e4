//! (in progress)
use super::StoreResult;
pub struct PostgresStore;
impl PostgresStore {
    pub async fn connect(_url: &str, _max: u32) -> StoreResult<Self> {
        unimplemented!()
    }
}

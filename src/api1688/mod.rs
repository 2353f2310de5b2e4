//! The 1688 Open API client: signing, tokens, typed calls, errors, rate limit.

pub mod signing;
pub mod time;

//! Injected failures: what a client meets between it and the 1688 backend.

use std::time::Duration;

/// A one-shot failure for the next business API call (any call that needs an access
/// token; token and `system` calls are never hit). Queue them with
/// [`super::SandboxHandle::push_faults`]; they apply in order, one per call.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Fault {
    /// HTTP 502 with a `text/html` page, as Alibaba's Tengine proxies answer when the
    /// backend is unreachable.
    BadGateway,
    /// HTTP 400 `gw.QosAppFrequencyLimit`, as if the app's QPS were exhausted.
    RateLimited,
    /// HTTP 500 with a gateway-style JSON body (`error_code` `"500"`).
    ServerError,
    /// HTTP 200 whose JSON body is cut in half (the real answer, truncated; the
    /// `Content-Length` matches the cut body).
    TruncatedJson,
    /// Waits this long, then answers normally: longer than a client's timeout, it is a
    /// timeout. On reads the wait comes before the work; on the calls that change
    /// orders (`fastCreateOrder`, `createCrossOrder`, `cancel`) it comes after the
    /// work, before the answer: the order is created (or cancelled) even though the
    /// client times out, which is the case an `outOrderId` lookup must handle.
    Delay(Duration),
    /// HTTP 401 exactly as for an expired access token.
    Unauthorized,
    /// An order-list page that holds only half of its orders while `totalRecord` still
    /// counts them all (other APIs answer normally).
    ShortPage,
}

/// The page Alibaba's Tengine front ends serve for a 502.
pub(crate) const BAD_GATEWAY_HTML: &str = "<html>\r\n<head><title>502 Bad Gateway</title></head>\r\n<body>\r\n\
<center><h1>502 Bad Gateway</h1></center>\r\n<hr><center>Tengine</center>\r\n</body>\r\n</html>\r\n";

//! A TCP proxy on 127.0.0.1 in front of a server (PostgreSQL), to make the server go
//! away and come back while the process under test keeps its configuration.
//!
//! - `cut()` drops every proxied connection and closes new ones as soon as they are
//!   accepted (a client sees its connection end before the server greets it);
//! - `stall()` keeps every connection open but forwards nothing, old or new (a server
//!   that hangs, or a network that drops packets);
//! - `restore()` lets connections through again (stalled ones are closed).

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use tokio::net::{TcpListener, TcpStream};
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

pub struct TcpProxy {
    addr: SocketAddr,
    inner: Arc<Inner>,
    acceptor: JoinHandle<()>,
}

struct Inner {
    upstream: SocketAddr,
    mode: Mutex<Mode>,
}

/// Each token ends the connections of its mode when the mode changes.
#[derive(Clone)]
enum Mode {
    Open(CancellationToken),
    Cut,
    Stalled(CancellationToken),
}

impl TcpProxy {
    /// Listens on 127.0.0.1 (a free port) and forwards to `upstream`.
    pub async fn start(upstream: SocketAddr) -> TcpProxy {
        let listener = TcpListener::bind(("127.0.0.1", 0))
            .await
            .expect("TcpProxy: cannot listen on 127.0.0.1");
        let addr = listener
            .local_addr()
            .expect("a bound listener has an address");
        let inner = Arc::new(Inner {
            upstream,
            mode: Mutex::new(Mode::Open(CancellationToken::new())),
        });
        let acceptor = tokio::spawn(accept(listener, inner.clone()));
        TcpProxy {
            addr,
            inner,
            acceptor,
        }
    }

    /// Where clients connect.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// Drops every connection and refuses new ones until [`TcpProxy::restore`].
    pub fn cut(&self) {
        self.switch(Mode::Cut);
    }

    /// Forwards nothing more, keeping connections open, until [`TcpProxy::restore`].
    pub fn stall(&self) {
        self.switch(Mode::Stalled(CancellationToken::new()));
    }

    pub fn restore(&self) {
        if matches!(*self.inner.mode.lock().unwrap(), Mode::Open(_)) {
            return;
        }
        self.switch(Mode::Open(CancellationToken::new()));
    }

    fn switch(&self, to: Mode) {
        let from = std::mem::replace(&mut *self.inner.mode.lock().unwrap(), to);
        match from {
            Mode::Open(token) | Mode::Stalled(token) => token.cancel(),
            Mode::Cut => {}
        }
    }
}

impl Drop for TcpProxy {
    fn drop(&mut self) {
        self.cut();
        self.acceptor.abort();
    }
}

async fn accept(listener: TcpListener, inner: Arc<Inner>) {
    loop {
        let Ok((client, _)) = listener.accept().await else {
            continue;
        };
        let mode = inner.mode.lock().unwrap().clone();
        match mode {
            Mode::Open(open) => {
                tokio::spawn(forward(client, inner.clone(), open));
            }
            // Dropping the accepted socket closes it at once.
            Mode::Cut => drop(client),
            Mode::Stalled(stalled) => {
                tokio::spawn(async move {
                    stalled.cancelled().await;
                    drop(client);
                });
            }
        }
    }
}

async fn forward(mut client: TcpStream, inner: Arc<Inner>, open: CancellationToken) {
    let Ok(mut server) = TcpStream::connect(inner.upstream).await else {
        return;
    };
    tokio::select! {
        _ = open.cancelled() => {}
        _ = tokio::io::copy_bidirectional(&mut client, &mut server) => return,
    }
    let mode = inner.mode.lock().unwrap().clone();
    if let Mode::Stalled(stalled) = mode {
        stalled.cancelled().await;
    }
}

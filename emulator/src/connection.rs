//! The accept loop. It is written by hand (instead of `axum::serve`) so that a handler can kill
//! its own TCP connection with a reset: that is how the "connection reset mid-body" and "stall"
//! faults reach the client as real network errors.

use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use hyper::body::Incoming;
use hyper_util::rt::TokioIo;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{watch, Notify};
use tokio::task::JoinSet;
use tower::ServiceExt;

/// Per-connection handle, put into every request's extensions.
#[derive(Clone, Debug, Default)]
pub struct ConnectionControl {
    kill: Arc<Notify>,
}

impl ConnectionControl {
    /// Drops the connection with a TCP reset as soon as possible.
    pub fn kill(&self) {
        self.kill.notify_one();
    }
}

/// Accepts connections until `shutdown` flips, then aborts every open connection.
pub async fn accept_loop(
    listener: TcpListener,
    router: Router,
    mut shutdown: watch::Receiver<bool>,
) {
    let mut connections = JoinSet::new();
    loop {
        tokio::select! {
            accepted = listener.accept() => {
                match accepted {
                    Ok((stream, _)) => {
                        connections.spawn(serve_connection(stream, router.clone()));
                    }
                    // Running out of file descriptors and the like: back off instead of spinning.
                    Err(_) => tokio::time::sleep(Duration::from_millis(50)).await,
                }
            }
            // Reap finished connections so the set does not grow without bound.
            Some(_) = connections.join_next(), if !connections.is_empty() => {}
            _ = stopped(&mut shutdown) => break,
        }
    }
    connections.shutdown().await;
}

/// Resolves once the shutdown flag is set (or its sender is gone).
pub async fn stopped(shutdown: &mut watch::Receiver<bool>) {
    let _ = shutdown.wait_for(|stopping| *stopping).await;
}

async fn serve_connection(stream: TcpStream, router: Router) {
    let _ = stream.set_nodelay(true);
    // A second handle on the same socket, kept to set SO_LINGER=0 before closing on a kill,
    // which makes the kernel send RST instead of FIN.
    let Ok(std_stream) = stream.into_std() else {
        return;
    };
    let Ok(killer_handle) = std_stream.try_clone() else {
        return;
    };
    let Ok(stream) = TcpStream::from_std(std_stream) else {
        return;
    };

    let control = ConnectionControl::default();
    let kill = control.kill.clone();
    let service = hyper::service::service_fn(move |mut request: hyper::Request<Incoming>| {
        request.extensions_mut().insert(control.clone());
        router.clone().oneshot(request.map(axum::body::Body::new))
    });
    let connection = hyper::server::conn::http1::Builder::new()
        .keep_alive(true)
        .serve_connection(TokioIo::new(stream), service);
    tokio::select! {
        _ = connection => {}
        _ = kill.notified() => {
            let _ = socket2::SockRef::from(&killer_handle).set_linger(Some(Duration::ZERO));
            // Dropping `connection` (the select's other branch) and `killer_handle` closes the
            // last descriptors of the socket.
        }
    }
}

//! Serves the routes on a bound listener until shutdown, then drains with a bounded wait.

use std::convert::Infallible;
use std::sync::Arc;
use std::time::Duration;

use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::server::graceful::GracefulShutdown;
use tokio::net::TcpListener;
use tokio::sync::Semaphore;
use tokio_util::sync::CancellationToken;
use tracing::warn;

use super::limits::{
    DRAIN_TIMEOUT, HEADER_READ_TIMEOUT, MAX_CONNECTIONS, MAX_HEADER_BYTES, RESERVED_CONNECTIONS,
};
use super::routes::{Router, Surface};

/// Accepts connections on `listener` and answers them with `router` until `shutdown` fires.
pub async fn serve(
    listener: TcpListener,
    surface: Surface,
    router: Router,
    shutdown: CancellationToken,
) {
    let graceful = GracefulShutdown::new();
    let slots = Arc::new(Semaphore::new(MAX_CONNECTIONS));
    let reserve = Arc::new(Semaphore::new(RESERVED_CONNECTIONS));
    loop {
        // A connection takes a full slot while one is free, a reserved one otherwise.
        let (permit, surface) = tokio::select! {
            biased;
            _ = shutdown.cancelled() => break,
            permit = slots.clone().acquire_owned() => (permit, surface),
            permit = reserve.clone().acquire_owned() => (permit, surface.reserved()),
        };
        let permit = permit.expect("semaphores are never closed");
        let stream = tokio::select! {
            _ = shutdown.cancelled() => break,
            accepted = listener.accept() => match accepted {
                Ok((stream, _)) => stream,
                Err(e) => {
                    // EMFILE and friends: back off briefly instead of spinning.
                    warn!(error = %e, "accept failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
        };
        let router = router.clone();
        let service = service_fn(move |request| {
            let router = router.clone();
            async move { Ok::<_, Infallible>(router.handle(surface, request).await) }
        });
        let connection = http1::Builder::new()
            .timer(TokioTimer::new())
            .header_read_timeout(HEADER_READ_TIMEOUT)
            .max_buf_size(MAX_HEADER_BYTES)
            .serve_connection(TokioIo::new(stream), service);
        let connection = graceful.watch(connection);
        tokio::spawn(async move {
            // Client resets and timeouts are the client's business, not a log line.
            let _ = connection.await;
            drop(permit);
        });
    }
    drop(listener);
    let _ = tokio::time::timeout(DRAIN_TIMEOUT, graceful.shutdown()).await;
}

//! `sessionguard healthcheck`: the ECS `healthCheck` command for an image with no shell or curl.
//!
//! GETs `/readyz` (or `/healthz` with `--live`) on the `--listen` address and exits 0 on 200, 1
//! otherwise, always within [`TIMEOUT`].

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::time::Duration;

/// ECS health checks time out after a few seconds; answer well within that.
pub const TIMEOUT: Duration = Duration::from_secs(2);

/// The URL to probe for a daemon listening on `listen`: a wildcard address is probed on loopback.
pub fn url_for(listen: SocketAddr, live: bool) -> String {
    let ip = match listen.ip() {
        IpAddr::V4(ip) if ip.is_unspecified() => IpAddr::V4(Ipv4Addr::LOCALHOST),
        IpAddr::V6(ip) if ip.is_unspecified() => IpAddr::V6(Ipv6Addr::LOCALHOST),
        ip => ip,
    };
    let path = if live { "/healthz" } else { "/readyz" };
    format!("http://{}{path}", SocketAddr::new(ip, listen.port()))
}

/// Probes `url`; returns the exit code and says why on stderr when unhealthy.
pub async fn healthcheck(url: &str) -> i32 {
    match crate::http_client::get(url, &[], TIMEOUT).await {
        Ok((200, _)) => 0,
        Ok((status, body)) => {
            eprintln!(
                "{url} answered {status}: {}",
                String::from_utf8_lossy(&body).trim()
            );
            1
        }
        Err(e) => {
            eprintln!("{url}: {}", crate::text::error_chain(&e));
            1
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A daemon on 0.0.0.0 (ECS metrics listener) is probed on loopback.
    #[test]
    fn wildcard_listen_is_probed_on_loopback() {
        assert_eq!(
            url_for("0.0.0.0:9780".parse().unwrap(), false),
            "http://127.0.0.1:9780/readyz"
        );
        assert_eq!(
            url_for("[::]:9780".parse().unwrap(), true),
            "http://[::1]:9780/healthz"
        );
        assert_eq!(
            url_for("127.0.0.1:9780".parse().unwrap(), true),
            "http://127.0.0.1:9780/healthz"
        );
    }
}

//! One small plain-HTTP GET, for the loopback and link-local endpoints sessionguard reads itself:
//! the container credentials endpoint (diagnosis), ECS task metadata, and its own `/readyz`.

use std::time::Duration;

use bytes::Bytes;
use http_body_util::{BodyExt, Empty, Limited};
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;

/// Bodies these endpoints return are small; anything larger is not what we asked for.
const MAX_BODY: usize = 256 * 1024;

/// Why a GET produced no answer.
#[derive(Debug, thiserror::Error)]
pub enum GetError {
    #[error("invalid request: {0}")]
    Request(String),
    #[error("no answer within {}", humantime::format_duration(*.0))]
    TimedOut(Duration),
    #[error("request failed")]
    Transport(#[source] hyper_util::client::legacy::Error),
    #[error("reading the body failed: {0}")]
    Body(String),
}

/// GETs `uri` (plain `http://`) with optional headers, bounded by `timeout`; returns status and body.
pub async fn get(
    uri: &str,
    headers: &[(http::HeaderName, http::HeaderValue)],
    timeout: Duration,
) -> Result<(u16, Bytes), GetError> {
    let mut request = http::Request::get(uri);
    for (name, value) in headers {
        request = request.header(name, value);
    }
    let request = request
        .body(Empty::<Bytes>::new())
        .map_err(|e| GetError::Request(e.to_string()))?;
    let client = Client::builder(TokioExecutor::new()).build_http::<Empty<Bytes>>();
    let exchange = async {
        let response = client.request(request).await.map_err(GetError::Transport)?;
        let status = response.status().as_u16();
        let body = Limited::new(response.into_body(), MAX_BODY)
            .collect()
            .await
            .map_err(|e| GetError::Body(e.to_string()))?
            .to_bytes();
        Ok((status, body))
    };
    tokio::time::timeout(timeout, exchange)
        .await
        .map_err(|_| GetError::TimedOut(timeout))?
}

//! sessionguard: a sidecar that watches the task role session and makes its lifetime visible.
//!
//! A URL presigned with temporary credentials dies when their session dies, whatever its
//! `X-Amz-Expires` says. sessionguard resolves the task's credentials every interval, logs the time
//! left, exports it to Prometheus and answers health and status questions about it.
//!
//! # Layout
//! - [`config`]: flags, env vars and the validated [`Config`].
//! - [`clock`]: the injected wall clock and time formatting.
//! - [`credentials`]: one bounded credential check and what it found.
//! - [`diagnose`]: the container endpoint's own explanation of a failed check.
//! - [`task_metadata`]: the ECS task this sidecar runs in (cluster, family, task id).
//! - [`http_client`]: one plain-HTTP GET for the endpoints the daemon reads itself.
//! - [`identity`]: STS `GetCallerIdentity` for the role ARN and account.
//! - [`state`]: the facts shared by the monitor and HTTP; readiness and the status view.
//! - [`monitor`]: the check loop and its one log line per check.
//! - [`metrics`]: the Prometheus registry and the scrape-time session collector.
//! - [`policy`]: the `--presign-allow` rules; [`presign`]: the guard that signs only what the
//!   session outlives, with aws-sdk-s3.
//! - [`signing`]: signing credentials of their own, from STS AssumeRole or Secrets Manager.
//! - [`routes`]: every HTTP route; [`server`]: serving them with graceful shutdown.
//! - [`logging`]: text or flat JSON log lines.
//! - [`status`], [`presign_command`] and [`healthcheck`]: the one-shot commands; [`demo`] and [`ecs_endpoint`]: the
//!   demo and its endpoint.
//! - [`shutdown`]: SIGTERM/SIGINT to one cancel signal.

pub mod clock;
pub mod config;
pub mod credentials;
pub mod demo;
pub mod diagnose;
pub mod ecs_endpoint;
pub mod healthcheck;
pub mod http_client;
pub mod identity;
pub mod logging;
pub mod metrics;
pub mod monitor;
pub mod policy;
pub mod presign;
pub mod presign_command;
pub mod routes;
pub mod server;
pub mod shutdown;
pub mod signing;
pub mod state;
pub mod status;
pub mod task_metadata;

use std::sync::Arc;

use aws_config::{BehaviorVersion, SdkConfig};
use aws_credential_types::provider::SharedCredentialsProvider;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;
use tracing::info;

pub use config::Config;

use crate::clock::Clock;
use crate::identity::IdentityLookup;
use crate::metrics::Metrics;
use crate::monitor::Monitor;
use crate::policy::Policy;
use crate::presign::{Guard, Signer};
use crate::routes::{Router, Surface};
use crate::signing::Signing;
use crate::state::Session;

/// Bound listeners: tests bind `127.0.0.1:0` and pass them in.
pub struct Listeners {
    /// `--listen`: API, metrics and health.
    pub api: TcpListener,
    /// `--metrics-listen`: metrics and health only.
    pub metrics: Option<TcpListener>,
}

impl Listeners {
    /// Binds the addresses of `config`.
    pub async fn bind(config: &Config) -> std::io::Result<Self> {
        let api = TcpListener::bind(config.listen).await?;
        let metrics = match config.metrics_listen {
            Some(addr) => Some(TcpListener::bind(addr).await?),
            None => None,
        };
        Ok(Listeners { api, metrics })
    }
}

/// Errors that stop the daemon before it serves.
#[derive(Debug, thiserror::Error)]
pub enum RunError {
    #[error("aws-config built no credentials provider")]
    NoCredentialsProvider,
    #[error("cannot read the listener address")]
    Listener(#[source] std::io::Error),
    #[error("presigning needs an AWS region: set --region (env SESSIONGUARD_REGION) or AWS_REGION")]
    NoRegion,
}

/// The signer for the configured region and S3 endpoint: the flags first, then the SDK's
/// configuration (`AWS_REGION`, `AWS_ENDPOINT_URL_S3`).
pub fn signer(sdk: &SdkConfig, signing: &config::SigningConfig) -> Result<Signer, RunError> {
    let region = match &signing.region {
        Some(r) => r.clone(),
        None => sdk
            .region()
            .map(|r| r.to_string())
            .ok_or(RunError::NoRegion)?,
    };
    Ok(Signer::new(
        region,
        Signer::endpoint_url_from(sdk),
        signing.force_path_style,
    ))
}

/// Loads aws-config's defaults (region, endpoints, the default credentials chain).
pub async fn load_aws() -> SdkConfig {
    aws_config::defaults(BehaviorVersion::latest()).load().await
}

/// The default chain's provider: not cached, so every call asks the endpoint afresh.
pub fn credentials_provider(sdk: &SdkConfig) -> Result<SharedCredentialsProvider, RunError> {
    sdk.credentials_provider()
        .ok_or(RunError::NoCredentialsProvider)
}

/// Runs the daemon until `shutdown` is cancelled, then drains HTTP and returns.
pub async fn run(
    config: &Config,
    listeners: Listeners,
    shutdown: CancellationToken,
) -> Result<(), RunError> {
    let sdk = load_aws().await;
    let clock = clock::system();
    run_with(config, &sdk, clock, listeners, shutdown).await
}

/// [`run`] with the AWS configuration and clock supplied.
pub async fn run_with(
    config: &Config,
    sdk: &SdkConfig,
    clock: Clock,
    listeners: Listeners,
    shutdown: CancellationToken,
) -> Result<(), RunError> {
    let provider = credentials_provider(sdk)?;
    let session = Session::new(clock.clone());
    let limits = config.signing.limits;
    let metrics = Metrics::new(session.clone(), limits);
    match task_metadata::load().await {
        Ok(Some(task)) => {
            logging::set_context(vec![
                ("cluster".into(), task.cluster.clone().into()),
                ("task_family".into(), task.family.clone().into()),
                ("task_revision".into(), task.revision.clone().into()),
                ("task_id".into(), task.task_id.clone().into()),
            ]);
            metrics.set_task(&task);
        }
        Ok(None) => {}
        Err(e) => tracing::warn!(
            error = %credentials::error_chain(&e),
            "task metadata unavailable; log lines will not name the task"
        ),
    }
    let monitor = Arc::new(Monitor {
        provider,
        identity: config
            .identity
            .then(|| IdentityLookup::new(sdk.clone(), clock.clone())),
        session: session.clone(),
        metrics: metrics.clone(),
        interval: config.interval,
        check_timeout: config.check_timeout,
        warn_below: config.warn_below,
    });
    // Without allow rules presigning is off, and a missing region is no reason not to start.
    let signer = match signer(sdk, &config.signing) {
        Err(RunError::NoRegion) if config.presign_allow.is_empty() => {
            Signer::new(String::new(), None, false)
        }
        other => other?,
    };
    let signing = Signing::new(
        &config.source,
        sdk,
        session.clone(),
        clock.clone(),
        config.check_timeout,
        metrics.signing_refreshes(),
    );
    if let Some(signing) = &signing {
        metrics.set_signing(signing.clone());
    }
    let guard = Arc::new(Guard {
        session: session.clone(),
        monitor: Some(monitor.clone()),
        refresh: Default::default(),
        signing: signing.clone(),
        signer,
        policy: Policy::AllowList(config.presign_allow.clone()),
        limits,
    });
    let router = Router {
        session: session.clone(),
        metrics: metrics.clone(),
        ready_min_remaining: config.ready_min_remaining,
        guard,
    };
    let api_addr = listeners.api.local_addr().map_err(RunError::Listener)?;
    let metrics_addr = match &listeners.metrics {
        Some(l) => Some(l.local_addr().map_err(RunError::Listener)?),
        None => None,
    };
    info!(
        version = env!("CARGO_PKG_VERSION"),
        listen = %api_addr,
        metrics_listen = metrics_addr.map(|a| a.to_string()),
        interval = %humantime::format_duration(config.interval),
        check_timeout = %humantime::format_duration(config.check_timeout),
        warn_below = %humantime::format_duration(config.warn_below),
        identity = config.identity,
        signing_source = config.source.name(),
        presign_allow = %config
            .presign_allow
            .iter()
            .map(|r| r.to_string())
            .collect::<Vec<_>>()
            .join(","),
        "sessionguard started"
    );

    let mut tasks = tokio::task::JoinSet::new();
    tasks.spawn(server::serve(
        listeners.api,
        Surface::Api,
        router.clone(),
        shutdown.clone(),
    ));
    if let Some(listener) = listeners.metrics {
        tasks.spawn(server::serve(
            listener,
            Surface::MetricsOnly,
            router,
            shutdown.clone(),
        ));
    }
    tasks.spawn(monitor.run(shutdown.clone()));
    if let Some(signing) = signing {
        tasks.spawn(signing.run(config.interval, shutdown.clone()));
    }
    while tasks.join_next().await.is_some() {}
    Ok(())
}

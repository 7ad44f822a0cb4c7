//! sessionguard: a sidecar that watches the task role session and makes its lifetime visible.
//!
//! A URL presigned with temporary credentials dies when their session dies, whatever its
//! `X-Amz-Expires` says. sessionguard resolves the task's credentials every interval, logs the time
//! left, exports it to Prometheus and answers health and status questions about it.
//!
//! # Layout
//! The folders follow the data, from the credentials to the answers; lower ones never name higher
//! ones.
//! - [`clock`], [`text`], [`http_client`]: the injected wall clock and total time formatting; error
//!   chains and nullable log fields; one plain-HTTP GET.
//! - [`credentials`]: one bounded check of the task credentials, the endpoint's own diagnosis of a
//!   failure, and STS `GetCallerIdentity`.
//! - [`keylife`]: a signing key's life under rotation: the schedule, the secret's value and the
//!   promise the sidecar and the rotation function both keep.
//! - [`tracked`]: one mechanism for credentials we track (state, single-flight refresh with
//!   spacing, one line and one counter per attempt), with its sources: the task, an assumed role,
//!   a Secrets Manager key, a web identity session.
//! - [`presign`]: each request field declared once and every body read against its table, the
//!   allow-list, the decision (a plain function), the signer (aws-sdk-s3 rules + aws-sigv4) and
//!   the guard that ties them together.
//! - [`telemetry`]: log lines (text, JSON, EMF) through a pipe that never blocks a request,
//!   Prometheus metrics, the ECS task's metadata or the Kubernetes pod's Downward API labels (its
//!   identity).
//! - [`http`]: every route, every presign answer logged and counted in one place, and serving
//!   them with limits, reserved connections for health and metrics, and graceful shutdown.
//! - [`rotate`]: `rotate-keys`, the Secrets Manager rotation function of the presigner's keys,
//!   keeping the sidecar's promise from the side that deletes them.
//! - [`supervise`], [`shutdown`]: tasks that may not end unnoticed; SIGTERM/SIGINT to one signal.
//! - [`config`]: the validated configuration; [`cli`]: the flags that become it (the only clap).
//! - [`commands`]: `status`, `presign`, `healthcheck`, `iam-policy`; [`demo`]: the daemon against
//!   an embedded ECS credentials endpoint.

pub mod cli;
pub mod clock;
pub mod commands;
pub mod config;
pub mod credentials;
pub mod demo;
pub mod http;
pub mod http_client;
pub mod keylife;
pub mod presign;
pub mod rotate;
pub mod shutdown;
pub mod supervise;
pub mod telemetry;
pub mod text;
pub mod tracked;

use std::sync::Arc;

use aws_config::{BehaviorVersion, SdkConfig};
use aws_credential_types::provider::SharedCredentialsProvider;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;
use tracing::info;

pub use config::Config;

use crate::clock::Clock;
use crate::credentials::identity::IdentityLookup;
use crate::http::routes::{Router, Surface};
use crate::http::server;
use crate::presign::{AllowList, Guard, Signer};
use crate::supervise::{TaskEnded, Tasks};
use crate::telemetry::metrics::Metrics;
use crate::telemetry::{logging, pod, task_metadata};
use crate::tracked::Tracked;
use crate::tracked::task::{TaskCredentials, TaskSource};

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
    /// A supervised task ended before shutdown: the daemon exits so ECS replaces the task.
    #[error(transparent)]
    TaskEnded(#[from] TaskEnded),
}

/// The signer for the configured region and S3 endpoint: the flags first, then the SDK's
/// configuration (`AWS_REGION`, `AWS_ENDPOINT_URL_S3`).
pub fn signer(sdk: &SdkConfig, signing: &config::SigningConfig) -> Result<Signer, RunError> {
    let region = region(sdk, signing.region.as_deref()).ok_or(RunError::NoRegion)?;
    Ok(Signer::new(
        region,
        Signer::endpoint_url_from(sdk),
        signing.force_path_style,
    ))
}

/// The region URLs are signed for, and so the partition of every ARN `iam-policy` prints: the
/// `--region` flag (env `SESSIONGUARD_REGION`) first, then the SDK's region chain (`AWS_REGION`,
/// `AWS_DEFAULT_REGION`, the profile, instance metadata). `run`, `presign` and `iam-policy` all
/// resolve it here.
pub fn region(sdk: &SdkConfig, flag: Option<&str>) -> Option<String> {
    match flag {
        Some(r) => Some(r.to_string()),
        None => sdk.region().map(|r| r.to_string()),
    }
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
    let (task, signing) = tracked_credentials(config, sdk, clock)?;
    let metrics = Metrics::new(&task, &signing, config.signing.limits);
    name_the_task(&metrics).await;
    let router = router(config, sdk, &task, &signing, metrics)?;
    log_started(config, &listeners)?;
    supervise_until_shutdown(config, listeners, router, &task, signing, shutdown).await
}

/// The task credentials, and the credentials URLs are signed with (the task's own handle for
/// `--signing-source task`).
fn tracked_credentials(
    config: &Config,
    sdk: &SdkConfig,
    clock: Clock,
) -> Result<(TaskCredentials, Tracked), RunError> {
    let provider = credentials_provider(sdk)?;
    let task = TaskCredentials::new(
        TaskSource::new(
            provider,
            config
                .identity
                .then(|| IdentityLookup::new(sdk.clone(), clock.clone())),
            config.check_timeout,
            config.warn_below,
        ),
        clock.clone(),
    );
    let signing = tracked::signing(
        &config.source,
        sdk,
        clock,
        config.check_timeout,
        &task.tracked,
    );
    Ok((task, signing))
}

/// Names the ECS task (when its metadata endpoint answers) or the Kubernetes pod (the Downward API
/// variables given) in every log line and in the metrics.
async fn name_the_task(metrics: &Metrics) {
    let pod = pod::PodLabels::from_env();
    let mut context: Vec<(String, serde_json::Value)> = pod
        .pairs()
        .iter()
        .map(|(k, v)| (k.to_string(), v.clone().into()))
        .collect();
    metrics.set_pod(&pod);
    match task_metadata::load().await {
        Ok(Some(meta)) => {
            context.extend([
                ("cluster".into(), meta.cluster.clone().into()),
                ("task_family".into(), meta.family.clone().into()),
                ("task_revision".into(), meta.revision.clone().into()),
                ("task_id".into(), meta.task_id.clone().into()),
            ]);
            metrics.set_task(&meta);
        }
        Ok(None) => {}
        Err(e) => tracing::warn!(
            error = %text::error_chain(&e),
            "task metadata unavailable; log lines will not name the task"
        ),
    }
    if !context.is_empty() {
        logging::set_context(context);
    }
}

/// Every route's state: the credentials, the metrics and the presign guard.
fn router(
    config: &Config,
    sdk: &SdkConfig,
    task: &TaskCredentials,
    signing: &Tracked,
    metrics: Metrics,
) -> Result<Router, RunError> {
    // Without allow rules presigning is off, and a missing region is no reason not to start.
    let signer = match signer(sdk, &config.signing) {
        Err(RunError::NoRegion) if config.presign_allow.is_empty() => {
            Signer::new(String::new(), None, false)
        }
        other => other?,
    };
    let guard = Arc::new(Guard {
        signing: signing.clone(),
        signer,
        allow_list: AllowList::Rules {
            rules: config.presign_allow.clone(),
            kms_keys: config.kms_keys.clone(),
        },
        limits: config.signing.limits,
        first_wait: config.check_timeout,
    });
    Ok(Router {
        task: task.clone(),
        metrics,
        ready_min_remaining: config.ready_min_remaining,
        guard,
        uppy: config.uppy,
    })
}

/// The start-up line: the addresses bound and the settings that matter to an operator.
fn log_started(config: &Config, listeners: &Listeners) -> Result<(), RunError> {
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
        iam_actions = %presign::iam::actions(&config.presign_allow).join(","),
        "sessionguard started"
    );
    Ok(())
}

/// Serves and checks until `shutdown`: the servers and the credential loops are supervised, so
/// one that ends ends the daemon.
async fn supervise_until_shutdown(
    config: &Config,
    listeners: Listeners,
    router: Router,
    task: &TaskCredentials,
    signing: Tracked,
    shutdown: CancellationToken,
) -> Result<(), RunError> {
    let mut tasks = Tasks::new(shutdown.clone());
    tasks.spawn(
        "api-server",
        server::serve(
            listeners.api,
            Surface::Api,
            router.clone(),
            shutdown.clone(),
        ),
    );
    if let Some(listener) = listeners.metrics {
        tasks.spawn(
            "metrics-server",
            server::serve(listener, Surface::MetricsOnly, router, shutdown.clone()),
        );
    }
    tasks.spawn(
        "monitor",
        task.tracked
            .clone()
            .run(config.interval, None, shutdown.clone()),
    );
    if !signing.same(&task.tracked) {
        tasks.spawn(
            "signing",
            signing.run(
                config.interval,
                Some(task.tracked.clone()),
                shutdown.clone(),
            ),
        );
    }
    tasks.join().await?;
    Ok(())
}

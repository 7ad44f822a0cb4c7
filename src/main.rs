//! The `sessionguard` binary: parse flags, start logging, run, map the result to an exit code.

use std::process::ExitCode;

use anyhow::Context;
use clap::Parser;
use clap::error::ErrorKind;
use tokio_util::sync::CancellationToken;
use tracing::{error, info};

use aws_config::SdkConfig;
use sessionguard::cli::{Cli, Command, ConfigError, EXIT_USAGE};
use sessionguard::clock::{self, Clock};
use sessionguard::commands::iam_policy::IamPolicyConfig;
use sessionguard::config::{Config, DemoConfig, PresignConfig, StatusConfig};
use sessionguard::rotate::{self, RotateConfig};
use sessionguard::telemetry::logging;
use sessionguard::{Listeners, RunError, commands, demo, shutdown};

fn main() -> ExitCode {
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) => {
            let _ = e.print();
            return match e.kind() {
                ErrorKind::DisplayHelp
                | ErrorKind::DisplayVersion
                | ErrorKind::DisplayHelpOnMissingArgumentOrSubcommand => ExitCode::SUCCESS,
                _ => ExitCode::from(EXIT_USAGE as u8),
            };
        }
    };
    match run(cli) {
        Ok(code) => ExitCode::from(code as u8),
        Err(e) => {
            eprintln!("sessionguard: {e:#}");
            ExitCode::FAILURE
        }
    }
}

fn run(cli: Cli) -> anyhow::Result<i32> {
    match cli.command {
        Command::Run(args) => with_config(Config::try_from(&args), run_daemon),
        Command::Demo(args) => with_config(DemoConfig::try_from(&args), run_demo),
        Command::Presign(args) => with_config(PresignConfig::try_from(&args), presign),
        Command::Healthcheck(args) => with_config(args.url(), healthcheck),
        Command::IamPolicy(args) => with_config(IamPolicyConfig::try_from(&args), iam_policy),
        Command::RotateKeys(args) => with_config(RotateConfig::try_from(&args), rotate_keys),
        Command::Status(args) => with_config(StatusConfig::try_from(&args), status),
    }
}

/// Runs a command with its validated configuration, or prints every bad value and exits 64.
fn with_config<C>(
    config: Result<C, ConfigError>,
    command: impl FnOnce(C) -> anyhow::Result<i32>,
) -> anyhow::Result<i32> {
    match config {
        Ok(config) => command(config),
        Err(e) => {
            eprintln!("sessionguard: {e}");
            Ok(EXIT_USAGE)
        }
    }
}

fn run_daemon(config: Config) -> anyhow::Result<i32> {
    let _log = logging::init(config.log_format, &config.emf_namespace);
    runtime()?.block_on(daemon(&config, None))
}

fn run_demo(config: DemoConfig) -> anyhow::Result<i32> {
    let endpoint = std::net::TcpListener::bind("127.0.0.1:0")
        .context("binding the demo credentials endpoint on loopback")?;
    let addr = endpoint.local_addr()?;
    // SAFETY: no thread has been started yet; the runtime is built below.
    let token = unsafe { demo::prepare_environment(addr) };
    let _log = logging::init(config.run.log_format, &config.run.emf_namespace);
    runtime()?.block_on(daemon(&config.run, Some((&config, endpoint, token))))
}

fn presign(config: PresignConfig) -> anyhow::Result<i32> {
    with_aws(
        async |sdk, clock| match commands::presign::presign(&config, &sdk, clock).await {
            Ok(code) => Ok(code),
            Err(e @ RunError::NoRegion) => {
                eprintln!("sessionguard: {e}");
                Ok(EXIT_USAGE)
            }
            Err(e) => Err(e.into()),
        },
    )
}

fn healthcheck(url: String) -> anyhow::Result<i32> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("starting the async runtime")?;
    Ok(runtime.block_on(commands::healthcheck::healthcheck(&url)))
}

fn iam_policy(mut config: IamPolicyConfig) -> anyhow::Result<i32> {
    // The region, and so the partition, as `run` resolves it: the flag, else the SDK's chain.
    if config.region.is_none() {
        let sdk = runtime()?.block_on(sessionguard::load_aws());
        config.region = sessionguard::region(&sdk, None);
    }
    match commands::iam_policy::policy(&config) {
        Ok(printed) => {
            for reason in &printed.reasons {
                eprintln!("# {reason}");
            }
            println!("{}", serde_json::to_string_pretty(&printed.document)?);
            Ok(0)
        }
        Err(e) => {
            eprintln!("sessionguard: {e}");
            Ok(EXIT_USAGE)
        }
    }
}

fn rotate_keys(config: RotateConfig) -> anyhow::Result<i32> {
    let missing: Vec<&str> = rotate::LAMBDA_VARIABLES
        .iter()
        .copied()
        .filter(|v| std::env::var_os(v).is_none())
        .collect();
    if !missing.is_empty() {
        eprintln!(
            "sessionguard: rotate-keys is a Lambda function: Lambda sets {} (missing here); deploy it with deploy/cloudformation/presigner.yaml",
            missing.join(", ")
        );
        return Ok(EXIT_USAGE);
    }
    let _log = logging::init(logging::LogFormat::Json, logging::DEFAULT_EMF_NAMESPACE);
    let clock = rotation_clock();
    runtime()?.block_on(async {
        match rotate::serve(config, clock).await {
            Ok(()) => Ok(0),
            Err(e) => {
                error!(error = %e, "rotation function stopped");
                Ok(1)
            }
        }
    })
}

fn status(config: StatusConfig) -> anyhow::Result<i32> {
    with_aws(async |sdk, clock| {
        let provider = sessionguard::credentials_provider(&sdk)?;
        Ok(commands::status::status(&config, &provider, &clock).await)
    })
}

/// Runs a one-shot command on the runtime, with aws-config's defaults and the real clock.
fn with_aws(
    command: impl AsyncFnOnce(SdkConfig, Clock) -> anyhow::Result<i32>,
) -> anyhow::Result<i32> {
    runtime()?.block_on(async {
        let sdk = sessionguard::load_aws().await;
        command(sdk, clock::system()).await
    })
}

/// The real clock; in debug builds (the tests) moved ahead by `SESSIONGUARD_DEBUG_CLOCK_OFFSET`
/// (a humantime duration), so a rotation can happen days after the last one.
fn rotation_clock() -> sessionguard::clock::Clock {
    if cfg!(debug_assertions)
        && let Some(offset) = std::env::var("SESSIONGUARD_DEBUG_CLOCK_OFFSET")
            .ok()
            .and_then(|v| humantime::parse_duration(v.trim()).ok())
    {
        return clock::ahead(offset);
    }
    clock::system()
}

fn runtime() -> anyhow::Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("starting the async runtime")
}

/// Binds, runs until SIGTERM/SIGINT, and logs the final line.
async fn daemon(
    config: &Config,
    demo: Option<(&DemoConfig, std::net::TcpListener, String)>,
) -> anyhow::Result<i32> {
    let listeners = match Listeners::bind(config).await {
        Ok(l) => l,
        Err(e) => {
            error!(error = %e, listen = %config.listen, metrics_listen = config.metrics_listen.map(|a| a.to_string()), "cannot listen");
            return Ok(1);
        }
    };
    let token = CancellationToken::new();
    let signal = tokio::spawn(shutdown::on_signal(token.clone()));
    let result = match demo {
        Some((demo_config, endpoint, auth)) => {
            demo::run(demo_config, endpoint, auth, listeners, token.clone()).await
        }
        None => sessionguard::run(config, listeners, token.clone()).await,
    };
    let signal_name = if signal.is_finished() {
        signal.await.unwrap_or("signal")
    } else {
        signal.abort();
        "none"
    };
    match result {
        Ok(()) => {
            info!(signal = signal_name, "sessionguard stopped");
            Ok(0)
        }
        Err(e) => {
            error!(error = %sessionguard::text::error_chain(&e), "sessionguard failed");
            Ok(match e {
                RunError::NoRegion => EXIT_USAGE,
                _ => 1,
            })
        }
    }
}

//! The `sessionguard` binary: parse flags, start logging, run, map the result to an exit code.

use std::process::ExitCode;

use anyhow::Context;
use clap::Parser;
use clap::error::ErrorKind;
use tokio_util::sync::CancellationToken;
use tracing::{error, info};

use sessionguard::cli::{Cli, Command, ConfigError, EXIT_USAGE};
use sessionguard::commands::{healthcheck, iam_policy, presign as presign_command, status};
use sessionguard::config::{Config, DemoConfig, IamPolicyConfig, PresignConfig, StatusConfig};
use sessionguard::telemetry::logging;
use sessionguard::{Listeners, demo, shutdown};

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
        Command::Run(args) => {
            let config = match Config::try_from(&args) {
                Ok(c) => c,
                Err(e) => return Ok(usage(e)),
            };
            let _log = logging::init(config.log_format, &config.emf_namespace);
            runtime()?.block_on(daemon(&config, None))
        }
        Command::Demo(args) => {
            let config = match DemoConfig::try_from(&args) {
                Ok(c) => c,
                Err(e) => return Ok(usage(e)),
            };
            let endpoint = std::net::TcpListener::bind("127.0.0.1:0")
                .context("binding the demo credentials endpoint on loopback")?;
            let addr = endpoint.local_addr()?;
            // SAFETY: no thread has been started yet; the runtime is built below.
            let token = unsafe { demo::prepare_environment(addr) };
            let _log = logging::init(config.run.log_format, &config.run.emf_namespace);
            runtime()?.block_on(daemon(&config.run, Some((&config, endpoint, token))))
        }
        Command::Presign(args) => {
            let config = match PresignConfig::try_from(&args) {
                Ok(c) => c,
                Err(e) => return Ok(usage(e)),
            };
            runtime()?.block_on(async {
                let sdk = sessionguard::load_aws().await;
                let clock = sessionguard::clock::system();
                match presign_command::presign(&config, &sdk, clock).await {
                    Ok(code) => Ok(code),
                    Err(e @ sessionguard::RunError::NoRegion) => {
                        eprintln!("sessionguard: {e}");
                        Ok(EXIT_USAGE)
                    }
                    Err(e) => Err(e.into()),
                }
            })
        }
        Command::Healthcheck(args) => {
            let url = match args.url() {
                Ok(u) => u,
                Err(e) => return Ok(usage(e)),
            };
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .context("starting the async runtime")?;
            Ok(runtime.block_on(healthcheck::healthcheck(&url)))
        }
        Command::IamPolicy(args) => {
            let config = match IamPolicyConfig::try_from(&args) {
                Ok(c) => c,
                Err(e) => return Ok(usage(e)),
            };
            match iam_policy::policy(&config) {
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
        Command::RotateKeys(args) => {
            let config = match sessionguard::rotate::RotateConfig::try_from(&args) {
                Ok(c) => c,
                Err(e) => return Ok(usage(e)),
            };
            let missing: Vec<&str> = sessionguard::rotate::LAMBDA_VARIABLES
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
                match sessionguard::rotate::serve(config, clock).await {
                    Ok(()) => Ok(0),
                    Err(e) => {
                        error!(error = %e, "rotation function stopped");
                        Ok(1)
                    }
                }
            })
        }
        Command::Status(args) => {
            let config = match StatusConfig::try_from(&args) {
                Ok(c) => c,
                Err(e) => return Ok(usage(e)),
            };
            runtime()?.block_on(async {
                let sdk = sessionguard::load_aws().await;
                let provider = sessionguard::credentials_provider(&sdk)?;
                let clock = sessionguard::clock::system();
                Ok(status::status(&config, &provider, &clock).await)
            })
        }
    }
}

/// The real clock; in debug builds (the tests) moved ahead by `SESSIONGUARD_DEBUG_CLOCK_OFFSET`
/// (a humantime duration), so a rotation can happen days after the last one.
fn rotation_clock() -> sessionguard::clock::Clock {
    if cfg!(debug_assertions)
        && let Some(offset) = std::env::var("SESSIONGUARD_DEBUG_CLOCK_OFFSET")
            .ok()
            .and_then(|v| humantime::parse_duration(v.trim()).ok())
    {
        return sessionguard::clock::ahead(offset);
    }
    sessionguard::clock::system()
}

fn usage(e: ConfigError) -> i32 {
    eprintln!("sessionguard: {e}");
    EXIT_USAGE
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
                sessionguard::RunError::NoRegion => EXIT_USAGE,
                _ => 1,
            })
        }
    }
}

//! The command line, driven through the same `cli::run` the binary calls.

use gatehouse::cli::{Command, ConfigCommand, OperatorCommand, PluginCommand};
use reqwest::{Method, StatusCode};

use crate::helpers::{spawn_app, test_config};

#[tokio::test]
async fn rotating_the_operator_token_revokes_the_old_one() {
    let app = spawn_app().await;
    let mut out = Vec::new();
    gatehouse::cli::run(
        Command::Operator {
            command: OperatorCommand::RotateToken,
        },
        app.config.clone(),
        &mut out,
    )
    .await
    .unwrap();
    let text = String::from_utf8(out).unwrap();
    let new = text
        .split_whitespace()
        .find(|w| w.starts_with("gho_"))
        .expect("new token printed")
        .to_string();
    let r = app.op(Method::GET, "/tenants", None).await;
    assert_eq!(r.status, StatusCode::UNAUTHORIZED);
    let r = app
        .call(Method::GET, "/operator/v1/tenants", Some(&new), None)
        .await;
    assert_eq!(r.status, StatusCode::OK);
    let log = app
        .call(
            Method::GET,
            "/operator/v1/audit-events?chain=operator",
            Some(&new),
            None,
        )
        .await;
    assert_eq!(log.body["events"][0]["action"], "operator_token.rotated");
}

#[tokio::test]
async fn config_check_prints_without_secrets() {
    let dir = tempfile::tempdir().unwrap();
    let mut config = test_config(dir.path(), None);
    config.secrets.master_key = Some(
        "c2VjcmV0LXZhbHVlLXRoYXQtbXVzdC1ub3QtbGVhaw=="
            .to_string()
            .into(),
    );
    let mut out = Vec::new();
    gatehouse::cli::run(
        Command::Config {
            command: ConfigCommand::Check,
        },
        config,
        &mut out,
    )
    .await
    .unwrap();
    let text = String::from_utf8(out).unwrap();
    assert!(
        text.contains("[redacted]") && !text.contains("c2VjcmV0"),
        "{text}"
    );
}

#[tokio::test]
async fn migrate_is_idempotent_and_a_wrong_master_key_is_refused() {
    let app = spawn_app().await;
    let mut out = Vec::new();
    gatehouse::cli::run(Command::Migrate, app.config.clone(), &mut out)
        .await
        .unwrap();
    assert!(String::from_utf8(out)
        .unwrap()
        .contains("applied 0 migration"));

    let mut other = app.config.clone();
    other.secrets.master_key = Some(
        "QUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQUE="
            .to_string()
            .into(),
    );
    let err = gatehouse::app::start(other, gatehouse::types::Clock::system())
        .await
        .err()
        .expect("a different master key must be refused")
        .to_string();
    assert!(err.contains("master key"), "{err}");
}

#[tokio::test]
async fn only_the_first_start_creates_the_operator_token() {
    let app = spawn_app().await;
    let again = gatehouse::app::start(app.config.clone(), gatehouse::types::Clock::system())
        .await
        .expect("second start");
    assert!(again.operator_token.is_none());
    assert_eq!(again.migrations_applied, 0);
    // The first token still works after the restart.
    assert_eq!(
        app.op(Method::GET, "/tenants", None).await.status,
        StatusCode::OK
    );
}

#[tokio::test]
async fn plugin_check_names_the_world_or_the_reason() {
    let dir = tempfile::tempdir().unwrap();
    let config = test_config(dir.path(), None);
    let check = |file: std::path::PathBuf| {
        let config = config.clone();
        async move {
            let mut out = Vec::new();
            let code = gatehouse::cli::run(
                Command::Plugin {
                    command: PluginCommand::Check { file },
                },
                config,
                &mut out,
            )
            .await
            .unwrap();
            (code, String::from_utf8(out).unwrap())
        }
    };
    let good = dir.path().join("template.wasm");
    std::fs::write(&good, crate::components::template_cargo_component_shape()).unwrap();
    let (code, text) = check(good).await;
    assert_eq!(code, std::process::ExitCode::SUCCESS, "{text}");
    assert!(
        text.contains("a valid attribute-mapper plugin")
            && text.contains("gatehouse:plugin/attributes@0.1.0"),
        "{text}"
    );

    let core = dir.path().join("core.wasm");
    std::fs::write(&core, b"\0asm\x01\0\0\0").unwrap();
    let (code, text) = check(core).await;
    assert_eq!(code, std::process::ExitCode::FAILURE, "{text}");
    assert!(
        text.contains("not a valid plugin") && text.contains("core WebAssembly module"),
        "{text}"
    );
}

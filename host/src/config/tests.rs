//! Configuration loading: defaults, file, environment, unknown keys, redaction.

use figment::providers::Env;

use super::*;

fn env_with(vars: &[(&str, &str)]) -> Env {
    // A private prefix per test keeps parallel tests from seeing each other's variables.
    let prefix = format!("GHTEST{}_", uuid::Uuid::new_v4().simple());
    for (k, v) in vars {
        std::env::set_var(format!("{prefix}{k}"), v);
    }
    Env::prefixed(&prefix).split("__")
}

#[test]
fn defaults_are_valid() {
    let c = Config::load_from(None, env_with(&[])).unwrap();
    assert_eq!(c.server.listen.port(), 8080);
    assert!(c.is_embedded_database());
}

#[test]
fn env_nests_with_double_underscore() {
    let c = Config::load_from(
        None,
        env_with(&[("SERVER__LISTEN", "127.0.0.1:9000"), ("DATA_DIR", "/tmp/x")]),
    )
    .unwrap();
    assert_eq!(c.server.listen.port(), 9000);
    assert_eq!(c.data_dir, PathBuf::from("/tmp/x"));
}

#[test]
fn unknown_keys_are_rejected_with_a_hint() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("g.toml");
    std::fs::write(&file, "[server]\nlisen = \"127.0.0.1:1\"\n").unwrap();
    let err = Config::load_from(Some(&file), env_with(&[]))
        .unwrap_err()
        .to_string();
    assert!(err.contains("lisen"), "{err}");
    assert!(err.contains("GATEHOUSE_"), "{err}");

    let err = Config::load_from(None, env_with(&[("SERVER__NOPE", "1")]))
        .unwrap_err()
        .to_string();
    assert!(err.contains("nope"), "{err}");
}

#[test]
fn bad_values_are_explained() {
    let err = Config::load_from(None, env_with(&[("SERVER__LISTEN", "not-an-address")]))
        .unwrap_err()
        .to_string();
    assert!(err.contains("listen"), "{err}");
    let err = Config::load_from(None, env_with(&[("DATABASE__URL", "mysql://x")]))
        .unwrap_err()
        .to_string();
    assert!(err.contains("unsupported scheme"), "{err}");
}

#[test]
fn redacted_toml_hides_the_master_key() {
    let mut c = Config::default();
    c.secrets.master_key = Some(SecretString::from("c2VjcmV0"));
    let toml = c.to_redacted_toml();
    assert!(toml.contains("[redacted]"));
    assert!(!toml.contains("c2VjcmV0"));
}

#[test]
fn redacted_toml_hides_the_database_password() {
    let mut c = Config::default();
    for url in [
        "postgres://gh:hunter2secret@db.internal:5432/gatehouse",
        "postgres://gh@db.internal/gatehouse?sslmode=require&password=hunter2secret",
    ] {
        c.database.url = Some(url.into());
        let toml = c.to_redacted_toml();
        assert!(!toml.contains("hunter2secret"), "{toml}");
        assert!(toml.contains("db.internal"), "{toml}");
    }
}

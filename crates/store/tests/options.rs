//! Storage options that shape requests: retry settings (silt's own keys)
//! and object_store's client timeouts reach the cloud builders; bad values
//! are refused naming the option, never echoing secrets.

#![cfg(all(feature = "s3", feature = "azure", feature = "gcs"))]
#![allow(clippy::unwrap_used, clippy::expect_used)] // tests: a panic is the failure report

use std::time::{Duration, Instant};

use silt_store::TableBuilder;

fn s3_options(extra: &[(&str, &str)]) -> Vec<(String, String)> {
    [
        ("aws_endpoint", "http://127.0.0.1:9"),
        ("aws_region", "us-east-1"),
        ("aws_access_key_id", "AKIDEXAMPLE"),
        ("aws_secret_access_key", "super-secret-value"),
        ("allow_http", "true"),
    ]
    .iter()
    .chain(extra)
    .map(|(k, v)| (k.to_string(), v.to_string()))
    .collect()
}

fn builder(options: Vec<(String, String)>) -> TableBuilder {
    options
        .into_iter()
        .fold(TableBuilder::new("s3://bucket/table"), |b, (k, v)| {
            b.with_storage_option(k, v)
        })
}

#[tokio::test]
async fn retry_and_timeout_options_take_effect() {
    // Nothing listens on port 9: without retries the load fails at once
    // (the default would retry for minutes).
    let started = Instant::now();
    let err = builder(s3_options(&[
        ("max_retries", "0"),
        ("retry_timeout", "2s"),
        ("connect_timeout", "1s"),
        ("timeout", "2s"),
    ]))
    .load()
    .await
    .unwrap_err()
    .to_string();
    assert!(
        started.elapsed() < Duration::from_secs(20),
        "took {:?}",
        started.elapsed()
    );
    assert!(!err.contains("super-secret-value"), "{err}");
}

#[test]
fn bad_option_values_name_the_option() {
    for (k, v) in [
        ("max_retries", "many"),
        ("retry_timeout", "soon"),
        ("retry_backoff_base", "0.5"),
        ("no_such_option", "1"),
    ] {
        let err = builder(s3_options(&[(k, v)]))
            .build_store()
            .err()
            .unwrap_or_else(|| panic!("{k}={v} accepted"))
            .to_string();
        assert!(err.contains(k), "{k}: {err}");
        assert!(!err.contains("super-secret-value"), "{err}");
    }
    for scheme in ["az://container/t", "gs://bucket/t"] {
        let err = TableBuilder::new(scheme)
            .with_storage_option("retry_max_backoff", "later")
            .build_store()
            .err()
            .map(|e| e.to_string())
            .unwrap_or_else(|| panic!("{scheme}: accepted"));
        assert!(err.contains("retry_max_backoff"), "{err}");
    }
    // Valid values are accepted by every cloud builder.
    for (uri, opts) in [
        ("s3://bucket/t", s3_options(&[])),
        (
            "az://container/t",
            vec![
                ("azure_storage_account_name".into(), "acct".into()),
                ("azure_storage_account_key".into(), "a2V5".into()),
            ],
        ),
        ("gs://bucket/t", vec![]),
    ] {
        let b = opts
            .into_iter()
            .chain(
                [
                    ("max_retries", "3"),
                    ("retry_timeout", "30s"),
                    ("retry_init_backoff", "250ms"),
                    ("retry_max_backoff", "2m"),
                    ("retry_backoff_base", "2"),
                    ("timeout", "30s"),
                ]
                .map(|(k, v)| (k.to_string(), v.to_string())),
            )
            .fold(TableBuilder::new(uri), |b, (k, v)| {
                b.with_storage_option(k, v)
            });
        if let Err(e) = b.build_store() {
            // GCS needs credentials to build; anything else must build.
            assert!(uri.starts_with("gs://"), "{uri}: {e}");
            assert!(!e.to_string().contains("retry"), "{uri}: {e}");
        }
    }
}

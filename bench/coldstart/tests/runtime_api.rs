//! The cold-start harness against the hello-world binary it compares with: it sees the
//! first `/next` request, and says why when a binary never gets there.

use leadq_coldstart::{ColdStartError, Launch, RuntimeApi, lambda_env};
use std::path::PathBuf;
use std::time::Duration;

fn hello() -> Launch {
    Launch {
        name: "hello".into(),
        program: PathBuf::from(env!("CARGO_BIN_EXE_hello")),
        env: lambda_env("hello"),
    }
}

#[tokio::test]
async fn the_first_request_for_an_event_ends_the_measurement() {
    let api = RuntimeApi::start().await.expect("listen");
    let timeout = Duration::from_secs(20);
    let current_thread = Launch {
        name: "hello-current-thread".into(),
        program: PathBuf::from(env!("CARGO_BIN_EXE_hello-current-thread")),
        env: lambda_env("hello-current-thread"),
    };
    for launch in [hello(), current_thread] {
        for _ in 0..3 {
            let took = api
                .time_to_first_next(&launch, timeout)
                .await
                .expect("the baseline asks for an event");
            assert!(took > Duration::ZERO && took < timeout, "{took:?}");
        }
    }
}

#[tokio::test]
async fn a_binary_that_exits_before_asking_is_reported_with_its_status() {
    let api = RuntimeApi::start().await.expect("listen");
    let launch = Launch {
        name: "false".into(),
        program: PathBuf::from("/bin/false"),
        env: Vec::new(),
    };
    let err = api
        .time_to_first_next(&launch, Duration::from_secs(20))
        .await
        .expect_err("never asks");
    assert!(matches!(err, ColdStartError::Exited { .. }), "{err}");
    assert!(err.to_string().starts_with("false: exited"), "{err}");
}

#[tokio::test]
async fn a_missing_binary_is_named() {
    let api = RuntimeApi::start().await.expect("listen");
    let launch = Launch {
        name: "ghost".into(),
        program: PathBuf::from("/no/such/bootstrap"),
        env: Vec::new(),
    };
    let err = api
        .time_to_first_next(&launch, Duration::from_secs(5))
        .await
        .expect_err("cannot start");
    assert!(err.to_string().contains("/no/such/bootstrap"), "{err}");
}

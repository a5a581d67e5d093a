//! Connecting to servers that require credentials: the right ones work, a
//! wrong or missing one is refused with a typed error, never a hang or an
//! anonymous connection.

use std::time::{Duration, Instant};

use ipc_remote::{Error, Remote, RemoteOptions, RemoteQueue};
use ipc_test_support::nats::NatsServer;

fn refused(opts: &RemoteOptions) {
    let t = Instant::now();
    match Remote::connect(&opts.clone().connect_timeout(Duration::from_secs(3))) {
        Err(Error::Unauthorized { .. }) => {}
        other => panic!("expected Unauthorized, got {other:?}"),
    }
    assert!(t.elapsed() < Duration::from_secs(4), "{:?}", t.elapsed());
}

#[test]
fn user_and_password() {
    let Some(s) =
        NatsServer::start_with_config("authorization { user: svc, password: \"s3cret-pass\" }\n")
    else {
        return;
    };
    let ok = RemoteOptions::new(s.url()).user_password("svc", "s3cret-pass");
    let r = Remote::connect(&ok).unwrap();
    let q = RemoteQueue::builder(&r, "authq").create().unwrap();
    q.put_bytes(b"in").unwrap();
    assert_eq!(q.get_bytes().unwrap(), b"in");
    refused(&RemoteOptions::new(s.url()).user_password("svc", "wrong"));
    refused(&RemoteOptions::new(s.url()).user_password("other", "s3cret-pass"));
    refused(&RemoteOptions::new(s.url()));
}

#[test]
fn token() {
    let Some(s) = NatsServer::start_with_config("authorization { token: \"t0ken-abc\" }\n") else {
        return;
    };
    Remote::connect(&RemoteOptions::new(s.url()).token("t0ken-abc")).unwrap();
    refused(&RemoteOptions::new(s.url()).token("t0ken-abd"));
    refused(&RemoteOptions::new(s.url()));
}

#[test]
fn nkey() {
    let user = nkeys::KeyPair::new_user();
    let seed = user.seed().unwrap();
    let config = format!(
        "authorization {{ users: [ {{ nkey: {} }} ] }}\n",
        user.public_key()
    );
    let Some(s) = NatsServer::start_with_config(&config) else {
        return;
    };
    Remote::connect(&RemoteOptions::new(s.url()).nkey(seed)).unwrap();
    let stranger = nkeys::KeyPair::new_user().seed().unwrap();
    refused(&RemoteOptions::new(s.url()).nkey(stranger));
    refused(&RemoteOptions::new(s.url()));
    // A seed that is not one is refused before any connection.
    assert!(matches!(
        Remote::connect(&RemoteOptions::new(s.url()).nkey("SUnot-a-seed")),
        Err(Error::Options { .. })
    ));
}

#[test]
fn a_missing_credentials_file_is_an_options_error() {
    let r = Remote::connect(
        &RemoteOptions::new("nats://127.0.0.1:1").credentials_file("/nonexistent/user.creds"),
    );
    assert!(matches!(r, Err(Error::Options { .. })), "{r:?}");
}

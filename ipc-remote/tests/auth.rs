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

/// A CA and a server certificate for 127.0.0.1, made with the openssl
/// tool in `dir`; `None` (after a skip) without it.
fn certificates(dir: &std::path::Path) -> Option<()> {
    let run = |args: &[&str]| {
        std::process::Command::new("openssl")
            .args(args)
            .current_dir(dir)
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .status()
            .is_ok_and(|s| s.success())
    };
    std::fs::write(
        dir.join("ext"),
        "subjectAltName=IP:127.0.0.1,DNS:localhost\n",
    )
    .unwrap();
    let ok = run(&[
        "req",
        "-x509",
        "-newkey",
        "rsa:2048",
        "-nodes",
        "-keyout",
        "ca.key",
        "-out",
        "ca.pem",
        "-days",
        "2",
        "-subj",
        "/CN=ipc-test-ca",
    ]) && run(&[
        "req",
        "-x509",
        "-newkey",
        "rsa:2048",
        "-nodes",
        "-keyout",
        "other.key",
        "-out",
        "other.pem",
        "-days",
        "2",
        "-subj",
        "/CN=another-ca",
    ]) && run(&[
        "req",
        "-newkey",
        "rsa:2048",
        "-nodes",
        "-keyout",
        "server.key",
        "-out",
        "server.csr",
        "-subj",
        "/CN=localhost",
    ]) && run(&[
        "x509",
        "-req",
        "-in",
        "server.csr",
        "-CA",
        "ca.pem",
        "-CAkey",
        "ca.key",
        "-CAcreateserial",
        "-out",
        "server.pem",
        "-days",
        "2",
        "-extfile",
        "ext",
    ]);
    if !ok {
        ipc_test_support::skip(
            "the openssl tool cannot make test certificates (apt-get install openssl)",
        );
        return None;
    }
    Some(())
}

#[test]
fn tls_with_a_ca() {
    let dir = ipc_test_support::TempDir::new("nats-tls");
    if certificates(dir.path("").as_path()).is_none() {
        return;
    }
    let config = format!(
        "tls {{ cert_file: \"{}\", key_file: \"{}\" }}\n",
        dir.path("server.pem").display(),
        dir.path("server.key").display()
    );
    let Some(s) = NatsServer::start_with_config(&config) else {
        return;
    };
    let ok = RemoteOptions::new(s.url()).root_certificate(dir.path("ca.pem"));
    let r = Remote::connect(&ok).unwrap();
    let q = RemoteQueue::builder(&r, "tlsq").create().unwrap();
    q.put_bytes(b"sealed").unwrap();
    assert_eq!(q.get_bytes().unwrap(), b"sealed");
    // A CA that did not sign the server's certificate, or none at all
    // (the system's roots): refused with a TLS error, promptly.
    for opts in [
        RemoteOptions::new(s.url()).root_certificate(dir.path("other.pem")),
        RemoteOptions::new(s.url()),
    ] {
        let t = Instant::now();
        let e = Remote::connect(&opts.connect_timeout(Duration::from_secs(3))).unwrap_err();
        assert!(matches!(e, Error::Tls { .. }), "{e:?}");
        assert!(t.elapsed() < Duration::from_secs(4));
    }
}

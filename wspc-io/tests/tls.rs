//! TLS with a test certificate (rcgen): wss:// echo, blocking and tokio, both roles.
#![cfg(feature = "tls")]

use std::net::TcpListener;
use std::thread;
use wspc_io::{blocking, tls, Accept, ClientOptions, Config, Message, Request};

fn test_cert() -> (String, String) {
    let ck = rcgen::generate_simple_self_signed(vec!["localhost".to_string()]).unwrap();
    (ck.cert.pem(), ck.signing_key.serialize_pem())
}

#[test]
fn blocking_wss_echo_and_split() {
    let (cert, key) = test_cert();
    let server_cfg = tls::server_config_from_pem(cert.as_bytes(), key.as_bytes()).unwrap();
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = l.local_addr().unwrap().port();
    let h = thread::spawn(move || {
        for _ in 0..2 {
            let (s, _) = l.accept().unwrap();
            let mut ws = blocking::accept_tls_with(s, server_cfg.clone(), &Config::default(), |_: &Request| {
                Ok(Accept::default())
            })
            .unwrap();
            while let Ok(m) = ws.recv() {
                match m {
                    m @ (Message::Text(_) | Message::Binary(_)) => ws.feed(m).unwrap(),
                    Message::Close(_) => break,
                    _ => {}
                }
            }
            let _ = ws.close(None);
        }
    });
    let opts = ClientOptions::default().tls(tls::client_config_with_ca(cert.as_bytes()).unwrap());
    let url = format!("wss://localhost:{port}/secure");
    let (mut ws, _) = blocking::connect_with(&url, &opts).unwrap();
    ws.send(Message::text("secret")).unwrap();
    assert_eq!(ws.recv().unwrap(), Message::text("secret"));
    let big = vec![42u8; 2 << 20];
    ws.send(Message::binary(big.clone())).unwrap();
    assert_eq!(ws.recv().unwrap(), Message::binary(big));
    ws.close(None).unwrap();

    // Split over TLS: a reader thread and a writer thread share the TLS state.
    let (ws, _) = blocking::connect_with(&url, &opts).unwrap();
    let (mut rd, mut wr) = ws.split().unwrap();
    let reader = thread::spawn(move || {
        for i in 0..500 {
            assert_eq!(rd.recv().unwrap(), Message::text(format!("t{i}")));
        }
        assert!(rd.recv().unwrap().is_close());
    });
    for i in 0..500 {
        wr.send(Message::text(format!("t{i}"))).unwrap();
    }
    std::thread::sleep(std::time::Duration::from_millis(50));
    wr.close(None).unwrap();
    reader.join().unwrap();
    h.join().unwrap();
}

#[test]
fn blocking_wss_rejects_an_unknown_ca() {
    let (cert, key) = test_cert();
    let server_cfg = tls::server_config_from_pem(cert.as_bytes(), key.as_bytes()).unwrap();
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = l.local_addr().unwrap().port();
    let h = thread::spawn(move || {
        let (s, _) = l.accept().unwrap();
        assert!(
            blocking::accept_tls_with(s, server_cfg, &Config::default(), |_: &Request| Ok(Accept::default())).is_err()
        );
    });
    // Default options: web PKI roots, which do not include the test certificate.
    let r = blocking::connect(format!("wss://localhost:{port}/"));
    // A typed error: rustls' own, saying the certificate was refused.
    assert!(
        matches!(r, Err(wspc_io::Error::Tls(wspc_io::TlsError::Rustls(rustls::Error::InvalidCertificate(_))))),
        "{:?}",
        r.err()
    );
    h.join().unwrap();
}

#[cfg(feature = "tokio")]
#[tokio::test]
async fn tokio_wss_echo() {
    let (cert, key) = test_cert();
    let acceptor = wspc_io::tokio::tls_acceptor(tls::server_config_from_pem(cert.as_bytes(), key.as_bytes()).unwrap());
    let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = l.local_addr().unwrap().port();
    tokio::spawn(async move {
        let (s, _) = l.accept().await.unwrap();
        let mut ws = wspc_io::tokio::accept_tls_with(s, &acceptor, &Config::default().deflate(true), |_: &Request| {
            Ok(Accept::default())
        })
        .await
        .unwrap();
        while let Some(Ok(m)) = ws.recv().await {
            match m {
                m @ (Message::Text(_) | Message::Binary(_)) => ws.feed(m).await.unwrap(),
                Message::Close(_) => break,
                _ => {}
            }
        }
        let _ = ws.close(None).await;
    });
    let opts = ClientOptions::default()
        .tls(tls::client_config_with_ca(cert.as_bytes()).unwrap())
        .config(Config::default().deflate(true));
    let (ws, _) = wspc_io::tokio::connect_with(format!("wss://localhost:{port}/"), &opts).await.unwrap();
    // The default provider (aws-lc-rs) agrees on the post-quantum hybrid key exchange.
    #[cfg(feature = "aws-lc-rs")]
    {
        let wspc_io::tokio::MaybeTlsStream::Tls(tls) = ws.get_ref() else { panic!("not TLS") };
        let group = tls.get_ref().1.negotiated_key_exchange_group().map(|g| g.name());
        assert_eq!(group, Some(rustls::NamedGroup::X25519MLKEM768));
    }
    let (mut rd, mut wr) = ws.split();
    let reader = tokio::spawn(async move {
        for i in 0..200 {
            assert_eq!(rd.recv().await.unwrap().unwrap(), Message::text(format!("{i}").repeat(i)));
        }
        assert!(rd.recv().await.unwrap().unwrap().is_close());
    });
    for i in 0..200 {
        wr.feed(Message::text(format!("{i}").repeat(i))).await.unwrap();
    }
    wr.flush().await.unwrap();
    tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    wr.close(None).await.unwrap();
    tokio::time::timeout(std::time::Duration::from_secs(10), reader).await.unwrap().unwrap();
}

/// The system trust store (Debian's ca-certificates, installed by .ci/install-deps.sh)
/// loads into a client configuration.
#[cfg(feature = "native-roots")]
#[test]
fn system_roots_load() {
    tls::native_roots_client_config().unwrap();
}

//! Limits at the HTTP layer: request heads, content types, connections per
//! peer, and peers that stop reading.

use std::time::Duration;

use server::Limits;
use tokio::io::AsyncWriteExt;
use tokio::net::TcpStream;

use crate::{PATIENCE, exchange, keep_alive_request, serve, with_limits, with_metrics};

/// A request whose one extra header carries `pad` bytes.
fn padded(pad: usize) -> Vec<u8> {
    format!(
        "GET /admin-api/health HTTP/1.1\r\nhost: node\r\nconnection: close\r\nx-pad: {}\r\n\r\n",
        "a".repeat(pad)
    )
    .into_bytes()
}

#[tokio::test]
async fn request_heads_past_16_kib_get_431() {
    let served = serve(with_metrics()).await;
    let fits = exchange(served.address, &padded(15 * 1024)).await;
    assert!(fits.starts_with("HTTP/1.1 200"), "{fits}");
    // Past the documented limit: a JSON answer that says so.
    let refused = exchange(served.address, &padded(20 * 1024)).await;
    assert!(refused.starts_with("HTTP/1.1 431"), "{refused}");
    assert!(refused.contains(r#""code":431"#), "{refused}");
    assert!(refused.contains("at most 16384"), "{refused}");
    assert!(refused.contains("x-request-id"), "{refused}");
    // Past the read buffer: refused before it is parsed.
    let refused = exchange(served.address, &padded(100 * 1024)).await;
    assert!(refused.starts_with("HTTP/1.1 431"), "{refused}");
    let mut stream = TcpStream::connect(served.address).await.expect("connects");
    assert!(
        keep_alive_request(&mut stream)
            .await
            .starts_with("HTTP/1.1 200")
    );
}

#[tokio::test]
async fn json_rpc_takes_only_json() {
    let served = serve(with_metrics()).await;
    let context = served.kv_context();
    let body = serde_json::json!({
        "jsonrpc": "2.0", "id": 1, "method": "query",
        "params": {"contextId": context, "method": "len", "argsJson": {}}
    })
    .to_string();
    for content_type in [
        Some("text/plain"),
        Some("application/x-www-form-urlencoded"),
        None,
    ] {
        let mut request = served.http.post(served.url("/jsonrpc")).body(body.clone());
        for (name, value) in served.headers() {
            request = request.header(name, value);
        }
        if let Some(content_type) = content_type {
            request = request.header("content-type", content_type);
        }
        let response = request.send().await.expect("sent");
        assert_eq!(response.status(), 415, "{content_type:?}");
        let body: serde_json::Value = response.json().await.expect("a JSON body");
        assert_eq!(body["error"]["code"], 415);
    }
    let mut request = served
        .http
        .post(served.url("/jsonrpc"))
        .header("content-type", "application/json; charset=utf-8")
        .body(body);
    for (name, value) in served.headers() {
        request = request.header(name, value);
    }
    let response = request.send().await.expect("sent");
    assert_eq!(response.status(), 200);
}

#[tokio::test]
async fn connections_past_the_per_peer_cap_get_503() {
    let served = serve(with_limits(Limits {
        max_connections_per_peer: 2,
        ..Limits::default()
    }))
    .await;
    let mut first = TcpStream::connect(served.address).await.expect("connects");
    let mut second = TcpStream::connect(served.address).await.expect("connects");
    for stream in [&mut first, &mut second] {
        assert!(keep_alive_request(stream).await.starts_with("HTTP/1.1 200"));
    }
    let refused = exchange(
        served.address,
        b"GET /admin-api/health HTTP/1.1\r\nhost: node\r\n\r\n",
    )
    .await;
    assert!(refused.starts_with("HTTP/1.1 503"), "{refused}");
    assert!(refused.contains("from one address"), "{refused}");
    assert!(refused.contains("retry-after: 1"), "{refused}");
}

#[tokio::test]
async fn a_peer_that_stops_reading_is_cut_off() {
    let served = serve(with_limits(Limits {
        write_timeout: Duration::from_millis(300),
        ..Limits::default()
    }))
    .await;
    // Pipelined requests for a large document, and never a byte read back:
    // the server's writes block once the socket buffers are full.
    let stream = TcpStream::connect(served.address).await.expect("connects");
    let (_reader, mut writer) = stream.into_split();
    let requests = tokio::spawn(async move {
        let request = b"GET /admin-api/openapi.json HTTP/1.1\r\nhost: node\r\n\r\n";
        for _ in 0..20_000 {
            if writer.write_all(request).await.is_err() {
                break;
            }
        }
        writer
    });
    // The stalled connection is closed; only the metrics request's is open.
    served
        .await_metric("calimero_http_connections_open", 1.0)
        .await;
    let _writer = tokio::time::timeout(PATIENCE, requests)
        .await
        .expect("the writer stops once the server is gone");
}

/// `wasm` with a custom section of `pad` bytes appended: still the same
/// application to the runtime, but larger.
fn padded_module(mut wasm: Vec<u8>, pad: usize) -> Vec<u8> {
    let name = b"padding";
    let mut section = vec![u8::try_from(name.len()).expect("short name")];
    section.extend_from_slice(name);
    section.resize(section.len() + pad, 0);
    wasm.push(0); // custom section
    let mut size = section.len();
    loop {
        let byte = u8::try_from(size & 0x7f).expect("seven bits");
        size >>= 7;
        if size == 0 {
            wasm.push(byte);
            break;
        }
        wasm.push(byte | 0x80);
    }
    wasm.extend_from_slice(&section);
    wasm
}

#[tokio::test]
async fn uploads_past_the_json_cap_are_read_for_the_administrator_only() {
    let served = serve(with_metrics()).await;
    let path = "/admin-api/applications";
    let node = served.auth.identity().public_key();
    let upload = |body: Vec<u8>, signed: bool| {
        let mut request = served
            .http
            .post(served.url(path))
            .header("content-type", "application/wasm")
            .body(body);
        if signed {
            for (name, value) in served.client.auth_headers(node, "POST", path, None) {
                request = request.header(name, value);
            }
        }
        request.send()
    };
    // 3 MiB, past the 1 MiB every other body is held to.
    let large = padded_module(test_utils::built_app("kv-store"), 3 << 20);
    let anonymous = upload(large.clone(), false).await.expect("an answer");
    assert_eq!(anonymous.status(), 401);
    let answer = upload(large.clone(), true).await.expect("an answer");
    assert_eq!(answer.status(), 200, "{:?}", answer.text().await);
    let installed = served.node.applications().expect("applications");
    assert_eq!(installed.len(), 1);
    assert_eq!(installed[0].size, large.len() as u64);
    // Past the node's application limit: 413, nothing more installed.
    let limit = node::NodeConfig::default().max_application_size;
    let too_large = upload(vec![0; limit + 1], true).await.expect("an answer");
    assert_eq!(too_large.status(), 413);
    assert_eq!(served.node.applications().expect("applications").len(), 1);
}

#[tokio::test]
async fn an_upload_that_stops_arriving_gets_408() {
    let served = serve(with_limits(Limits {
        body_read_timeout: Duration::from_millis(300),
        ..Limits::default()
    }))
    .await;
    let path = "/admin-api/applications";
    let headers: String = served
        .client
        .auth_headers(served.auth.identity().public_key(), "POST", path, None)
        .into_iter()
        .map(|(name, value)| format!("{name}: {value}\r\n"))
        .collect();
    // 10 of the 1,000 bytes it announces, then nothing.
    let request = format!(
        "POST {path} HTTP/1.1\r\nhost: node\r\nconnection: close\r\ncontent-type: application/wasm\r\ncontent-length: 1000\r\n{headers}\r\n0123456789"
    );
    let answer = exchange(served.address, request.as_bytes()).await;
    assert!(answer.starts_with("HTTP/1.1 408"), "{answer}");
    assert!(answer.contains("did not arrive in time"), "{answer}");
}

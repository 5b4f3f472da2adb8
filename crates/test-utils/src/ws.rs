//! A WebSocket client for tests: connect, send and read JSON text frames,
//! and wait for the server's close frame, each with a deadline so a broken
//! server fails the test instead of hanging it.

use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use serde_json::Value;
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::protocol::CloseFrame;
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};

/// How long a test waits for the next frame.
pub const PATIENCE: Duration = Duration::from_secs(30);

/// A client connection.
pub type Client = WebSocketStream<MaybeTlsStream<TcpStream>>;

/// Connects to `url` (`ws://…`).
///
/// # Panics
/// When the upgrade fails.
pub async fn connect(url: &str) -> Client {
    tokio_tungstenite::connect_async(url)
        .await
        .unwrap_or_else(|err| panic!("connecting to {url}: {err}"))
        .0
}

/// Connects to `url` with extra request `headers`; the HTTP status when the
/// server refuses the upgrade.
///
/// # Panics
/// When the connection fails for another reason.
pub async fn connect_with(url: &str, headers: &[(String, String)]) -> Result<Client, u16> {
    use tokio_tungstenite::tungstenite::client::IntoClientRequest;
    use tokio_tungstenite::tungstenite::http::{HeaderName, HeaderValue};

    let mut request = url.into_client_request().expect("a ws:// url");
    for (name, value) in headers {
        request.headers_mut().insert(
            HeaderName::from_bytes(name.as_bytes()).expect("a header name"),
            HeaderValue::from_str(value).expect("a header value"),
        );
    }
    match tokio_tungstenite::connect_async(request).await {
        Ok((client, _)) => Ok(client),
        Err(tokio_tungstenite::tungstenite::Error::Http(response)) => {
            Err(response.status().as_u16())
        }
        Err(err) => panic!("connecting to {url}: {err}"),
    }
}

/// Sends `value` as one text frame.
///
/// # Panics
/// When the connection is gone.
pub async fn send(client: &mut Client, value: Value) {
    send_text(client, &value.to_string()).await;
}

/// Sends `text` as one text frame, whatever it holds.
///
/// # Panics
/// When the connection is gone.
pub async fn send_text(client: &mut Client, text: &str) {
    client
        .send(Message::Text(text.into()))
        .await
        .expect("the frame is sent");
}

/// The next text frame as JSON, skipping pings and pongs (the client library
/// answers pings itself).
///
/// # Panics
/// When no text frame arrives within [`PATIENCE`], the connection closes, or
/// the frame is not JSON.
pub async fn next_json(client: &mut Client) -> Value {
    loop {
        match tokio::time::timeout(PATIENCE, client.next()).await {
            Ok(Some(Ok(Message::Text(text)))) => {
                return serde_json::from_str(&text)
                    .unwrap_or_else(|err| panic!("a JSON frame, not {text}: {err}"));
            }
            Ok(Some(Ok(Message::Ping(_) | Message::Pong(_)))) => {}
            other => panic!("no text frame: {other:?}"),
        }
    }
}

/// The close frame the server sends, skipping any frames before it.
///
/// # Panics
/// When none arrives within [`PATIENCE`] or the connection ends without one.
pub async fn close_frame(client: &mut Client) -> CloseFrame {
    loop {
        match tokio::time::timeout(PATIENCE, client.next()).await {
            Ok(Some(Ok(Message::Close(Some(frame))))) => return frame,
            Ok(Some(Ok(Message::Close(None)) | Err(_)) | None) | Err(_) => {
                panic!("the connection ended without a close frame in time")
            }
            Ok(Some(Ok(_))) => {}
        }
    }
}

//! Downloads of applications installed by URL, kept away from the node's own
//! network: a URL (or a redirect) that leads to a loopback, private,
//! link-local or otherwise non-public address is refused before any request
//! is sent there, unless the node is configured to allow it.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

use axum::http::StatusCode;
use reqwest::Url;
use reqwest::dns::{Addrs, Name, Resolve, Resolving};
use sha2::{Digest, Sha256};

use crate::ApiError;

/// How long an application download may take.
const DOWNLOAD_TIMEOUT: Duration = Duration::from_secs(120);
/// Redirects followed at most.
const MAX_REDIRECTS: usize = 5;

/// Why a download was refused by the address policy.
#[derive(Debug)]
struct Refused(String);

impl std::fmt::Display for Refused {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for Refused {}

/// Why `ip` is not a public address, if it is not.
fn non_public(ip: IpAddr) -> Option<&'static str> {
    match ip {
        IpAddr::V4(ip) => non_public_v4(ip),
        IpAddr::V6(ip) => {
            if let Some(v4) = ip.to_ipv4_mapped() {
                return non_public_v4(v4);
            }
            let segments = ip.segments();
            let embedded = |high: u16, low: u16| {
                let [a, b] = high.to_be_bytes();
                let [c, d] = low.to_be_bytes();
                non_public_v4(Ipv4Addr::new(a, b, c, d))
            };
            if ip.is_loopback() {
                Some("loopback")
            } else if ip.is_unspecified() {
                Some("unspecified")
            } else if segments[0] & 0xfe00 == 0xfc00 {
                Some("private (unique local)")
            } else if segments[0] & 0xffc0 == 0xfe80 {
                Some("link-local")
            } else if ip.is_multicast() {
                Some("multicast")
            } else if segments[..3] == [0x64, 0xff9b, 1] {
                Some("local-use NAT64")
            } else if segments[0] == 0x2002 {
                // 6to4 carries an IPv4 address in bits 16..48.
                embedded(segments[1], segments[2])
            } else if segments[..6] == [0x64, 0xff9b, 0, 0, 0, 0]
                || segments[..6] == [0; 6]
                || segments[..6] == [0, 0, 0, 0, 0xffff, 0]
            {
                // NAT64, IPv4-compatible and IPv4-translated forms.
                embedded(segments[6], segments[7])
            } else {
                None
            }
        }
    }
}

fn non_public_v4(ip: Ipv4Addr) -> Option<&'static str> {
    let [a, b, c, _] = ip.octets();
    if ip.is_loopback() {
        Some("loopback")
    } else if ip.is_private() {
        Some("private")
    } else if ip.is_link_local() {
        Some("link-local")
    } else if ip.is_unspecified() || a == 0 {
        Some("unspecified")
    } else if a == 100 && (64..128).contains(&b) {
        Some("private (shared address space)")
    } else if ip.is_broadcast() || ip.is_multicast() || a >= 240 {
        Some("broadcast, multicast or reserved")
    } else if a == 198 && (b == 18 || b == 19) {
        Some("benchmarking")
    } else if (a, b, c) == (192, 0, 0)
        || (a, b, c) == (192, 0, 2)
        || (a, b, c) == (198, 51, 100)
        || (a, b, c) == (203, 0, 113)
    {
        Some("special-purpose")
    } else {
        None
    }
}

fn refusal(host: &str, ip: IpAddr, why: &str) -> Refused {
    Refused(format!(
        "{host} resolves to {ip}, a {why} address; downloads reach public addresses only \
         (set install_allow_private_hosts = true in config.toml to allow it)"
    ))
}

/// Resolves names and keeps public addresses only: connections go exactly
/// to the addresses checked here (no second lookup to rebind).
#[derive(Debug)]
struct PublicOnly;

impl Resolve for PublicOnly {
    fn resolve(&self, name: Name) -> Resolving {
        Box::pin(async move {
            let host = name.as_str().to_owned();
            let found: Vec<SocketAddr> =
                tokio::net::lookup_host((host.as_str(), 0)).await?.collect();
            let mut first_refusal = None;
            let public: Vec<SocketAddr> = found
                .into_iter()
                .filter(|addr| match non_public(addr.ip()) {
                    None => true,
                    Some(why) => {
                        first_refusal.get_or_insert_with(|| refusal(&host, addr.ip(), why));
                        false
                    }
                })
                .collect();
            if public.is_empty() {
                let error =
                    first_refusal.unwrap_or_else(|| Refused(format!("{host} has no address")));
                return Err(Box::new(error) as Box<dyn std::error::Error + Send + Sync>);
            }
            Ok(Box::new(public.into_iter()) as Addrs)
        })
    }
}

/// Checks a URL's scheme and, for an address literal, the address.
fn check_url(url: &Url, allow_private: bool) -> Result<(), Refused> {
    if !matches!(url.scheme(), "http" | "https") {
        return Err(Refused(format!("{url}: the url must be http or https")));
    }
    let Some(host) = url.host_str() else {
        return Err(Refused(format!("{url}: the url has no host")));
    };
    // Address literals are not resolved, so they are checked here.
    let literal = host.trim_start_matches('[').trim_end_matches(']');
    let Ok(ip) = literal.parse::<IpAddr>() else {
        return Ok(());
    };
    match non_public(ip) {
        Some(why) if !allow_private => Err(refusal(&ip.to_string(), ip, why)),
        _ => Ok(()),
    }
}

/// The HTTP client of installs by URL, with its address policy.
#[derive(Debug, Clone)]
pub(crate) struct Downloads {
    client: reqwest::Client,
    allow_private: bool,
}

impl Downloads {
    /// A client that reaches public addresses only, or any with `allow_private`.
    pub(crate) fn new(allow_private: bool) -> Result<Self, ApiError> {
        let policy = reqwest::redirect::Policy::custom(move |attempt| {
            // `previous` holds the first URL and every redirect followed so far.
            if attempt.previous().len() > MAX_REDIRECTS {
                return attempt.error(Refused(format!("more than {MAX_REDIRECTS} redirects")));
            }
            let downgrade = attempt.url().scheme() == "http"
                && attempt
                    .previous()
                    .iter()
                    .any(|earlier| earlier.scheme() == "https");
            if downgrade {
                let message = format!("a redirect from https to {} is refused", attempt.url());
                return attempt.error(Refused(message));
            }
            match check_url(attempt.url(), allow_private) {
                Ok(()) => attempt.follow(),
                Err(refused) => attempt.error(refused),
            }
        });
        let mut builder = reqwest::Client::builder()
            .timeout(DOWNLOAD_TIMEOUT)
            .redirect(policy)
            .no_proxy();
        if !allow_private {
            builder = builder.dns_resolver(Arc::new(PublicOnly));
        }
        let client = builder.build().map_err(ApiError::internal)?;
        Ok(Self {
            client,
            allow_private,
        })
    }

    /// Downloads `url` (at most `limit` bytes), checking its SHA-256 against
    /// `hash` while streaming. Without a `hash`, only `https` is accepted.
    pub(crate) async fn fetch(
        &self,
        url: &str,
        hash: Option<node_primitives::Hash>,
        limit: u64,
    ) -> Result<Vec<u8>, ApiError> {
        let bad_request = |message: String| ApiError::new(StatusCode::BAD_REQUEST, message);
        let url =
            Url::parse(url).map_err(|err| bad_request(format!("invalid url {url:?}: {err}")))?;
        check_url(&url, self.allow_private).map_err(|refused| bad_request(refused.0))?;
        if hash.is_none() && url.scheme() != "https" {
            return Err(bad_request(format!(
                "{url}: a `hash` (SHA-256 of the wasm) is required unless the url is https"
            )));
        }
        let too_large = || {
            ApiError::new(
                StatusCode::PAYLOAD_TOO_LARGE,
                format!("the application exceeds {limit} bytes"),
            )
        };
        let failed = |err: reqwest::Error| {
            let mut source: Option<&(dyn std::error::Error + 'static)> = Some(&err);
            while let Some(error) = source {
                if let Some(refused) = error.downcast_ref::<Refused>() {
                    return bad_request(format!("downloading {url}: {refused}"));
                }
                source = error.source();
            }
            ApiError::new(StatusCode::BAD_GATEWAY, format!("downloading {url}: {err}"))
        };
        let mut response = self.client.get(url.clone()).send().await.map_err(failed)?;
        if !response.status().is_success() {
            return Err(ApiError::new(
                StatusCode::BAD_GATEWAY,
                format!(
                    "downloading {url}: the server answered {}",
                    response.status()
                ),
            ));
        }
        if response
            .content_length()
            .is_some_and(|length| length > limit)
        {
            return Err(too_large());
        }
        let mut wasm = Vec::new();
        let mut hasher = Sha256::new();
        while let Some(chunk) = response.chunk().await.map_err(failed)? {
            if (wasm.len() + chunk.len()) as u64 > limit {
                return Err(too_large());
            }
            hasher.update(&chunk);
            wasm.extend_from_slice(&chunk);
        }
        let downloaded = node_primitives::Hash::from_bytes(hasher.finalize().into());
        if let Some(expected) = hash
            && expected != downloaded
        {
            return Err(bad_request(format!(
                "hash mismatch: expected {expected}, downloaded {downloaded}"
            )));
        }
        Ok(wasm)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_public_addresses_pass() {
        for private in [
            "127.0.0.1",
            "10.1.2.3",
            "172.16.0.1",
            "192.168.1.1",
            "169.254.169.254",
            "0.0.0.0",
            "100.64.0.1",
            "255.255.255.255",
            "::1",
            "::",
            "fe80::1",
            "fd00::1",
            "::ffff:127.0.0.1",
            "::ffff:10.0.0.1",
            "64:ff9b::a9fe:a9fe",
            "64:ff9b:1::1",
            "2002:7f00:1::",
            "2002:a9fe:a9fe::1",
            "::ffff:0:7f00:1",
            "240.0.0.1",
            "198.18.0.1",
            "192.0.0.8",
        ] {
            let ip: IpAddr = private.parse().expect("address");
            assert!(non_public(ip).is_some(), "{private}");
        }
        for public in [
            "93.184.216.34",
            "1.1.1.1",
            "2606:4700::1111",
            "2002:5db8:d822::1",
        ] {
            let ip: IpAddr = public.parse().expect("address");
            assert_eq!(non_public(ip), None, "{public}");
        }
    }

    #[test]
    fn urls_are_checked_before_any_request() {
        let check = |url: &str| check_url(&Url::parse(url).expect("url"), false);
        assert!(check("http://127.0.0.1:8080/app.wasm").is_err());
        assert!(check("http://[::1]/app.wasm").is_err());
        assert!(check("ftp://example.com/app.wasm").is_err());
        assert!(check("https://example.com/app.wasm").is_ok());
        assert!(check_url(&Url::parse("http://127.0.0.1/a").expect("url"), true).is_ok());
    }
}

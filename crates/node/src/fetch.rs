//! The guest's outgoing HTTP (`fetch`): off unless the node lists the hosts an
//! application may reach; every request has a deadline and a response cap, and
//! redirects are not followed (they could lead off the list).

use std::time::Duration;

use node_runtime::Fetch;
use ureq::http::{Method, Request, Uri};

/// Which hosts the guest may reach, and how much it may take.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FetchConfig {
    /// Host names (or IP addresses) allowed, compared case-insensitively.
    /// Empty: `fetch` is disabled.
    pub allowed_hosts: Vec<String>,
    /// Deadline of one request, connection included.
    pub timeout: Duration,
    /// Largest response body accepted, bytes.
    pub max_response_bytes: u64,
}

impl Default for FetchConfig {
    fn default() -> Self {
        Self {
            allowed_hosts: Vec::new(),
            timeout: Duration::from_secs(5),
            max_response_bytes: 1024 * 1024,
        }
    }
}

/// [`Fetch`] over HTTP(S) to the allowed hosts.
#[derive(Debug)]
pub(crate) struct HttpFetch {
    config: FetchConfig,
    agent: ureq::Agent,
}

impl HttpFetch {
    /// The fetcher for `config`, or `None` when no host is allowed.
    pub fn new(config: &FetchConfig) -> Option<Self> {
        if config.allowed_hosts.is_empty() {
            return None;
        }
        let agent = ureq::Agent::new_with_config(
            ureq::Agent::config_builder()
                .timeout_global(Some(config.timeout))
                .http_status_as_error(false)
                .max_redirects(0)
                .build(),
        );
        Some(Self {
            config: config.clone(),
            agent,
        })
    }
}

impl Fetch for HttpFetch {
    fn fetch(
        &self,
        url: &str,
        method: &str,
        headers: &[(String, String)],
        body: &[u8],
    ) -> Result<Vec<u8>, String> {
        let uri: Uri = url
            .parse()
            .map_err(|_| format!("fetch: invalid URL {url:?}"))?;
        if !matches!(uri.scheme_str(), Some("http" | "https")) {
            return Err(format!(
                "fetch: only http and https URLs are allowed, got {url:?}"
            ));
        }
        let host = uri.host().unwrap_or_default();
        if !self
            .config
            .allowed_hosts
            .iter()
            .any(|allowed| allowed.eq_ignore_ascii_case(host))
        {
            return Err(format!("fetch: host {host:?} is not allowed on this node"));
        }
        let method: Method = method
            .parse()
            .map_err(|_| format!("fetch: invalid method {method:?}"))?;
        let mut request = Request::builder().method(method).uri(uri);
        for (name, value) in headers {
            request = request.header(name.as_str(), value.as_str());
        }
        let request = request
            .body(body.to_vec())
            .map_err(|err| format!("fetch: invalid request: {err}"))?;
        let mut response = self
            .agent
            .run(request)
            .map_err(|err| format!("fetch: {err}"))?;
        let status = response.status();
        if status.as_u16() >= 400 {
            return Err(format!("fetch: HTTP {status}"));
        }
        response
            .body_mut()
            .with_config()
            .limit(self.config.max_response_bytes)
            .read_to_vec()
            .map_err(|err| format!("fetch: reading the response: {err}"))
    }
}

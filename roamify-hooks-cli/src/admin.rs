//! What an operator asks, of a store opened here or of a running server: both through the same
//! admin API ([`roamify_hooks::admin`]), in-process for a store, over HTTP for a server, so both
//! answer the same JSON.

use std::sync::Arc;

use roamify_hooks::admin::{AdminApi, AdminRequest, AdminTokens};
use roamify_hooks::delivery::Admin;
use serde_json::Value;

/// The token of the API built in-process over a store (it never leaves the process).
const LOCAL_TOKEN: &str = "roamify-hooks-cli-local-token";

/// Where the admin API is.
#[derive(Debug, Clone)]
pub enum Source {
    /// A store this process opened.
    Store(AdminApi),
    /// A running server's admin API.
    Server(Remote),
}

/// A server's admin API: its base URL with the admin path, and the token.
#[derive(Debug, Clone)]
pub struct Remote {
    base: String,
    token: String,
    client: reqwest::Client,
}

/// An answer that is not 2xx: its status and message.
#[derive(Debug, thiserror::Error)]
#[error("{status}: {message}")]
pub struct Refused {
    /// The HTTP status.
    pub status: u16,
    /// The API's message.
    pub message: String,
}

/// Why a call did not get an answer, or got a refusal.
#[derive(Debug, thiserror::Error)]
pub enum CallError {
    /// The server could not be reached, or its answer was not the API's JSON.
    #[error("the admin API at {url} did not answer")]
    Unreachable {
        /// What was called.
        url: String,
        /// Why.
        #[source]
        source: Box<dyn std::error::Error + Send + Sync>,
    },
    /// The API refused.
    #[error(transparent)]
    Refused(#[from] Refused),
}

impl Source {
    /// The admin API over `store`.
    ///
    /// # Panics
    /// Never: the local token is long enough.
    #[must_use]
    pub fn store(store: Arc<dyn Admin>) -> Self {
        let tokens = AdminTokens::new(LOCAL_TOKEN).expect("a valid token");
        Self::Store(AdminApi::new(store, tokens))
    }

    /// The admin API of the server at `server` (its base URL, `http://10.0.0.5:8080`), mounted at
    /// `path` ([`roamify_hooks::admin::DEFAULT_PATH`] by default), reached with `token`.
    #[must_use]
    pub fn server(server: &str, path: &str, token: String) -> Self {
        let base = format!(
            "{}/{}",
            server.trim_end_matches('/'),
            path.trim_matches('/')
        );
        // reqwest is built without a bundled TLS provider (an HTTPS server): use ring.
        let _ = rustls::crypto::ring::default_provider().install_default();
        Self::Server(Remote {
            base: base.trim_end_matches('/').to_owned(),
            token,
            client: reqwest::Client::new(),
        })
    }

    /// Calls `method path?query` (the path under the mount: `/api/counts`) with `body`: the JSON
    /// answer, when 2xx.
    ///
    /// # Errors
    /// [`CallError::Refused`] with the API's status and message; [`CallError::Unreachable`].
    pub async fn call(
        &self,
        method: &str,
        path: &str,
        query: &str,
        body: Option<&Value>,
    ) -> Result<Value, CallError> {
        let body = body.map(Value::to_string).unwrap_or_default();
        let (status, answer) = match self {
            Self::Store(api) => {
                let auth = format!("Bearer {LOCAL_TOKEN}");
                let request = AdminRequest::new(method, path, query)
                    .authorization(auth.as_bytes())
                    .body(body.as_bytes());
                let reply = api.handle(request).await;
                let value = serde_json::from_slice(reply.body()).unwrap_or(Value::Null);
                (reply.status(), value)
            }
            Self::Server(remote) => remote.call(method, path, query, body).await?,
        };
        if (200..300).contains(&status) {
            return Ok(answer);
        }
        let message = answer["message"]
            .as_str()
            .map_or_else(|| answer.to_string(), str::to_owned);
        Err(Refused { status, message }.into())
    }
}

impl Remote {
    async fn call(
        &self,
        method: &str,
        path: &str,
        query: &str,
        body: String,
    ) -> Result<(u16, Value), CallError> {
        let mut url = format!("{}{path}", self.base);
        if !query.is_empty() {
            url = format!("{url}?{query}");
        }
        let unreachable =
            |source: Box<dyn std::error::Error + Send + Sync>| CallError::Unreachable {
                url: url.clone(),
                source,
            };
        let method =
            reqwest::Method::from_bytes(method.as_bytes()).map_err(|e| unreachable(Box::new(e)))?;
        let mut request = self.client.request(method, &url).bearer_auth(&self.token);
        if !body.is_empty() {
            request = request
                .header(reqwest::header::CONTENT_TYPE, "application/json")
                .body(body);
        }
        let response = request.send().await.map_err(|e| unreachable(Box::new(e)))?;
        let status = response.status().as_u16();
        let bytes = response
            .bytes()
            .await
            .map_err(|e| unreachable(Box::new(e)))?;
        let value = serde_json::from_slice(&bytes).map_err(|e| unreachable(Box::new(e)))?;
        Ok((status, value))
    }
}

/// The query string of `pairs` (empty values left out), percent-encoded.
#[must_use]
pub fn query(pairs: &[(&str, Option<String>)]) -> String {
    let mut out = form_urlencoded::Serializer::new(String::new());
    for (name, value) in pairs {
        if let Some(value) = value.as_deref().filter(|v| !v.is_empty()) {
            out.append_pair(name, value);
        }
    }
    out.finish()
}

/// Every dead letter matching `filter` (a query string), the newest first, page by page.
///
/// # Errors
/// As [`Source::call`].
pub async fn all_dead_letters(source: &Source, filter: &str) -> Result<Vec<Value>, CallError> {
    let mut items = Vec::new();
    loop {
        let page = format!("{filter}&offset={}&limit=500", items.len());
        let answer = source.call("GET", "/api/dead-letters", &page, None).await?;
        let got = answer["items"].as_array().cloned().unwrap_or_default();
        let total = answer["total"].as_u64().unwrap_or(0);
        let done = got.is_empty();
        items.extend(got);
        if done || items.len() as u64 >= total {
            return Ok(items);
        }
    }
}

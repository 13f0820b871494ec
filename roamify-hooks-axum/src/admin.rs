//! The admin API and its page, mounted as one router (feature `admin`).

use axum::Router;
use axum::extract::Request;
use axum::http::{HeaderName, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse as _, Response};
use axum::routing::any;
use roamify_hooks::admin::{AdminApi, AdminReply, AdminRequest, BODY_LIMIT};
use roamify_hooks::http::{self as policy, Unread};

/// The admin API and its web page under `path` (e.g. [`roamify_hooks::admin::DEFAULT_PATH`]), as
/// a router to [`merge`](Router::merge) into the application's, or, better, to serve on an
/// internal address of its own. Every answer is the runtime's ([`roamify_hooks::admin`]).
///
/// ```no_run
/// # use roamify_hooks::{handlers, Receiver, Secret};
/// # async fn run(receiver: Receiver<impl roamify_hooks::Dispatch>) -> Result<(), Box<dyn std::error::Error>> {
/// use roamify_hooks::admin::{AdminTokens, DEFAULT_PATH};
///
/// if let Some(tokens) = AdminTokens::from_env()? {
///     let admin: axum::Router = roamify_hooks_axum::admin(DEFAULT_PATH, receiver.admin(tokens));
///     let listener = tokio::net::TcpListener::bind("10.0.0.5:9000").await?;
///     tokio::spawn(async move { axum::serve(listener, admin).await });
/// }
/// # Ok(())
/// # }
/// ```
pub fn admin<S>(path: &str, api: AdminApi) -> Router<S>
where
    S: Clone + Send + Sync + 'static,
{
    let mount = path.trim_end_matches('/').to_owned();
    let handler = {
        let mount = mount.clone();
        any(move |request: Request| {
            let api = api.clone();
            let mount = mount.clone();
            async move { answer(&api, &mount, request).await }
        })
    };
    let root = if mount.is_empty() { "/" } else { &mount };
    let router = Router::new().route(&format!("{mount}/{{*rest}}"), handler.clone());
    if mount.is_empty() {
        router.route(root, handler)
    } else {
        router
            .route(root, handler.clone())
            .route(&format!("{mount}/"), handler)
    }
}

async fn answer(api: &AdminApi, mount: &str, request: Request) -> Response {
    let (parts, body) = request.into_parts();
    let declared = parts
        .headers
        .get(header::CONTENT_LENGTH)
        .map(HeaderValue::as_bytes);
    let reply = match policy::read_body(declared, BODY_LIMIT, body.into_data_stream()).await {
        Ok(body) => {
            let path = parts.uri.path();
            let under = path.strip_prefix(mount).unwrap_or(path);
            let query = parts.uri.query().unwrap_or("");
            let mut admin = AdminRequest::new(parts.method.as_str(), under, query)
                .mount(mount)
                .body(&body);
            if let Some(value) = parts.headers.get(header::AUTHORIZATION) {
                admin = admin.authorization(value.as_bytes());
            }
            api.handle(admin).await
        }
        Err(Unread::TooLarge) => AdminReply::too_large(),
        Err(_) => AdminReply::unreadable(),
    };
    respond(reply)
}

fn respond(reply: AdminReply) -> Response {
    let status = StatusCode::from_u16(reply.status()).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    let headers: Vec<(HeaderName, HeaderValue)> = reply
        .headers()
        .iter()
        .filter_map(|(name, value)| {
            Some((
                HeaderName::from_static(name),
                HeaderValue::from_str(value).ok()?,
            ))
        })
        .collect();
    let mut response = (status, reply.into_body()).into_response();
    for (name, value) in headers {
        response.headers_mut().insert(name, value);
    }
    response
}

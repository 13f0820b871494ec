//! The admin API and its page, mounted as one scope (feature `admin`).

use actix_web::http::StatusCode;
use actix_web::http::header::{self, HeaderName, HeaderValue};
use actix_web::{HttpRequest, HttpResponse, web};
use roamify_hooks::admin::{AdminApi, AdminReply, AdminRequest, BODY_LIMIT};
use roamify_hooks::http::{self as policy, Unread};

/// The admin API and its web page under `path` (e.g. [`roamify_hooks::admin::DEFAULT_PATH`]):
/// register it with `App::service`, on the webhook's server or, better, on one of its own
/// bound to an internal address. Every answer is the runtime's ([`roamify_hooks::admin`]).
///
/// ```no_run
/// # use roamify_hooks::{handlers, Receiver, Secret};
/// # fn run(receiver: Receiver<impl roamify_hooks::Dispatch>) -> Result<(), Box<dyn std::error::Error>> {
/// use actix_web::{App, HttpServer};
/// use roamify_hooks::admin::{AdminTokens, DEFAULT_PATH};
///
/// if let Some(tokens) = AdminTokens::from_env()? {
///     let api = receiver.admin(tokens);
///     let server = HttpServer::new(move || {
///         App::new().service(roamify_hooks_actix::admin(DEFAULT_PATH, api.clone()))
///     })
///     .bind("10.0.0.5:9000")?;
///     # drop(server);
/// }
/// # Ok(())
/// # }
/// ```
pub fn admin(path: &str, api: AdminApi) -> actix_web::Scope {
    let mount = path.trim_end_matches('/').to_owned();
    let scope = if mount.is_empty() { "" } else { &mount };
    web::scope(scope).default_service(web::to(
        move |request: HttpRequest, payload: web::Payload| {
            let api = api.clone();
            let mount = mount.clone();
            async move { answer(&api, &mount, &request, payload).await }
        },
    ))
}

async fn answer(
    api: &AdminApi,
    mount: &str,
    request: &HttpRequest,
    payload: web::Payload,
) -> HttpResponse {
    let declared = request
        .headers()
        .get(header::CONTENT_LENGTH)
        .map(HeaderValue::as_bytes);
    let reply = match policy::read_body(declared, BODY_LIMIT, payload).await {
        Ok(body) => {
            let path = request.path();
            let under = path.strip_prefix(mount).unwrap_or(path);
            let mut admin =
                AdminRequest::new(request.method().as_str(), under, request.query_string())
                    .mount(mount)
                    .body(&body);
            if let Some(value) = request.headers().get(header::AUTHORIZATION) {
                admin = admin.authorization(value.as_bytes());
            }
            api.handle(admin).await
        }
        Err(Unread::TooLarge) => AdminReply::too_large(),
        Err(_) => AdminReply::unreadable(),
    };
    respond(reply)
}

fn respond(reply: AdminReply) -> HttpResponse {
    let status = StatusCode::from_u16(reply.status()).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    let mut response = HttpResponse::build(status);
    for (name, value) in reply.headers() {
        if let Ok(value) = HeaderValue::from_str(value) {
            response.insert_header((HeaderName::from_static(name), value));
        }
    }
    response.body(reply.into_body())
}

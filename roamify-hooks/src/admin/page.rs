//! The operations page: one HTML file, a script and a style sheet, compiled into the binary and
//! served without a token (they hold no data; the script asks for the token and sends it with
//! each API call, in a header, never a cookie, so no other site can make a request on its
//! behalf). Everything the script shows is set as text, never parsed as HTML, and the
//! Content-Security-Policy lets the page load nothing but these three files and call nothing but
//! this API.

use super::{AdminReply, AdminRequest};

const INDEX: &str = include_str!("page/index.html");
const SCRIPT: &str = include_str!("page/app.js");
const STYLE: &str = include_str!("page/app.css");

/// The page's Content-Security-Policy: its own script and style only, no inline code, calls to
/// its own origin only, no frames, no forms posted anywhere.
pub(crate) const PAGE_POLICY: &str = "default-src 'none'; script-src 'self'; style-src 'self'; \
     connect-src 'self'; img-src 'self'; base-uri 'none'; form-action 'none'; \
     frame-ancestors 'none'";

/// The page's answer to `request`, or `None` when it is not one of the page's paths (the API's).
pub(super) fn serve(request: &AdminRequest<'_>) -> Option<AdminReply> {
    if request.method != "GET" && request.method != "HEAD" {
        return None;
    }
    let (content_type, text) = match request.path {
        "" => {
            let location = format!("{}/", request.mount);
            return Some(
                AdminReply::new(308, "text/plain; charset=utf-8", PAGE_POLICY, Vec::new())
                    .with_header("location", location),
            );
        }
        "/" | "/index.html" => ("text/html; charset=utf-8", INDEX),
        "/assets/app.js" => ("text/javascript; charset=utf-8", SCRIPT),
        "/assets/app.css" => ("text/css; charset=utf-8", STYLE),
        _ => return None,
    };
    Some(AdminReply::new(
        200,
        content_type,
        PAGE_POLICY,
        text.as_bytes().to_vec(),
    ))
}

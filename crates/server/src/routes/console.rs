//! The web console (`GET /console` and its assets) and `GET /v1/tenants/{t}/whoami`, the
//! signed-in principal the console shapes its pages by.
//!
//! The assets are hand-written HTML, CSS and ES modules under `crates/server/console/`,
//! embedded in the binary: no build step, no separate server. Every answer carries a strict
//! Content-Security-Policy (scripts and styles only from this origin, no inline code, no
//! framing), `nosniff` and `no-referrer`. The console holds the key in memory or session
//! storage and calls the JSON API with `Authorization: Bearer`; the server decides, the
//! console only hides what the role cannot do.

use axum::Json;
use axum::http::{HeaderName, HeaderValue, header};
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};
use steward_access::Principal;

use crate::auth::Authorized;

/// The console's Content-Security-Policy: nothing inline, nothing from elsewhere.
pub const CONTENT_SECURITY_POLICY: &str = "default-src 'self'; script-src 'self'; \
style-src 'self'; img-src 'self' data:; connect-src 'self'; frame-ancestors 'none'; \
base-uri 'none'; form-action 'self'";

/// One embedded file: its path under `/console`, content type and bytes.
pub struct Asset {
    pub path: &'static str,
    pub content_type: &'static str,
    pub body: &'static str,
}

const JS: &str = "text/javascript; charset=utf-8";

/// Every file the console is made of (each is a route of its own in `ROUTES`).
pub const ASSETS: &[Asset] = &[
    Asset {
        path: "/console",
        content_type: "text/html; charset=utf-8",
        body: include_str!("../../console/index.html"),
    },
    Asset {
        path: "/console/console.css",
        content_type: "text/css; charset=utf-8",
        body: include_str!("../../console/console.css"),
    },
    Asset {
        path: "/console/app.js",
        content_type: JS,
        body: include_str!("../../console/app.js"),
    },
    Asset {
        path: "/console/api.js",
        content_type: JS,
        body: include_str!("../../console/api.js"),
    },
    Asset {
        path: "/console/dom.js",
        content_type: JS,
        body: include_str!("../../console/dom.js"),
    },
    Asset {
        path: "/console/charts.js",
        content_type: JS,
        body: include_str!("../../console/charts.js"),
    },
    Asset {
        path: "/console/pages.js",
        content_type: JS,
        body: include_str!("../../console/pages.js"),
    },
    Asset {
        path: "/console/verify.js",
        content_type: JS,
        body: include_str!("../../console/verify.js"),
    },
    Asset {
        path: "/console/favicon.svg",
        content_type: "image/svg+xml",
        body: include_str!("../../console/favicon.svg"),
    },
];

/// The answer for one asset, with the console's security headers.
fn asset(path: &str) -> Response {
    let Some(asset) = ASSETS.iter().find(|a| a.path == path) else {
        return crate::ApiError::not_found("route").into_response();
    };
    let mut response = asset.body.into_response();
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static(asset.content_type),
    );
    headers.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(CONTENT_SECURITY_POLICY),
    );
    headers.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    headers.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("no-referrer"),
    );
    headers.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    headers.insert(
        HeaderName::from_static("cross-origin-opener-policy"),
        HeaderValue::from_static("same-origin"),
    );
    // The assets change with the binary; a stale module mixed with a new page would break.
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    response
}

pub async fn index() -> Response {
    asset("/console")
}
pub async fn css() -> Response {
    asset("/console/console.css")
}
pub async fn app_js() -> Response {
    asset("/console/app.js")
}
pub async fn api_js() -> Response {
    asset("/console/api.js")
}
pub async fn dom_js() -> Response {
    asset("/console/dom.js")
}
pub async fn charts_js() -> Response {
    asset("/console/charts.js")
}
pub async fn pages_js() -> Response {
    asset("/console/pages.js")
}
pub async fn verify_js() -> Response {
    asset("/console/verify.js")
}
pub async fn favicon() -> Response {
    asset("/console/favicon.svg")
}

/// Who the bearer token is, in the tenant named by the path: kind, tenant, roles, key id or
/// user subject, and the purposes the credential is scoped to (empty: whatever its roles allow).
pub async fn whoami(auth: Authorized) -> Json<Value> {
    Json(match &auth.principal {
        Principal::Operator => json!({"kind": "operator", "principal": "operator", "roles": []}),
        Principal::Key {
            tenant,
            key_id,
            role,
            purposes,
            ..
        } => json!({
            "kind": "key",
            "principal": auth.principal.audit_name(),
            "tenant": tenant,
            "key_id": key_id,
            "role": role.as_str(),
            "roles": [role.as_str()],
            "purposes": purposes,
        }),
        Principal::User {
            tenant,
            sub,
            roles,
            purposes,
        } => json!({
            "kind": "user",
            "principal": auth.principal.audit_name(),
            "tenant": tenant,
            "sub": sub,
            "role": roles.first().map(|r| r.as_str()),
            "roles": roles.iter().map(|r| r.as_str()).collect::<Vec<_>>(),
            "purposes": purposes,
        }),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_asset_is_served_with_its_type_and_the_policy() {
        for a in ASSETS {
            let response = asset(a.path);
            assert_eq!(response.status(), 200, "{}", a.path);
            let h = response.headers();
            assert_eq!(h[header::CONTENT_TYPE], a.content_type, "{}", a.path);
            assert_eq!(h[header::CONTENT_SECURITY_POLICY], CONTENT_SECURITY_POLICY);
            assert_eq!(h[header::X_CONTENT_TYPE_OPTIONS], "nosniff");
            assert_eq!(h[header::REFERRER_POLICY], "no-referrer");
        }
    }

    #[test]
    fn every_asset_is_a_route() {
        for a in ASSETS {
            assert!(
                crate::ROUTES
                    .iter()
                    .any(|r| r.method == "GET" && r.path == a.path && !r.authenticated),
                "{} is not a public route in ROUTES",
                a.path
            );
        }
    }

    /// An `on…=` attribute (onclick, onload, ...) anywhere in the markup.
    fn has_handler_attribute(html: &str) -> bool {
        html.match_indices(" on").any(|(i, _)| {
            let rest = &html[i + 3..];
            let name_len = rest.bytes().take_while(u8::is_ascii_lowercase).count();
            name_len > 0 && rest[name_len..].trim_start().starts_with('=')
        })
    }

    /// The CSP forbids inline code: the files must not rely on any.
    #[test]
    fn no_inline_script_style_or_html_sinks() {
        for a in ASSETS {
            let body = a.body;
            if a.path == "/console" {
                assert!(!body.contains("<style"), "inline <style> in the page");
                assert!(
                    !body.contains(" style="),
                    "inline style attribute in the page"
                );
                assert!(
                    !has_handler_attribute(body),
                    "inline handler attribute in the page"
                );
                for (i, _) in body.match_indices("<script") {
                    let tag = &body[i..body[i..].find('>').map_or(body.len(), |e| i + e)];
                    assert!(tag.contains(" src="), "inline <script> in the page");
                }
            }
            if a.content_type == JS {
                for sink in [
                    ".innerHTML",
                    ".outerHTML",
                    "insertAdjacentHTML",
                    "document.write",
                    "eval(",
                    "new Function",
                ] {
                    assert!(!body.contains(sink), "{} uses {sink}", a.path);
                }
                assert!(
                    !body.contains("localStorage"),
                    "{} uses localStorage",
                    a.path
                );
                assert!(
                    !body.contains("document.cookie"),
                    "{} touches cookies",
                    a.path
                );
            }
        }
    }
}

//! The web UI, embedded in the binary at build time (see `build.rs`): files by path, and
//! `index.html` for every other page so client-side routes work on reload.

use axum::http::{HeaderValue, StatusCode, Uri, header};
use axum::response::{IntoResponse, Response};

use crate::http::error::ApiError;

mod assets {
    include!(concat!(env!("OUT_DIR"), "/ui_assets.rs"));
}

/// One embedded file: path (no leading slash), content type, bytes.
pub type Asset = (&'static str, &'static str, &'static [u8]);

/// Every embedded file.
pub fn assets() -> &'static [Asset] {
    assets::ASSETS
}

fn find(path: &str) -> Option<&'static Asset> {
    assets::ASSETS.iter().find(|(p, _, _)| *p == path)
}

/// Serves the UI (the router's fallback).
pub async fn serve(uri: Uri) -> Response {
    let path = uri.path().trim_start_matches('/');
    if path.starts_with("api/") {
        return ApiError::not_found(format!("no API route {}", uri.path())).into_response();
    }
    if let Some((_, mime, bytes)) = find(path).filter(|_| !path.is_empty()) {
        // Vite puts content hashes in asset names: those never change.
        let cache =
            if path.starts_with("assets/") { "public, max-age=31536000, immutable" } else { "no-cache" };
        return file(mime, bytes, cache);
    }
    let looks_like_file = path.rsplit('/').next().is_some_and(|last| last.contains('.'));
    match find("index.html") {
        Some((_, mime, bytes)) if !looks_like_file => file(mime, bytes, "no-cache"),
        _ => (StatusCode::NOT_FOUND, "not found").into_response(),
    }
}

fn file(mime: &'static str, bytes: &'static [u8], cache: &'static str) -> Response {
    let mut response = bytes.into_response();
    let headers = response.headers_mut();
    headers.insert(header::CONTENT_TYPE, HeaderValue::from_static(mime));
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static(cache));
    headers.insert(header::X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
    headers.insert("referrer-policy", HeaderValue::from_static("no-referrer"));
    response
}

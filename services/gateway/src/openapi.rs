//! The OpenAPI document and the offline docs page.

use axum::Router;

use crate::AppState;

/// Routes that serve `/openapi.json` and the docs page.
pub fn routes() -> Router<AppState> {
    Router::new()
}

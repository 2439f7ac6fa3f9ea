//! KYB (business verification) in Middesk's shapes, under `/kyb`.
//!
//! `POST /v1/businesses` stores the submission and returns it with status `open`.
//! `GET /v1/businesses/{id}` returns the finished review at once. The sandbox has no
//! intermediate `pending` or `in_audit` states and sends no webhooks.

mod render;
mod submission;

use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use chrono::{DateTime, Utc};
use uuid::Uuid;

use crate::SandboxState;
use crate::derive;
use crate::error::middesk_error;
use crate::request::{ProviderJson, idempotency_key};

use submission::{CreateBusinessRequest, Submission};

pub(crate) fn routes() -> Router<SandboxState> {
    Router::new()
        .route("/kyb/v1/businesses", post(create_business))
        .route("/kyb/v1/businesses/{id}", get(get_business))
}

/// A business created through `POST /v1/businesses`.
struct StoredBusiness {
    id: Uuid,
    submission: Submission,
    created_at: DateTime<Utc>,
}

/// Businesses created since the sandbox started, by id.
///
/// NOTE: nothing is ever removed, so memory grows with the number of distinct businesses
/// created. That is fine for test runs, not for a long-lived shared sandbox.
#[derive(Default)]
pub(crate) struct BusinessStore {
    businesses: Mutex<HashMap<Uuid, Arc<StoredBusiness>>>,
}

impl BusinessStore {
    /// Returns the business stored under `id`, storing `business` first if there is none.
    fn get_or_insert(&self, business: StoredBusiness) -> Arc<StoredBusiness> {
        self.lock()
            .entry(business.id)
            .or_insert_with(|| Arc::new(business))
            .clone()
    }

    fn get(&self, id: &Uuid) -> Option<Arc<StoredBusiness>> {
        self.lock().get(id).cloned()
    }

    fn lock(&self) -> MutexGuard<'_, HashMap<Uuid, Arc<StoredBusiness>>> {
        self.businesses
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
    }
}

/// Creates a business, or returns the one created earlier with the same id.
///
/// The id is a UUID v5 of the `Idempotency-Key` header, or of the raw body when the header
/// is absent, so a retried request returns the first business unchanged.
async fn create_business(
    State(state): State<SandboxState>,
    headers: HeaderMap,
    body: ProviderJson<CreateBusinessRequest>,
) -> Response {
    let key = idempotency_key(&headers);
    let id = if key.is_empty() {
        body.derive_id("kyb.business.body")
    } else {
        derive::uuid_from(&[b"kyb.business.key", key.as_bytes()])
    };

    let submission = match Submission::validate(body.value) {
        Ok(submission) => submission,
        Err(invalid) => {
            return middesk_error(
                StatusCode::UNPROCESSABLE_ENTITY,
                invalid.message,
                Some(invalid.parameter),
            );
        }
    };

    let stored = state.businesses().get_or_insert(StoredBusiness {
        id,
        submission,
        created_at: Utc::now(),
    });
    (StatusCode::CREATED, Json(render::open_business(&stored))).into_response()
}

async fn get_business(State(state): State<SandboxState>, Path(id): Path<String>) -> Response {
    let stored = Uuid::parse_str(&id)
        .ok()
        .and_then(|uuid| state.businesses().get(&uuid));
    match stored {
        Some(stored) => Json(render::finished_business(&stored)).into_response(),
        None => middesk_error(
            StatusCode::NOT_FOUND,
            format!("business {id} not found; create it with POST /v1/businesses first"),
            None,
        ),
    }
}

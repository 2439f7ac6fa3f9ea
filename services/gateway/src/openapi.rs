//! The OpenAPI 3.1 document of the HTTP API, served at `/openapi.json`, and the Swagger UI
//! page at `/docs`, whose assets are compiled into the binary so that it works offline.
//!
//! Handlers build their JSON with `json!`, so the schemas here are written by hand to mirror
//! that JSON field by field (`views.rs`, the handlers in `routes/` and `error.rs`). The
//! operations are the `#[utoipa::path]` attributes on the handlers. `scripts/schemathesis.sh`
//! checks the document against a running gateway, and the snapshot test below fails on any
//! change to the document that was not accepted on purpose.

use axum::Router;
use utoipa::openapi::RefOr;
use utoipa::openapi::schema::{Schema, SchemaType, Type};
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::{Modify, OpenApi};
use utoipa_swagger_ui::{Config, SwaggerUi};

use crate::AppState;
use crate::routes;

pub use self::params::{IncludeParams, LogListParams};
pub use self::responses::{
    BadRequest, Conflict, InternalError, NotFound, PayloadTooLarge, RequestTimeout,
    ServiceUnavailable, TooManyRequests, Unauthenticated, UnsupportedMediaType, ValidationFailed,
};
pub use self::schemas::*;

/// Path of the JSON document.
pub const DOCUMENT_PATH: &str = "/openapi.json";

/// Path of the Swagger UI page.
pub const DOCS_PATH: &str = "/docs";

/// Name of the bearer API-key scheme in `components.securitySchemes`.
pub const BEARER_SCHEME: &str = "bearerAuth";

/// Name of the admin-token scheme in `components.securitySchemes`.
pub const ADMIN_SCHEME: &str = "adminAuth";

#[derive(OpenApi)]
#[openapi(
    info(
        title = "dataorch",
        description = "Data orchestration for lenders: register application data, run \
            templates of provider calls, rules and reviews against it, and read the run logs. \
            The five data-orchestration endpoints follow the Lendflow v2 Data Orchestration \
            API in field names and JSON types. Everything else is an extension.\n\n\
            Every `/api/v2` endpoint requires `Authorization: Bearer <API key>`. Errors are \
            Laravel-style bodies with `meta.error_code`, or RFC 9457 problem documents when \
            the request sends `Accept: application/problem+json`."
    ),
    paths(
        routes::logs::list,
        routes::logs::show,
        routes::templates::list,
        routes::orchestration::execute,
        routes::orchestration::continue_pass,
        routes::applications::create,
        routes::applications::show,
        routes::health::healthz,
        routes::health::readyz,
        routes::health::metrics,
        routes::admin::create_key,
        routes::admin::list_keys,
        routes::admin::revoke_key,
    ),
    components(
        // Referenced by name from the error responses below, so listed here.
        schemas(ErrorBody, Problem),
        responses(
            BadRequest,
            Unauthenticated,
            NotFound,
            RequestTimeout,
            Conflict,
            PayloadTooLarge,
            UnsupportedMediaType,
            ValidationFailed,
            TooManyRequests,
            InternalError,
            ServiceUnavailable,
        )
    ),
    modifiers(&BearerScheme, &RequestText),
    tags(
        (name = "data orchestration", description = "Templates, runs and their logs."),
        (name = "applications", description = "Application data that template steps read."),
        (name = "health", description = "Liveness and readiness probes, which need no API key."),
        (name = "administration", description = "API-key administration with the admin token \
            (`gateway.admin_token`); without one configured these routes answer 404."),
    )
)]
struct ApiDoc;

/// Adds the bearer API-key security scheme that the operations refer to.
struct BearerScheme;

impl Modify for BearerScheme {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let scheme = HttpBuilder::new()
            .scheme(HttpAuthScheme::Bearer)
            .description(Some(
                "An API key, created with `dataorch keys create --tenant T --name N`. A \
                 missing, malformed, unknown or revoked key gets 401.",
            ))
            .build();
        openapi
            .components
            .get_or_insert_with(Default::default)
            .add_security_scheme(BEARER_SCHEME, SecurityScheme::Http(scheme));
        let admin = HttpBuilder::new()
            .scheme(HttpAuthScheme::Bearer)
            .description(Some("The admin token, `gateway.admin_token`."))
            .build();
        openapi
            .components
            .get_or_insert_with(Default::default)
            .add_security_scheme(ADMIN_SCHEME, SecurityScheme::Http(admin));
    }
}

/// A string in a request body with no C0 control character other than tab, line feed and
/// carriage return, which `strict_json.rs` rejects with 422.
const TEXT_PATTERN: &str = r"^[^\u0000-\u0008\u000B\u000C\u000E-\u001F]*$";

/// [`TEXT_PATTERN`] that also needs a character other than whitespace, for the fields that
/// the handlers reject as missing when blank. The schemas mark these fields with `\S`.
const NON_BLANK_TEXT_PATTERN: &str = r"^(?=[\s\S]*\S)[^\u0000-\u0008\u000B\u000C\u000E-\u001F]*$";

/// Schemas of request bodies, whose string fields [`RequestText`] gives a pattern.
const REQUEST_SCHEMAS: [&str; 8] = [
    "ExecuteRequest",
    "ContinueRequest",
    "ApplicationInput",
    "Business",
    "Address",
    "OwnerInput",
    "Loan",
    "BankLinkInput",
];

/// Sets the string patterns of request schemas: a field marked `\S` gets
/// [`NON_BLANK_TEXT_PATTERN`] and a field with no pattern gets [`TEXT_PATTERN`]. One rule in
/// one place, because `#[schema(pattern = ...)]` takes only a literal.
struct RequestText;

impl Modify for RequestText {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let Some(components) = openapi.components.as_mut() else {
            return;
        };
        for name in REQUEST_SCHEMAS {
            let Some(RefOr::T(Schema::Object(object))) = components.schemas.get_mut(name) else {
                panic!("request schema {name} is missing from the document");
            };
            for property in object.properties.values_mut() {
                let RefOr::T(Schema::Object(field)) = property else {
                    continue;
                };
                let is_string = match &field.schema_type {
                    SchemaType::Type(Type::String) => true,
                    SchemaType::Array(types) => types.contains(&Type::String),
                    _ => false,
                };
                if !is_string {
                    continue;
                }
                match field.pattern.as_deref() {
                    None => field.pattern = Some(TEXT_PATTERN.to_string()),
                    Some(r"\S") => field.pattern = Some(NON_BLANK_TEXT_PATTERN.to_string()),
                    Some(_) => {}
                }
            }
        }
    }
}

/// Builds the OpenAPI document.
pub fn document() -> utoipa::openapi::OpenApi {
    ApiDoc::openapi()
}

/// Routes that serve `/openapi.json` and the docs page.
pub fn routes() -> Router<AppState> {
    docs_router()
}

/// Builds the docs routes for any router state, so that tests can serve them without an
/// `AppState`. `/docs` redirects to `/docs/`, which serves Swagger UI.
fn docs_router<S: Clone + Send + Sync + 'static>() -> Router<S> {
    // Swagger UI sends the document to validator.swagger.io by default. Setting "none" turns
    // that off, so the page makes no request to another host.
    let config = Config::new([DOCUMENT_PATH]).validator_url("none");
    SwaggerUi::new(DOCS_PATH)
        .url(DOCUMENT_PATH, document())
        .config(config)
        .into()
}

/// Query parameters.
mod params {
    use utoipa::IntoParams;

    /// Query parameters of the log list.
    #[derive(IntoParams)]
    #[into_params(parameter_in = Query)]
    #[allow(dead_code)]
    pub struct LogListParams {
        /// Maximum number of logs to return. Out of range or not an integer: 422.
        #[param(nullable = false, minimum = 1, maximum = 500, default = 50)]
        limit: Option<i64>,
        /// Return only logs with a smaller id than this one, for paging: pass the last id
        /// of the previous page. Not a positive integer: 422.
        #[param(nullable = false, minimum = 1)]
        before: Option<i64>,
        /// `steps` adds `steps` and `overrides` to each log. A comma-separated list is
        /// accepted, and other values in it are ignored.
        #[param(nullable = false, example = "steps")]
        include: Option<String>,
    }

    /// The `include` query parameter alone.
    #[derive(IntoParams)]
    #[into_params(parameter_in = Query)]
    #[allow(dead_code)]
    pub struct IncludeParams {
        /// `steps` adds the steps, and on a log its `overrides` too. A comma-separated list
        /// is accepted, and other values in it are ignored.
        #[param(nullable = false, example = "steps")]
        include: Option<String>,
    }
}

/// The JSON bodies of requests and responses.
///
/// Nothing constructs these types: they exist to describe JSON that the handlers build with
/// `json!` or that the contracts crate defines, hence `allow(dead_code)`.
#[allow(dead_code)]
mod schemas {
    use std::collections::BTreeMap;

    use chrono::{DateTime, Utc};
    use serde::Deserialize;
    use serde_json::Value;
    use utoipa::ToSchema;

    /// The decision of a run or a step.
    #[derive(ToSchema)]
    #[schema(rename_all = "snake_case")]
    pub enum Outcome {
        Pass,
        Fail,
        Review,
    }

    /// The name of a run status, as in `master_status`.
    #[derive(ToSchema)]
    #[schema(rename_all = "snake_case")]
    pub enum RunStatusName {
        Pending,
        Running,
        Halted,
        Completed,
        Error,
    }

    /// The status of one step of a run.
    ///
    /// `skipped`: never ran, because the run ended before the step's turn. `cancelled`: was
    /// running when the run ended in error, and its result was discarded.
    #[derive(ToSchema)]
    #[schema(rename_all = "snake_case")]
    pub enum StepStatus {
        Pending,
        Running,
        Completed,
        Failed,
        Skipped,
        Cancelled,
    }

    /// A step type.
    #[derive(ToSchema)]
    #[schema(rename_all = "snake_case")]
    pub enum StepType {
        Provider,
        Rule,
        Review,
    }

    /// The log object: one run of a template for an application. The first eight fields
    /// are the reference API's; `application_id`, `template_id` and `template_version` are
    /// extensions and always present.
    #[derive(ToSchema)]
    pub struct Log {
        /// Log id, the sequence number of the run's execute command.
        #[schema(minimum = 1, example = 42)]
        pub id: i64,
        /// The run's decision, null until it has one.
        #[schema(required = true)]
        pub outcome: Option<Outcome>,
        /// The reason the run ended in status 5 (error).
        #[schema(required = true)]
        pub internal_error: Option<String>,
        /// 1 pending, 2 running, 3 halted, 4 completed, 5 error.
        #[schema(minimum = 1, maximum = 5, example = 1)]
        pub status: i32,
        /// When the run was accepted: UTC with microseconds, `2026-03-12T15:53:59.000000Z`.
        pub created_at: DateTime<Utc>,
        /// When the first step started.
        #[schema(required = true)]
        pub started_at: Option<DateTime<Utc>>,
        /// When the run reached status 4 or 5.
        #[schema(required = true)]
        pub finished_at: Option<DateTime<Utc>>,
        /// The name of `status`.
        #[schema(required = true)]
        pub master_status: Option<RunStatusName>,
        #[schema(example = "0b9d3f4e-6a57-4c1e-9d8f-2a6b1c3d4e5f")]
        pub application_id: String,
        #[schema(example = "5d0c7a4e-2f1b-4c8e-9f6a-3b2d1e0f9a87")]
        pub template_id: String,
        /// The template version that the run executes.
        #[schema(example = 1)]
        pub template_version: i32,
        /// Only with `include=steps`: the steps in template order.
        #[schema(nullable = false)]
        pub steps: Option<Vec<LogStep>>,
        /// Only with `include=steps`: who continued which step as pass, oldest first.
        #[schema(nullable = false)]
        pub overrides: Option<Vec<LogOverride>>,
    }

    /// One step of a run.
    #[derive(ToSchema)]
    pub struct LogStep {
        /// The step's key in the template.
        pub key: String,
        #[schema(rename = "type")]
        pub step_type: StepType,
        pub status: StepStatus,
        #[schema(required = true)]
        pub outcome: Option<Outcome>,
        /// The reason code of the outcome, such as `KYB_VERIFIED`.
        #[schema(required = true)]
        pub reason: Option<String>,
        /// Attempts made so far, the first included.
        #[schema(minimum = 0)]
        pub attempts: i32,
        #[schema(required = true)]
        pub started_at: Option<DateTime<Utc>>,
        #[schema(required = true)]
        pub finished_at: Option<DateTime<Utc>>,
        /// The error that made the step fail.
        #[schema(required = true)]
        pub error: Option<String>,
        /// The step's output, such as a provider's response, with personal fields masked. Null
        /// until the step completes.
        pub output: Value,
    }

    /// A continue-as-pass of a halted step.
    #[derive(ToSchema)]
    pub struct LogOverride {
        /// The key of the continued step.
        pub step: String,
        /// The name of the API key that continued it.
        pub actor: String,
        #[schema(required = true)]
        pub comment: Option<String>,
        pub created_at: DateTime<Utc>,
    }

    /// A published template: the reference API's fields plus `version` and, with
    /// `include=steps`, `steps`.
    #[derive(ToSchema)]
    pub struct Template {
        /// Template id, stable across versions (a UUID in the shipped templates).
        #[schema(example = "5d0c7a4e-2f1b-4c8e-9f6a-3b2d1e0f9a87")]
        pub id: String,
        /// Short id, unique per tenant. Execute accepts it in place of `id`.
        #[schema(example = "smb-funding")]
        pub short_id: String,
        pub name: String,
        pub description: String,
        /// Workflows the template belongs to, such as `["funding"]`.
        pub workflow: Vec<String>,
        /// The application event that starts the template automatically, if any.
        #[schema(required = true)]
        pub trigger: Option<String>,
        pub created_at: DateTime<Utc>,
        pub updated_at: DateTime<Utc>,
        #[schema(required = true)]
        pub deleted_at: Option<DateTime<Utc>>,
        /// 1 draft, 2 published, 3 archived. The list returns published templates only.
        #[schema(minimum = 1, maximum = 3, example = 2)]
        pub status: i32,
        #[schema(minimum = 1, example = 1)]
        pub version: i32,
        /// Only with `include=steps`: the step definitions of this version.
        #[schema(nullable = false)]
        pub steps: Option<Vec<TemplateStep>>,
    }

    /// A step definition. `provider` and `headers` belong to provider steps, `rules` and
    /// `default` to rule steps, `when` and `reason` to review steps.
    #[derive(ToSchema)]
    pub struct TemplateStep {
        pub key: String,
        #[schema(rename = "type")]
        pub step_type: StepType,
        /// Keys of the steps that must finish before this one starts, absent when none.
        #[schema(nullable = false)]
        pub needs: Option<Vec<String>>,
        /// Deadline of one attempt, in milliseconds.
        #[schema(minimum = 0)]
        pub timeout_ms: u64,
        pub retry: RetryPolicy,
        pub on: OutcomePolicy,
        #[schema(nullable = false)]
        pub provider: Option<ProviderKind>,
        /// Extra request headers sent on every call of a provider step.
        #[schema(nullable = false)]
        pub headers: Option<BTreeMap<String, String>>,
        #[schema(nullable = false)]
        pub rules: Option<Vec<Rule>>,
        #[schema(nullable = false)]
        pub default: Option<RuleDefault>,
        /// CEL condition of a review step. When it is false, the step passes without a halt.
        #[schema(nullable = false)]
        pub when: Option<String>,
        /// Reason code of a review step's halt.
        #[schema(nullable = false)]
        pub reason: Option<String>,
    }

    /// A provider that workers can call.
    #[derive(ToSchema)]
    #[schema(rename_all = "snake_case")]
    pub enum ProviderKind {
        Kyb,
        BusinessCredit,
        ConsumerCredit,
        BankData,
    }

    /// Attempts and exponential backoff with jitter.
    #[derive(ToSchema)]
    pub struct RetryPolicy {
        /// Total attempts, the first included.
        #[schema(minimum = 0)]
        pub max_attempts: u32,
        #[schema(minimum = 0)]
        pub initial_backoff_ms: u64,
        #[schema(minimum = 0)]
        pub max_backoff_ms: u64,
        /// Fraction of each backoff drawn at random, between 0 and 1.
        pub jitter: f64,
    }

    /// The action the run takes after the step yields each outcome.
    #[derive(ToSchema)]
    pub struct OutcomePolicy {
        pub pass: OutcomeAction,
        pub review: OutcomeAction,
        pub fail: OutcomeAction,
    }

    /// `continue` goes on with the following steps, `halt` stops in status 3 until a
    /// continue-as-pass, `stop` finishes the run (status 4) with this outcome.
    #[derive(ToSchema)]
    #[schema(rename_all = "snake_case")]
    pub enum OutcomeAction {
        Continue,
        Halt,
        Stop,
    }

    /// A condition that yields an outcome and a reason code when its CEL expression is true.
    #[derive(ToSchema)]
    pub struct Rule {
        pub when: String,
        pub outcome: Outcome,
        pub reason: String,
    }

    /// The outcome and reason of a rule step when no condition matched.
    #[derive(ToSchema)]
    pub struct RuleDefault {
        pub outcome: Outcome,
        pub reason: String,
    }

    /// `{"data": log}`.
    #[derive(ToSchema)]
    pub struct LogEnvelope {
        pub data: Log,
    }

    /// `{"data": [log, ...]}`.
    #[derive(ToSchema)]
    pub struct LogListEnvelope {
        pub data: Vec<Log>,
    }

    /// `{"data": [template, ...]}`.
    #[derive(ToSchema)]
    pub struct TemplateListEnvelope {
        pub data: Vec<Template>,
    }

    /// An API key as the admin endpoints show it; the token itself only on creation.
    #[derive(ToSchema)]
    pub struct AdminKey {
        pub id: String,
        pub tenant_id: String,
        pub name: String,
        /// UTC with microseconds.
        #[schema(format = DateTime)]
        pub created_at: String,
        /// When the key was revoked, or null while it works.
        #[schema(format = DateTime)]
        pub revoked_at: Option<String>,
    }

    /// A new key with its token, which is shown only in this answer.
    #[derive(ToSchema)]
    pub struct CreatedAdminKey {
        pub id: String,
        pub tenant_id: String,
        pub name: String,
        #[schema(format = DateTime)]
        pub created_at: String,
        #[schema(format = DateTime)]
        pub revoked_at: Option<String>,
        /// The bearer token: `do_` and 64 hex digits.
        pub token: String,
    }

    /// `{"data": key}` with the token.
    #[derive(ToSchema)]
    pub struct CreatedAdminKeyEnvelope {
        pub data: CreatedAdminKey,
    }

    /// `{"data": key}`.
    #[derive(ToSchema)]
    pub struct AdminKeyEnvelope {
        pub data: AdminKey,
    }

    /// `{"data": [key, ...]}`, newest first.
    #[derive(ToSchema)]
    pub struct AdminKeyListEnvelope {
        pub data: Vec<AdminKey>,
    }

    /// The body of a key creation. Any other field is rejected with 422.
    #[derive(ToSchema, Deserialize)]
    #[serde(deny_unknown_fields)]
    pub struct CreateKeyRequest {
        /// 1 to 64 letters, digits, `-`, `_` or `.`.
        #[schema(min_length = 1, max_length = 64, pattern = r"^[A-Za-z0-9._-]+$")]
        pub name: String,
    }

    /// `{"data": application}`.
    #[derive(ToSchema)]
    pub struct ApplicationEnvelope {
        pub data: Application,
    }

    /// The empty object that an accepted continue returns.
    #[derive(ToSchema)]
    #[schema(max_properties = 0)]
    pub struct ContinueAccepted {}

    /// The body of an execute. Any other field is rejected with 422.
    #[derive(ToSchema, Deserialize)]
    #[serde(deny_unknown_fields)]
    pub struct ExecuteRequest {
        /// The template's id or short id. The template must be published for the caller's tenant.
        #[schema(
            min_length = 1,
            max_length = 200,
            pattern = r"\S",
            example = "smb-funding"
        )]
        pub template_id: String,
        /// An application id of the caller's tenant.
        #[schema(
            min_length = 1,
            max_length = 200,
            pattern = r"\S",
            example = "0b9d3f4e-6a57-4c1e-9d8f-2a6b1c3d4e5f"
        )]
        pub application_id: String,
    }

    /// The body of a continue-as-pass. Any other field is rejected with 422.
    #[derive(ToSchema, Deserialize)]
    #[serde(deny_unknown_fields)]
    pub struct ContinueRequest {
        /// The application that owns the log.
        #[schema(min_length = 1, max_length = 200, pattern = r"\S")]
        pub application_id: String,
        /// A note on the continue, stored with the override.
        #[schema(max_length = 2000)]
        pub comment: Option<String>,
    }

    /// Application data to register, mirroring `ApplicationData` of the contracts crate.
    /// Any field not listed is rejected with 422 naming it.
    #[derive(ToSchema, Deserialize)]
    #[serde(deny_unknown_fields)]
    pub struct ApplicationInput {
        /// The lender's own reference for the application.
        #[schema(min_length = 1, max_length = 200, pattern = r"\S")]
        pub external_id: Option<String>,
        pub business: Business,
        /// Owners and guarantors.
        #[schema(min_items = 1, max_items = 10)]
        pub owners: Vec<OwnerInput>,
        pub loan: Loan,
        pub bank: Option<BankLinkInput>,
        /// True when the personal and financial data was generated, not collected.
        #[serde(default)]
        #[schema(default = false)]
        pub synthetic: bool,
        /// Any object, stored as given. Numbers come back as 64-bit floats. Numbers beyond 2^53
        /// in magnitude and strings with control characters are rejected, as everywhere in
        /// request bodies.
        #[serde(default)]
        pub metadata: BTreeMap<String, Value>,
    }

    /// The business that applies.
    #[derive(ToSchema, Deserialize)]
    #[serde(deny_unknown_fields)]
    pub struct Business {
        #[schema(min_length = 1, max_length = 200, pattern = r"\S")]
        pub name: String,
        pub dba: Option<String>,
        /// Employer identification number: nine digits without dashes.
        #[schema(pattern = "^[0-9]{9}$", example = "123456789")]
        pub tin: String,
        #[schema(example = "CORPORATION")]
        pub entity_type: Option<String>,
        #[schema(example = "311811")]
        pub naics_code: Option<String>,
        pub industry: Option<String>,
        pub business_age: Option<String>,
        pub address: Address,
    }

    /// A US postal address.
    #[derive(ToSchema, Deserialize)]
    #[serde(deny_unknown_fields)]
    pub struct Address {
        #[schema(min_length = 1, max_length = 200, pattern = r"\S")]
        pub line1: String,
        pub line2: Option<String>,
        #[schema(min_length = 1, max_length = 100, pattern = r"\S")]
        pub city: String,
        /// Two-letter upper-case state code.
        #[schema(pattern = "^[A-Z]{2}$", example = "LA")]
        pub state: String,
        /// ZIP code, `70816` or `70816-1234`.
        #[schema(pattern = "^[0-9]{5}(-[0-9]{4})?$", example = "70816")]
        pub postal_code: String,
    }

    /// An owner or guarantor, as sent.
    #[derive(ToSchema, Deserialize)]
    #[serde(deny_unknown_fields)]
    pub struct OwnerInput {
        #[schema(min_length = 1, max_length = 100, pattern = r"\S")]
        pub first_name: String,
        #[schema(min_length = 1, max_length = 100, pattern = r"\S")]
        pub last_name: String,
        pub title: Option<String>,
        #[schema(minimum = 0, maximum = 100)]
        pub ownership_percent: Option<f64>,
        /// Social security number: nine digits without dashes.
        #[schema(pattern = "^[0-9]{9}$", example = "666123456")]
        pub ssn: String,
        /// `YYYY-MM-DD`.
        #[schema(format = Date, pattern = "^[0-9]{4}-[0-9]{2}-[0-9]{2}$", example = "1980-05-17")]
        pub date_of_birth: String,
        pub address: Option<Address>,
    }

    /// The requested loan.
    #[derive(ToSchema, Deserialize)]
    #[serde(deny_unknown_fields)]
    pub struct Loan {
        /// Requested amount in US dollars.
        #[schema(exclusive_minimum = 0, maximum = 1_000_000_000, example = 250000.0)]
        pub requested_amount: f64,
        #[schema(minimum = 1, maximum = 600, example = 120)]
        pub term_months: u32,
        pub purpose: Option<String>,
    }

    /// A bank connection made by the applicant through the bank-data provider's link flow.
    #[derive(ToSchema, Deserialize)]
    #[serde(deny_unknown_fields)]
    pub struct BankLinkInput {
        /// The public token of the link flow.
        #[schema(min_length = 1, max_length = 500, pattern = r"\S")]
        pub public_token: String,
    }

    /// A registered application, with personal fields masked. Optional fields that were not
    /// sent, or were sent as null, are absent.
    #[derive(ToSchema)]
    pub struct Application {
        pub id: uuid::Uuid,
        /// When the application was registered.
        pub created_at: DateTime<Utc>,
        #[schema(nullable = false)]
        pub external_id: Option<String>,
        pub business: Business,
        pub owners: Vec<MaskedOwner>,
        pub loan: Loan,
        #[schema(nullable = false)]
        pub bank: Option<MaskedBankLink>,
        pub synthetic: bool,
        pub metadata: BTreeMap<String, Value>,
    }

    /// An owner as returned: the SSN keeps its last four digits and the date of birth its
    /// year.
    #[derive(ToSchema)]
    pub struct MaskedOwner {
        pub first_name: String,
        pub last_name: String,
        #[schema(nullable = false)]
        pub title: Option<String>,
        #[schema(nullable = false, minimum = 0, maximum = 100)]
        pub ownership_percent: Option<f64>,
        #[schema(pattern = r"^\*{5}[0-9]{4}$", example = "*****3456")]
        pub ssn: String,
        #[schema(pattern = r"^[0-9]{4}-\*\*-\*\*$", example = "1980-**-**")]
        pub date_of_birth: String,
        #[schema(nullable = false)]
        pub address: Option<Address>,
    }

    /// A bank link as returned.
    #[derive(ToSchema)]
    pub struct MaskedBankLink {
        /// The token with all but its last four characters replaced by `*`.
        #[schema(example = "********************abcd")]
        pub public_token: String,
    }

    /// `GET /healthz`: the process is up.
    #[derive(ToSchema)]
    pub struct Liveness {
        #[schema(inline)]
        pub status: LivenessStatus,
    }

    /// Always `ok`.
    #[derive(ToSchema)]
    #[schema(rename_all = "snake_case")]
    pub enum LivenessStatus {
        Ok,
    }

    /// `GET /readyz`: the state of each dependency.
    #[derive(ToSchema)]
    pub struct Readiness {
        /// The NATS connection is up.
        pub nats: bool,
        /// The database ran `SELECT 1`.
        pub database: bool,
        /// Shutdown has begun; the gateway finishes open requests and takes no new ones.
        pub draining: bool,
    }

    /// An error in the Laravel shape of the reference API.
    #[derive(ToSchema)]
    pub struct ErrorBody {
        /// A sentence that describes the failure.
        #[schema(example = "The template id field is required.")]
        pub message: String,
        /// Messages per offending field, keyed by dotted path such as `owners.0.ssn`. Present
        /// on most 422s only.
        #[schema(
            nullable = false,
            example = json!({"template_id": ["The template id field is required."]})
        )]
        pub errors: Option<BTreeMap<String, Vec<String>>>,
        pub meta: ErrorMeta,
    }

    /// Error details beyond the reference API.
    #[derive(ToSchema)]
    pub struct ErrorMeta {
        /// A stable snake_case code. Each response lists the codes it can carry.
        #[schema(pattern = "^[a-z][a-z0-9_]*$", example = "validation_failed")]
        pub error_code: String,
    }

    /// The same error as an RFC 9457 problem document, for `Accept: application/problem+json`.
    #[derive(ToSchema)]
    pub struct Problem {
        /// `https://dataorch.dev/errors/` followed by the error code.
        #[schema(
            rename = "type",
            format = "uri",
            example = "https://dataorch.dev/errors/validation_failed"
        )]
        pub problem_type: String,
        /// The status code's reason phrase.
        #[schema(example = "Unprocessable Entity")]
        pub title: String,
        #[schema(minimum = 400, maximum = 599, example = 422)]
        pub status: u16,
        /// The same sentence as `message` in the Laravel body.
        pub detail: String,
        #[schema(pattern = "^[a-z][a-z0-9_]*$", example = "validation_failed")]
        pub error_code: String,
        /// Messages per offending field, as in the Laravel body.
        #[schema(nullable = false)]
        pub errors: Option<BTreeMap<String, Vec<String>>>,
    }
}

/// The error responses, one per status code, each in both error formats.
mod responses {
    use utoipa::openapi::header::HeaderBuilder;
    use utoipa::openapi::schema::{ObjectBuilder, Type};
    use utoipa::openapi::{Content, Ref, RefOr, Response, ResponseBuilder};

    /// Builds an error response whose body is `ErrorBody` as `application/json`, or `Problem`
    /// as `application/problem+json` when the request accepts that.
    fn error_response(description: &str, headers: &[(&str, &str, Type)]) -> Response {
        let mut response = ResponseBuilder::new()
            .description(description)
            .content(
                "application/json",
                Content::new(Some(Ref::from_schema_name("ErrorBody"))),
            )
            .content(
                "application/problem+json",
                Content::new(Some(Ref::from_schema_name("Problem"))),
            );
        for (name, header_description, header_type) in headers {
            let header = HeaderBuilder::new()
                .schema(Some(ObjectBuilder::new().schema_type(header_type.clone())))
                .description(Some(*header_description))
                .build();
            response = response.header(*name, header);
        }
        response.build()
    }

    /// Declares a unit type whose `ToResponse` is an error response, so that operations can
    /// refer to `#/components/responses/<Name>`.
    macro_rules! error_responses {
        ($($name:ident => $description:expr, [$($header:expr),* $(,)?];)*) => {$(
            pub struct $name;

            impl<'r> utoipa::ToResponse<'r> for $name {
                fn response() -> (&'r str, RefOr<Response>) {
                    (stringify!($name), error_response($description, &[$($header),*]).into())
                }
            }
        )*};
    }

    const RETRY_AFTER: (&str, &str, Type) = (
        "Retry-After",
        "Seconds after which retrying makes sense.",
        Type::Integer,
    );

    error_responses! {
        BadRequest =>
            "The request could not be read. `malformed_json`: the body is not JSON, has \
             trailing data, or is nested more than 128 levels deep. `invalid_body`: the body \
             could not be read. `invalid_query`: a query parameter is given twice or is \
             malformed. `invalid_idempotency_key`: the `Idempotency-Key` header is not 1 to \
             255 visible ASCII characters.",
            [];
        Unauthenticated =>
            "`unauthenticated`: the `Authorization: Bearer` API key is missing, malformed, \
             unknown or revoked. The message is `Unauthenticated.`",
            [("WWW-Authenticate", "Always `Bearer`.", Type::String)];
        NotFound =>
            "`not_found`: the resource does not exist or belongs to another tenant.",
            [];
        RequestTimeout =>
            "`request_timeout`: the request took longer than `gateway.request_timeout_ms` \
             (15 s by default), for example because its body arrived too slowly.",
            [];
        Conflict =>
            "`idempotency_key_in_progress`: a request with this `Idempotency-Key` is still \
             being accepted. Retry after `Retry-After` seconds to get its result.",
            [RETRY_AFTER];
        PayloadTooLarge =>
            "`payload_too_large`: the body is larger than `gateway.body_limit_bytes` (256 KiB \
             by default).",
            [];
        UnsupportedMediaType =>
            "`unsupported_media_type`: the body is not sent as `application/json` (or another \
             `application/*+json` type).",
            [];
        ValidationFailed =>
            "The body or a parameter is invalid. `validation_failed` names each offending field \
             in `errors`, except when the body is not a JSON object. Besides the rules of each \
             schema, every body is rejected when an object has the same key twice, a string \
             contains a C0 control character other than tab, line feed and carriage return, \
             or a number exceeds 2^53 in magnitude. Each operation lists any other code it \
             can return.",
            [];
        TooManyRequests =>
            "`rate_limited`: the API key used up its request quota, set by the `rate_limit` \
             settings (by default 100 per second with bursts of 200, per gateway replica).",
            [
                RETRY_AFTER,
                ("RateLimit-Policy", "The key's quota, such as `\"key\";q=200;w=2`.", Type::String),
                ("RateLimit", "The quota left, such as `\"key\";r=0;t=1`.", Type::String),
            ];
        InternalError =>
            "`internal_error`: an unexpected failure. The body carries no details.",
            [];
        ServiceUnavailable =>
            "`database_unavailable` or `broker_unavailable`: the database or NATS did not \
             respond. Retrying after `Retry-After` seconds is safe.",
            [RETRY_AFTER];
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeSet;

    use axum::body::Body;
    use axum::http::{Request, StatusCode};
    use serde_json::Value;
    use tower::ServiceExt;

    use super::*;

    /// Every route that `router` in lib.rs registers, as (method, path in OpenAPI form). The
    /// tests check this list against both the document and the router's source.
    const ROUTES: &[(&str, &str)] = &[
        ("post", "/admin/v1/tenants/{tenant_id}/keys"),
        ("get", "/admin/v1/tenants/{tenant_id}/keys"),
        ("delete", "/admin/v1/keys/{key_id}"),
        ("post", "/api/v2/applications"),
        ("get", "/api/v2/applications/{id}"),
        ("get", "/api/v2/applications/{application_id}/data_orch"),
        (
            "get",
            "/api/v2/applications/{application_id}/data_orch/{log_id}",
        ),
        ("get", "/api/v2/data_orchestration/templates"),
        ("post", "/api/v2/data_orchestration/execute"),
        ("put", "/api/v2/data_orchestration/{log_id}/continue_pass"),
        ("get", "/healthz"),
        ("get", "/readyz"),
        ("get", "/metrics"),
    ];

    fn document_json() -> Value {
        serde_json::to_value(document()).expect("the document serializes")
    }

    /// Returns the (method, path) pairs of the document's operations.
    fn documented_routes(document: &Value) -> BTreeSet<(String, String)> {
        let mut routes = BTreeSet::new();
        for (path, item) in document["paths"].as_object().expect("paths is an object") {
            for method in item.as_object().expect("a path item is an object").keys() {
                routes.insert((method.clone(), path.clone()));
            }
        }
        routes
    }

    /// Returns the (method, path) pairs that lib.rs registers with `.route(PATH, METHODS)`,
    /// with `/api/v2` before the routes of the router nested there. Axum writes path
    /// parameters as `{name}`, like OpenAPI.
    fn registered_routes(source: &str) -> BTreeSet<(String, String)> {
        const METHODS: [&str; 7] = ["get", "post", "put", "patch", "delete", "head", "options"];
        let nest_at = source
            .find(".nest(\"/api/v2\", api)")
            .expect("lib.rs nests the API router under /api/v2");
        let mut routes = BTreeSet::new();
        for (at, _) in source.match_indices(".route(") {
            let rest = source[at + ".route(".len()..].trim_start();
            let Some(rest) = rest.strip_prefix('"') else {
                continue;
            };
            let (path, rest) = rest.split_once('"').expect("a closed path literal");
            let arguments = &rest[..closing_paren(rest)];
            let path = if at < nest_at {
                format!("/api/v2{path}")
            } else {
                path.to_string()
            };
            for method in METHODS {
                let called = arguments
                    .match_indices(&format!("{method}("))
                    .any(|(i, _)| {
                        !arguments[..i]
                            .chars()
                            .next_back()
                            .is_some_and(|c| c.is_ascii_alphanumeric() || c == '_')
                    });
                if called {
                    routes.insert((method.to_string(), path.clone()));
                }
            }
        }
        routes
    }

    /// Returns the index of the parenthesis that closes the call `text` is inside of.
    fn closing_paren(text: &str) -> usize {
        let mut depth = 0;
        for (index, c) in text.char_indices() {
            match c {
                '(' => depth += 1,
                ')' if depth == 0 => return index,
                ')' => depth -= 1,
                _ => {}
            }
        }
        panic!("unbalanced parentheses after a .route( call in lib.rs");
    }

    fn listed_routes() -> BTreeSet<(String, String)> {
        ROUTES
            .iter()
            .map(|(method, path)| (method.to_string(), path.to_string()))
            .collect()
    }

    #[test]
    fn document_matches_snapshot() {
        // On an intended change, review and accept it with `cargo insta review`, or rerun
        // with INSTA_UPDATE=always and review the diff of the .snap file.
        insta::assert_json_snapshot!("openapi", document_json());
    }

    #[test]
    fn document_is_openapi_3_1() {
        assert_eq!(document_json()["openapi"], "3.1.0");
    }

    #[test]
    fn document_lists_every_route() {
        assert_eq!(documented_routes(&document_json()), listed_routes());
    }

    #[test]
    fn route_list_matches_router() {
        let registered = registered_routes(include_str!("lib.rs"));
        assert_eq!(
            registered,
            listed_routes(),
            "ROUTES in openapi.rs differs from the routes lib.rs registers; update ROUTES and \
             the #[utoipa::path] attributes"
        );
    }

    #[test]
    fn api_operations_require_bearer_key() {
        let document = document_json();
        let scheme = &document["components"]["securitySchemes"][BEARER_SCHEME];
        assert_eq!(scheme["type"], "http");
        assert_eq!(scheme["scheme"], "bearer");
        for (method, path) in documented_routes(&document) {
            let operation = &document["paths"][&path][&method];
            if path.starts_with("/api/") {
                let security = serde_json::json!([{ BEARER_SCHEME: [] }]);
                assert_eq!(operation["security"], security, "{method} {path}");
                assert!(operation["responses"]["401"].is_object(), "{method} {path}");
            } else if path.starts_with("/admin/") {
                let security = serde_json::json!([{ ADMIN_SCHEME: [] }]);
                assert_eq!(operation["security"], security, "{method} {path}");
                assert!(operation["responses"]["401"].is_object(), "{method} {path}");
            } else {
                assert!(operation.get("security").is_none(), "{method} {path}");
            }
        }
    }

    #[test]
    fn body_operations_document_body_errors() {
        let document = document_json();
        for (method, path) in documented_routes(&document) {
            let operation = &document["paths"][&path][&method];
            if operation.get("requestBody").is_none() {
                continue;
            }
            let body = &operation["requestBody"];
            assert_eq!(body["required"], true, "{method} {path}");
            assert!(
                body["content"]["application/json"]["schema"].is_object(),
                "{method} {path}"
            );
            for status in ["400", "408", "413", "415", "422", "503"] {
                assert!(
                    operation["responses"][status].is_object(),
                    "{method} {path} does not document {status}"
                );
            }
        }
    }

    #[test]
    fn every_operation_documents_timeout() {
        let document = document_json();
        for (method, path) in documented_routes(&document) {
            let operation = &document["paths"][&path][&method];
            assert!(operation["responses"]["408"].is_object(), "{method} {path}");
        }
    }

    #[test]
    fn references_resolve() {
        let document = document_json();
        let mut references = Vec::new();
        collect_references(&document, &mut references);
        assert!(!references.is_empty());
        for reference in references {
            let pointer = reference
                .strip_prefix('#')
                .expect("references are local to the document");
            assert!(
                document.pointer(pointer).is_some(),
                "{reference} does not resolve"
            );
        }
    }

    fn collect_references(value: &Value, references: &mut Vec<String>) {
        match value {
            Value::Object(map) => {
                for (key, item) in map {
                    match item {
                        Value::String(text) if key == "$ref" => references.push(text.clone()),
                        _ => collect_references(item, references),
                    }
                }
            }
            Value::Array(items) => items
                .iter()
                .for_each(|item| collect_references(item, references)),
            _ => {}
        }
    }

    /// Every application in samples/applications.json deserializes into the schema mirror,
    /// and so does the contracts crate's own serialization of it, which carries every field
    /// that `ApplicationData` has. A field added to the contracts but not to the mirror fails
    /// here, because the mirror rejects unknown fields.
    #[test]
    fn application_schema_mirrors_contracts() {
        let samples: Vec<Value> =
            serde_json::from_str(include_str!("../../../samples/applications.json"))
                .expect("samples/applications.json is a JSON array");
        assert!(!samples.is_empty());
        for (index, sample) in samples.into_iter().enumerate() {
            let contract: dataorch_contracts::application::ApplicationData =
                serde_json::from_value(sample.clone())
                    .unwrap_or_else(|e| panic!("sample {index} is not valid ApplicationData: {e}"));
            serde_json::from_value::<ApplicationInput>(sample)
                .unwrap_or_else(|e| panic!("sample {index} is rejected by ApplicationInput: {e}"));
            let serialized = serde_json::to_value(&contract).expect("serializes");
            serde_json::from_value::<ApplicationInput>(serialized).unwrap_or_else(|e| {
                panic!("sample {index}, as ApplicationData serializes it, is rejected by ApplicationInput: {e}")
            });
        }
    }

    async fn get(path: &str) -> (StatusCode, String) {
        let request = Request::get(path)
            .body(Body::empty())
            .expect("a valid request");
        let response = docs_router::<()>()
            .oneshot(request)
            .await
            .expect("the router returns a response");
        let status = response.status();
        let bytes = axum::body::to_bytes(response.into_body(), usize::MAX)
            .await
            .expect("the body is readable");
        (status, String::from_utf8_lossy(&bytes).into_owned())
    }

    #[tokio::test]
    async fn document_route_serves_document() {
        let (status, body) = get(DOCUMENT_PATH).await;
        assert_eq!(status, StatusCode::OK);
        let served: Value = serde_json::from_str(&body).expect("the body is JSON");
        assert_eq!(served, document_json());
    }

    #[tokio::test]
    async fn docs_page_works_offline() {
        let (status, _) = get(DOCS_PATH).await;
        assert!(status.is_redirection(), "{status}");

        let (status, page) = get("/docs/").await;
        assert_eq!(status, StatusCode::OK);
        assert!(page.contains("swagger-ui"), "{page}");
        assert!(!page.contains("http://"), "{page}");
        assert!(!page.contains("https://"), "{page}");

        let (status, initializer) = get("/docs/swagger-initializer.js").await;
        assert_eq!(status, StatusCode::OK);
        assert!(initializer.contains(DOCUMENT_PATH), "{initializer}");
        let compact: String = initializer.split_whitespace().collect();
        assert!(
            compact.contains("\"validatorUrl\":\"none\""),
            "{initializer}"
        );

        for asset in ["swagger-ui.css", "swagger-ui-bundle.js"] {
            let (status, body) = get(&format!("/docs/{asset}")).await;
            assert_eq!(status, StatusCode::OK, "{asset}");
            assert!(body.len() > 10_000, "{asset} is only {} bytes", body.len());
        }
    }
}

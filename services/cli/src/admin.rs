//! Tenant, API-key and template administration used by the command line, the development
//! stack and the tests.

use std::path::Path;

use anyhow::Context;
use chrono::Utc;
use dataorch_contracts::template::{Template, TemplateStatus};
use dataorch_storage::{DatabaseConnection, queries};

/// Creates the tenant if needed and a new API key for it; returns the token, which is shown
/// once and stored only as a hash.
pub async fn create_api_key(
    db: &DatabaseConnection,
    tenant_id: &str,
    key_name: &str,
) -> anyhow::Result<String> {
    Ok(dataorch_gateway::keys::create(db, tenant_id, key_name)
        .await?
        .token)
}

/// Validates a template file and saves it for the tenant, published unless `draft`.
pub async fn import_template(
    db: &DatabaseConnection,
    tenant_id: &str,
    path: &Path,
    draft: bool,
) -> anyhow::Result<Template> {
    let source =
        std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
    let template = Template::from_yaml(&source)
        .with_context(|| format!("invalid template {}", path.display()))?;
    let status = if draft {
        TemplateStatus::Draft
    } else {
        TemplateStatus::Published
    };
    queries::ensure_tenant(db, tenant_id, tenant_id, Utc::now()).await?;
    queries::save_template(db, tenant_id, &template, status, Utc::now()).await?;
    Ok(template)
}

/// Imports every `*.yaml` file in `dir`, published.
pub async fn import_template_dir(
    db: &DatabaseConnection,
    tenant_id: &str,
    dir: &Path,
) -> anyhow::Result<Vec<Template>> {
    let mut paths: Vec<_> = std::fs::read_dir(dir)
        .with_context(|| format!("reading {}", dir.display()))?
        .filter_map(Result::ok)
        .map(|entry| entry.path())
        .filter(|path| {
            path.extension()
                .is_some_and(|ext| ext == "yaml" || ext == "yml")
        })
        .collect();
    paths.sort();
    let mut templates = Vec::new();
    for path in paths {
        templates.push(import_template(db, tenant_id, &path, false).await?);
    }
    Ok(templates)
}

//! Queries used by the gateway and the command line. Every query that returns tenant data
//! takes the tenant id, so no caller can forget the tenant filter.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use dataorch_contracts::template::{Template, TemplateStatus};
use sea_orm::sea_query::{ExprTrait, OnConflict};
use sea_orm::{
    ColumnTrait, ConnectionTrait, DbErr, EntityTrait, QueryFilter, QueryOrder, QuerySelect, Set,
};

use crate::entities::{
    api_keys, applications, log_overrides, log_steps, logs, projection_offsets, templates, tenants,
};

/// Finds the active (not revoked) key with this SHA-256 hash.
pub async fn active_key_by_hash(
    db: &impl ConnectionTrait,
    key_hash: &str,
) -> Result<Option<api_keys::Model>, DbErr> {
    api_keys::Entity::find()
        .filter(api_keys::Column::KeyHash.eq(key_hash))
        .filter(api_keys::Column::RevokedAt.is_null())
        .one(db)
        .await
}

/// Creates the tenant if it does not exist yet.
pub async fn ensure_tenant(
    db: &impl ConnectionTrait,
    id: &str,
    name: &str,
    at: DateTime<Utc>,
) -> Result<(), DbErr> {
    let model = tenants::ActiveModel {
        id: Set(id.to_string()),
        name: Set(name.to_string()),
        created_at: Set(at),
    };
    tenants::Entity::insert(model)
        .on_conflict(
            OnConflict::column(tenants::Column::Id)
                .do_nothing()
                .to_owned(),
        )
        .try_insert()
        .exec(db)
        .await
        .map(|_| ())
}

pub async fn insert_api_key(db: &impl ConnectionTrait, key: api_keys::Model) -> Result<(), DbErr> {
    api_keys::Entity::insert(api_keys::ActiveModel::from(key))
        .exec(db)
        .await
        .map(|_| ())
}

pub async fn insert_application(
    db: &impl ConnectionTrait,
    application: applications::Model,
) -> Result<(), DbErr> {
    applications::Entity::insert(applications::ActiveModel::from(application))
        .exec(db)
        .await
        .map(|_| ())
}

pub async fn application(
    db: &impl ConnectionTrait,
    tenant_id: &str,
    id: &str,
) -> Result<Option<applications::Model>, DbErr> {
    applications::Entity::find_by_id(id.to_string())
        .filter(applications::Column::TenantId.eq(tenant_id))
        .one(db)
        .await
}

/// Saves a template version with the given status, replacing a draft of the same version.
/// A published or archived version is never replaced: the call fails with a conflict
/// message instead, because runs are pinned to published versions.
pub async fn save_template(
    db: &impl ConnectionTrait,
    tenant_id: &str,
    template: &Template,
    status: TemplateStatus,
    at: DateTime<Utc>,
) -> Result<(), DbErr> {
    let existing = templates::Entity::find_by_id((
        tenant_id.to_string(),
        template.id.clone(),
        template.version,
    ))
    .one(db)
    .await?;
    let definition = serde_json::to_string(template).map_err(|e| DbErr::Custom(e.to_string()))?;
    if let Some(existing) = existing {
        if existing.status != TemplateStatus::Draft.code() {
            if existing.definition == definition {
                return Ok(());
            }
            return Err(DbErr::Custom(format!(
                "template {} version {} is already published and cannot change; save it as version {}",
                template.id,
                template.version,
                template.version + 1
            )));
        }
        templates::Entity::delete_by_id((
            tenant_id.to_string(),
            template.id.clone(),
            template.version,
        ))
        .exec(db)
        .await?;
    }
    let model = templates::ActiveModel {
        tenant_id: Set(tenant_id.to_string()),
        id: Set(template.id.clone()),
        version: Set(template.version),
        short_id: Set(template.short_id.clone()),
        name: Set(template.name.clone()),
        description: Set(template.description.clone()),
        workflow: Set(serde_json::to_string(&template.workflow).unwrap_or_else(|_| "[]".into())),
        trigger: Set(template.trigger.clone()),
        status: Set(status.code()),
        definition: Set(definition),
        created_at: Set(at),
        updated_at: Set(at),
        deleted_at: Set(None),
    };
    templates::Entity::insert(model).exec(db).await.map(|_| ())
}

/// Returns the newest published version of each template of the tenant, ordered by name.
pub async fn published_templates(
    db: &impl ConnectionTrait,
    tenant_id: &str,
) -> Result<Vec<templates::Model>, DbErr> {
    let rows = templates::Entity::find()
        .filter(templates::Column::TenantId.eq(tenant_id))
        .filter(templates::Column::Status.eq(TemplateStatus::Published.code()))
        .filter(templates::Column::DeletedAt.is_null())
        .order_by_asc(templates::Column::Name)
        .all(db)
        .await?;
    let mut newest: BTreeMap<String, templates::Model> = BTreeMap::new();
    for row in rows {
        match newest.get(&row.id) {
            Some(current) if current.version >= row.version => {}
            _ => {
                newest.insert(row.id.clone(), row);
            }
        }
    }
    let mut list: Vec<templates::Model> = newest.into_values().collect();
    list.sort_by(|a, b| a.name.cmp(&b.name).then(a.id.cmp(&b.id)));
    Ok(list)
}

/// Finds the newest published version of a template by its id or its short id.
pub async fn published_template(
    db: &impl ConnectionTrait,
    tenant_id: &str,
    id_or_short_id: &str,
) -> Result<Option<templates::Model>, DbErr> {
    templates::Entity::find()
        .filter(templates::Column::TenantId.eq(tenant_id))
        .filter(templates::Column::Status.eq(TemplateStatus::Published.code()))
        .filter(templates::Column::DeletedAt.is_null())
        .filter(
            templates::Column::Id
                .eq(id_or_short_id)
                .or(templates::Column::ShortId.eq(id_or_short_id)),
        )
        .order_by_desc(templates::Column::Version)
        .one(db)
        .await
}

pub async fn log(
    db: &impl ConnectionTrait,
    tenant_id: &str,
    log_id: i64,
) -> Result<Option<logs::Model>, DbErr> {
    logs::Entity::find_by_id(log_id)
        .filter(logs::Column::TenantId.eq(tenant_id))
        .one(db)
        .await
}

/// Lists an application's logs, newest first, older than `before` when given.
pub async fn logs_for_application(
    db: &impl ConnectionTrait,
    tenant_id: &str,
    application_id: &str,
    limit: u64,
    before: Option<i64>,
) -> Result<Vec<logs::Model>, DbErr> {
    let mut query = logs::Entity::find()
        .filter(logs::Column::TenantId.eq(tenant_id))
        .filter(logs::Column::ApplicationId.eq(application_id));
    if let Some(before) = before {
        query = query.filter(logs::Column::Id.lt(before));
    }
    query
        .order_by_desc(logs::Column::Id)
        .limit(limit)
        .all(db)
        .await
}

pub async fn log_steps(
    db: &impl ConnectionTrait,
    log_id: i64,
) -> Result<Vec<log_steps::Model>, DbErr> {
    log_steps::Entity::find()
        .filter(log_steps::Column::LogId.eq(log_id))
        .order_by_asc(log_steps::Column::Position)
        .all(db)
        .await
}

pub async fn log_overrides(
    db: &impl ConnectionTrait,
    log_id: i64,
) -> Result<Vec<log_overrides::Model>, DbErr> {
    log_overrides::Entity::find()
        .filter(log_overrides::Column::LogId.eq(log_id))
        .order_by_asc(log_overrides::Column::Position)
        .all(db)
        .await
}

/// Returns the last sequence the projector applied from `stream`, or 0.
pub async fn projection_offset(db: &impl ConnectionTrait, stream: &str) -> Result<u64, DbErr> {
    let row = projection_offsets::Entity::find_by_id(stream.to_string())
        .one(db)
        .await?;
    Ok(row
        .map(|row| u64::try_from(row.sequence).unwrap_or(0))
        .unwrap_or(0))
}

/// Lists a tenant's API keys, newest first, revoked ones included.
pub async fn api_keys(
    db: &impl ConnectionTrait,
    tenant_id: &str,
) -> Result<Vec<api_keys::Model>, DbErr> {
    api_keys::Entity::find()
        .filter(api_keys::Column::TenantId.eq(tenant_id))
        .order_by_desc(api_keys::Column::CreatedAt)
        .all(db)
        .await
}

/// Marks a key revoked; returns the key, or `None` when no key has this id. Revoking twice
/// keeps the first revocation time.
pub async fn revoke_api_key(
    db: &impl ConnectionTrait,
    id: &str,
    at: DateTime<Utc>,
) -> Result<Option<api_keys::Model>, DbErr> {
    let Some(key) = api_keys::Entity::find_by_id(id.to_string()).one(db).await? else {
        return Ok(None);
    };
    if key.revoked_at.is_some() {
        return Ok(Some(key));
    }
    let mut active: api_keys::ActiveModel = key.into();
    active.revoked_at = Set(Some(at));
    let updated = sea_orm::ActiveModelTrait::update(active, db).await?;
    Ok(Some(updated))
}

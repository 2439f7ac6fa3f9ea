//! Tenants, API keys, applications, templates, and the log read model.

use sea_orm_migration::prelude::*;
use sea_orm_migration::schema::*;

pub struct Migration;

impl MigrationName for Migration {
    fn name(&self) -> &str {
        "m0001_initial"
    }
}

#[derive(DeriveIden)]
enum Tenants {
    Table,
    Id,
    Name,
    CreatedAt,
}

#[derive(DeriveIden)]
enum ApiKeys {
    Table,
    Id,
    TenantId,
    Name,
    KeyHash,
    CreatedAt,
    RevokedAt,
}

#[derive(DeriveIden)]
enum Applications {
    Table,
    Id,
    TenantId,
    ExternalId,
    Data,
    CreatedAt,
}

#[derive(DeriveIden)]
enum Templates {
    Table,
    TenantId,
    Id,
    Version,
    ShortId,
    Name,
    Description,
    Workflow,
    Trigger,
    Status,
    Definition,
    CreatedAt,
    UpdatedAt,
    DeletedAt,
}

#[derive(DeriveIden)]
enum Logs {
    Table,
    Id,
    TenantId,
    ApplicationId,
    TemplateId,
    TemplateVersion,
    Status,
    Outcome,
    InternalError,
    CreatedAt,
    StartedAt,
    FinishedAt,
    HaltedStep,
    LastEventSeq,
}

#[derive(DeriveIden)]
enum LogSteps {
    Table,
    LogId,
    Key,
    Position,
    StepType,
    Status,
    Outcome,
    Reason,
    Attempts,
    StartedAt,
    FinishedAt,
    Error,
    Output,
    Overridden,
    EventSeq,
}

#[derive(DeriveIden)]
enum LogOverrides {
    Table,
    LogId,
    Position,
    Step,
    Actor,
    Comment,
    CreatedAt,
    EventSeq,
}

#[derive(DeriveIden)]
enum ProjectionOffsets {
    Table,
    Stream,
    Sequence,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(Tenants::Table)
                    .col(string(Tenants::Id).primary_key())
                    .col(string(Tenants::Name))
                    .col(timestamp_with_time_zone(Tenants::CreatedAt))
                    .to_owned(),
            )
            .await?;

        manager
            .create_table(
                Table::create()
                    .table(ApiKeys::Table)
                    .col(string(ApiKeys::Id).primary_key())
                    .col(string(ApiKeys::TenantId))
                    .col(string(ApiKeys::Name))
                    .col(string_uniq(ApiKeys::KeyHash))
                    .col(timestamp_with_time_zone(ApiKeys::CreatedAt))
                    .col(timestamp_with_time_zone_null(ApiKeys::RevokedAt))
                    .to_owned(),
            )
            .await?;

        manager
            .create_table(
                Table::create()
                    .table(Applications::Table)
                    .col(string(Applications::Id).primary_key())
                    .col(string(Applications::TenantId))
                    .col(string_null(Applications::ExternalId))
                    .col(text(Applications::Data))
                    .col(timestamp_with_time_zone(Applications::CreatedAt))
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("applications_tenant")
                    .table(Applications::Table)
                    .col(Applications::TenantId)
                    .to_owned(),
            )
            .await?;

        manager
            .create_table(
                Table::create()
                    .table(Templates::Table)
                    .col(string(Templates::TenantId))
                    .col(string(Templates::Id))
                    .col(integer(Templates::Version))
                    .col(string(Templates::ShortId))
                    .col(string(Templates::Name))
                    .col(text(Templates::Description))
                    .col(text(Templates::Workflow))
                    .col(string_null(Templates::Trigger))
                    .col(integer(Templates::Status))
                    .col(text(Templates::Definition))
                    .col(timestamp_with_time_zone(Templates::CreatedAt))
                    .col(timestamp_with_time_zone(Templates::UpdatedAt))
                    .col(timestamp_with_time_zone_null(Templates::DeletedAt))
                    .primary_key(
                        Index::create()
                            .col(Templates::TenantId)
                            .col(Templates::Id)
                            .col(Templates::Version),
                    )
                    .to_owned(),
            )
            .await?;

        manager
            .create_table(
                Table::create()
                    .table(Logs::Table)
                    .col(big_integer(Logs::Id).primary_key())
                    .col(string(Logs::TenantId))
                    .col(string(Logs::ApplicationId))
                    .col(string(Logs::TemplateId))
                    .col(integer(Logs::TemplateVersion))
                    .col(integer(Logs::Status))
                    .col(string_null(Logs::Outcome))
                    .col(text_null(Logs::InternalError))
                    .col(timestamp_with_time_zone(Logs::CreatedAt))
                    .col(timestamp_with_time_zone_null(Logs::StartedAt))
                    .col(timestamp_with_time_zone_null(Logs::FinishedAt))
                    .col(string_null(Logs::HaltedStep))
                    .col(big_integer(Logs::LastEventSeq))
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("logs_tenant_application")
                    .table(Logs::Table)
                    .col(Logs::TenantId)
                    .col(Logs::ApplicationId)
                    .col(Logs::Id)
                    .to_owned(),
            )
            .await?;

        manager
            .create_table(
                Table::create()
                    .table(LogSteps::Table)
                    .col(big_integer(LogSteps::LogId))
                    .col(string(LogSteps::Key))
                    .col(integer(LogSteps::Position))
                    .col(string(LogSteps::StepType))
                    .col(string(LogSteps::Status))
                    .col(string_null(LogSteps::Outcome))
                    .col(string_null(LogSteps::Reason))
                    .col(integer(LogSteps::Attempts))
                    .col(timestamp_with_time_zone_null(LogSteps::StartedAt))
                    .col(timestamp_with_time_zone_null(LogSteps::FinishedAt))
                    .col(text_null(LogSteps::Error))
                    .col(text_null(LogSteps::Output))
                    .col(boolean(LogSteps::Overridden))
                    .col(big_integer(LogSteps::EventSeq))
                    .primary_key(Index::create().col(LogSteps::LogId).col(LogSteps::Key))
                    .to_owned(),
            )
            .await?;

        manager
            .create_table(
                Table::create()
                    .table(LogOverrides::Table)
                    .col(big_integer(LogOverrides::LogId))
                    .col(integer(LogOverrides::Position))
                    .col(string(LogOverrides::Step))
                    .col(string(LogOverrides::Actor))
                    .col(text_null(LogOverrides::Comment))
                    .col(timestamp_with_time_zone(LogOverrides::CreatedAt))
                    .col(big_integer(LogOverrides::EventSeq))
                    .primary_key(
                        Index::create()
                            .col(LogOverrides::LogId)
                            .col(LogOverrides::Position),
                    )
                    .to_owned(),
            )
            .await?;

        manager
            .create_table(
                Table::create()
                    .table(ProjectionOffsets::Table)
                    .col(string(ProjectionOffsets::Stream).primary_key())
                    .col(big_integer(ProjectionOffsets::Sequence))
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        for table in [
            ProjectionOffsets::Table.into_iden(),
            LogOverrides::Table.into_iden(),
            LogSteps::Table.into_iden(),
            Logs::Table.into_iden(),
            Templates::Table.into_iden(),
            Applications::Table.into_iden(),
            ApiKeys::Table.into_iden(),
            Tenants::Table.into_iden(),
        ] {
            manager
                .drop_table(Table::drop().table(table).to_owned())
                .await?;
        }
        Ok(())
    }
}

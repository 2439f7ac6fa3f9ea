use sea_orm::entity::prelude::*;

/// A run as the API shows it. Written only by the projector.
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "logs")]
pub struct Model {
    /// The stream sequence of the run's execute command.
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: i64,
    pub tenant_id: String,
    pub application_id: String,
    pub template_id: String,
    pub template_version: i32,
    pub status: i32,
    pub outcome: Option<String>,
    #[sea_orm(column_type = "Text", nullable)]
    pub internal_error: Option<String>,
    pub created_at: DateTimeUtc,
    pub started_at: Option<DateTimeUtc>,
    pub finished_at: Option<DateTimeUtc>,
    pub halted_step: Option<String>,
    /// Events-stream sequence of the newest event reflected in this row; 0 when the row
    /// comes from the execute command alone.
    pub last_event_seq: i64,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}

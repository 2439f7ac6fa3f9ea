use sea_orm::entity::prelude::*;

/// One step of a run. Written only by the projector.
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "log_steps")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub log_id: i64,
    #[sea_orm(primary_key, auto_increment = false)]
    pub key: String,
    /// Index of the step in its template.
    pub position: i32,
    pub step_type: String,
    pub status: String,
    pub outcome: Option<String>,
    pub reason: Option<String>,
    pub attempts: i32,
    pub started_at: Option<DateTimeUtc>,
    pub finished_at: Option<DateTimeUtc>,
    #[sea_orm(column_type = "Text", nullable)]
    pub error: Option<String>,
    /// JSON of the step output.
    #[sea_orm(column_type = "Text", nullable)]
    pub output: Option<String>,
    pub overridden: bool,
    pub event_seq: i64,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}

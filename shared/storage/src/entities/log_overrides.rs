use sea_orm::entity::prelude::*;

/// A `continue_pass` applied to a run. Written only by the projector.
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "log_overrides")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub log_id: i64,
    #[sea_orm(primary_key, auto_increment = false)]
    pub position: i32,
    pub step: String,
    pub actor: String,
    #[sea_orm(column_type = "Text", nullable)]
    pub comment: Option<String>,
    pub created_at: DateTimeUtc,
    pub event_seq: i64,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}

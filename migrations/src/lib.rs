//! Database migrations for the read model and the admin tables. The same migrations run on
//! SQLite and PostgreSQL, and CI runs them on both because SeaQuery's SQLite backend rejects
//! some alterations at run time.

pub use sea_orm_migration::prelude::*;

mod m0001_initial;

pub struct Migrator;

impl MigratorTrait for Migrator {
    fn migrations() -> Vec<Box<dyn MigrationTrait>> {
        vec![Box::new(m0001_initial::Migration)]
    }
}

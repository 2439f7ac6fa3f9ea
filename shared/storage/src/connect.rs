use std::time::Duration;

use dataorch_config::DatabaseSettings;
use dataorch_migrations::{Migrator, MigratorTrait};
use sea_orm::{ConnectOptions, Database, DatabaseConnection, DbErr};

/// Connects to the configured database and runs pending migrations when
/// `migrate_on_start` is set.
///
/// SQLite connections use WAL with a 5 s busy timeout, because SQLx sets no journal mode
/// and concurrent writers otherwise fail at once with "database is locked".
pub async fn connect(settings: &DatabaseSettings) -> Result<DatabaseConnection, DbErr> {
    let mut options = ConnectOptions::new(settings.url.expose().to_string());
    options
        .max_connections(settings.max_connections)
        .min_connections(1)
        .connect_timeout(Duration::from_secs(10))
        .acquire_timeout(Duration::from_secs(10))
        .sqlx_logging(false)
        .map_sqlx_sqlite_opts(|opts| {
            opts.journal_mode(sea_orm::sqlx::sqlite::SqliteJournalMode::Wal)
                .synchronous(sea_orm::sqlx::sqlite::SqliteSynchronous::Normal)
                .busy_timeout(Duration::from_secs(5))
                .foreign_keys(true)
        });
    let connection = Database::connect(options).await?;
    if settings.migrate_on_start {
        migrate(&connection).await?;
    }
    Ok(connection)
}

/// Applies every pending migration.
pub async fn migrate(connection: &DatabaseConnection) -> Result<(), DbErr> {
    Migrator::up(connection, None).await
}

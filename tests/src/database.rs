//! A fresh read-model database per test: a SQLite file, or a new PostgreSQL database when
//! `DATAORCH_TEST_DATABASE_URL` points at a server.

use std::path::Path;

use dataorch_storage::entities::{log_overrides, log_steps, logs};
use sea_orm::{ConnectionTrait, Database, EntityTrait, QueryOrder};

pub struct TestDatabase {
    pub url: String,
    /// The administrative URL and database name to drop, for PostgreSQL.
    postgres: Option<(String, String)>,
}

impl TestDatabase {
    pub async fn create(dir: &Path) -> TestDatabase {
        let name = format!("dataorch_test_{}", uuid::Uuid::new_v4().simple());
        match std::env::var("DATAORCH_TEST_DATABASE_URL") {
            Ok(admin_url) if !admin_url.is_empty() => {
                let admin = Database::connect(&admin_url)
                    .await
                    .expect("connect to DATAORCH_TEST_DATABASE_URL");
                admin
                    .execute_unprepared(&format!("CREATE DATABASE \"{name}\""))
                    .await
                    .expect("create test database");
                admin.close().await.ok();
                let base = admin_url
                    .rsplit_once('/')
                    .map(|(base, _)| base.to_string())
                    .expect("URL has a database");
                TestDatabase {
                    url: format!("{base}/{name}"),
                    postgres: Some((admin_url, name)),
                }
            }
            _ => TestDatabase {
                url: format!(
                    "sqlite://{}?mode=rwc",
                    dir.join(format!("{name}.db")).display()
                ),
                postgres: None,
            },
        }
    }

    /// Creates a second, empty database next to this one (for rebuild comparisons).
    pub async fn sibling(dir: &Path) -> TestDatabase {
        TestDatabase::create(dir).await
    }

    pub async fn drop_database(&self) {
        if let Some((admin_url, name)) = &self.postgres
            && let Ok(admin) = Database::connect(admin_url).await
        {
            let _ = admin
                .execute_unprepared(&format!("DROP DATABASE IF EXISTS \"{name}\" WITH (FORCE)"))
                .await;
            admin.close().await.ok();
        }
    }
}

/// Every row of the read model as text, in a stable order, for equality checks.
pub async fn dump_read_model(db: &impl ConnectionTrait) -> Vec<String> {
    let mut lines = Vec::new();
    for row in logs::Entity::find()
        .order_by_asc(logs::Column::Id)
        .all(db)
        .await
        .expect("logs")
    {
        lines.push(format!("{row:?}"));
    }
    let steps = log_steps::Entity::find()
        .order_by_asc(log_steps::Column::LogId)
        .order_by_asc(log_steps::Column::Position)
        .all(db)
        .await
        .expect("log steps");
    for row in steps {
        lines.push(format!("{row:?}"));
    }
    let overrides = log_overrides::Entity::find()
        .order_by_asc(log_overrides::Column::LogId)
        .order_by_asc(log_overrides::Column::Position)
        .all(db)
        .await
        .expect("log overrides");
    for row in overrides {
        lines.push(format!("{row:?}"));
    }
    lines
}

/// Asserts that two read-model dumps are equal, showing the first rows that differ.
pub fn assert_same_read_model(actual: &[String], expected: &[String]) {
    for (index, (left, right)) in actual.iter().zip(expected).enumerate() {
        assert_eq!(left, right, "row {index} differs");
    }
    assert_eq!(actual.len(), expected.len(), "row counts differ");
}

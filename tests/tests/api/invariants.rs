//! The invariants of the architecture, each checked so that breaking it fails a test.

use std::time::Duration;

use dataorch::samples::Scenario;
use dataorch_contracts::events::{EventKind, RunEvent};
use dataorch_contracts::state::RunState;
use dataorch_contracts::status::StepStatus;
use dataorch_contracts::time::now_micros;
use dataorch_messaging::{MessagingError, decode_event};
use dataorch_tests::{
    FUNDING_TEMPLATE, Options, TestApp, TestDatabase, assert_same_read_model, dump_read_model,
    sample, stream_messages,
};
use serde_json::json;

async fn finished_funding_runs(app: &TestApp, count: usize) -> Vec<(String, i64)> {
    let scenarios = [
        Scenario::Clean,
        Scenario::OwnerLowScore,
        Scenario::BankInstitutionDown,
        Scenario::TinMismatch,
    ];
    let mut runs = Vec::new();
    for index in 0..count {
        let application_id = app
            .create_application(&sample(scenarios[index % scenarios.len()], false))
            .await;
        runs.push((
            application_id.clone(),
            app.execute(FUNDING_TEMPLATE, &application_id).await,
        ));
    }
    for (application_id, log_id) in &runs {
        app.wait_for_status(application_id, *log_id, &[3, 4, 5])
            .await;
    }
    app.wait_for_projection().await;
    runs
}

#[tokio::test]
async fn append_is_conditional_on_last_sequence() {
    let app = TestApp::start().await;
    let broker = &app.stack().broker;
    let application_id = app
        .create_application(&sample(Scenario::Clean, false))
        .await;
    let log_id = app.execute(FUNDING_TEMPLATE, &application_id).await;
    app.wait_for_status(&application_id, log_id, &[4]).await;
    let stored = broker
        .last_event(log_id)
        .await
        .unwrap()
        .expect("run has events");

    let stale = RunEvent {
        at: now_micros(),
        ..stored.event.clone()
    };
    let result = broker.append_event(&stale, stored.sequence - 1).await;
    assert!(
        matches!(result, Err(MessagingError::Conflict { .. })),
        "{result:?}"
    );
    let fresh_run = broker.append_event(&stale, 0).await;
    assert!(
        matches!(fresh_run, Err(MessagingError::Conflict { .. })),
        "{fresh_run:?}"
    );

    let after = broker.last_event(log_id).await.unwrap().unwrap();
    assert_eq!(
        after.sequence, stored.sequence,
        "a losing append must not be stored"
    );
    app.shutdown().await;
}

#[tokio::test]
async fn replicas_never_both_advance_a_run() {
    let app = TestApp::start_with(Options {
        workers: 4,
        ..Options::default()
    })
    .await;
    let runs = finished_funding_runs(&app, 12).await;
    let broker = &app.stack().broker;

    for (_, log_id) in &runs {
        let messages =
            stream_messages(broker, true, Some(broker.names.event_subject(*log_id))).await;
        assert!(!messages.is_empty());
        let (command, _) = broker.execute_command(*log_id).await.unwrap();
        let mut state = RunState::accepted(*log_id, &command);
        let mut finished_steps = std::collections::HashMap::new();
        for (sequence, payload) in &messages {
            let event = decode_event(payload).unwrap();
            // Each stored event must follow from the one before it: a second writer would
            // have appended an event computed from a state that is no longer the latest.
            state
                .apply(&event.event, event.at)
                .unwrap_or_else(|e| panic!("event {sequence} does not follow: {e}"));
            assert_eq!(
                state, event.state,
                "snapshot of event {sequence} differs from the fold"
            );
            if let EventKind::StepFinished { step, .. } = &event.event {
                *finished_steps.entry(step.clone()).or_insert(0) += 1;
            }
        }
        assert!(
            finished_steps.values().all(|count| *count == 1),
            "log {log_id}: {finished_steps:?}"
        );
    }
    app.shutdown().await;
}

#[tokio::test]
async fn projection_is_idempotent_and_monotonic() {
    let app = TestApp::start().await;
    finished_funding_runs(&app, 4).await;
    let broker = &app.stack().broker;
    let before = dump_read_model(app.db()).await;
    assert!(!before.is_empty());

    // Every event again, in one batch and one by one.
    let events = stream_messages(broker, true, None).await;
    dataorch_projector::apply_event_batch(app.db(), &events)
        .await
        .unwrap();
    for message in &events {
        dataorch_projector::apply_event_batch(app.db(), std::slice::from_ref(message))
            .await
            .unwrap();
    }
    let commands = stream_messages(broker, false, None).await;
    dataorch_projector::apply_command_batch(app.db(), &commands)
        .await
        .unwrap();

    assert_same_read_model(&dump_read_model(app.db()).await, &before);

    // The oldest event of a finished run, delivered late, must not move it backwards.
    let first = events.first().unwrap();
    let event = decode_event(&first.1).unwrap();
    assert!(
        event
            .state
            .steps
            .iter()
            .all(|step| step.status == StepStatus::Pending)
    );
    dataorch_projector::apply_event_batch(app.db(), std::slice::from_ref(first))
        .await
        .unwrap();
    assert_same_read_model(&dump_read_model(app.db()).await, &before);
    app.shutdown().await;
}

#[tokio::test]
async fn rebuild_reproduces_read_model() {
    let app = TestApp::start().await;
    let runs = finished_funding_runs(&app, 6).await;
    // The second run uses the low-owner-score sample, which halts; continuing it puts an
    // override into the read model too.
    let (application_id, halted) = runs[1].clone();
    let answer = app
        .put(
            &format!("/api/v2/data_orchestration/{halted}/continue_pass"),
            json!({ "application_id": application_id }),
        )
        .await;
    assert_eq!(answer.status, 202, "{:?}", answer.body);
    app.wait_for_projection().await;
    let original = dump_read_model(app.db()).await;

    let dir = tempfile::tempdir().unwrap();
    let fresh = TestDatabase::sibling(dir.path()).await;
    let mut settings = app.settings.clone();
    settings.database.url = dataorch_config::Secret::new(fresh.url.clone());
    let db = dataorch_storage::connect(&settings.database).await.unwrap();
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let projector = tokio::spawn(dataorch_projector::run(
        settings,
        app.stack().broker.clone(),
        db.clone(),
        async {
            let _ = stopped.await;
        },
    ));
    let caught_up =
        dataorch_projector::wait_until_caught_up(&app.stack().broker, &db, Duration::from_secs(20))
            .await
            .unwrap();
    assert!(caught_up);
    let _ = stop.send(());
    projector.await.unwrap().unwrap();

    assert_same_read_model(&dump_read_model(&db).await, &original);
    db.close().await.ok();
    fresh.drop_database().await;
    app.shutdown().await;
}

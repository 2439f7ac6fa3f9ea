//! Cross-checks the Kubernetes manifests against the code: every overlay renders, every
//! configuration key a service reads is set for it, the values load and validate as the
//! service would load them, and every probe names a path and port the service serves.

use std::collections::{BTreeMap, BTreeSet};
use std::process::Command;

use dataorch_config::Settings;
use serde_json::Value;

/// Renders an overlay with `kubectl kustomize`; `None` when kubectl is not installed.
fn render(overlay: &str) -> Option<Vec<Value>> {
    let root = dataorch::repository_root();
    let output = match Command::new("kubectl")
        .arg("kustomize")
        .arg(root.join("deploy/overlays").join(overlay))
        .output()
    {
        Ok(output) => output,
        Err(_) => {
            eprintln!("kubectl not found; manifests not checked (CI installs it)");
            return None;
        }
    };
    assert!(
        output.status.success(),
        "kustomize failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    let text = String::from_utf8(output.stdout).unwrap();
    let mut documents = Vec::new();
    for document in serde_yaml_ng::Deserializer::from_str(&text) {
        let value: Value = serde::Deserialize::deserialize(document).expect("rendered YAML parses");
        if !value.is_null() {
            documents.push(value);
        }
    }
    Some(documents)
}

/// Returns every key of the configuration as its environment variable name, from the defaults;
/// maps such as `rate_limit.tenants` are left out because their keys are names.
fn every_key() -> BTreeSet<String> {
    fn walk(prefix: &str, value: &Value, keys: &mut BTreeSet<String>) {
        match value {
            Value::Object(map) if !map.is_empty() => {
                for (key, child) in map {
                    walk(&format!("{prefix}__{}", key.to_uppercase()), child, keys);
                }
            }
            Value::Object(_) => {}
            _ => {
                keys.insert(prefix.to_string());
            }
        }
    }
    let mut keys = BTreeSet::new();
    walk(
        "DATAORCH",
        &serde_json::to_value(Settings::default()).unwrap(),
        &mut keys,
    );
    keys
}

/// Returns whether a service reads a secret key; each service gets only the secrets it needs.
fn reads_secret(service: &str, key: &str) -> bool {
    match key {
        "DATAORCH__SECURITY__DATA_KEY" => matches!(service, "gateway" | "worker"),
        "DATAORCH__DATABASE__URL" => matches!(service, "gateway" | "projector"),
        "DATAORCH__GATEWAY__ADMIN_TOKEN" => service == "gateway",
        _ if key.starts_with("DATAORCH__PROVIDERS__") && key.ends_with("__API_KEY") => {
            service == "worker"
        }
        _ => true,
    }
}

/// Placeholder values for the keys that come from the operator's Secret.
fn secret_placeholder(name: &str) -> String {
    match name {
        "DATAORCH__SECURITY__DATA_KEY" => {
            "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=".to_string()
        }
        "DATAORCH__DATABASE__URL" => "postgres://dataorch@db.example.invalid/dataorch".to_string(),
        "DATAORCH__GATEWAY__ADMIN_TOKEN" => "x".repeat(40),
        _ => "secret".to_string(),
    }
}

struct Workload {
    name: String,
    component: String,
    env: BTreeMap<String, String>,
    probes: Vec<(String, String)>,
    ports: BTreeMap<String, u64>,
}

fn workloads(documents: &[Value]) -> Vec<Workload> {
    let config_maps: BTreeMap<String, &Value> = documents
        .iter()
        .filter(|d| d["kind"] == "ConfigMap")
        .map(|d| {
            (
                d["metadata"]["name"].as_str().unwrap().to_string(),
                &d["data"],
            )
        })
        .collect();
    let mut result = Vec::new();
    for document in documents
        .iter()
        .filter(|d| d["kind"] == "Deployment" || d["kind"] == "Job")
    {
        let pod = &document["spec"]["template"];
        let component = pod["metadata"]["labels"]["app.kubernetes.io/component"]
            .as_str()
            .unwrap_or("")
            .to_string();
        for container in pod["spec"]["containers"].as_array().unwrap() {
            let mut env = BTreeMap::new();
            for source in container["envFrom"].as_array().into_iter().flatten() {
                if let Some(name) = source["configMapRef"]["name"].as_str() {
                    let data = config_maps
                        .get(name)
                        .unwrap_or_else(|| panic!("envFrom names a missing ConfigMap {name}"));
                    for (key, value) in data.as_object().into_iter().flatten() {
                        env.insert(key.clone(), value.as_str().unwrap_or_default().to_string());
                    }
                }
            }
            for variable in container["env"].as_array().into_iter().flatten() {
                let name = variable["name"].as_str().unwrap().to_string();
                let value = match variable.get("value").and_then(Value::as_str) {
                    Some(value) => value.to_string(),
                    None => secret_placeholder(&name),
                };
                env.insert(name, value);
            }
            let mut probes = Vec::new();
            for probe in ["livenessProbe", "readinessProbe", "startupProbe"] {
                let get = &container[probe]["httpGet"];
                if let Some(path) = get["path"].as_str() {
                    probes.push((
                        path.to_string(),
                        get["port"].to_string().trim_matches('"').to_string(),
                    ));
                }
            }
            let ports = container["ports"]
                .as_array()
                .into_iter()
                .flatten()
                .map(|port| {
                    (
                        port["name"].as_str().unwrap_or("").to_string(),
                        port["containerPort"].as_u64().unwrap(),
                    )
                })
                .collect();
            result.push(Workload {
                name: container["name"].as_str().unwrap().to_string(),
                component: component.clone(),
                env,
                probes,
                ports,
            });
        }
    }
    result
}

fn listen_port(address: &str) -> u64 {
    address
        .rsplit_once(':')
        .and_then(|(_, port)| port.parse().ok())
        .unwrap_or_else(|| panic!("`{address}` has no port"))
}

#[test]
fn manifests_match_the_code() {
    let all_keys = every_key();
    for overlay in ["dev", "production"] {
        let Some(documents) = render(overlay) else {
            return;
        };
        let workloads = workloads(&documents);
        let mut checked = BTreeSet::new();
        for workload in &workloads {
            let service = workload.component.as_str();
            if !["gateway", "worker", "projector"].contains(&service) {
                continue;
            }
            checked.insert(service.to_string());
            let context = format!("{overlay}/{}", workload.name);

            // Every key is set, and the values load and validate as the service loads them.
            let missing: Vec<&String> = all_keys
                .iter()
                .filter(|key| reads_secret(service, key) && !workload.env.contains_key(*key))
                .collect();
            assert!(missing.is_empty(), "{context} does not set {missing:?}");
            let environment = config::Environment::default().source(Some(
                workload
                    .env
                    .iter()
                    .filter(|(k, _)| k.starts_with("DATAORCH__"))
                    .map(|(k, v)| (k.clone(), v.clone()))
                    .collect(),
            ));
            let settings =
                Settings::load_from(None, environment).unwrap_or_else(|e| panic!("{context}: {e}"));
            let validated = match service {
                "gateway" => settings.validate_gateway(),
                "worker" => settings.validate_worker(),
                _ => settings.validate_projector(),
            };
            validated.unwrap_or_else(|e| panic!("{context}: {e}"));

            // Probes hit the paths every service serves, on the port it listens on.
            let listen = if service == "gateway" {
                &settings.gateway.listen
            } else {
                &settings.ops.listen
            };
            assert!(!listen.is_empty(), "{context} serves no health endpoints");
            for (path, port) in &workload.probes {
                assert!(
                    ["/healthz", "/readyz"].contains(&path.as_str()),
                    "{context} probes {path}"
                );
                let number = workload
                    .ports
                    .get(port)
                    .copied()
                    .or_else(|| port.parse().ok());
                assert_eq!(
                    number,
                    Some(listen_port(listen)),
                    "{context}: probe port {port} is not the listen port {listen}"
                );
            }
            assert!(
                workload.probes.iter().any(|(path, _)| path == "/readyz"),
                "{context} has no readiness probe"
            );
            assert!(
                workload.probes.iter().any(|(path, _)| path == "/healthz"),
                "{context} has no liveness probe"
            );
        }
        assert_eq!(checked.len(), 3, "{overlay} deploys {checked:?}");
    }
}

#[tokio::test]
async fn probe_paths_exist_in_the_services() {
    use tower::ServiceExt;
    let ready: dataorch_telemetry::ops::ReadinessCheck =
        std::sync::Arc::new(|| Box::pin(async { true }));
    let router = dataorch_telemetry::ops::routes::<()>(ready);
    for path in ["/healthz", "/readyz", "/metrics"] {
        let request = axum::http::Request::get(path)
            .body(axum::body::Body::empty())
            .unwrap();
        let response = router.clone().oneshot(request).await.unwrap();
        assert_eq!(response.status(), 200, "the operations server lacks {path}");
    }

    let app = dataorch_tests::TestApp::start().await;
    for path in ["/healthz", "/readyz", "/metrics"] {
        let response = app
            .http
            .get(format!("{}{path}", app.base))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status().as_u16(), 200, "the gateway lacks {path}");
    }
    app.shutdown().await;
}

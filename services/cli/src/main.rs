//! The `dataorch` command line: the demo, the development stack, migrations, API keys,
//! templates and sample data.

use std::path::PathBuf;

use anyhow::Context;
use clap::{Parser, Subcommand};
use dataorch::nats::NatsServer;
use dataorch::stack::Stack;
use dataorch::{admin, repository_root, samples};
use dataorch_config::Settings;

#[derive(Parser)]
#[command(name = "dataorch", version, about = "Data orchestration for lenders")]
struct Cli {
    /// Configuration file (TOML); DATAORCH__SECTION__KEY variables override it.
    #[arg(long, global = true, env = "DATAORCH_CONFIG")]
    config: Option<PathBuf>,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run the end-to-end demo on a throwaway local stack and exit.
    Demo,
    /// Start a local development stack in the foreground (nats-server, sandbox providers,
    /// projector, workers and gateway on SQLite) and print the gateway URL and an API key.
    Dev {
        /// Gateway port.
        #[arg(long, default_value_t = 8080)]
        port: u16,
        /// Sandbox providers port.
        #[arg(long, default_value_t = 8090)]
        sandbox_port: u16,
        /// Folder for the NATS store and the SQLite database; kept between starts.
        #[arg(long, default_value = ".dataorch")]
        data_dir: PathBuf,
        /// Worker replicas.
        #[arg(long, default_value_t = 2)]
        workers: usize,
    },
    /// Apply pending database migrations.
    Migrate,
    /// Manage API keys.
    Keys {
        #[command(subcommand)]
        command: KeysCommand,
    },
    /// Manage templates.
    Templates {
        #[command(subcommand)]
        command: TemplatesCommand,
    },
    /// Sample applications from the SBA 7(a) data.
    Samples {
        #[command(subcommand)]
        command: SamplesCommand,
    },
    /// Print a new random `security.data_key` (base64 of 32 bytes).
    DataKey,
    /// Inspect and redrive commands that workers quarantined.
    DeadLetters {
        #[command(subcommand)]
        command: DeadLettersCommand,
    },
}

#[derive(Subcommand)]
enum DeadLettersCommand {
    /// List quarantined commands, oldest first, with why each was quarantined.
    List {
        /// Most entries to print.
        #[arg(long, default_value_t = 100)]
        limit: usize,
    },
    /// Publish a quarantined command again (after fixing its cause) and remove it from the
    /// dead-letter stream.
    Redrive {
        /// The dead-letter sequence printed by `list`.
        sequence: u64,
    },
}

#[derive(Subcommand)]
enum KeysCommand {
    /// Create an API key for a tenant (created if new) and print the token once.
    Create {
        #[arg(long)]
        tenant: String,
        #[arg(long)]
        name: String,
    },
    /// List a tenant's keys (id, name, created, revoked); tokens are never shown again.
    List {
        #[arg(long)]
        tenant: String,
    },
    /// Revoke a key by id; it stops working at once on every gateway.
    Revoke { id: String },
}

#[derive(Subcommand)]
enum TemplatesCommand {
    /// Check a template file without saving it.
    Validate { file: PathBuf },
    /// Validate and save a template file for a tenant, published unless --draft.
    Import {
        file: PathBuf,
        #[arg(long)]
        tenant: String,
        #[arg(long)]
        draft: bool,
    },
}

#[derive(Subcommand)]
enum SamplesCommand {
    /// Write applications generated from the SBA CSV as a JSON array.
    Generate {
        #[arg(long, default_value = "samples/sba-7a-fy2021-sample.csv")]
        csv: PathBuf,
        #[arg(long, default_value = "samples/applications.json")]
        out: PathBuf,
        /// Rows to convert, from the top of the file; the first row of each scenario missing
        /// from them is added.
        #[arg(long, default_value_t = 40)]
        limit: usize,
    },
}

#[tokio::main]
async fn main() {
    let cli = Cli::parse();
    if let Err(error) = run(cli).await {
        eprintln!("error: {error:#}");
        std::process::exit(1);
    }
}

async fn run(cli: Cli) -> anyhow::Result<()> {
    let settings = Settings::load(cli.config.as_deref())?;
    match cli.command {
        Command::Demo => {
            let _telemetry = init_logs("error");
            dataorch::demo::run().await
        }
        Command::Dev {
            port,
            sandbox_port,
            data_dir,
            workers,
        } => {
            let _telemetry = init_logs(&settings.telemetry.log_level);
            dev(settings, port, sandbox_port, data_dir, workers).await
        }
        Command::Migrate => {
            settings.validate()?;
            let mut database = settings.database.clone();
            database.migrate_on_start = true;
            dataorch_storage::connect(&database)
                .await
                .context("migrating the database")?;
            println!("migrations applied");
            Ok(())
        }
        Command::Keys { command } => {
            let db = dataorch_storage::connect(&settings.database).await?;
            match command {
                KeysCommand::Create { tenant, name } => {
                    anyhow::ensure!(
                        dataorch_gateway::keys::valid_name(&tenant)
                            && dataorch_gateway::keys::valid_name(&name),
                        "tenant and key names must be 1 to 64 letters, digits, `-`, `_` or `.`"
                    );
                    let created = dataorch_gateway::keys::create(&db, &tenant, &name).await?;
                    println!("{}", created.token);
                    eprintln!(
                        "API key `{name}` ({}) created for tenant `{tenant}`; the token above is shown only once.",
                        created.key.id
                    );
                }
                KeysCommand::List { tenant } => {
                    let keys = dataorch_gateway::keys::list(&db, &tenant).await?;
                    if keys.is_empty() {
                        println!("no keys for tenant {tenant}");
                    }
                    for key in keys {
                        let revoked = key
                            .revoked_at
                            .map_or("active".to_string(), |at| format!("revoked {at}"));
                        println!(
                            "{}\t{}\tcreated {}\t{revoked}",
                            key.id, key.name, key.created_at
                        );
                    }
                }
                KeysCommand::Revoke { id } => match dataorch_gateway::keys::revoke(&db, &id).await?
                {
                    Some(key) => println!(
                        "revoked key {} ({}) of tenant {}",
                        key.id, key.name, key.tenant_id
                    ),
                    None => anyhow::bail!(
                        "no API key has id {id}; `dataorch keys list --tenant T` shows the ids"
                    ),
                },
            }
            Ok(())
        }
        Command::Templates {
            command: TemplatesCommand::Validate { file },
        } => {
            let source = std::fs::read_to_string(&file)
                .with_context(|| format!("reading {}", file.display()))?;
            let template = dataorch_contracts::template::Template::from_yaml(&source)
                .with_context(|| format!("{} is invalid", file.display()))?;
            println!(
                "{} is valid: {} version {}, {} steps",
                file.display(),
                template.short_id,
                template.version,
                template.steps.len()
            );
            Ok(())
        }
        Command::Templates {
            command:
                TemplatesCommand::Import {
                    file,
                    tenant,
                    draft,
                },
        } => {
            let db = dataorch_storage::connect(&settings.database).await?;
            let template = admin::import_template(&db, &tenant, &file, draft).await?;
            println!(
                "imported {} version {} for tenant {tenant}",
                template.short_id, template.version
            );
            Ok(())
        }
        Command::DataKey => {
            println!("{}", dataorch_contracts::sealing::DataKey::generate());
            Ok(())
        }
        Command::DeadLetters { command } => {
            settings.validate()?;
            let broker = dataorch_messaging::Broker::connect(&settings.nats).await?;
            match command {
                DeadLettersCommand::List { limit } => {
                    let letters = broker.dead_letters(limit).await?;
                    if letters.is_empty() {
                        println!("no quarantined commands");
                    }
                    for letter in letters {
                        println!(
                            "{}\t{}\toriginal {} #{}\tdeliveries {}\t{}",
                            letter.sequence,
                            letter.quarantined_at,
                            letter.original_subject,
                            letter.original_sequence,
                            letter.deliveries,
                            letter.reason
                        );
                    }
                }
                DeadLettersCommand::Redrive { sequence } => {
                    let new_sequence = broker.redrive(sequence).await?;
                    println!("dead letter {sequence} published again as command {new_sequence}");
                }
            }
            Ok(())
        }
        Command::Samples {
            command: SamplesCommand::Generate { csv, out, limit },
        } => {
            let applications = samples::select(samples::from_csv(&csv)?, limit);
            let text = serde_json::to_string_pretty(&applications)? + "\n";
            std::fs::write(&out, text).with_context(|| format!("writing {}", out.display()))?;
            println!(
                "wrote {} applications to {}",
                applications.len(),
                out.display()
            );
            Ok(())
        }
    }
}

/// Reads the development stack's data key from `data_dir/data-key`, creating it (readable by
/// its owner only) on first start.
fn dev_data_key(data_dir: &std::path::Path) -> anyhow::Result<String> {
    let path = data_dir.join("data-key");
    if let Ok(key) = std::fs::read_to_string(&path) {
        return Ok(key.trim().to_string());
    }
    let key = dataorch_contracts::sealing::DataKey::generate();
    std::fs::write(&path, &key).with_context(|| format!("writing {}", path.display()))?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600))?;
    }
    Ok(key)
}

/// Installs logging and tracing for a local stack; the guard flushes spans when dropped.
fn init_logs(level: &str) -> Option<dataorch_telemetry::TelemetryGuard> {
    let settings = dataorch_config::TelemetrySettings {
        log_level: level.to_string(),
        ..Default::default()
    };
    match dataorch_telemetry::init(&settings, "dataorch") {
        Ok(guard) => Some(guard),
        Err(error) => {
            eprintln!("warning: {error:#}");
            None
        }
    }
}

async fn dev(
    mut settings: Settings,
    port: u16,
    sandbox_port: u16,
    data_dir: PathBuf,
    workers: usize,
) -> anyhow::Result<()> {
    std::fs::create_dir_all(&data_dir)
        .with_context(|| format!("creating {}", data_dir.display()))?;
    let data_dir = data_dir.canonicalize()?;
    let nats = NatsServer::start(&data_dir.join("nats"))?;
    // The NATS store outlives the process, so the key that seals its commands must too.
    settings.security.data_key = dataorch_config::Secret::new(dev_data_key(&data_dir)?);
    settings.nats.url = nats.url.clone();
    settings.database.url = dataorch_config::Secret::new(format!(
        "sqlite://{}?mode=rwc",
        data_dir.join("dataorch.db").display()
    ));

    let gateway_listener = tokio::net::TcpListener::bind(("127.0.0.1", port))
        .await
        .with_context(|| {
            format!("binding the gateway to 127.0.0.1:{port}; pass --port to choose another")
        })?;
    let sandbox_listener = tokio::net::TcpListener::bind(("127.0.0.1", sandbox_port))
        .await
        .with_context(|| format!("binding the sandbox to 127.0.0.1:{sandbox_port}; pass --sandbox-port to choose another"))?;
    let stack = Stack::start(settings, gateway_listener, sandbox_listener, workers).await?;

    let token = admin::create_api_key(&stack.db, "dev", "dev").await?;
    let templates =
        admin::import_template_dir(&stack.db, "dev", &repository_root().join("templates")).await?;

    println!("dataorch development stack is running");
    println!("  gateway          {}", stack.gateway_url());
    println!("  API key          {token}");
    println!("  tenant           dev");
    println!(
        "  templates        {}",
        templates
            .iter()
            .map(|t| t.short_id.as_str())
            .collect::<Vec<_>>()
            .join(", ")
    );
    println!("  sandbox          {}", stack.sandbox_url());
    println!("  nats             {}", nats.url);
    println!("  data             {}", data_dir.display());
    println!();
    println!(
        "  try: curl -H 'Authorization: Bearer {token}' {}/api/v2/data_orchestration/templates",
        stack.gateway_url()
    );
    println!("Press Ctrl-C to stop.");

    dataorch_telemetry::shutdown_signal().await;
    stack.stop().await?;
    drop(nats);
    Ok(())
}

//! `roamify-hooks`: send signed test events, check signatures; search the delivery history,
//! replay or discard dead letters, pause and resume kinds, in a store or through a running
//! server's admin API (`--server`).
//!
//! ```text
//! roamify-hooks send partner.low_balance --url http://127.0.0.1:8080/webhooks/roamify
//! roamify-hooks send partner.low_balance --set data.balance=-5.00 --print
//! roamify-hooks verify --secret whsec_… --signature 3f2a… captured.json
//! roamify-hooks dead-letters list --store durable:deliveries.sqlite
//! roamify-hooks dead-letters replay --all
//! roamify-hooks deliveries --iccid 8901… --since 2h --server http://10.0.0.5:9000
//! roamify-hooks dead-letters replay --kind esim.status --since 1h --server http://10.0.0.5:9000
//! roamify-hooks pause esim.usage --store postgres://…
//! roamify-hooks stats
//! roamify-hooks journal salvage /var/lib/app/journal
//! ```
//!
//! Exit status: 0 when the command did what it was asked; 1 when it ran but the answer is
//! negative (a signature that does not match, a key with no dead letter, a non-2xx answer);
//! 2 when it could not run (bad arguments, store unreachable).

mod operate;

use std::io::{IsTerminal as _, Write as _};
use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Args, Parser, Subcommand};
use roamify_hooks::CATALOG;
use roamify_hooks_cli::{json, salvage, send, verify};
use roamify_hooks_stores::StoreUrl;

#[derive(Debug, Parser)]
#[command(name = "roamify-hooks", version, about, long_about = None)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Send a correctly signed delivery, as Roamify would.
    Send(SendArgs),
    /// Check a captured body against its X-Roamify-Signature, and say why it does not match.
    Verify {
        /// The webhook secret.
        #[arg(long, env = "ROAMIFY_WEBHOOK_SECRET", hide_env_values = true)]
        secret: String,
        /// The X-Roamify-Signature value (hex).
        #[arg(long)]
        signature: String,
        /// The body, exactly as received.
        file: PathBuf,
    },
    /// List, show, replay or discard the deliveries whose handlers gave up.
    #[command(subcommand)]
    DeadLetters(operate::DeadLetters),
    /// The delivery history: what arrived, when, what ran and how it ended, searched by ICCID,
    /// kind, time, outcome and error; or one delivery in full, with its attempts.
    Deliveries(operate::DeliveriesArgs),
    /// Pause a kind (`esim.status`): its deliveries are still acknowledged and stored, and wait
    /// until it is resumed, on every receiver of the store.
    Pause {
        #[command(flatten)]
        store: StoreArgs,
        /// `category.kind`.
        kind: String,
    },
    /// Resume a paused kind: its waiting deliveries run.
    Resume {
        #[command(flatten)]
        store: StoreArgs,
        /// `category.kind`.
        kind: String,
    },
    /// Repair a journal the server refused to open as damaged.
    #[command(subcommand)]
    Journal(Journal),
    /// What the store holds: pending (ready, leased, retrying) and dead.
    Stats {
        #[command(flatten)]
        store: StoreArgs,
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
}

#[derive(Debug, Args)]
struct SendArgs {
    /// `category.kind` for the built-in sample (see --list), or a body file sent byte for byte.
    #[arg(required_unless_present = "list")]
    event: Option<String>,
    /// Where to POST (default http://$BIND_ADDR/webhooks/roamify, BIND_ADDR 127.0.0.1:8080).
    #[arg(long)]
    url: Option<String>,
    /// The signing secret.
    #[arg(long, env = "ROAMIFY_WEBHOOK_SECRET", hide_env_values = true)]
    secret: Option<String>,
    /// Send a well-formed signature that does not match.
    #[arg(long)]
    bad_signature: bool,
    /// List the built-in samples.
    #[arg(long)]
    list: bool,
    /// Change a field before sending, by its path in the body as sent (`data.balance=-5`,
    /// `data.usage_list.0.used=2.5`): the value is JSON when it parses as JSON, else a string.
    /// Every other value keeps its exact text. Repeatable.
    #[arg(long = "set", value_name = "PATH=VALUE")]
    sets: Vec<String>,
    /// Print the body (with its changes) exactly as it would be sent, and send nothing.
    #[arg(long)]
    print: bool,
}

#[derive(Debug, Args)]
struct StoreArgs {
    #[arg(
        long,
        env = "ROAMIFY_DELIVERY",
        required_unless_present = "server",
        help = "The store: durable:<path>, journal:<dir>, postgres://… or redis://… (the server's ROAMIFY_DELIVERY)"
    )]
    store: Option<StoreUrl>,
    /// PostgreSQL: the schema of the store's tables.
    #[arg(long, env = "PG_SCHEMA", default_value = "roamify")]
    pg_schema: String,
    /// Redis: the hash tag of the store's keys.
    #[arg(long, env = "REDIS_NAME", default_value = "roamify")]
    redis_name: String,
    /// A running server's base URL (`http://10.0.0.5:8080`, its ROAMIFY_ADMIN_ADDR when it
    /// has one): ask its admin API instead of opening the store. Works with every store, a
    /// journal included, without stopping the server.
    #[arg(long, value_name = "URL")]
    server: Option<String>,
    /// With --server: where it mounts its admin API.
    #[arg(long, default_value = roamify_hooks::admin::DEFAULT_PATH)]
    admin_path: String,
    /// With --server: the admin token (the server's ROAMIFY_ADMIN_TOKEN).
    #[arg(long, env = "ROAMIFY_ADMIN_TOKEN", hide_env_values = true)]
    token: Option<String>,
}

/// Which deliveries: every condition given must hold.
#[derive(Debug, Args, Default)]
struct FilterArgs {
    /// The eSIM: its ICCID, or the start of it.
    #[arg(long)]
    iccid: Option<String>,
    /// `category.kind` (esim.status) or a category (esim).
    #[arg(long)]
    kind: Option<String>,
    /// At or after: a duration before now (2h, 3days), RFC 3339 or unix seconds.
    #[arg(long)]
    since: Option<String>,
    /// At or before: as --since.
    #[arg(long)]
    until: Option<String>,
    /// The last error contains this text (case ignored).
    #[arg(long)]
    error: Option<String>,
}

impl FilterArgs {
    fn pairs(&self) -> Vec<(&'static str, Option<String>)> {
        vec![
            ("iccid", self.iccid.clone()),
            ("kind", self.kind.clone()),
            ("since", self.since.clone()),
            ("until", self.until.clone()),
            ("error", self.error.clone()),
        ]
    }

    fn is_empty(&self) -> bool {
        self.pairs().iter().all(|(_, v)| v.is_none())
    }

    /// The filter as the API's JSON object.
    fn json(&self) -> serde_json::Value {
        let map: serde_json::Map<String, serde_json::Value> = self
            .pairs()
            .into_iter()
            .filter_map(|(name, value)| Some((name.to_owned(), value?.into())))
            .collect();
        serde_json::Value::Object(map)
    }
}

#[derive(Debug, Subcommand)]
enum Journal {
    /// Keep every record that reads, before and after the damage, in a fresh journal; move
    /// the damaged files aside and report what could not be read. The server must be stopped.
    Salvage {
        /// The journal's directory (the server's `ROAMIFY_DELIVERY=journal:<dir>`).
        dir: PathBuf,
    },
}

/// A command's failure: printed as `roamify-hooks: <message>: <causes>`, exit status 2.
type Failure = Box<dyn std::error::Error>;

fn main() -> ExitCode {
    let cli = Cli::parse();
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(error) => return fail(&error),
    };
    match runtime.block_on(run(cli.command)) {
        Ok(true) => ExitCode::SUCCESS,
        Ok(false) => ExitCode::FAILURE,
        Err(error) => fail(&*error),
    }
}

fn fail(error: &(dyn std::error::Error + 'static)) -> ExitCode {
    eprintln!("roamify-hooks: {}", roamify_hooks::report(error));
    ExitCode::from(2)
}

/// Runs one command; `Ok(false)` for a negative answer.
async fn run(command: Command) -> Result<bool, Failure> {
    match command {
        Command::Send(args) => send_command(args).await,
        Command::Verify {
            secret,
            signature,
            file,
        } => {
            let body =
                std::fs::read(&file).map_err(|e| format!("cannot read {}: {e}", file.display()))?;
            let diagnosis = verify::diagnose(&secret, &signature, &body);
            println!("{diagnosis}");
            Ok(diagnosis.is_valid())
        }
        Command::Stats { store, json } => operate::stats(&store, json).await,
        Command::DeadLetters(command) => operate::dead_letters(command).await,
        Command::Deliveries(args) => operate::deliveries(args).await,
        Command::Pause { store, kind } => operate::pause(&store, &kind, true).await,
        Command::Resume { store, kind } => operate::pause(&store, &kind, false).await,
        Command::Journal(Journal::Salvage { dir }) => {
            let salvaged = salvage::salvage(&dir)?;
            print!("{}", salvage::report(&dir, &salvaged));
            Ok(true)
        }
    }
}

async fn send_command(args: SendArgs) -> Result<bool, Failure> {
    if args.list {
        for entry in CATALOG {
            println!("{}.{}", entry.category, entry.name);
        }
        return Ok(true);
    }
    let event = args.event.ok_or("name an event (see --list) or a file")?;
    let mut body = send::body(&event)?;
    for assignment in &args.sets {
        body = json::set_assignment(&body, assignment)?;
    }
    if args.print {
        let mut out = std::io::stdout().lock();
        out.write_all(&body)?;
        if out.is_terminal() {
            out.write_all(b"\n")?;
        }
        out.flush()?;
        return Ok(true);
    }
    let secret = args
        .secret
        .ok_or("no secret: pass --secret or set ROAMIFY_WEBHOOK_SECRET (the server's secret)")?;
    let url = args.url.unwrap_or_else(send::default_url);
    let answer = send::post(&url, &secret, body, args.bad_signature).await?;
    println!("{} {}", answer.status, answer.body);
    Ok(answer.is_success())
}

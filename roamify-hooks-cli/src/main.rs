//! `roamify-hooks`: send signed test events, check signatures, inspect and replay dead letters.
//!
//! ```text
//! roamify-hooks send partner.low_balance --url http://127.0.0.1:8080/webhooks/roamify
//! roamify-hooks send partner.low_balance --set data.balance=-5.00 --print
//! roamify-hooks verify --secret whsec_… --signature 3f2a… captured.json
//! roamify-hooks dead-letters list --store durable:deliveries.sqlite
//! roamify-hooks dead-letters replay --all
//! roamify-hooks stats
//! roamify-hooks journal salvage /var/lib/app/journal
//! ```
//!
//! Exit status: 0 when the command did what it was asked; 1 when it ran but the answer is
//! negative (a signature that does not match, a key with no dead letter, a non-2xx answer);
//! 2 when it could not run (bad arguments, store unreachable).

use std::io::{IsTerminal as _, Write as _};
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;

use clap::{Args, Parser, Subcommand};
use roamify_hooks::CATALOG;
use roamify_hooks::delivery::{DeadLetter, Store, StoreCounts};
use roamify_hooks_cli::{json, salvage, send, verify};
use roamify_hooks_stores::{Reader, StoreConfig, StoreUrl};

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
    DeadLetters(DeadLetters),
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
        help = "The store: durable:<path>, journal:<dir>, postgres://… or redis://… (the server's ROAMIFY_DELIVERY)"
    )]
    store: StoreUrl,
    /// PostgreSQL: the schema of the store's tables.
    #[arg(long, env = "PG_SCHEMA", default_value = "roamify")]
    pg_schema: String,
    /// Redis: the hash tag of the store's keys.
    #[arg(long, env = "REDIS_NAME", default_value = "roamify")]
    redis_name: String,
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

#[derive(Debug, Subcommand)]
enum DeadLetters {
    /// One line per dead letter: key, event, attempts, when it died, last error.
    List {
        #[command(flatten)]
        store: StoreArgs,
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// One dead letter in full, with its body: indented, every value exactly as stored.
    Show {
        #[command(flatten)]
        store: StoreArgs,
        /// Its key (or a unique prefix of it).
        key: String,
        /// Print only the body, byte for byte as stored (for `verify`, or a diff with
        /// Roamify's dashboard).
        #[arg(long)]
        raw: bool,
    },
    /// Queue dead letters again, attempts reset; running workers pick them up.
    Replay {
        #[command(flatten)]
        store: StoreArgs,
        #[command(flatten)]
        which: Which,
    },
    /// Delete dead letters for good (their keys stay known for the dedupe window).
    Discard {
        #[command(flatten)]
        store: StoreArgs,
        #[command(flatten)]
        which: Which,
        /// Do not ask for confirmation.
        #[arg(long)]
        yes: bool,
    },
}

/// The dead letters a replay or discard applies to.
#[derive(Debug, Args)]
struct Which {
    /// Keys (or unique prefixes).
    #[arg(required_unless_present = "all", conflicts_with = "all")]
    keys: Vec<String>,
    /// Every dead letter.
    #[arg(long)]
    all: bool,
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
        Command::Stats { store, json } => {
            let counts = read(&store).await?.counts().await?;
            print_counts(&counts, json)?;
            Ok(true)
        }
        Command::DeadLetters(command) => dead_letters(command).await,
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

fn config(args: &StoreArgs) -> StoreConfig {
    // No owner: an operator's command reads and changes any application's store.
    StoreConfig::new(args.store.clone())
        .pg_schema(args.pg_schema.as_str())
        .redis_name(args.redis_name.as_str())
}

/// Opens the store to change it.
async fn open(args: &StoreArgs) -> Result<Arc<dyn Store>, Failure> {
    Ok(config(args).open().await?)
}

/// Opens the store to read it (a journal is read while its server runs).
async fn read(args: &StoreArgs) -> Result<Reader, Failure> {
    Ok(config(args).read().await?)
}

async fn dead_letters(command: DeadLetters) -> Result<bool, Failure> {
    match command {
        DeadLetters::List { store, json } => {
            let letters = read(&store).await?.dead_letters().await?;
            if json {
                let rows: Vec<serde_json::Value> = letters.iter().map(letter_json).collect();
                println!("{}", serde_json::to_string_pretty(&rows)?);
            } else {
                print_table(&letters);
            }
            Ok(true)
        }
        DeadLetters::Show { store, key, raw } => {
            let letters = read(&store).await?.dead_letters().await?;
            let Some(letter) = find(&letters, &key)? else {
                eprintln!("no dead letter with key {key}");
                return Ok(false);
            };
            if raw {
                let mut out = std::io::stdout().lock();
                out.write_all(&letter.body)?;
                out.flush()?;
                return Ok(true);
            }
            println!("key:      {}", letter.key);
            println!("event:    {}", event_name(&letter.body));
            println!("attempts: {}", letter.attempts);
            println!("died:     {}", time(letter));
            println!("error:    {}", letter.error);
            println!("body:");
            match json::pretty(&letter.body) {
                Some(text) => println!("{text}"),
                // Not JSON: the bytes as stored.
                None => {
                    let mut out = std::io::stdout().lock();
                    out.write_all(&letter.body)?;
                    out.write_all(b"\n")?;
                }
            }
            Ok(true)
        }
        DeadLetters::Replay { store, which } => {
            let store = open(&store).await?;
            let keys = chosen(&*store, which).await?;
            let done = each(&keys, "replaying", |key| store.replay(key)).await?;
            println!("replayed {done} of {} dead letters", keys.len());
            Ok(done == keys.len())
        }
        DeadLetters::Discard { store, which, yes } => {
            let store = open(&store).await?;
            let keys = chosen(&*store, which).await?;
            if keys.is_empty() {
                println!("no dead letters");
                return Ok(true);
            }
            if !yes && !confirm(keys.len())? {
                println!("nothing discarded");
                return Ok(false);
            }
            let done = each(&keys, "discarding", |key| store.discard(key)).await?;
            println!("discarded {done} of {} dead letters", keys.len());
            Ok(done == keys.len())
        }
    }
}

/// The keys a replay or discard applies to: every dead letter's, or the given ones (a unique
/// prefix stands for its key; an unknown key is kept as given, and reported when not found).
async fn chosen(store: &dyn Store, which: Which) -> Result<Vec<String>, Failure> {
    let letters = store.dead_letters().await?;
    if which.all {
        return Ok(letters.into_iter().map(|l| l.key).collect());
    }
    which
        .keys
        .into_iter()
        .map(|key| Ok(find(&letters, &key)?.map_or(key, |l| l.key.clone())))
        .collect()
}

/// The dead letter with `key`, or the only one whose key starts with it.
fn find<'a>(letters: &'a [DeadLetter], key: &str) -> Result<Option<&'a DeadLetter>, Failure> {
    if let Some(exact) = letters.iter().find(|l| l.key == key) {
        return Ok(Some(exact));
    }
    let mut matching = letters.iter().filter(|l| l.key.starts_with(key));
    match (matching.next(), matching.next()) {
        (Some(one), None) => Ok(Some(one)),
        (Some(_), Some(_)) => {
            Err(format!("{key:?} is the start of several keys: give more of it").into())
        }
        _ => Ok(None),
    }
}

/// Runs `apply` on each key with a progress bar (on a terminal); returns how many it applied to.
async fn each<'s, F>(
    keys: &[String],
    doing: &'static str,
    apply: impl Fn(String) -> F,
) -> Result<usize, Failure>
where
    F: std::future::Future<Output = Result<bool, roamify_hooks::delivery::StoreError>> + 's,
{
    let bar = indicatif::ProgressBar::new(keys.len() as u64);
    bar.set_style(
        indicatif::ProgressStyle::with_template("{msg} {bar:40} {pos}/{len} ({eta})")
            .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar()),
    );
    bar.set_message(doing);
    if keys.len() < 2 {
        bar.set_draw_target(indicatif::ProgressDrawTarget::hidden());
    }
    let mut done = 0;
    for key in keys {
        if apply(key.clone()).await? {
            done += 1;
        } else {
            bar.suspend(|| eprintln!("no dead letter with key {key}"));
        }
        bar.inc(1);
    }
    bar.finish_and_clear();
    Ok(done)
}

fn confirm(n: usize) -> Result<bool, Failure> {
    if !std::io::stdin().is_terminal() {
        return Err("refusing to discard without confirmation: pass --yes".into());
    }
    eprint!("Discard {n} dead letter(s) for good? [y/N] ");
    std::io::stderr().flush()?;
    let mut answer = String::new();
    std::io::stdin().read_line(&mut answer)?;
    Ok(matches!(answer.trim(), "y" | "Y" | "yes"))
}

/// `category.kind` read from a body, or `?` when it names none.
fn event_name(body: &[u8]) -> String {
    let value: serde_json::Value = serde_json::from_slice(body).unwrap_or_default();
    let field = |name| value.get(name).and_then(|v| v.as_str()).unwrap_or("?");
    format!("{}.{}", field("event_category"), field("event_type"))
}

fn time(letter: &DeadLetter) -> String {
    humantime::format_rfc3339_seconds(letter.dead_at.to_system_time()).to_string()
}

fn one_line(text: &str, max: usize) -> String {
    let line: String = text.split_whitespace().collect::<Vec<_>>().join(" ");
    if line.chars().count() <= max {
        return line;
    }
    let cut: String = line.chars().take(max.saturating_sub(1)).collect();
    format!("{cut}…")
}

fn print_table(letters: &[DeadLetter]) {
    if letters.is_empty() {
        println!("no dead letters");
        return;
    }
    let rows: Vec<[String; 5]> = letters
        .iter()
        .map(|l| {
            [
                l.key.clone(),
                event_name(&l.body),
                l.attempts.to_string(),
                time(l),
                one_line(&l.error, 60),
            ]
        })
        .collect();
    let header = ["KEY", "EVENT", "ATTEMPTS", "DIED", "LAST ERROR"].map(str::to_owned);
    let widths: Vec<usize> = (0..4)
        .map(|i| {
            rows.iter()
                .chain([&header])
                .map(|r| r[i].chars().count())
                .max()
                .unwrap_or(0)
        })
        .collect();
    for row in [&header].into_iter().chain(&rows) {
        println!(
            "{:w0$}  {:w1$}  {:>w2$}  {:w3$}  {}",
            row[0],
            row[1],
            row[2],
            row[3],
            row[4],
            w0 = widths[0],
            w1 = widths[1],
            w2 = widths[2],
            w3 = widths[3],
        );
    }
    println!("{} dead letters", letters.len());
}

fn letter_json(letter: &DeadLetter) -> serde_json::Value {
    serde_json::json!({
        "key": letter.key,
        "event": event_name(&letter.body),
        "attempts": letter.attempts,
        "error": letter.error,
        "dead_at": letter.dead_at.as_secs(),
        "died": time(letter),
    })
}

fn print_counts(counts: &StoreCounts, json: bool) -> Result<(), Failure> {
    if json {
        let value = serde_json::json!({
            "pending": counts.pending(),
            "ready": counts.ready,
            "leased": counts.leased,
            "retrying": counts.retrying,
            "dead": counts.dead,
        });
        println!("{}", serde_json::to_string_pretty(&value)?);
    } else {
        println!("pending   {}", counts.pending());
        println!("  ready     {}", counts.ready);
        println!("  leased    {}", counts.leased);
        println!("  retrying  {}", counts.retrying);
        println!("dead      {}", counts.dead);
    }
    Ok(())
}

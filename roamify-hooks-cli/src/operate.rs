//! The operator's commands: counts, dead letters, the history, pauses; each one asks the admin
//! API, of a store opened here or of a running server (`--server`).

use std::io::{IsTerminal as _, Write as _};
use std::sync::Arc;

use clap::{Args, Subcommand};
use roamify_hooks::delivery::Admin;
use roamify_hooks_cli::admin::{CallError, Source, all_dead_letters, query};
use roamify_hooks_cli::print;
use roamify_hooks_stores::StoreConfig;
use serde_json::{Value, json};

use super::{Failure, FilterArgs, StoreArgs};

#[derive(Debug, Subcommand)]
pub(crate) enum DeadLetters {
    /// One line per dead letter, the newest first: key, event, attempts, when it died, last
    /// error.
    List {
        #[command(flatten)]
        store: StoreArgs,
        #[command(flatten)]
        filter: FilterArgs,
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
        /// Print only the body as stored (for `verify`, or a diff with Roamify's dashboard).
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

/// The dead letters a replay or discard applies to: keys, `--all`, or those matching a filter.
#[derive(Debug, Args)]
pub(crate) struct Which {
    /// Keys (or unique prefixes).
    #[arg(conflicts_with = "all")]
    keys: Vec<String>,
    /// Every dead letter.
    #[arg(long)]
    all: bool,
    #[command(flatten)]
    filter: FilterArgs,
    /// Count (and list) what would be done, and do nothing.
    #[arg(long)]
    dry_run: bool,
}

#[derive(Debug, Args)]
pub(crate) struct DeliveriesArgs {
    #[command(flatten)]
    store: StoreArgs,
    /// One delivery in full, with its attempts (and its body while the store holds it).
    key: Option<String>,
    #[command(flatten)]
    filter: FilterArgs,
    /// pending, retrying, handled, dead, stale or discarded.
    #[arg(long)]
    outcome: Option<String>,
    /// Deliveries shown at most (the newest).
    #[arg(long, default_value_t = 50)]
    limit: usize,
    /// Print JSON.
    #[arg(long)]
    json: bool,
}

fn config(args: &StoreArgs) -> Result<StoreConfig, Failure> {
    let url = args
        .store
        .clone()
        .ok_or("name the store (--store or ROAMIFY_DELIVERY) or a server (--server)")?;
    // No owner: an operator's command reads and changes any application's store.
    Ok(StoreConfig::new(url)
        .pg_schema(args.pg_schema.as_str())
        .redis_name(args.redis_name.as_str()))
}

/// The admin API to ask: the server's, or over the store opened to read (`write`: to change
/// it; a journal is read while its server runs, and changed only through it).
async fn source(args: &StoreArgs, write: bool) -> Result<Source, Failure> {
    if let Some(server) = &args.server {
        let token = args
            .token
            .clone()
            .ok_or("--server needs the admin token: pass --token or set ROAMIFY_ADMIN_TOKEN")?;
        return Ok(Source::server(server, &args.admin_path, token));
    }
    let config = config(args)?;
    let store: Arc<dyn Admin> = if write {
        config.open().await?
    } else {
        Arc::new(config.read().await?)
    };
    Ok(Source::store(store))
}

pub(crate) async fn stats(store: &StoreArgs, json: bool) -> Result<bool, Failure> {
    let counts = source(store, false)
        .await?
        .call("GET", "/api/counts", "", None)
        .await?;
    if json {
        println!("{}", serde_json::to_string_pretty(&counts)?);
    } else {
        print!("{}", print::counts(&counts));
    }
    Ok(true)
}

pub(crate) async fn pause(store: &StoreArgs, kind: &str, pause: bool) -> Result<bool, Failure> {
    let path = if pause { "/api/pause" } else { "/api/resume" };
    let body = json!({ "kind": kind });
    let answer = source(store, true)
        .await?
        .call("POST", path, "", Some(&body))
        .await?;
    let changed = answer["changed"] == true;
    match (pause, changed) {
        (true, true) => println!("paused {kind}: its deliveries are stored and wait"),
        (true, false) => println!("{kind} was paused already"),
        (false, true) => println!("resumed {kind}: its waiting deliveries run"),
        (false, false) => println!("{kind} was not paused"),
    }
    Ok(true)
}

pub(crate) async fn deliveries(args: DeliveriesArgs) -> Result<bool, Failure> {
    let source = source(&args.store, false).await?;
    if let Some(key) = &args.key {
        let path = format!("/api/deliveries/{}", encode(key));
        return match source.call("GET", &path, "", None).await {
            Ok(found) if args.json => {
                println!("{}", serde_json::to_string_pretty(&found)?);
                Ok(true)
            }
            Ok(found) => {
                print!("{}", print::delivery(&found));
                Ok(true)
            }
            Err(CallError::Refused(refused)) if refused.status == 404 => {
                eprintln!("no delivery with key {key} in the history");
                Ok(false)
            }
            Err(error) => Err(error.into()),
        };
    }
    let mut pairs = args.filter.pairs();
    pairs.push(("outcome", args.outcome.clone()));
    pairs.push(("limit", Some(args.limit.to_string())));
    let page = source
        .call("GET", "/api/deliveries", &query(&pairs), None)
        .await?;
    if args.json {
        println!("{}", serde_json::to_string_pretty(&page)?);
    } else {
        print!("{}", print::deliveries(&page));
    }
    Ok(true)
}

/// A key as one path segment.
fn encode(key: &str) -> String {
    percent_encoding::utf8_percent_encode(key, percent_encoding::NON_ALPHANUMERIC).to_string()
}

pub(crate) async fn dead_letters(command: DeadLetters) -> Result<bool, Failure> {
    match command {
        DeadLetters::List {
            store,
            filter,
            json,
        } => {
            let source = source(&store, false).await?;
            let items = all_dead_letters(&source, &query(&filter.pairs())).await?;
            if json {
                println!("{}", serde_json::to_string_pretty(&items)?);
            } else {
                print!("{}", print::dead_letters(&items));
            }
            Ok(true)
        }
        DeadLetters::Show { store, key, raw } => {
            let source = source(&store, false).await?;
            let items = all_dead_letters(&source, "").await?;
            let Some(found) = find(&items, &key)? else {
                eprintln!("no dead letter with key {key}");
                return Ok(false);
            };
            let path = format!("/api/dead-letters/{}", encode(&found));
            let letter = source.call("GET", &path, "", None).await?;
            let body = letter["body"].as_str().unwrap_or_default();
            if raw {
                let mut out = std::io::stdout().lock();
                out.write_all(body.as_bytes())?;
                out.flush()?;
                return Ok(true);
            }
            for (label, field) in [
                ("key", "key"),
                ("event", "event"),
                ("attempts", "attempts"),
                ("died", "died"),
                ("error", "error"),
            ] {
                let value = match &letter[field] {
                    Value::String(s) => s.clone(),
                    other => other.to_string(),
                };
                println!("{:<9} {value}", format!("{label}:"));
            }
            println!("body:");
            println!(
                "{}",
                roamify_hooks_cli::json::pretty(body.as_bytes()).unwrap_or_else(|| body.to_owned())
            );
            Ok(true)
        }
        DeadLetters::Replay { store, which } => act(&store, which, "replay", true).await,
        DeadLetters::Discard { store, which, yes } => act(&store, which, "discard", yes).await,
    }
}

/// Replays or discards the dead letters `which` names (asking first for a discard unless
/// `confirmed`); `false` when some named key is not a dead letter.
async fn act(
    store: &StoreArgs,
    which: Which,
    action: &str,
    confirmed: bool,
) -> Result<bool, Failure> {
    let source = source(store, true).await?;
    let (body, named) = if which.keys.is_empty() {
        if !which.all && which.filter.is_empty() {
            return Err("name dead letters: keys, --all, or a filter (--iccid, --kind, --since, --until, --error)".into());
        }
        (json!({ "filter": which.filter.json() }), None)
    } else {
        if !which.filter.is_empty() {
            return Err("give keys or a filter, not both".into());
        }
        let items = all_dead_letters(&source, "").await?;
        let mut keys = Vec::new();
        for key in &which.keys {
            keys.push(find(&items, key)?.unwrap_or_else(|| key.clone()));
        }
        (json!({ "keys": keys }), Some(keys))
    };
    let path = format!("/api/dead-letters/{action}");
    // A dry run first when it is what was asked, or to ask before changing anything.
    if which.dry_run || !confirmed {
        let mut dry = body.clone();
        dry["dry_run"] = true.into();
        let preview = source.call("POST", &path, "", Some(&dry)).await?;
        let matched = preview["matched"].as_u64().unwrap_or(0);
        if which.dry_run {
            println!("would {action} {matched} dead letters");
            for key in preview["keys"].as_array().into_iter().flatten() {
                println!("  {}", key.as_str().unwrap_or_default());
            }
            return Ok(true);
        }
        if matched == 0 && named.is_none() {
            println!("no dead letters match");
            return Ok(true);
        }
        if !confirm(action, matched)? {
            println!("nothing {action}ed");
            return Ok(false);
        }
    }
    let answer = source.call("POST", &path, "", Some(&body)).await?;
    let (matched, done) = (
        answer["matched"].as_u64().unwrap_or(0),
        answer["done"].as_u64().unwrap_or(0),
    );
    if matched == 0 && named.is_none() {
        println!("no dead letters match");
        return Ok(true);
    }
    let done_keys: Vec<&str> = answer["keys"]
        .as_array()
        .map(|keys| keys.iter().filter_map(Value::as_str).collect())
        .unwrap_or_default();
    let past = if action == "replay" {
        "replayed"
    } else {
        "discarded"
    };
    match named {
        Some(keys) => {
            for key in keys.iter().filter(|k| !done_keys.contains(&k.as_str())) {
                eprintln!("no dead letter with key {key}");
            }
            println!("{past} {done} of {} dead letters", keys.len());
            Ok(done as usize == keys.len())
        }
        None => {
            println!("{past} {done} of {matched} dead letters");
            Ok(true)
        }
    }
}

/// The key of the dead letter whose key is `key`, or the only one starting with it.
fn find(items: &[Value], key: &str) -> Result<Option<String>, Failure> {
    let keys: Vec<&str> = items.iter().filter_map(|i| i["key"].as_str()).collect();
    if keys.contains(&key) {
        return Ok(Some(key.to_owned()));
    }
    let mut matching = keys.iter().filter(|k| k.starts_with(key));
    match (matching.next(), matching.next()) {
        (Some(one), None) => Ok(Some((*one).to_owned())),
        (Some(_), Some(_)) => {
            Err(format!("{key:?} is the start of several keys: give more of it").into())
        }
        _ => Ok(None),
    }
}

fn confirm(doing: &str, n: u64) -> Result<bool, Failure> {
    if !std::io::stdin().is_terminal() {
        return Err(format!("refusing to {doing} without confirmation: pass --yes").into());
    }
    eprint!("{doing} {n} dead letter(s) for good? [y/N] ");
    std::io::stderr().flush()?;
    let mut answer = String::new();
    std::io::stdin().read_line(&mut answer)?;
    Ok(matches!(answer.trim(), "y" | "Y" | "yes"))
}

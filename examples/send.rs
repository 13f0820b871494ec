//! Sends a correctly signed Roamify event to a receiver, like Roamify would: try your endpoint
//! without a Roamify account.
//!
//! ```text
//! cargo run --example send -- partner.low_balance
//! cargo run --example send -- path/to/body.json --url https://example.com/webhooks/roamify
//! cargo run --example send -- esim.usage --bad-signature
//! cargo run --example send -- --list
//! ```
//!
//! Options:
//! - `EVENT`: `category.kind` (see `--list`) for the built-in sample, or a path to a body file
//!   (sent byte for byte).
//! - `--url URL`: where to POST (default `http://$BIND_ADDR/webhooks/roamify`, `BIND_ADDR`
//!   defaulting to `127.0.0.1:8080` like the server example).
//! - `--secret SECRET`: the signing secret (default `$ROAMIFY_WEBHOOK_SECRET`).
//! - `--bad-signature`: send a well-formed signature that does not match.
//! - `--list`: list the built-in samples.
//!
//! Prints the answer's status and body; exits non-zero unless the status is 2xx. The
//! `roamify-hooks` command line tool (`roamify-hooks send`) does the same and more; both use
//! `roamify_hooks_cli::send`.

use std::process::ExitCode;

use roamify_hooks::CATALOG;
use roamify_hooks_cli::send;

struct Args {
    event: Option<String>,
    url: Option<String>,
    secret: Option<String>,
    bad_signature: bool,
    list: bool,
}

const USAGE: &str =
    "usage: send [EVENT | FILE] [--url URL] [--secret SECRET] [--bad-signature] [--list]";

fn parse_args() -> Result<Args, String> {
    let mut args = Args {
        event: None,
        url: None,
        secret: None,
        bad_signature: false,
        list: false,
    };
    let mut it = std::env::args().skip(1);
    while let Some(arg) = it.next() {
        match arg.as_str() {
            "--url" => args.url = Some(it.next().ok_or("--url needs a value")?),
            "--secret" => args.secret = Some(it.next().ok_or("--secret needs a value")?),
            "--bad-signature" => args.bad_signature = true,
            "--list" => args.list = true,
            "-h" | "--help" => return Err(USAGE.to_owned()),
            flag if flag.starts_with("--") => {
                return Err(format!("unknown option {flag}\n{USAGE}"));
            }
            _ if args.event.is_some() => return Err(format!("one event at a time\n{USAGE}")),
            _ => args.event = Some(arg),
        }
    }
    Ok(args)
}

fn main() -> ExitCode {
    match run() {
        Ok(code) => code,
        Err(error) => {
            eprintln!("send: {error}");
            ExitCode::from(2)
        }
    }
}

fn run() -> Result<ExitCode, String> {
    let args = parse_args()?;
    if args.list {
        for entry in CATALOG {
            println!("{}.{}", entry.category, entry.name);
        }
        return Ok(ExitCode::SUCCESS);
    }
    let event = args
        .event
        .ok_or_else(|| format!("name an event (see --list) or a file\n{USAGE}"))?;
    let body = send::body(&event).map_err(|e| e.to_string())?;
    let secret = match args.secret {
        Some(secret) => secret,
        None => std::env::var("ROAMIFY_WEBHOOK_SECRET").map_err(|_| {
            "no secret: pass --secret or set ROAMIFY_WEBHOOK_SECRET (the server's secret)"
                .to_owned()
        })?,
    };
    let url = args.url.unwrap_or_else(send::default_url);
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| e.to_string())?;
    let answer = runtime
        .block_on(send::post(&url, &secret, body, args.bad_signature))
        .map_err(|e| roamify_hooks::report(&e))?;
    println!("{} {}", answer.status, answer.body);
    Ok(if answer.is_success() {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}

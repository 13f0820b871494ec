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
//! Prints the answer's status and body; exits non-zero unless the status is 2xx.

use std::process::ExitCode;

use roamify_hooks::{CATALOG, EventKind, SIGNATURE_HEADER, testing};

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

/// `category.kind` (or `category/kind`, any catalog spelling) to a kind.
fn kind_named(name: &str) -> Option<EventKind> {
    let (category, kind) = name.split_once(['.', '/'])?;
    EventKind::from_wire(category, kind)
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
    let body: Vec<u8> = match kind_named(&event) {
        Some(kind) => testing::sample(kind).to_vec(),
        None if std::path::Path::new(&event).is_file() => {
            std::fs::read(&event).map_err(|e| format!("{event}: {e}"))?
        }
        None => {
            return Err(format!(
                "{event:?} is neither a known event (see --list) nor a file"
            ));
        }
    };
    let secret = match args.secret {
        Some(secret) => secret,
        None => std::env::var("ROAMIFY_WEBHOOK_SECRET").map_err(|_| {
            "no secret: pass --secret or set ROAMIFY_WEBHOOK_SECRET (the server's secret)"
                .to_owned()
        })?,
    };
    let signature = if args.bad_signature {
        "0".repeat(64)
    } else {
        testing::sign(&secret, &body)
    };
    let url = args.url.unwrap_or_else(|| {
        let bind = std::env::var("BIND_ADDR").unwrap_or_else(|_| "127.0.0.1:8080".to_owned());
        format!("http://{bind}/webhooks/roamify")
    });

    // reqwest is built without a bundled TLS provider; use ring, as the server does.
    let _ = rustls::crypto::ring::default_provider().install_default();
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| e.to_string())?;
    let (status, answer) = runtime.block_on(async {
        let response = reqwest::Client::new()
            .post(&url)
            .header(SIGNATURE_HEADER, &signature)
            .header("content-type", "application/json")
            .body(body)
            .send()
            .await
            .map_err(|e| format!("POST {url}: {e}"))?;
        let status = response.status();
        let text = response
            .text()
            .await
            .map_err(|e| format!("reading the answer: {e}"))?;
        Ok::<_, String>((status, text))
    })?;
    println!("{} {}", status.as_u16(), answer);
    Ok(if status.is_success() {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}

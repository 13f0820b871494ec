//! The admin API's routes: parse the request, ask the store, answer JSON.

use serde_json::{Value, json};

use crate::delivery::{
    Admin, DeadLetter, Delivery, Described, Fate, Filter, HistoryPage, Page, StoreCounts,
    StoreError,
};

use super::auth::Access;
use super::{AdminReply, AdminRequest};

/// The most dead letters one page lists.
const MAX_LIMIT: usize = 500;
/// A page's size when not given.
const DEFAULT_LIMIT: usize = 50;

/// What a `POST` applies to dead letters.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Action {
    Replay,
    Discard,
}

pub(super) async fn route(
    store: Option<&dyn Admin>,
    access: Access,
    request: &AdminRequest<'_>,
) -> AdminReply {
    let path = request.path.trim_end_matches('/');
    let segments: Vec<&str> = path.split('/').filter(|s| !s.is_empty()).collect();
    let method = request.method;
    let answer = match (method, segments.as_slice()) {
        ("GET", ["api", "counts"]) => counts(store).await,
        ("GET", ["api", "paused"]) => paused(store).await,
        ("POST", ["api", action @ ("pause" | "resume")]) => {
            if access != Access::Full {
                return AdminReply::error(403, "this token may only read");
            }
            pause(store, *action == "pause", request.body).await
        }
        ("GET", ["api", "deliveries"]) => deliveries(store, request.query).await,
        ("GET", ["api", "deliveries", key]) => delivery(store, key).await,
        ("GET", ["api", "dead-letters"]) => list(store, request.query).await,
        ("POST", ["api", "dead-letters", action @ ("replay" | "discard")]) => {
            if access != Access::Full {
                return AdminReply::error(403, "this token may only read");
            }
            let action = if *action == "replay" {
                Action::Replay
            } else {
                Action::Discard
            };
            act(store, action, request.body).await
        }
        ("GET", ["api", "dead-letters", key]) => show(store, key).await,
        (
            _,
            ["api", "counts" | "dead-letters" | "deliveries" | "paused"] | ["api", "deliveries", _],
        ) => {
            return AdminReply::error(405, "method not allowed").with_header("allow", "GET");
        }
        (_, ["api", "dead-letters", "replay" | "discard"] | ["api", "pause" | "resume"]) => {
            return AdminReply::error(405, "method not allowed").with_header("allow", "POST");
        }
        (_, ["api", "dead-letters", _]) => {
            return AdminReply::error(405, "method not allowed").with_header("allow", "GET");
        }
        _ => return AdminReply::error(404, "no such admin route"),
    };
    answer.unwrap_or_else(|failure| failure)
}

/// A failed request's answer.
type Answer = Result<AdminReply, AdminReply>;

fn unavailable(error: &StoreError) -> AdminReply {
    tracing::error!(error = %crate::report::report(error), "admin request: the store failed");
    AdminReply::error(
        503,
        &format!("store unavailable: {}", crate::report::report(error)),
    )
}

fn bad_request(message: &str) -> AdminReply {
    AdminReply::error(400, message)
}

async fn paused(store: Option<&dyn Admin>) -> Answer {
    let kinds = match store {
        Some(store) => store.paused().await.map_err(|e| unavailable(&e))?,
        None => Vec::new(),
    };
    Ok(AdminReply::json(200, &json!({ "paused": kinds })))
}

/// Pauses or resumes the kind named by the body, `{"kind": "esim.status"}`.
async fn pause(store: Option<&dyn Admin>, pause: bool, body: &[u8]) -> Answer {
    let value: Value = serde_json::from_slice(body)
        .map_err(|e| bad_request(&format!("the body is not JSON: {e}")))?;
    let kind = value
        .get("kind")
        .and_then(Value::as_str)
        .filter(|k| {
            k.split_once('.')
                .is_some_and(|(c, n)| !c.is_empty() && !n.is_empty())
        })
        .ok_or_else(|| bad_request(r#"name the kind: {"kind": "category.kind"}"#))?;
    let Some(store) = store else {
        return Err(AdminReply::error(
            409,
            "this receiver stores nothing (inline): nothing to pause",
        ));
    };
    let changed = if pause {
        store.pause(kind.to_owned()).await
    } else {
        store.resume(kind.to_owned()).await
    }
    .map_err(|e| unavailable(&e))?;
    tracing::info!(
        kind,
        changed,
        "admin: {} {kind}",
        if pause { "paused" } else { "resumed" }
    );
    Ok(AdminReply::json(
        200,
        &json!({ "kind": kind, "paused": pause, "changed": changed }),
    ))
}

async fn counts(store: Option<&dyn Admin>) -> Answer {
    let (counts, paused) = match store {
        Some(store) => (
            store.counts().await.map_err(|e| unavailable(&e))?,
            store.paused().await.map_err(|e| unavailable(&e))?,
        ),
        None => (StoreCounts::default(), Vec::new()),
    };
    Ok(AdminReply::json(
        200,
        &json!({
            "pending": counts.pending(),
            "ready": counts.ready,
            "leased": counts.leased,
            "retrying": counts.retrying,
            "dead": counts.dead,
            "paused": paused,
        }),
    ))
}

/// Every dead letter (none for a receiver that stores nothing).
async fn letters(store: Option<&dyn Admin>) -> Result<Vec<DeadLetter>, AdminReply> {
    match store {
        Some(store) => store.dead_letters().await.map_err(|e| unavailable(&e)),
        None => Ok(Vec::new()),
    }
}

/// The dead letters matching `filter`, the newest first, with what their bodies say.
async fn matching(
    store: Option<&dyn Admin>,
    filter: &Filter,
) -> Result<Vec<(DeadLetter, Described)>, AdminReply> {
    let mut found: Vec<(DeadLetter, Described)> = letters(store)
        .await?
        .into_iter()
        .filter_map(|letter| {
            let described = Described::of(&letter.body);
            filter
                .matches_letter(&letter, &described)
                .then_some((letter, described))
        })
        .collect();
    found.sort_by(|(a, _), (b, _)| b.dead_at.cmp(&a.dead_at).then_with(|| a.key.cmp(&b.key)));
    Ok(found)
}

/// A search's filter and page, from its query string.
fn search(query: &str) -> Result<(Filter, Page), AdminReply> {
    let mut filter = Filter::default();
    let mut page = Page::new(0, DEFAULT_LIMIT);
    for (name, value) in form_urlencoded::parse(query.as_bytes()) {
        match &*name {
            "offset" => page.offset = number("offset", &value)?,
            "limit" => page.limit = number("limit", &value)?.clamp(1, MAX_LIMIT),
            _ => filter
                .set(&name, &value)
                .map_err(|e| bad_request(&e.to_string()))?,
        }
    }
    Ok((filter, page))
}

async fn deliveries(store: Option<&dyn Admin>, query: &str) -> Answer {
    let (filter, page) = search(query)?;
    let found = match store {
        Some(store) => store
            .history(filter, page)
            .await
            .map_err(|e| unavailable(&e))?,
        None => HistoryPage::default(),
    };
    let items: Vec<Value> = found.items.iter().map(delivery_json).collect();
    Ok(AdminReply::json(
        200,
        &json!({ "total": found.total, "offset": page.offset, "limit": page.limit, "items": items }),
    ))
}

/// One delivery of the history, with its body while the store holds it (a dead letter's).
async fn delivery(store: Option<&dyn Admin>, key: &str) -> Answer {
    let key = percent_encoding::percent_decode_str(key).decode_utf8_lossy();
    let Some(store) = store else {
        return Err(AdminReply::error(404, "no delivery with this key"));
    };
    let found = store
        .delivery(key.clone().into_owned())
        .await
        .map_err(|e| unavailable(&e))?;
    let Some(found) = found else {
        return Err(AdminReply::error(404, "no delivery with this key"));
    };
    let mut value = delivery_json(&found);
    if found.fate == Fate::Dead
        && let Some(letter) = letters(Some(store)).await?.iter().find(|l| l.key == key)
    {
        value["body"] = Value::String(String::from_utf8_lossy(&letter.body).into_owned());
    }
    Ok(AdminReply::json(200, &value))
}

async fn list(store: Option<&dyn Admin>, query: &str) -> Answer {
    let (filter, Page { offset, limit }) = search(query)?;
    let found = matching(store, &filter).await?;
    let items: Vec<Value> = found
        .iter()
        .skip(offset)
        .take(limit)
        .map(|(letter, described)| letter_json(letter, described))
        .collect();
    Ok(AdminReply::json(
        200,
        &json!({ "total": found.len(), "offset": offset, "limit": limit, "items": items }),
    ))
}

fn number(name: &str, value: &str) -> Result<usize, AdminReply> {
    value
        .parse()
        .map_err(|_| bad_request(&format!("{name}: {value:?} is not a whole number")))
}

async fn show(store: Option<&dyn Admin>, key: &str) -> Answer {
    let key = percent_encoding::percent_decode_str(key).decode_utf8_lossy();
    let Some(letter) = letters(store).await?.into_iter().find(|l| l.key == key) else {
        return Err(AdminReply::error(404, "no dead letter with this key"));
    };
    let mut value = letter_json(&letter, &Described::of(&letter.body));
    value["body"] = Value::String(String::from_utf8_lossy(&letter.body).into_owned());
    value["body_is_utf8"] = Value::Bool(std::str::from_utf8(&letter.body).is_ok());
    Ok(AdminReply::json(200, &value))
}

/// Which dead letters a `POST` names: its keys, or those matching its filter.
enum Chosen {
    Keys(Vec<String>),
    Filter(Filter),
}

fn chosen(body: &[u8]) -> Result<(Chosen, bool), AdminReply> {
    let value: Value = serde_json::from_slice(body)
        .map_err(|e| bad_request(&format!("the body is not JSON: {e}")))?;
    let Value::Object(fields) = value else {
        return Err(bad_request(
            r#"the body must be an object: {"keys": […]} or {"filter": {…}}"#,
        ));
    };
    let mut keys = None;
    let mut filter = None;
    let mut dry_run = false;
    for (name, value) in fields {
        match (name.as_str(), value) {
            ("keys", Value::Array(items)) => {
                let items: Option<Vec<String>> = items
                    .into_iter()
                    .map(|k| k.as_str().map(str::to_owned))
                    .collect();
                keys = Some(items.ok_or_else(|| bad_request("keys: a list of strings"))?);
            }
            ("filter", Value::Object(conditions)) => {
                let mut read = Filter::default();
                for (name, value) in conditions {
                    let text = match value {
                        Value::String(text) => text,
                        Value::Number(n) => n.to_string(),
                        Value::Null => String::new(),
                        _ => return Err(bad_request(&format!("filter.{name}: a string"))),
                    };
                    read.set(&name, &text)
                        .map_err(|e| bad_request(&format!("filter.{e}")))?;
                }
                filter = Some(read);
            }
            ("dry_run", Value::Bool(value)) => dry_run = value,
            ("keys" | "filter" | "dry_run", _) => {
                return Err(bad_request(&format!("{name}: wrong type")));
            }
            (other, _) => {
                return Err(bad_request(&format!(
                    "unknown field {other:?}: use keys, filter and dry_run"
                )));
            }
        }
    }
    let chosen = match (keys, filter) {
        (Some(keys), None) => Chosen::Keys(keys),
        (None, Some(filter)) => Chosen::Filter(filter),
        (Some(_), Some(_)) => return Err(bad_request("give keys or a filter, not both")),
        (None, None) => {
            return Err(bad_request(
                r#"name the dead letters: {"keys": […]}, or {"filter": {…}} ({} for all)"#,
            ));
        }
    };
    Ok((chosen, dry_run))
}

async fn act(store: Option<&dyn Admin>, action: Action, body: &[u8]) -> Answer {
    let (chosen, dry_run) = chosen(body)?;
    let keys: Vec<String> = match chosen {
        Chosen::Filter(filter) => matching(store, &filter)
            .await?
            .into_iter()
            .map(|(letter, _)| letter.key)
            .collect(),
        Chosen::Keys(wanted) => {
            let letters = letters(store).await?;
            wanted
                .into_iter()
                .filter(|key| letters.iter().any(|l| &l.key == key))
                .collect()
        }
    };
    let mut done = Vec::new();
    if let (Some(store), false) = (store, dry_run) {
        for key in &keys {
            let applied = match action {
                Action::Replay => store.replay(key.clone()).await,
                Action::Discard => store.discard(key.clone()).await,
            };
            if applied.map_err(|e| unavailable(&e))? {
                done.push(key.clone());
            }
        }
        tracing::info!(
            action = ?action,
            matched = keys.len(),
            done = done.len(),
            "admin: dead letters {}",
            if action == Action::Replay { "replayed" } else { "discarded" }
        );
    }
    Ok(AdminReply::json(
        200,
        &json!({
            "dry_run": dry_run,
            "matched": keys.len(),
            "done": done.len(),
            "keys": if dry_run { keys } else { done },
        }),
    ))
}

/// Unix milliseconds as RFC 3339 with milliseconds.
fn time_ms(ms: i64) -> String {
    let at = u64::try_from(ms).map_or(std::time::UNIX_EPOCH, |ms| {
        std::time::UNIX_EPOCH + std::time::Duration::from_millis(ms)
    });
    humantime::format_rfc3339_millis(at).to_string()
}

fn delivery_json(delivery: &Delivery) -> Value {
    let attempts: Vec<Value> = delivery
        .attempts
        .iter()
        .map(|a| {
            json!({ "at_ms": a.at_ms, "at": time_ms(a.at_ms), "took_ms": a.took_ms, "error": a.error })
        })
        .collect();
    let about = &delivery.about;
    json!({
        "key": delivery.key,
        "event": about.to_string(),
        "category": about.category,
        "kind": about.kind,
        "iccid": about.iccid,
        "outcome": delivery.fate.as_str(),
        "received_ms": delivery.received_ms,
        "received": time_ms(delivery.received_ms),
        "finished_ms": delivery.finished_ms,
        "finished": delivery.finished_ms.map(time_ms),
        "attempts": attempts,
        "error": delivery.attempts.last().and_then(|a| a.error.as_deref()),
        "duplicates": delivery.duplicates,
        "replays": delivery.replays,
    })
}

fn letter_json(letter: &DeadLetter, described: &Described) -> Value {
    json!({
        "key": letter.key,
        "event": described.to_string(),
        "category": described.category,
        "kind": described.kind,
        "iccid": described.iccid,
        "attempts": letter.attempts,
        "error": letter.error,
        "dead_at": letter.dead_at.as_secs(),
        "died": humantime::format_rfc3339_seconds(letter.dead_at.to_system_time()).to_string(),
        "stream": letter.order.as_ref().map(|o| o.stream.as_str()),
    })
}

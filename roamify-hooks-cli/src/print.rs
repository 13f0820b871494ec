//! The command's tables and summaries, from the admin API's JSON.

use serde_json::Value;

/// A field as text (`-` for none).
fn text(value: &Value, field: &str) -> String {
    match &value[field] {
        Value::String(s) => s.clone(),
        Value::Null => "-".to_owned(),
        other => other.to_string(),
    }
}

/// `text` on one line, cut to `max` characters.
#[must_use]
pub fn one_line(text: &str, max: usize) -> String {
    let line: String = text.split_whitespace().collect::<Vec<_>>().join(" ");
    if line.chars().count() <= max {
        return line;
    }
    let cut: String = line.chars().take(max.saturating_sub(1)).collect();
    format!("{cut}…")
}

/// Rows under a header, columns padded to their widest cell (the last one left as it is).
#[must_use]
pub fn table(header: &[&str], rows: &[Vec<String>]) -> String {
    let columns = header.len();
    let widths: Vec<usize> = (0..columns)
        .map(|i| {
            rows.iter()
                .map(|r| r[i].chars().count())
                .chain([header[i].chars().count()])
                .max()
                .unwrap_or(0)
        })
        .collect();
    let mut out = String::new();
    let head: Vec<String> = header.iter().map(|h| (*h).to_owned()).collect();
    for row in std::iter::once(&head).chain(rows) {
        let mut line = String::new();
        for (i, cell) in row.iter().enumerate() {
            if i + 1 == columns {
                line.push_str(cell);
            } else {
                let pad = widths[i] - cell.chars().count();
                line.push_str(cell);
                line.push_str(&" ".repeat(pad + 2));
            }
        }
        out.push_str(line.trim_end());
        out.push('\n');
    }
    out
}

/// The dead letters of a listing, one line each.
#[must_use]
pub fn dead_letters(items: &[Value]) -> String {
    if items.is_empty() {
        return "no dead letters\n".to_owned();
    }
    let rows: Vec<Vec<String>> = items
        .iter()
        .map(|l| {
            vec![
                text(l, "key"),
                text(l, "event"),
                text(l, "attempts"),
                text(l, "died"),
                one_line(&text(l, "error"), 60),
            ]
        })
        .collect();
    let mut out = table(&["KEY", "EVENT", "ATTEMPTS", "DIED", "LAST ERROR"], &rows);
    out.push_str(&format!("{} dead letters\n", items.len()));
    out
}

/// The deliveries of a history page, one line each, with how many match in all.
#[must_use]
pub fn deliveries(page: &Value) -> String {
    let items = page["items"].as_array().cloned().unwrap_or_default();
    if items.is_empty() {
        return "no deliveries match\n".to_owned();
    }
    let rows: Vec<Vec<String>> = items
        .iter()
        .map(|d| {
            vec![
                text(d, "received"),
                text(d, "key"),
                text(d, "event"),
                text(d, "iccid"),
                text(d, "outcome"),
                d["attempts"].as_array().map_or(0, Vec::len).to_string(),
                one_line(&text(d, "error"), 50),
            ]
        })
        .collect();
    let header = [
        "RECEIVED",
        "KEY",
        "EVENT",
        "ICCID",
        "OUTCOME",
        "ATTEMPTS",
        "LAST ERROR",
    ];
    let mut out = table(&header, &rows);
    out.push_str(&format!(
        "{} of {} deliveries\n",
        items.len(),
        page["total"].as_u64().unwrap_or(0)
    ));
    out
}

/// One delivery of the history, with its attempts (and its body when the answer has it).
#[must_use]
pub fn delivery(d: &Value) -> String {
    let mut out = String::new();
    for (label, field) in [
        ("key", "key"),
        ("event", "event"),
        ("iccid", "iccid"),
        ("outcome", "outcome"),
        ("received", "received"),
        ("finished", "finished"),
        ("duplicates", "duplicates"),
        ("replays", "replays"),
    ] {
        out.push_str(&format!("{label:<11} {}\n", text(d, field)));
    }
    let attempts = d["attempts"].as_array().cloned().unwrap_or_default();
    out.push_str(&format!("attempts    {}\n", attempts.len()));
    for attempt in &attempts {
        out.push_str(&format!(
            "  {}  {} ms  {}\n",
            text(attempt, "at"),
            text(attempt, "took_ms"),
            match &attempt["error"] {
                Value::String(error) => one_line(error, 200),
                _ => "ok".to_owned(),
            }
        ));
    }
    if let Some(body) = d["body"].as_str() {
        out.push_str("body:\n");
        out.push_str(&crate::json::pretty(body.as_bytes()).unwrap_or_else(|| body.to_owned()));
        out.push('\n');
    }
    out
}

/// The store's counts.
#[must_use]
pub fn counts(counts: &Value) -> String {
    let mut out = String::new();
    for (label, field) in [
        ("pending", "pending"),
        ("  ready", "ready"),
        ("  leased", "leased"),
        ("  retrying", "retrying"),
        ("dead", "dead"),
    ] {
        out.push_str(&format!("{label:<11} {}\n", text(counts, field)));
    }
    let paused: Vec<&str> = counts["paused"]
        .as_array()
        .map(|kinds| kinds.iter().filter_map(Value::as_str).collect())
        .unwrap_or_default();
    if !paused.is_empty() {
        out.push_str(&format!("paused      {}\n", paused.join(", ")));
    }
    out
}

//! JSON bodies handled without rewriting their values: a delivery's bytes are what its
//! signature covers and what an operator compares with Roamify's dashboard, so `-5.00` must stay
//! `-5.00` (a parse and print through `serde_json::Value` would make it `-5.0`).
//!
//! [`pretty`] re-indents a body, copying every string, number and literal exactly as written;
//! [`set`] replaces (or adds) one field by its path, leaving every other value's text untouched.

use serde::de::{Deserializer, MapAccess, SeqAccess, Visitor};
use serde_json::value::RawValue;

/// Why [`set`] could not change a body.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum SetError {
    /// Not `path=value`.
    #[error("{0:?} is not PATH=VALUE (e.g. data.balance=-5)")]
    NotAnAssignment(String),
    /// The body is not JSON.
    #[error("the body is not JSON")]
    NotJson(#[source] serde_json::Error),
    /// The path goes through something that is neither an object nor an array.
    #[error("cannot set `{path}`: `{at}` is neither an object nor an array")]
    NotAContainer {
        /// The whole path.
        path: String,
        /// The part of it that is a plain value.
        at: String,
    },
    /// An array index that is not a number or is past the end.
    #[error(
        "cannot set `{path}`: `{segment}` is not an index of the array at `{at}` ({len} items)"
    )]
    BadIndex {
        /// The whole path.
        path: String,
        /// The array's path.
        at: String,
        /// The segment that should have been its index.
        segment: String,
        /// The array's length.
        len: usize,
    },
}

/// `body` re-indented (two spaces), every token copied exactly as written; `None` when it is
/// not valid JSON.
#[must_use]
pub fn pretty(body: &[u8]) -> Option<String> {
    let text = std::str::from_utf8(body).ok()?;
    serde_json::from_str::<serde::de::IgnoredAny>(text).ok()?;
    let mut out = String::with_capacity(text.len() * 2);
    let mut depth = 0_usize;
    let mut in_string = false;
    let mut escaped = false;
    let mut chars = text.chars().peekable();
    let newline = |out: &mut String, depth: usize| {
        out.push('\n');
        out.extend(std::iter::repeat_n("  ", depth));
    };
    while let Some(c) = chars.next() {
        if in_string {
            out.push(c);
            match (escaped, c) {
                (true, _) => escaped = false,
                (false, '\\') => escaped = true,
                (false, '"') => in_string = false,
                _ => {}
            }
            continue;
        }
        match c {
            '"' => {
                in_string = true;
                out.push(c);
            }
            '{' | '[' => {
                out.push(c);
                // An empty container stays on one line.
                while chars.peek().is_some_and(|c| c.is_ascii_whitespace()) {
                    chars.next();
                }
                if chars.peek().is_some_and(|&next| next == '}' || next == ']') {
                    if let Some(close) = chars.next() {
                        out.push(close);
                    }
                } else {
                    depth += 1;
                    newline(&mut out, depth);
                }
            }
            '}' | ']' => {
                depth = depth.saturating_sub(1);
                newline(&mut out, depth);
                out.push(c);
            }
            ',' => {
                out.push(c);
                newline(&mut out, depth);
            }
            ':' => out.push_str(": "),
            c if c.is_ascii_whitespace() => {}
            c => out.push(c),
        }
    }
    Some(out)
}

/// `body` with the field at `path` (dot-separated, array items by index: `data.balance`,
/// `data.usage_list.0.used`) set to `value`: JSON when it parses as JSON (`-5.00`, `null`,
/// `{"a":1}`), else a string. A missing last key is added. Every value off the path keeps its
/// exact text; the objects and arrays along the path lose their insignificant whitespace.
///
/// # Errors
/// When the body is not JSON, or the path crosses a plain value or a missing array index.
pub fn set(body: &[u8], path: &str, value: &str) -> Result<Vec<u8>, SetError> {
    let value = match serde_json::from_str::<&RawValue>(value) {
        Ok(json) => json.get().to_owned(),
        Err(_) => serde_json::Value::from(value).to_string(),
    };
    let root: &RawValue = serde_json::from_slice(body).map_err(SetError::NotJson)?;
    let segments: Vec<&str> = path.split('.').collect();
    let mut out = String::with_capacity(body.len() + value.len());
    splice(root, &segments, 0, path, &value, &mut out)?;
    Ok(out.into_bytes())
}

/// [`set`] applied to `path=value`.
///
/// # Errors
/// As [`set`], or when `assignment` has no `=`.
pub fn set_assignment(body: &[u8], assignment: &str) -> Result<Vec<u8>, SetError> {
    let (path, value) = assignment
        .split_once('=')
        .filter(|(path, _)| !path.is_empty())
        .ok_or_else(|| SetError::NotAnAssignment(assignment.to_owned()))?;
    set(body, path, value)
}

/// Writes `raw` into `out` with `segments[at..]` set to `value`.
fn splice(
    raw: &RawValue,
    segments: &[&str],
    at: usize,
    path: &str,
    value: &str,
    out: &mut String,
) -> Result<(), SetError> {
    let Some(&segment) = segments.get(at) else {
        out.push_str(value);
        return Ok(());
    };
    let here = || segments[..at].join(".");
    let text = raw.get().trim_start();
    if text.starts_with('{') {
        let members = members(raw)?;
        out.push('{');
        let mut found = false;
        for (i, (key, member)) in members.iter().enumerate() {
            if i > 0 {
                out.push(',');
            }
            out.push_str(&serde_json::Value::from(key.as_str()).to_string());
            out.push(':');
            if key == segment && !found {
                found = true;
                splice(member, segments, at + 1, path, value, out)?;
            } else {
                out.push_str(member.get());
            }
        }
        if !found {
            if at + 1 < segments.len() {
                // A missing object on the way: made, with the rest of the path inside it.
                let empty: &RawValue = serde_json::from_str("{}").map_err(SetError::NotJson)?;
                if !members.is_empty() {
                    out.push(',');
                }
                out.push_str(&serde_json::Value::from(segment).to_string());
                out.push(':');
                splice(empty, segments, at + 1, path, value, out)?;
            } else {
                if !members.is_empty() {
                    out.push(',');
                }
                out.push_str(&serde_json::Value::from(segment).to_string());
                out.push(':');
                out.push_str(value);
            }
        }
        out.push('}');
        Ok(())
    } else if text.starts_with('[') {
        let items = items(raw)?;
        let index = segment
            .parse::<usize>()
            .ok()
            .filter(|&i| i < items.len())
            .ok_or_else(|| SetError::BadIndex {
                path: path.to_owned(),
                at: here(),
                segment: segment.to_owned(),
                len: items.len(),
            })?;
        out.push('[');
        for (i, item) in items.iter().enumerate() {
            if i > 0 {
                out.push(',');
            }
            if i == index {
                splice(item, segments, at + 1, path, value, out)?;
            } else {
                out.push_str(item.get());
            }
        }
        out.push(']');
        Ok(())
    } else {
        Err(SetError::NotAContainer {
            path: path.to_owned(),
            at: here(),
        })
    }
}

/// An object's members in their order, each value's text as written.
fn members(raw: &RawValue) -> Result<Vec<(String, &RawValue)>, SetError> {
    struct Members;
    impl<'de> Visitor<'de> for Members {
        type Value = Vec<(String, &'de RawValue)>;
        fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            f.write_str("a JSON object")
        }
        fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
            let mut members = Vec::new();
            while let Some(entry) = map.next_entry::<String, &'de RawValue>()? {
                members.push(entry);
            }
            Ok(members)
        }
    }
    let mut deserializer = serde_json::Deserializer::from_str(raw.get());
    deserializer
        .deserialize_map(Members)
        .map_err(SetError::NotJson)
}

/// An array's items in order, each one's text as written.
fn items(raw: &RawValue) -> Result<Vec<&RawValue>, SetError> {
    struct Items;
    impl<'de> Visitor<'de> for Items {
        type Value = Vec<&'de RawValue>;
        fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            f.write_str("a JSON array")
        }
        fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
            let mut items = Vec::new();
            while let Some(item) = seq.next_element::<&'de RawValue>()? {
                items.push(item);
            }
            Ok(items)
        }
    }
    let mut deserializer = serde_json::Deserializer::from_str(raw.get());
    deserializer
        .deserialize_seq(Items)
        .map_err(SetError::NotJson)
}

#[cfg(test)]
mod tests {
    use super::*;

    const BODY: &str = r#"{"event_category":"partner","event_type":"top_up","data":{"timestamp":1700000000,"balance":2.50,"currency":"EUR","list":[{"a":1.10},{"a":2.00}]}}"#;

    fn set_text(path: &str, value: &str) -> String {
        String::from_utf8(set(BODY.as_bytes(), path, value).expect("set")).expect("utf-8")
    }

    #[test]
    fn pretty_keeps_every_value_as_written() {
        let body = br#"{"a":-5.00,"b":"x, y: {z}","c":[1.10,[],{}],"d":{"e":"q\"uote"}}"#;
        let shown = pretty(body).expect("JSON");
        for exact in [
            "-5.00",
            r#""x, y: {z}""#,
            "1.10",
            r#""q\"uote""#,
            "[]",
            "{}",
        ] {
            assert!(shown.contains(exact), "{exact} in {shown}");
        }
        let reread: serde_json::Value = serde_json::from_str(&shown).expect("still JSON");
        assert_eq!(
            reread,
            serde_json::from_slice::<serde_json::Value>(body).expect("JSON")
        );
        assert!(shown.contains("\n  \"a\": -5.00,\n"), "{shown}");
        assert_eq!(pretty(b"not json"), None);
    }

    #[test]
    fn set_changes_one_field_and_keeps_the_others_text() {
        let changed = set_text("data.balance", "-5.00");
        assert!(changed.contains(r#""balance":-5.00"#), "{changed}");
        assert!(
            changed.contains("1.10") && changed.contains("2.00"),
            "{changed}"
        );
        assert!(changed.contains("1700000000"), "{changed}");
        // Not JSON: a string.
        assert!(set_text("data.currency", "USD").contains(r#""currency":"USD""#));
        // A JSON value.
        assert!(set_text("data.currency", "null").contains(r#""currency":null"#));
        // Array items by index.
        assert!(set_text("data.list.1.a", "9.90").contains(r#"{"a":9.90}"#));
        // A new key, and a new object on the way.
        assert!(set_text("data.threshold", "10").contains(r#""threshold":10}"#));
        assert!(set_text("extra.note", "hi").ends_with(r#","extra":{"note":"hi"}}"#));
        // The result is JSON.
        let _: serde_json::Value =
            serde_json::from_str(&set_text("data.balance", "-5")).expect("JSON");
    }

    #[test]
    fn set_refuses_what_it_cannot_do_clearly() {
        let error = set(BODY.as_bytes(), "data.balance.x", "1").expect_err("through a number");
        assert_eq!(
            error.to_string(),
            "cannot set `data.balance.x`: `data.balance` is neither an object nor an array"
        );
        let error = set(BODY.as_bytes(), "data.list.5", "1").expect_err("past the end");
        assert!(error.to_string().contains("2 items"), "{error}");
        assert!(set(b"{oops", "a", "1").is_err());
        assert!(matches!(
            set_assignment(BODY.as_bytes(), "no-equals"),
            Err(SetError::NotAnAssignment(_))
        ));
    }
}

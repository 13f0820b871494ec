//! From verified body bytes to an [`Event`], in one pass over the JSON where possible.
//!
//! The envelope visitor reads `event_category`, `event_type` and `event_id`; when it reaches
//! `data` with both names already known (the documented key order), it reads the typed payload
//! right there. Otherwise it keeps borrowed slices of the body (`data`, or the flat top-level
//! fields of pre-2025-07-20 deliveries) and reads the payload from them once the names are known.
//! The body is never re-serialised; only a failing payload is read a second time, to name the
//! JSON path of the offending field.

use std::borrow::Cow;
use std::cell::Cell;
use std::fmt;

use serde::de::value::{MapAccessDeserializer, MapDeserializer};
use serde::de::{self, DeserializeSeed, Deserializer, MapAccess, Visitor};
use serde_json::value::RawValue;

use crate::catalog::{Event, EventKind, KindSeed, ParseError};
use crate::events::UnknownEvent;
use crate::signature::Verified;
use crate::wire::WireKey;

impl Event {
    /// Parses a verified body.
    ///
    /// ```
    /// use roamify_hooks::signature::Secrets;
    /// use roamify_hooks::{testing, Event, Secret};
    ///
    /// let secrets = Secrets::new(Secret::new("whsec_test")?);
    /// let body = br#"{"event_category":"partner","event_type":"top_up",
    ///                 "data":{"timestamp":1764205200,"balance":1003.25,"currency":"EUR"}}"#;
    /// let signature = testing::sign("whsec_test", body);
    ///
    /// let verified = secrets.verify([signature.as_bytes()], body)?;
    /// let Event::PartnerTopUp(top_up) = Event::parse(&verified)? else { unreachable!() };
    /// assert_eq!(top_up.balance.to_string(), "1003.25");
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    ///
    /// # Errors
    /// [`ParseError::NotEnvelope`] or [`ParseError::InvalidPayload`]; see [`ParseError`].
    pub fn parse(verified: &Verified<'_>) -> Result<Event, ParseError> {
        parse(verified.body())
    }
}

pub(crate) fn parse(body: &[u8]) -> Result<Event, ParseError> {
    let failed = Cell::new(None);
    // The payload read in-stream lands here, not in the envelope: an event is large, and each
    // value it travels through (the envelope, its `Result`s) would copy it again.
    let mut parsed = None;
    let mut de = serde_json::Deserializer::from_slice(body);
    let fail = |e: serde_json::Error| match failed.get() {
        Some(kind) => payload_error_in_stream(kind, body, &e),
        None => not_envelope(e.to_string()),
    };
    // Filled in place by the visitor: returned by value, the envelope would be copied out of
    // each layer right after being written.
    let mut envelope = Envelope::default();
    de.deserialize_map(EnvelopeVisitor::<'_, '_, false> {
        failed: &failed,
        parsed: &mut parsed,
        envelope: &mut envelope,
    })
    .map_err(fail)?;
    de.end().map_err(|e| not_envelope(e.to_string()))?;
    if envelope.rest.is_empty()
        && let Some(mut event) = parsed
    {
        // The documented shape, read in one pass: only the envelope's `event_id` to add.
        // Returned from here, the event is not copied into `finish` and back.
        if let Some(id) = envelope.event_id {
            adopt_event_id(&mut event, id);
        }
        return Ok(event);
    }
    envelope.finish(body, parsed)
}

/// Gives a refund the envelope's `event_id` when its `data` has none (other known kinds do not
/// keep it).
fn adopt_event_id(event: &mut Event, id: String) {
    if let Event::RefundRefunded(r) | Event::RefundRejected(r) = event {
        r.event_id.get_or_insert(id);
    }
}

fn not_envelope(reason: impl Into<String>) -> ParseError {
    ParseError::NotEnvelope {
        reason: reason.into(),
    }
}

/// What the envelope visitor found, before the payload of a late-named kind is read.
#[derive(Default)]
struct Envelope<'de> {
    category: Option<Cow<'de, [u8]>>,
    kind: Option<Cow<'de, [u8]>>,
    event_id: Option<String>,
    data: Option<Data<'de>>,
    /// Top-level keys other than the envelope's own, as borrowed JSON.
    rest: Vec<(Cow<'de, str>, &'de RawValue)>,
}

enum Data<'de> {
    /// Read in-stream as this kind, into the visitor's `parsed`.
    Parsed(EventKind),
    Raw(&'de RawValue),
}

/// Reads the envelope; `TEXT_KEYS` reads its keys as strings rather than bytes (see
/// [`KeySeed`]).
struct EnvelopeVisitor<'a, 'de, const TEXT_KEYS: bool> {
    /// Set while a known kind's payload is being read in-stream, so a failure there is reported
    /// as an invalid payload rather than a bad envelope.
    failed: &'a Cell<Option<EventKind>>,
    /// Where the payload read in-stream goes.
    parsed: &'a mut Option<Event>,
    /// What the visitor finds.
    envelope: &'a mut Envelope<'de>,
}

impl<'de, const TEXT_KEYS: bool> Visitor<'de> for EnvelopeVisitor<'_, 'de, TEXT_KEYS> {
    type Value = ();

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a JSON object with `event_category` and `event_type`")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<(), A::Error> {
        let env = self.envelope;
        // Keys are read as bytes: the envelope's own are matched as such, and only other keys
        // are checked for UTF-8 (see `text_key`).
        while let Some(Name(key)) = map.next_key_seed(KeySeed::<TEXT_KEYS>)? {
            match TopKey::of(&key) {
                TopKey::Category => env.category = Some(map.next_value::<Name<'de>>()?.0),
                TopKey::Kind => env.kind = Some(map.next_value::<Name<'de>>()?.0),
                TopKey::EventId => {
                    env.event_id = map.next_value_seed(
                        crate::wire::FieldSeed::<Option<String>>(Default::default()),
                    )?;
                }
                TopKey::Data => {
                    let known = match (&env.category, &env.kind) {
                        (Some(c), Some(k)) => EventKind::from_wire_bytes(c, k),
                        _ => None,
                    };
                    env.data = Some(match known {
                        Some(kind) => {
                            self.failed.set(Some(kind));
                            *self.parsed = Some(map.next_value_seed(KindSeed(kind))?);
                            self.failed.set(None);
                            Data::Parsed(kind)
                        }
                        None => Data::Raw(map.next_value()?),
                    });
                }
                TopKey::Other => {
                    let key = text_key(key)?;
                    // Pre-2025-07-20 flat shape with both names first: read the payload from the
                    // rest of this map, in the same pass.
                    // Only a documented field proves the flat shape: an unknown key could come
                    // before `data` in the nested one.
                    let known = match (&env.category, &env.kind, &env.data) {
                        (Some(c), Some(k), None) if env.rest.is_empty() => {
                            EventKind::from_wire_bytes(c, k)
                                .filter(|kind| kind.wire_fields().contains(&&*key))
                        }
                        _ => None,
                    };
                    let Some(kind) = known else {
                        env.rest.push((key, map.next_value()?));
                        continue;
                    };
                    self.failed.set(Some(kind));
                    let rest = RestOfMap {
                        map: &mut map,
                        pending: Some(key),
                        event_id: &mut env.event_id,
                    };
                    *self.parsed =
                        Some(KindSeed(kind).deserialize(MapAccessDeserializer::new(rest))?);
                    self.failed.set(None);
                    env.data = Some(Data::Parsed(kind));
                    return Ok(());
                }
            }
        }
        Ok(())
    }
}

/// A top-level key, as far as the envelope is concerned.
#[derive(Clone, Copy)]
enum TopKey {
    Category,
    Kind,
    EventId,
    Data,
    Other,
}

impl TopKey {
    /// Classifies `key` by its length first, then compares it with the one name of that length
    /// as a fixed-size array: compiled to a few loads, where a `match` on the string calls
    /// `memcmp` once per candidate.
    #[inline]
    fn of(key: &[u8]) -> TopKey {
        fn is<const N: usize>(key: &[u8], name: &[u8; N]) -> bool {
            <&[u8; N]>::try_from(key).is_ok_and(|key| key == name)
        }
        match key.len() {
            14 if is(key, b"event_category") => TopKey::Category,
            10 if is(key, b"event_type") => TopKey::Kind,
            8 if is(key, b"event_id") => TopKey::EventId,
            4 if is(key, b"data") => TopKey::Data,
            _ => TopKey::Other,
        }
    }
}

/// A top-level key read as bytes, as text: checked for UTF-8 here, where it is not one of the
/// envelope's names (which are matched as bytes, as a string parse would have checked them).
fn text_key<E: de::Error>(key: Cow<'_, [u8]>) -> Result<Cow<'_, str>, E> {
    utf8(key).ok_or_else(|| E::custom("an object key is not valid UTF-8"))
}

/// Bytes read from a JSON string as text, still borrowed if they were; `None` if not UTF-8.
fn utf8(bytes: Cow<'_, [u8]>) -> Option<Cow<'_, str>> {
    match bytes {
        Cow::Borrowed(bytes) => std::str::from_utf8(bytes).ok().map(Cow::Borrowed),
        Cow::Owned(bytes) => String::from_utf8(bytes).ok().map(Cow::Owned),
    }
}

/// The rest of a top-level map, seen as the payload's own map: starts with a key already read,
/// and keeps the envelope's keys (`event_id`; repeated names) out of the payload.
struct RestOfMap<'a, 'de, A> {
    map: &'a mut A,
    pending: Option<Cow<'de, str>>,
    event_id: &'a mut Option<String>,
}

impl<'de, A: MapAccess<'de>> MapAccess<'de> for RestOfMap<'_, 'de, A> {
    type Error = A::Error;

    fn next_key_seed<K: DeserializeSeed<'de>>(
        &mut self,
        seed: K,
    ) -> Result<Option<K::Value>, A::Error> {
        let key = match self.pending.take() {
            Some(key) => key,
            None => loop {
                let Some(WireKey(key)) = self.map.next_key()? else {
                    return Ok(None);
                };
                match &*key {
                    "event_id" => {
                        *self.event_id = self.map.next_value_seed(crate::wire::FieldSeed::<
                            Option<String>,
                        >(
                            Default::default()
                        ))?;
                    }
                    "event_category" | "event_type" => {
                        self.map.next_value::<de::IgnoredAny>()?;
                    }
                    _ => break key,
                }
            },
        };
        match key {
            Cow::Borrowed(key) => seed
                .deserialize(de::value::BorrowedStrDeserializer::new(key))
                .map(Some),
            Cow::Owned(key) => seed
                .deserialize(de::value::StringDeserializer::new(key))
                .map(Some),
        }
    }

    fn next_value_seed<V: DeserializeSeed<'de>>(&mut self, seed: V) -> Result<V::Value, A::Error> {
        self.map.next_value_seed(seed)
    }
}

/// `event_category` / `event_type` (and the envelope's keys): a JSON string read as bytes,
/// borrowed when it has no escapes. Known names are matched as bytes; only unknown ones are
/// checked for UTF-8.
struct Name<'de>(Cow<'de, [u8]>);

impl<'de> de::Deserialize<'de> for Name<'de> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_bytes(NameVisitor)
    }
}

struct NameVisitor;

/// How the envelope visitor reads a top-level key: as bytes, or (`TEXT`), in the second read
/// that names a failing field, as a string (`serde_path_to_error` records only keys read as
/// strings).
struct KeySeed<const TEXT: bool>;

impl<'de, const TEXT: bool> DeserializeSeed<'de> for KeySeed<TEXT> {
    type Value = Name<'de>;

    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Name<'de>, D::Error> {
        if TEXT {
            d.deserialize_str(NameVisitor)
        } else {
            d.deserialize_bytes(NameVisitor)
        }
    }
}

impl<'de> Visitor<'de> for NameVisitor {
    type Value = Name<'de>;
    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a string naming the event")
    }
    fn visit_borrowed_bytes<E: de::Error>(self, v: &'de [u8]) -> Result<Name<'de>, E> {
        Ok(Name(Cow::Borrowed(v)))
    }
    fn visit_bytes<E: de::Error>(self, v: &[u8]) -> Result<Name<'de>, E> {
        Ok(Name(Cow::Owned(v.to_vec())))
    }
    fn visit_borrowed_str<E: de::Error>(self, v: &'de str) -> Result<Name<'de>, E> {
        Ok(Name(Cow::Borrowed(v.as_bytes())))
    }
    fn visit_str<E: de::Error>(self, v: &str) -> Result<Name<'de>, E> {
        Ok(Name(Cow::Owned(v.as_bytes().to_vec())))
    }
}

fn name_text(name: Cow<'_, [u8]>) -> Result<String, ParseError> {
    utf8(name)
        .map(Cow::into_owned)
        .ok_or_else(|| not_envelope("event names are not valid UTF-8"))
}

impl<'de> Envelope<'de> {
    /// The event, from what the visitor found and the payload it read in-stream (`parsed`), when
    /// `parse` could not return it at once (names or payload read late, extra top-level keys).
    #[inline(never)]
    fn finish(self, body: &'de [u8], parsed: Option<Event>) -> Result<Event, ParseError> {
        let Some(category) = self.category else {
            return Err(not_envelope("missing `event_category`"));
        };
        let Some(kind_name) = self.kind else {
            return Err(not_envelope("missing `event_type`"));
        };
        let known = match &self.data {
            Some(Data::Parsed(kind)) => Some(*kind),
            _ => EventKind::from_wire_bytes(&category, &kind_name),
        };
        let Some(kind) = known else {
            let body = std::str::from_utf8(body)
                .map_err(|e| not_envelope(e.to_string()))?
                .to_owned();
            return Ok(Event::Unknown(UnknownEvent {
                category: name_text(category)?,
                kind: name_text(kind_name)?,
                event_id: self.event_id,
                body,
            }));
        };
        let (mut event, rest) = match (parsed, self.data) {
            (Some(event), _) => (event, self.rest),
            (None, Some(Data::Raw(raw))) => {
                let event = KindSeed(kind)
                    .deserialize(raw)
                    .map_err(|_| payload_error(kind, raw, "data."))?;
                (event, self.rest)
            }
            (None, _) => {
                // Pre-2025-07-20 shape: the payload's fields sit at the top level.
                let fields = MapDeserializer::new(self.rest.iter().cloned());
                let event = KindSeed(kind).deserialize(fields).map_err(|_| {
                    payload_error(kind, MapDeserializer::new(self.rest.iter().cloned()), "")
                })?;
                (event, Vec::new())
            }
        };
        if let Some(id) = self.event_id {
            adopt_event_id(&mut event, id);
        }
        // Unknown top-level keys beside `data` are kept with the payload's other unknown keys.
        if !rest.is_empty()
            && let Some(extra) = event.payload_extra_mut()
        {
            for (key, raw) in rest {
                let value =
                    serde_json::from_str(raw.get()).map_err(|e| not_envelope(e.to_string()))?;
                extra.entry(key.into_owned()).or_insert(value);
            }
        }
        Ok(event)
    }
}

/// Re-reads a failing payload with path tracking (the error path only).
fn payload_error<'de, D>(kind: EventKind, d: D, prefix: &str) -> ParseError
where
    D: Deserializer<'de>,
    D::Error: fmt::Display,
{
    let mut track = serde_path_to_error::Track::new();
    let message =
        match KindSeed(kind).deserialize(serde_path_to_error::Deserializer::new(d, &mut track)) {
            Ok(_) => "payload could not be read".to_owned(),
            Err(e) => e.to_string(),
        };
    invalid_payload(kind, prefix, &track.path().to_string(), message)
}

fn payload_error_in_stream(kind: EventKind, body: &[u8], first: &serde_json::Error) -> ParseError {
    let failed = Cell::new(None);
    let mut de = serde_json::Deserializer::from_slice(body);
    let mut track = serde_path_to_error::Track::new();
    let result = serde_path_to_error::Deserializer::new(&mut de, &mut track).deserialize_map(
        EnvelopeVisitor::<'_, '_, true> {
            failed: &failed,
            parsed: &mut None,
            envelope: &mut Envelope::default(),
        },
    );
    let message = match result {
        Ok(_) => first.to_string(),
        Err(e) => e.to_string(),
    };
    invalid_payload(kind, "", &track.path().to_string(), message)
}

fn invalid_payload(kind: EventKind, prefix: &str, path: &str, message: String) -> ParseError {
    let path = match path {
        "." | "" => prefix.trim_end_matches('.').to_owned(),
        _ => format!("{prefix}{path}"),
    };
    let path = if path.is_empty() {
        ".".to_owned()
    } else {
        path
    };
    ParseError::InvalidPayload {
        kind,
        path,
        message,
    }
}

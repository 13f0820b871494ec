//! Events the catalog does not know (yet).

use serde::de::DeserializeOwned;
use serde_json::value::RawValue;

/// A signed event whose category or kind the catalog does not know: Roamify announces new
/// events without notice, and receivers must acknowledge them rather than fail the delivery.
///
/// The whole body is kept, so nothing is lost: read the event's fields with
/// [`UnknownEvent::payload`] once you know their shape.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UnknownEvent {
    pub(crate) category: String,
    pub(crate) kind: String,
    pub(crate) event_id: Option<String>,
    pub(crate) body: String,
}

impl UnknownEvent {
    /// The `event_category` value, as sent.
    #[must_use]
    pub fn category(&self) -> &str {
        &self.category
    }

    /// The `event_type` value, as sent.
    #[must_use]
    pub fn kind(&self) -> &str {
        &self.kind
    }

    /// The top-level `event_id`, when the delivery has one.
    #[must_use]
    pub fn event_id(&self) -> Option<&str> {
        self.event_id.as_deref()
    }

    /// The whole body, exactly as received (valid JSON).
    #[must_use]
    pub fn raw(&self) -> &str {
        &self.body
    }

    /// Whether this event is `category`/`kind`.
    #[must_use]
    pub fn is(&self, category: &str, kind: &str) -> bool {
        self.category == category && self.kind == kind
    }

    /// Reads the event's fields into `T`: the `data` object when there is one, else the top
    /// level (the pre-2025-07-20 flat shape, where `T` sees `event_category` and `event_type` too).
    ///
    /// # Errors
    /// When the fields do not match `T`.
    pub fn payload<T: DeserializeOwned>(&self) -> Result<T, serde_json::Error> {
        #[derive(serde::Deserialize)]
        struct Data<'a> {
            #[serde(borrow, default)]
            data: Option<&'a RawValue>,
        }
        let data: Data<'_> = serde_json::from_str(&self.body)?;
        match data.data {
            Some(data) => serde_json::from_str(data.get()),
            None => serde_json::from_str(&self.body),
        }
    }
}

//! Tolerant decoding of single JSON fields, as Roamify's deliveries need it.
//!
//! Every documented field type implements [`Field`]: how to read it, and what it becomes when the
//! key is absent. Optional fields read `null` and `""` as `None`; money is read from the exact
//! number text (never through `f64`); timestamps accept integers, integral floats and numeric
//! strings. The [`payload!`](crate::wire::payload) macro builds payload structs from these rules
//! and keeps every key it does not model in an `extra` map.

use std::fmt;
use std::str::FromStr;

use rust_decimal::Decimal;
use serde::de::{self, Deserializer, Unexpected, Visitor};
use serde_json::value::RawValue;

use crate::time::UnixTime;

/// How one field of a payload is read from JSON.
pub(crate) trait Field<'de>: Sized {
    /// Reads the field's value.
    fn read<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error>;

    /// The value when the key is absent; `None` makes the field required.
    fn absent() -> Option<Self> {
        None
    }
}

impl<'de> Field<'de> for String {
    fn read<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_any(TextVisitor)
            .and_then(|s| s.ok_or_else(|| de::Error::invalid_type(Unexpected::Unit, &TextVisitor)))
    }
}

impl<'de> Field<'de> for Option<String> {
    fn read<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        Ok(d.deserialize_any(TextVisitor)?.filter(|s| !s.is_empty()))
    }
    fn absent() -> Option<Self> {
        Some(None)
    }
}

/// Reads text, and integers as their decimal digits (an ICCID sent as a number stays exact).
struct TextVisitor;

impl Visitor<'_> for TextVisitor {
    type Value = Option<String>;
    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a string")
    }
    fn visit_str<E: de::Error>(self, v: &str) -> Result<Self::Value, E> {
        Ok(Some(v.to_owned()))
    }
    fn visit_string<E: de::Error>(self, v: String) -> Result<Self::Value, E> {
        Ok(Some(v))
    }
    fn visit_u64<E: de::Error>(self, v: u64) -> Result<Self::Value, E> {
        Ok(Some(v.to_string()))
    }
    fn visit_i64<E: de::Error>(self, v: i64) -> Result<Self::Value, E> {
        Ok(Some(v.to_string()))
    }
    fn visit_unit<E: de::Error>(self) -> Result<Self::Value, E> {
        Ok(None)
    }
}

impl<'de> Field<'de> for Decimal {
    fn read<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        read_decimal(d)?.ok_or_else(|| de::Error::invalid_type(Unexpected::Unit, &"a number"))
    }
}

impl<'de> Field<'de> for Option<Decimal> {
    fn read<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        read_decimal(d)
    }
    fn absent() -> Option<Self> {
        Some(None)
    }
}

/// Reads a number from its exact JSON text, so `49.99` stays `49.99` and `50.00` keeps its scale.
/// Quoted numbers are accepted; `null` and `""` read as `None`.
fn read_decimal<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Decimal>, D::Error> {
    let raw = <&'de RawValue as serde::Deserialize<'de>>::deserialize(d)?;
    let text = raw.get();
    let text = match text.as_bytes().first() {
        Some(b'n') if text == "null" => return Ok(None),
        Some(b'"') => {
            let inner = &text[1..text.len() - 1];
            if inner.is_empty() {
                return Ok(None);
            }
            inner
        }
        _ => text,
    };
    let parsed = if text.contains(['e', 'E']) {
        Decimal::from_scientific(text)
    } else {
        Decimal::from_str_exact(text)
    };
    parsed
        .map(Some)
        .map_err(|_| de::Error::invalid_value(Unexpected::Other(text), &"a decimal number"))
}

impl<'de> Field<'de> for UnixTime {
    fn read<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_any(IntegerVisitor("a unix timestamp in seconds"))?
            .map(UnixTime::from_secs)
            .ok_or_else(|| {
                de::Error::invalid_type(Unexpected::Unit, &"a unix timestamp in seconds")
            })
    }
}

impl<'de> Field<'de> for Option<UnixTime> {
    fn read<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        Ok(
            d.deserialize_any(IntegerVisitor("a unix timestamp in seconds"))?
                .map(UnixTime::from_secs),
        )
    }
    fn absent() -> Option<Self> {
        Some(None)
    }
}

impl<'de> Field<'de> for u32 {
    fn read<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let n = d
            .deserialize_any(IntegerVisitor("a whole number"))?
            .ok_or_else(|| de::Error::invalid_type(Unexpected::Unit, &"a whole number"))?;
        u32::try_from(n).map_err(|_| {
            de::Error::invalid_value(Unexpected::Signed(n), &"a whole number within u32")
        })
    }
}

/// Reads a whole number given as an integer, an integral float (`5.0`) or a numeric string;
/// `null` and `""` read as `None`.
struct IntegerVisitor(&'static str);

impl Visitor<'_> for IntegerVisitor {
    type Value = Option<i64>;
    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.0)
    }
    fn visit_i64<E: de::Error>(self, v: i64) -> Result<Self::Value, E> {
        Ok(Some(v))
    }
    fn visit_u64<E: de::Error>(self, v: u64) -> Result<Self::Value, E> {
        i64::try_from(v)
            .map(Some)
            .map_err(|_| E::invalid_value(Unexpected::Unsigned(v), &self))
    }
    fn visit_f64<E: de::Error>(self, v: f64) -> Result<Self::Value, E> {
        // i64::MIN as f64 is exact; the upper bound is exclusive because i64::MAX is not.
        if v.fract() == 0.0 && v >= i64::MIN as f64 && v < i64::MAX as f64 {
            #[allow(clippy::cast_possible_truncation)]
            return Ok(Some(v as i64));
        }
        Err(E::invalid_value(Unexpected::Float(v), &self))
    }
    fn visit_str<E: de::Error>(self, v: &str) -> Result<Self::Value, E> {
        if v.is_empty() {
            return Ok(None);
        }
        i64::from_str(v.trim())
            .map(Some)
            .map_err(|_| E::invalid_value(Unexpected::Str(v), &self))
    }
    fn visit_unit<E: de::Error>(self) -> Result<Self::Value, E> {
        Ok(None)
    }
}

impl<'de> Field<'de> for bool {
    fn read<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        <bool as serde::Deserialize<'de>>::deserialize(d)
    }
}

impl<'de> Field<'de> for Option<bool> {
    fn read<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        <Option<bool> as serde::Deserialize<'de>>::deserialize(d)
    }
    fn absent() -> Option<Self> {
        Some(None)
    }
}

/// Lists: absent or `null` read as empty.
impl<'de, T: serde::Deserialize<'de>> Field<'de> for Vec<T> {
    fn read<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        Ok(<Option<Vec<T>> as serde::Deserialize<'de>>::deserialize(d)?.unwrap_or_default())
    }
    fn absent() -> Option<Self> {
        Some(Vec::new())
    }
}

/// Adapts a [`Field`] to serde's `DeserializeSeed`, for `MapAccess::next_value_seed`.
pub(crate) struct FieldSeed<T>(pub(crate) std::marker::PhantomData<T>);

impl<'de, T: Field<'de>> de::DeserializeSeed<'de> for FieldSeed<T> {
    type Value = T;
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<T, D::Error> {
        T::read(d)
    }
}

/// Declares a payload struct and its tolerant `Deserialize`: documented keys map to typed fields
/// (read by [`Field`]), absent optional fields take their default, and every other key is kept
/// in `extra`. Nested payload structs also become [`Field`]s (optional when `null`, `""` or
/// absent, through `Option<…>`).
macro_rules! payload {
    (
        $(#[$meta:meta])*
        pub struct $name:ident {
            $(
                $(#[$fmeta:meta])*
                $wire:literal => $field:ident : $ty:ty,
            )*
        }
    ) => {
        $(#[$meta])*
        #[derive(Debug, Clone, PartialEq)]
        #[non_exhaustive]
        pub struct $name {
            $( $(#[$fmeta])* pub $field: $ty, )*
            /// Keys Roamify sent that this version does not model, kept exactly as received.
            pub extra: ::serde_json::Map<::std::string::String, ::serde_json::Value>,
        }

        impl $name {
            /// The documented keys, as sent (read for top-level payloads only).
            #[allow(dead_code)]
            pub(crate) const WIRE_FIELDS: &'static [&'static str] = &[$($wire),*];
        }

        impl<'de> ::serde::Deserialize<'de> for $name {
            fn deserialize<D: ::serde::Deserializer<'de>>(d: D) -> ::std::result::Result<Self, D::Error> {
                struct PayloadVisitor;
                impl<'de> ::serde::de::Visitor<'de> for PayloadVisitor {
                    type Value = $name;
                    fn expecting(&self, f: &mut ::std::fmt::Formatter<'_>) -> ::std::fmt::Result {
                        f.write_str(concat!("an object (", stringify!($name), ")"))
                    }
                    fn visit_map<A: ::serde::de::MapAccess<'de>>(self, mut map: A) -> ::std::result::Result<$name, A::Error> {
                        $( let mut $field: ::std::option::Option<$ty> = None; )*
                        let mut extra = ::serde_json::Map::new();
                        while let Some($crate::wire::WireKey(key)) = map.next_key()? {
                            match &*key {
                                $( $wire => {
                                    if $field.is_some() {
                                        return Err(::serde::de::Error::duplicate_field($wire));
                                    }
                                    $field = Some(map.next_value_seed($crate::wire::FieldSeed::<$ty>(::std::marker::PhantomData))?);
                                } )*
                                _ => {
                                    let value: ::serde_json::Value = map.next_value()?;
                                    extra.insert(key.into_owned(), value);
                                }
                            }
                        }
                        Ok($name {
                            $( $field: match $field {
                                Some(v) => v,
                                None => <$ty as $crate::wire::Field<'de>>::absent()
                                    .ok_or_else(|| ::serde::de::Error::missing_field($wire))?,
                            }, )*
                            extra,
                        })
                    }
                }
                d.deserialize_map(PayloadVisitor)
            }
        }

        impl<'de> $crate::wire::Field<'de> for $name {
            fn read<D: ::serde::Deserializer<'de>>(d: D) -> ::std::result::Result<Self, D::Error> {
                <$name as ::serde::Deserialize<'de>>::deserialize(d)
            }
        }

        impl<'de> $crate::wire::Field<'de> for ::std::option::Option<$name> {
            fn read<D: ::serde::Deserializer<'de>>(d: D) -> ::std::result::Result<Self, D::Error> {
                d.deserialize_any($crate::wire::OptionalObject::<$name>(::std::marker::PhantomData))
            }
            fn absent() -> ::std::option::Option<Self> {
                Some(None)
            }
        }
    };
}
pub(crate) use payload;

/// Reads an optional nested object: `null` and `""` are `None`.
pub(crate) struct OptionalObject<T>(pub(crate) std::marker::PhantomData<T>);

impl<'de, T: serde::Deserialize<'de>> Visitor<'de> for OptionalObject<T> {
    type Value = Option<T>;
    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("an object, null or \"\"")
    }
    fn visit_unit<E: de::Error>(self) -> Result<Self::Value, E> {
        Ok(None)
    }
    fn visit_str<E: de::Error>(self, v: &str) -> Result<Self::Value, E> {
        if v.is_empty() {
            Ok(None)
        } else {
            Err(E::invalid_type(Unexpected::Str(v), &self))
        }
    }
    fn visit_map<A: de::MapAccess<'de>>(self, map: A) -> Result<Self::Value, A::Error> {
        T::deserialize(de::value::MapAccessDeserializer::new(map)).map(Some)
    }
}

/// Declares a string enum that keeps values it does not know: known values match without regard
/// to ASCII case, anything else lands in `Other` with the string as sent.
macro_rules! wire_enum {
    (
        $(#[$meta:meta])*
        pub enum $name:ident {
            $( $(#[$vmeta:meta])* $wire:literal => $variant:ident, )*
        }
    ) => {
        $(#[$meta])*
        #[derive(Debug, Clone, PartialEq, Eq, Hash)]
        #[non_exhaustive]
        pub enum $name {
            $( $(#[$vmeta])* $variant, )*
            /// A value this version does not know, exactly as Roamify sent it.
            Other(::std::string::String),
        }

        impl $name {
            /// The value as it appears on the wire (the documented spelling for known values).
            #[must_use]
            pub fn as_str(&self) -> &str {
                match self {
                    $( Self::$variant => $wire, )*
                    Self::Other(s) => s,
                }
            }

            /// Reads a wire value; never fails, unknown values become `Other`.
            #[must_use]
            pub fn from_wire(s: &str) -> Self {
                $( if s.eq_ignore_ascii_case($wire) { return Self::$variant; } )*
                Self::Other(s.to_owned())
            }
        }

        impl ::std::fmt::Display for $name {
            fn fmt(&self, f: &mut ::std::fmt::Formatter<'_>) -> ::std::fmt::Result {
                f.write_str(self.as_str())
            }
        }

        impl<'de> $crate::wire::Field<'de> for $name {
            fn read<D: ::serde::Deserializer<'de>>(d: D) -> ::std::result::Result<Self, D::Error> {
                let s = <::std::string::String as $crate::wire::Field<'de>>::read(d)?;
                Ok(Self::from_wire(&s))
            }
        }

        impl<'de> $crate::wire::Field<'de> for ::std::option::Option<$name> {
            fn read<D: ::serde::Deserializer<'de>>(d: D) -> ::std::result::Result<Self, D::Error> {
                Ok(<::std::option::Option<::std::string::String> as $crate::wire::Field<'de>>::read(d)?
                    .map(|s| $name::from_wire(&s)))
            }
            fn absent() -> ::std::option::Option<Self> {
                Some(None)
            }
        }
    };
}
pub(crate) use wire_enum;

/// An object key, borrowed from the body when it has no escapes (no allocation per key).
pub(crate) struct WireKey<'de>(pub(crate) std::borrow::Cow<'de, str>);

impl<'de> serde::Deserialize<'de> for WireKey<'de> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct KeyVisitor;
        impl<'de> Visitor<'de> for KeyVisitor {
            type Value = WireKey<'de>;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("an object key")
            }
            fn visit_borrowed_str<E: de::Error>(self, v: &'de str) -> Result<Self::Value, E> {
                Ok(WireKey(std::borrow::Cow::Borrowed(v)))
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<Self::Value, E> {
                Ok(WireKey(std::borrow::Cow::Owned(v.to_owned())))
            }
            fn visit_string<E: de::Error>(self, v: String) -> Result<Self::Value, E> {
                Ok(WireKey(std::borrow::Cow::Owned(v)))
            }
        }
        d.deserialize_str(KeyVisitor)
    }
}

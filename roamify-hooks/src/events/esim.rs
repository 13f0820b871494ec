//! The `esim` category: usage reports and status changes of the partner's eSIMs.

use rust_decimal::Decimal;

use crate::time::UnixTime;
use crate::wire::{payload, wire_enum};

wire_enum! {
    /// An eSIM's status as Roamify reports it. Values not listed here parse as
    /// [`EsimState::Other`], keeping the string.
    pub enum EsimState {
        /// `NEW`: created, not yet installed.
        "NEW" => New,
        /// `INSTALLED`: installed on a device.
        "INSTALLED" => Installed,
        /// `ACTIVATED`: in use on a network.
        "ACTIVATED" => Activated,
        /// `INACTIVE`: not currently usable.
        "INACTIVE" => Inactive,
        /// `DELETED`: removed from the device (documented since 2025-07-30).
        "DELETED" => Deleted,
        /// `REVOKED`: revoked by the operator.
        "REVOKED" => Revoked,
        /// `EXPIRED`: past its validity.
        "EXPIRED" => Expired,
        /// `UNKNOWN`: Roamify itself does not know (a documented value, not a parse failure).
        "UNKNOWN" => Unknown,
        /// `DOWNLOADED`: the profile was downloaded (reported by Roamify's REST API).
        "DOWNLOADED" => Downloaded,
    }
}

payload! {
    /// `esim`/`usage` (legacy spelling `esim_usage`): sent every 4 hours for each activated eSIM
    /// and when usage crosses 25, 50, 75, 90 and 100 % of the allowance.
    ///
    /// Quantities are in the units the event names (`data_units`, `voice_units`, `sms_units`);
    /// read them rather than assuming megabytes and minutes.
    pub struct EsimUsage {
        /// When Roamify triggered the event.
        "timestamp" => timestamp: UnixTime,
        /// The eSIM's ICCID (digits, kept as text).
        "iccid" => iccid: String,
        /// Roamify's eSIM id (a UUID).
        "esim_id" => esim_id: String,
        /// The partner's own order reference, when there is one (absent, `null` and `""` are `None`).
        "reference_id" => reference_id: Option<String>,
        /// Start of the usage period.
        "start" => start: Option<UnixTime>,
        /// End of the usage period.
        "end" => end: Option<UnixTime>,
        /// The eSIM's status.
        "status" => status: EsimState,
        /// The package id, e.g. `esim-afghanistan-7days-1gb-all`.
        "package_id" => package_id: Option<String>,
        /// The package's display name, e.g. `1 GB - 7 Days`.
        "package_name" => package_name: Option<String>,
        /// Unit of data quantities, typically `MB` (absent in the first published version).
        "data_units" => data_units: Option<String>,
        /// Unit of voice quantities, typically `minutes`.
        "voice_units" => voice_units: Option<String>,
        /// Unit of SMS quantities, typically `sms`.
        "sms_units" => sms_units: Option<String>,
        /// Allowance and what remains of it.
        "usage_data" => usage_data: Option<UsageData>,
        /// Per-day usage records (empty when absent).
        "usage_list" => usage_list: Vec<DailyUsage>,
    }
}

payload! {
    /// The allowance of an eSIM and what remains of it (`usage_data`).
    pub struct UsageData {
        /// Whether the data allowance is unlimited (sent as camelCase `isUnlimited`).
        "isUnlimited" => is_unlimited: Option<bool>,
        /// Data allowance, in `data_units`.
        "allowed_data" => allowed_data: Option<Decimal>,
        /// Data remaining, in `data_units`.
        "remaining_data" => remaining_data: Option<Decimal>,
        /// SMS allowance.
        "allowed_sms" => allowed_sms: Option<Decimal>,
        /// SMS remaining.
        "remaining_sms" => remaining_sms: Option<Decimal>,
        /// Voice allowance, in `voice_units`.
        "allowed_voice" => allowed_voice: Option<Decimal>,
        /// Voice remaining, in `voice_units`.
        "remaining_voice" => remaining_voice: Option<Decimal>,
    }
}

payload! {
    /// One day of usage (`usage_list[]`).
    pub struct DailyUsage {
        /// The day, `YYYY-MM-DD`, as sent.
        "date" => date: String,
        /// Data used that day, in `data_units`.
        "data_used" => data_used: Option<Decimal>,
        /// Free-text place name, e.g. `Afghanistan`.
        "location" => location: Option<String>,
    }
}

payload! {
    /// `esim`/`status` (legacy spelling `esim_status`): an eSIM's status changed.
    pub struct EsimStatus {
        /// When Roamify triggered the event.
        "timestamp" => timestamp: UnixTime,
        /// The eSIM's ICCID (digits, kept as text).
        "iccid" => iccid: String,
        /// Roamify's eSIM id (a UUID).
        "esim_id" => esim_id: String,
        /// The partner's own order reference, when there is one.
        "reference_id" => reference_id: Option<String>,
        /// Start of the eSIM's validity period.
        "start" => start: Option<UnixTime>,
        /// End of the eSIM's validity period.
        "end" => end: Option<UnixTime>,
        /// The new status.
        "status" => status: EsimState,
    }
}

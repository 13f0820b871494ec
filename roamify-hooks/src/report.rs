//! Errors on one line: [`report`] and `Debug` implementations that print it.

/// An error and its whole cause chain on one line: `outer: cause: root cause` — what a log
/// line or a program's last words should say.
///
/// ```
/// let error = roamify_hooks::Secret::new("").unwrap_err();
/// assert_eq!(roamify_hooks::report(&error), "the webhook secret is empty");
/// ```
#[must_use]
pub fn report(error: &(dyn std::error::Error + 'static)) -> String {
    use std::fmt::Write as _;
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        let _ = write!(text, ": {cause}");
        source = cause.source();
    }
    text
}

/// `Debug` for an error type as its [`report`]: a program whose `main` returns the error with
/// `?` prints `Error: <message>: <causes>`, not the variant's internals.
macro_rules! debug_as_report {
    ($error:ty) => {
        impl ::std::fmt::Debug for $error {
            fn fmt(&self, f: &mut ::std::fmt::Formatter<'_>) -> ::std::fmt::Result {
                f.write_str(&$crate::report::report(self))
            }
        }
    };
}
pub(crate) use debug_as_report;

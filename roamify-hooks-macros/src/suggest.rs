//! "Did you mean …?" for misspelled names.

/// The candidate nearest to `input`, when it is close enough to be a likely typo.
pub(crate) fn nearest<'a>(input: &str, candidates: &[&'a str]) -> Option<&'a str> {
    let input = input.to_ascii_lowercase();
    candidates
        .iter()
        .map(|c| (distance(&input, c), *c))
        .filter(|(d, c)| {
            *d <= (c.len() / 3).max(1) || c.contains(input.as_str()) && !input.is_empty()
        })
        .min_by_key(|(d, _)| *d)
        .map(|(_, c)| c)
}

/// Levenshtein distance.
fn distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut row: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut prev = row[0];
        row[0] = i + 1;
        for (j, cb) in b.iter().enumerate() {
            let cost = usize::from(ca != *cb);
            let next = (row[j + 1] + 1).min(row[j] + 1).min(prev + cost);
            prev = row[j + 1];
            row[j + 1] = next;
        }
    }
    row[b.len()]
}

/// `` `a`, `b`, `c` ``.
pub(crate) fn list(items: &[&str]) -> String {
    items
        .iter()
        .map(|i| format!("`{i}`"))
        .collect::<Vec<_>>()
        .join(", ")
}

/// `; did you mean `x`?` or nothing.
pub(crate) fn did_you_mean(input: &str, candidates: &[&str]) -> String {
    nearest(input, candidates)
        .map(|n| format!("; did you mean `{n}`?"))
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn suggests_typos_and_not_strangers() {
        let c = ["esim", "partner", "affiliate", "refund"];
        assert_eq!(nearest("partnr", &c), Some("partner"));
        assert_eq!(nearest("Partner", &c), Some("partner"));
        assert_eq!(nearest("refunds", &c), Some("refund"));
        assert_eq!(nearest("weather", &c), None);
        assert_eq!(
            nearest(
                "lowbalance",
                &["low_balance", "insufficient_balance", "top_up"]
            ),
            Some("low_balance")
        );
    }
}

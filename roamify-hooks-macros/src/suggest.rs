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

/// Edit distance counting insertions, deletions, substitutions and swaps of neighbours
/// (optimal string alignment), so `kidn` is one edit from `kind`.
fn distance(a: &str, b: &str) -> usize {
    let (a, b): (Vec<char>, Vec<char>) = (a.chars().collect(), b.chars().collect());
    let mut d = vec![vec![0usize; b.len() + 1]; a.len() + 1];
    for (i, row) in d.iter_mut().enumerate() {
        row[0] = i;
    }
    for (j, cell) in d[0].iter_mut().enumerate() {
        *cell = j;
    }
    for i in 1..=a.len() {
        for j in 1..=b.len() {
            let cost = usize::from(a[i - 1] != b[j - 1]);
            let mut best = (d[i - 1][j] + 1)
                .min(d[i][j - 1] + 1)
                .min(d[i - 1][j - 1] + cost);
            if i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1] {
                best = best.min(d[i - 2][j - 2] + 1);
            }
            d[i][j] = best;
        }
    }
    d[a.len()][b.len()]
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
            nearest("kidn", &["category", "kind", "crate"]),
            Some("kind")
        );
        assert_eq!(
            nearest(
                "lowbalance",
                &["low_balance", "insufficient_balance", "top_up"]
            ),
            Some("low_balance")
        );
    }
}

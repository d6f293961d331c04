//! Tag ordering that reads right to people: `rocky-9` < `rocky-10`.
//!
//! Build tags carry numbers of growing width, which byte order gets wrong
//! (`rocky-10` < `rocky-9`). The audit sorts builds with this order, and the
//! manifest's per-image `from` / `until` bounds compare tags with it, so it
//! lives here rather than in either of them.

use std::cmp::Ordering;

/// Compares two strings so that runs of digits compare by value.
///
/// Other characters compare byte by byte. Numbers of any length are compared
/// without overflow; of two equal values, the one written with fewer leading
/// zeros comes first (`rocky-9` < `rocky-09`), so only identical strings are
/// `Equal`.
pub fn natural_cmp(a: &str, b: &str) -> Ordering {
    let (mut a, mut b) = (a.as_bytes(), b.as_bytes());
    loop {
        match (a.first(), b.first()) {
            (None, None) => return Ordering::Equal,
            (None, Some(_)) => return Ordering::Less,
            (Some(_), None) => return Ordering::Greater,
            (Some(x), Some(y)) if x.is_ascii_digit() && y.is_ascii_digit() => {
                let la = a.iter().take_while(|c| c.is_ascii_digit()).count();
                let lb = b.iter().take_while(|c| c.is_ascii_digit()).count();
                let (da, db) = (trim_zeros(&a[..la]), trim_zeros(&b[..lb]));
                let ord = da
                    .len()
                    .cmp(&db.len())
                    .then_with(|| da.cmp(db))
                    .then(la.cmp(&lb));
                if ord != Ordering::Equal {
                    return ord;
                }
                a = &a[la..];
                b = &b[lb..];
            }
            (Some(x), Some(y)) => {
                if x != y {
                    return x.cmp(y);
                }
                a = &a[1..];
                b = &b[1..];
            }
        }
    }
}

fn trim_zeros(digits: &[u8]) -> &[u8] {
    let zeros = digits.iter().take_while(|&&c| c == b'0').count();
    &digits[zeros..]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_compare_by_value() {
        let mut tags = vec![
            "rocky-10",
            "rocky-9",
            "rocky-100",
            "rocky-09",
            "5.0.0",
            "5.0.10",
            "5.0.2",
        ];
        tags.sort_by(|a, b| natural_cmp(a, b));
        assert_eq!(
            tags,
            [
                "5.0.0",
                "5.0.2",
                "5.0.10",
                "rocky-9",
                "rocky-09",
                "rocky-10",
                "rocky-100"
            ]
        );
    }

    #[test]
    fn pairs_of_tags() {
        use Ordering::{Equal, Greater, Less};
        for (a, b, expected) in [
            ("rocky-9", "rocky-10", Less),
            ("rocky-10", "rocky-9", Greater),
            ("rocky-99", "rocky-100", Less),
            ("rocky-40", "rocky-40", Equal),
            ("5.0.0", "5.0.10", Less),
            ("5.0.10", "5.0.9", Greater),
            ("5.10.0", "5.9.99", Greater),
            ("rocky-9", "rocky-09", Less),
            ("rocky-1", "rocky-1a", Less),
            ("rocky-", "rocky-1", Less),
            ("", "", Equal),
            // Wider than any integer type.
            (
                "v123456789012345678901234567890",
                "v99999999999999999999999999999",
                Greater,
            ),
        ] {
            assert_eq!(natural_cmp(a, b), expected, "{a} vs {b}");
        }
    }
}

//! Tag ordering that reads right to people: `rocky-9` < `rocky-10`.

use std::cmp::Ordering;

/// Compares two strings so that runs of digits compare by value.
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
}

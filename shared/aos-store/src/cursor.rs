//! Opaque pagination cursors and sort-key bounds. A cursor carries the last returned key,
//! hex-encoded so that any key text round-trips and a tampered cursor is detected.

use aos_core::ports::{SkRange, StoreError};

const TABLE: &str = "t";
const INDEX: &str = "i";

pub(crate) fn table_cursor(sk: &str) -> String {
    format!("{TABLE}.{}", hex::encode(sk))
}

pub(crate) fn parse_table_cursor(cursor: &str) -> Result<String, StoreError> {
    match cursor.split('.').collect::<Vec<_>>().as_slice() {
        [TABLE, sk] => unhex(sk),
        _ => Err(StoreError::BadCursor),
    }
}

/// Index keys are not unique, so an index cursor is the full ordering key (gsi1sk, pk, sk).
pub(crate) fn index_cursor(gsi1sk: &str, pk: &str, sk: &str) -> String {
    format!("{INDEX}.{}.{}.{}", hex::encode(gsi1sk), hex::encode(pk), hex::encode(sk))
}

pub(crate) fn parse_index_cursor(cursor: &str) -> Result<(String, String, String), StoreError> {
    match cursor.split('.').collect::<Vec<_>>().as_slice() {
        [INDEX, gsi1sk, pk, sk] => Ok((unhex(gsi1sk)?, unhex(pk)?, unhex(sk)?)),
        _ => Err(StoreError::BadCursor),
    }
}

fn unhex(part: &str) -> Result<String, StoreError> {
    let bytes = hex::decode(part).map_err(|_| StoreError::BadCursor)?;
    String::from_utf8(bytes).map_err(|_| StoreError::BadCursor)
}

/// Byte bounds of a sort-key range. Bytes rather than strings because a prefix's exclusive
/// upper bound (the prefix with its last byte incremented) need not be valid UTF-8; SQLite's
/// BINARY collation compares text bytewise, exactly as `SkRange` specifies.
#[derive(Debug, Default, PartialEq, Eq)]
pub(crate) struct Bounds {
    pub lower: Option<Vec<u8>>,
    /// Upper bound and whether it is inclusive.
    pub upper: Option<(Vec<u8>, bool)>,
}

pub(crate) fn bounds(range: &SkRange) -> Bounds {
    match range {
        SkRange::All => Bounds::default(),
        SkRange::Prefix(prefix) if prefix.is_empty() => Bounds::default(),
        SkRange::Prefix(prefix) => {
            Bounds { lower: Some(prefix.as_bytes().to_vec()), upper: successor(prefix.as_bytes()).map(|upper| (upper, false)) }
        }
        SkRange::Between(from, to) => Bounds { lower: Some(from.as_bytes().to_vec()), upper: Some((to.as_bytes().to_vec(), true)) },
    }
}

/// The smallest byte string greater than every string starting with `prefix`, if any.
fn successor(prefix: &[u8]) -> Option<Vec<u8>> {
    let mut upper = prefix.to_vec();
    while let Some(last) = upper.pop() {
        if last < u8::MAX {
            upper.push(last + 1);
            return Some(upper);
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cursors_round_trip_any_text() {
        for sk in ["", "a.b", "ünï/cødé", "x\u{0}y"] {
            assert_eq!(parse_table_cursor(&table_cursor(sk)).unwrap(), sk);
            let c = index_cursor(sk, "p.k", sk);
            assert_eq!(parse_index_cursor(&c).unwrap(), (sk.to_string(), "p.k".to_string(), sk.to_string()));
        }
    }

    #[test]
    fn malformed_cursors_are_rejected() {
        for bad in ["", "t", "t.zz", "i.00", "t.ff", "x.00", &index_cursor("a", "b", "c")] {
            assert_eq!(parse_table_cursor(bad), Err(StoreError::BadCursor), "{bad}");
        }
        assert_eq!(parse_index_cursor(&table_cursor("a")), Err(StoreError::BadCursor));
    }

    #[test]
    fn prefix_upper_bound_is_exclusive_successor() {
        let b = bounds(&SkRange::Prefix("ab".into()));
        assert_eq!(b.lower.as_deref(), Some(&b"ab"[..]));
        assert_eq!(b.upper, Some((b"ac".to_vec(), false)));
        assert_eq!(successor(&[b'a', 0xff]), Some(vec![b'b']));
        assert_eq!(successor(&[0xff, 0xff]), None);
        assert_eq!(bounds(&SkRange::Prefix(String::new())), Bounds::default());
    }
}

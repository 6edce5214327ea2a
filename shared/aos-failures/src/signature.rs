//! Failure signatures: a stable 64-bit FNV-1a hash of the skill, the error code and the
//! normalized message, so recurring failures group together across runs and processes (no
//! per-process hash seed, and normalization has already removed ids, numbers and timestamps).

const OFFSET: u64 = 0xcbf2_9ce4_8422_2325;
const PRIME: u64 = 0x0000_0100_0000_01b3;
const SEPARATOR: u8 = 0x1f;

/// 16 lower-case hex digits.
pub fn signature(skill: Option<&str>, code: Option<&str>, normalized: &str) -> String {
    let mut h = OFFSET;
    for part in [skill.unwrap_or(""), code.unwrap_or(""), normalized] {
        for &b in part.as_bytes() {
            h = (h ^ u64::from(b)).wrapping_mul(PRIME);
        }
        h = (h ^ u64::from(SEPARATOR)).wrapping_mul(PRIME);
    }
    format!("{h:016x}")
}

#[cfg(test)]
mod tests {
    use super::signature;

    #[test]
    fn known_value_and_field_separation() {
        // Pinned so that a change of the hash is a visible, deliberate change of every signature.
        assert_eq!(signature(None, None, ""), "8f3e7418d31fe7b4");
        let sig = signature(Some("http_call"), Some("HTTP_503"), "<url> answered http 503 service unavailable");
        assert_eq!(sig, "5d08f26eef7d8137");
        assert_ne!(signature(Some("ab"), Some("c"), "x"), signature(Some("a"), Some("bc"), "x"));
        assert_eq!(signature(Some("http_call"), Some("HTTP_503"), "m").len(), 16);
    }
}

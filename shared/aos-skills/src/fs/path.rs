//! The one door into a tenant's sandbox: a path from a plan becomes a [`SandboxPath`] here or
//! nowhere. Lexical rules only (no file system is consulted), so both backends refuse the same
//! paths; the local backend adds cap-std's resolution, which cannot leave its directory even
//! through a symlink planted by someone else.

use aos_core::outcome::{Category, StepError};
use serde_json::json;

/// Longest path, in bytes of UTF-8 (S3 keys are at most 1,024 bytes, with the tenant's prefix).
pub const MAX_PATH_BYTES: usize = 768;
/// Longest name of one file or directory, in bytes (NAME_MAX of Linux file systems).
pub const MAX_NAME_BYTES: usize = 255;
/// Deepest nesting.
pub const MAX_DEPTH: usize = 32;

/// A path inside a tenant's sandbox: normalized components, none empty, `.` or `..`, none with a
/// control character, a backslash or a NUL. The empty path is the sandbox's root.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SandboxPath {
    parts: Vec<String>,
}

impl SandboxPath {
    pub fn root() -> Self {
        Self { parts: Vec::new() }
    }

    pub fn is_root(&self) -> bool {
        self.parts.is_empty()
    }

    pub fn parts(&self) -> &[String] {
        &self.parts
    }

    /// `a/b/c` (empty for the root).
    pub fn as_key(&self) -> String {
        self.parts.join("/")
    }

    pub fn name(&self) -> &str {
        self.parts.last().map_or("", String::as_str)
    }

    /// This path and one more component (`name` is a component of a path that was parsed).
    pub fn child(&self, name: &str) -> SandboxPath {
        let mut parts = self.parts.clone();
        parts.push(name.to_string());
        Self { parts }
    }

    pub fn parent(&self) -> SandboxPath {
        Self { parts: self.parts[..self.parts.len().saturating_sub(1)].to_vec() }
    }
}

fn refused(code: &str, path: &str, why: &str) -> StepError {
    // The path is shown escaped and cut: it may hold control characters or be megabytes long.
    let shown: String = path.chars().take(120).flat_map(char::escape_debug).collect();
    StepError::new(code, Category::Validation, false, format!("the path \"{shown}\" is refused: {why}"))
        .with_details(json!({"reason": why}))
}

/// Why a path is refused, as its code and reason; `Ok` the normalized path.
pub fn parse(path: &str) -> Result<SandboxPath, StepError> {
    let invalid = |why: &str| refused("FS_PATH_INVALID", path, why);
    if path.len() > MAX_PATH_BYTES {
        return Err(refused("FS_PATH_TOO_LONG", path, "longer than 768 bytes"));
    }
    if path.chars().any(|c| c.is_control()) {
        return Err(invalid("it contains a control character (NUL, newline, escape...)"));
    }
    if path.contains('\\') {
        return Err(invalid("it contains a backslash (paths are separated by /)"));
    }
    if path.starts_with('/') {
        return Err(refused("FS_PATH_ESCAPES", path, "it is absolute; paths are relative to the tenant's sandbox"));
    }
    leading(path, path)?;
    // Characters that render as something else (bidirectional overrides, zero-width joiners) make a
    // name look like another in listings and reports.
    if path.chars().any(|c| matches!(c, '\u{200b}'..='\u{200f}' | '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}' | '\u{feff}')) {
        return Err(invalid("it contains an invisible or bidirectional formatting character"));
    }
    let mut parts: Vec<String> = Vec::new();
    for part in path.split('/') {
        match part {
            "" | "." => continue,
            ".." => {
                if parts.pop().is_none() {
                    return Err(refused("FS_PATH_ESCAPES", path, "`..` leads out of the sandbox"));
                }
            }
            name => {
                if name.len() > MAX_NAME_BYTES {
                    return Err(refused("FS_PATH_TOO_LONG", path, "a name is longer than 255 bytes"));
                }
                if name.trim().is_empty() || name.ends_with(' ') || name.ends_with('.') {
                    return Err(invalid("a name is blank or ends with a space or a dot"));
                }
                parts.push(name.to_string());
            }
        }
    }
    if parts.len() > MAX_DEPTH {
        return Err(refused("FS_PATH_TOO_LONG", path, "nested deeper than 32 levels"));
    }
    // The same rule on the normalized path, so `./~` or `a/../C:/x` is refused like `~` or `C:/x`
    // and every accepted path's normal form parses again to itself (found by the fs_path fuzz target).
    if let Some(first) = parts.first() {
        leading(first, path)?;
    }
    Ok(SandboxPath { parts })
}

/// A path (or its first normalized component) that starts like a home directory (`~`, `~user`) or
/// names a drive (`C:`) is refused.
fn leading(start: &str, path: &str) -> Result<(), StepError> {
    if start.starts_with('~') {
        return Err(refused("FS_PATH_ESCAPES", path, "it is absolute; paths are relative to the tenant's sandbox"));
    }
    let b = start.as_bytes();
    if b.len() >= 2 && b[1] == b':' && b[0].is_ascii_alphabetic() {
        return Err(refused("FS_PATH_ESCAPES", path, "it names a drive"));
    }
    Ok(())
}

/// A file's path: not the root.
pub fn parse_file(path: &str) -> Result<SandboxPath, StepError> {
    let p = parse(path)?;
    if p.is_root() {
        return Err(refused("FS_PATH_INVALID", path, "it names the sandbox's root, not a file"));
    }
    Ok(p)
}

/// A directory name a tenant's files live in, from the tenant's id: the id itself when it is a
/// plain name, else a hash of it (so no tenant id can form a path).
pub fn tenant_dir(tenant: &str) -> String {
    let plain = !tenant.is_empty()
        && tenant.len() <= 64
        && tenant.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
        && !tenant.starts_with('-');
    if plain {
        tenant.to_string()
    } else {
        format!("h-{}", &aos_core::canonical::sha256_hex(tenant.as_bytes())[..32])
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn normalizes_and_refuses() {
        assert_eq!(parse("a/./b//c/").unwrap().as_key(), "a/b/c");
        assert_eq!(parse("a/b/../c").unwrap().as_key(), "a/c");
        assert!(parse("").unwrap().is_root());
        assert!(parse(".").unwrap().is_root());
        for (p, code) in [
            ("..", "FS_PATH_ESCAPES"),
            ("a/../..", "FS_PATH_ESCAPES"),
            ("/etc/passwd", "FS_PATH_ESCAPES"),
            ("C:/x", "FS_PATH_ESCAPES"),
            ("~", "FS_PATH_ESCAPES"),
            ("././~", "FS_PATH_ESCAPES"),
            ("a/../~root/x", "FS_PATH_ESCAPES"),
            ("./C:/x", "FS_PATH_ESCAPES"),
            ("a\0b", "FS_PATH_INVALID"),
            ("a\\..\\b", "FS_PATH_INVALID"),
            ("a\nb", "FS_PATH_INVALID"),
            ("a/b ", "FS_PATH_INVALID"),
            ("a/\u{202e}txt.exe", "FS_PATH_INVALID"),
        ] {
            assert_eq!(parse(p).unwrap_err().code, code, "{p:?}");
        }
        assert_eq!(parse(&"a".repeat(256)).unwrap_err().code, "FS_PATH_TOO_LONG");
        assert!(parse(&"a".repeat(255)).is_ok());
        assert_eq!(parse(&"a/".repeat(33)).unwrap_err().code, "FS_PATH_TOO_LONG");
        assert_eq!(parse("a/~/C:").unwrap().as_key(), "a/~/C:", "only a leading `~` or drive is refused");
        assert_eq!(tenant_dir("acme"), "acme");
        assert!(tenant_dir("../x").starts_with("h-"));
    }
}

//! Paths of artifacts inside `evidence/`: checked so that no name can leave that folder.

use crate::{Error, Result, layout::STAGING_DIR};

const MAX_PATH_BYTES: usize = 1024;
const MAX_COMPONENT_BYTES: usize = 255;

/// Accept `path` as the location of an artifact relative to `evidence/`, or say why not.
pub(crate) fn check_evidence_path(path: &str) -> Result<()> {
    evidence_path_problem(path)
        .map_or(Ok(()), |reason| Err(Error::InvalidEvidencePath { path: path.to_string(), reason }))
}

pub(crate) fn evidence_path_problem(path: &str) -> Option<&'static str> {
    if path.is_empty() {
        return Some("it is empty");
    }
    if path.len() > MAX_PATH_BYTES {
        return Some("it is longer than 1024 bytes");
    }
    if path.starts_with('/') {
        return Some("it is absolute; give a path relative to evidence/");
    }
    if path.contains('\\') {
        return Some("it contains a backslash; use / between folders");
    }
    if path.chars().any(char::is_control) {
        return Some("it contains a control character");
    }
    for (index, component) in path.split('/').enumerate() {
        match component {
            "" => return Some("it has an empty component (// or a trailing /)"),
            "." | ".." => return Some("it contains . or .. components"),
            STAGING_DIR if index == 0 => return Some("evidence/.partial is kir's staging folder"),
            c if c.len() > MAX_COMPONENT_BYTES => return Some("a component is longer than 255 bytes"),
            _ => {}
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ordinary_paths_are_accepted() {
        for path in ["pod.json", "pods/web-1/logs/app.log", "a b/ü.txt", ".hidden", "x/.partial"] {
            assert!(check_evidence_path(path).is_ok(), "{path}");
        }
    }

    #[test]
    fn paths_that_could_escape_or_confuse_are_rejected() {
        let cases = [
            ("", "empty"),
            ("/etc/passwd", "absolute"),
            ("../x", ".."),
            ("a/../../x", ".."),
            ("a/./b", ".."),
            ("a//b", "empty component"),
            ("a/", "empty component"),
            ("a\\b", "backslash"),
            ("a\nb", "control"),
            (".partial/x", "staging"),
        ];
        for (path, why) in cases {
            let error = check_evidence_path(path).unwrap_err().to_string();
            assert!(error.contains(why), "{path:?}: {error}");
        }
        assert!(check_evidence_path(&"a".repeat(256)).is_err());
        assert!(check_evidence_path(&"a/".repeat(600)).is_err());
    }
}

//! What a responder asks to find or block, and whether an image in a pod spec (and what the pod
//! status says it runs) is one of them.

use std::fmt;

use crate::error::{ImageRefError, quoted};
use crate::reference::{
    DOCKER_HUB, Digest, ImageRef, RunningImage, check_registry, check_repository, is_docker_hub,
    names_a_registry, parse_image_id,
};

/// Digest algorithms a bare `<algorithm>:<hex>` pattern may name; only sha256 is accepted, the
/// others are recognised to be refused rather than read as an image named `sha512`.
const DIGEST_ALGORITHMS: [&str; 3] = ["sha256", "sha384", "sha512"];

/// A known-bad image, or set of images.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Pattern {
    /// `nginx`: every tag and digest of `docker.io/library/nginx`.
    Repository { registry: String, repository: String },
    /// `nginx:1.25`: that tag (`latest` also when no tag is written), and, when the registry
    /// said what the tag points to, that digest in the same repository.
    Tag { registry: String, repository: String, tag: String, resolved: Option<Digest> },
    /// `nginx@sha256:…` (a tag written beside the digest is ignored: the runtime pulls the digest).
    Digest { registry: String, repository: String, digest: Digest },
    /// `sha256:…`: that content under any name, mirrors included.
    AnyDigest { digest: Digest },
    /// `ghcr.io/team/` or `ghcr.io/team/*`: everything under a registry or a path in it, on a
    /// `/` boundary (`ghcr.io/team/` does not reach `ghcr.io/teamx/app`).
    Prefix { registry: String, path: Option<String> },
}

/// How an image matched a [`Pattern`], if it did.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
pub enum Match {
    Repository,
    Tag,
    Digest,
    /// The spec names another reference, but the running image has the blocked digest.
    RunningDigest,
    /// The spec or the running image has the digest the blocked tag resolved to.
    ResolvedDigest,
    Prefix,
    NoMatch,
    /// The spec's image is not a valid reference: no runtime pulls it, but it deserves a look.
    Unparseable,
}

impl Match {
    pub fn is_match(self) -> bool {
        !matches!(self, Match::NoMatch | Match::Unparseable)
    }

    /// Why this image was (or was not) selected, for a person reading the finding.
    pub fn describe(self) -> &'static str {
        match self {
            Match::Repository => "a tag or digest of the blocked repository",
            Match::Tag => "the blocked tag",
            Match::Digest => "the blocked digest",
            Match::RunningDigest => "runs the blocked digest, whatever its spec names",
            Match::ResolvedDigest => "the digest the blocked tag resolved to",
            Match::Prefix => "from the blocked registry or path",
            Match::NoMatch => "not a blocked image",
            Match::Unparseable => "not a valid image reference; check it by hand",
        }
    }
}

impl Pattern {
    /// Reads what the user typed: a repository, a tag, a digest (with or without a name), or a
    /// prefix ending in `/` or `/*`.
    pub fn parse(text: &str) -> Result<Pattern, ImageRefError> {
        if text.is_empty() {
            return Err(ImageRefError::Empty);
        }
        if let Some(offset) = text.find(|c: char| c.is_whitespace() || c.is_control()) {
            return Err(ImageRefError::Whitespace { offset });
        }
        if let Some(prefix) = text.strip_suffix("/*").or_else(|| text.strip_suffix('/')) {
            return parse_prefix(prefix);
        }
        let bare_digest =
            text.split_once(':').is_some_and(|(algorithm, _)| DIGEST_ALGORITHMS.contains(&algorithm));
        if bare_digest && !text.contains(['/', '@']) {
            return Ok(Pattern::AnyDigest { digest: Digest::parse(text)? });
        }
        let reference = ImageRef::parse(text)?;
        if reference.registry() != DOCKER_HUB {
            check_pattern_registry(reference.registry())?;
        }
        let registry = reference.registry().to_owned();
        let repository = reference.repository().to_owned();
        Ok(match (reference.digest(), reference.tag_is_explicit(), reference.tag()) {
            (Some(digest), _, _) => Pattern::Digest { registry, repository, digest: digest.clone() },
            (None, true, Some(tag)) => {
                Pattern::Tag { registry, repository, tag: tag.to_owned(), resolved: None }
            }
            _ => Pattern::Repository { registry, repository },
        })
    }

    /// A tag pattern that also catches the digest the registry resolved its tag to, so a pod
    /// that pinned that digest (or runs it under another tag) is found too.
    pub fn with_resolved_digest(self, digest: Digest) -> Result<Pattern, ImageRefError> {
        match self {
            Pattern::Tag { registry, repository, tag, .. } => {
                Ok(Pattern::Tag { registry, repository, tag, resolved: Some(digest) })
            }
            _ => Err(ImageRefError::ResolvedDigestWithoutTag),
        }
    }

    /// The digest a tag pattern was resolved to, if it was.
    pub fn resolved_digest(&self) -> Option<&Digest> {
        match self {
            Pattern::Tag { resolved, .. } => resolved.as_ref(),
            _ => None,
        }
    }

    /// The pattern as the user wrote it, without a resolved digest: what [`Pattern::parse`]
    /// reads back from its text.
    pub fn unresolved(&self) -> Pattern {
        match self {
            Pattern::Tag { registry, repository, tag, .. } => Pattern::Tag {
                registry: registry.clone(),
                repository: repository.clone(),
                tag: tag.clone(),
                resolved: None,
            },
            other => other.clone(),
        }
    }

    /// Whether a container matches: `spec_image` as its pod (or template) spec writes it,
    /// `image_id` as its status reports it (`None` for templates and waiting containers).
    pub fn matches(&self, spec_image: &str, image_id: Option<&str>) -> Match {
        let spec = ImageRef::parse(spec_image).ok();
        if let Some(found) = spec.as_ref().and_then(|spec| self.matches_spec(spec)) {
            return found;
        }
        if let Some(running) = image_id.and_then(parse_image_id)
            && let Some(found) = self.matches_running(spec.as_ref(), &running)
        {
            return found;
        }
        if spec.is_some() { Match::NoMatch } else { Match::Unparseable }
    }

    fn matches_spec(&self, spec: &ImageRef) -> Option<Match> {
        match self {
            Pattern::Repository { registry, repository } => {
                same_name(registry, repository, spec).then_some(Match::Repository)
            }
            Pattern::Tag { registry, repository, tag, resolved } => {
                if !same_name(registry, repository, spec) {
                    None
                } else if spec.tag() == Some(tag.as_str()) {
                    Some(Match::Tag)
                } else {
                    (resolved.is_some() && spec.digest() == resolved.as_ref())
                        .then_some(Match::ResolvedDigest)
                }
            }
            Pattern::Digest { registry, repository, digest } => (same_name(registry, repository, spec)
                && spec.digest() == Some(digest))
            .then_some(Match::Digest),
            Pattern::AnyDigest { digest } => (spec.digest() == Some(digest)).then_some(Match::Digest),
            Pattern::Prefix { registry, path } => {
                let under = |path: &String| {
                    spec.repository().strip_prefix(path.as_str()).is_some_and(|rest| rest.starts_with('/'))
                };
                (registry.eq_ignore_ascii_case(spec.registry()) && path.as_ref().is_none_or(under))
                    .then_some(Match::Prefix)
            }
        }
    }

    /// A digest pattern's repository is checked against the spec's name or the name the
    /// runtime reports, either being enough.
    fn matches_running(&self, spec: Option<&ImageRef>, running: &RunningImage) -> Option<Match> {
        let in_repository = |registry: &str, repository: &str| {
            spec.is_some_and(|spec| same_name(registry, repository, spec))
                || running
                    .name
                    .as_deref()
                    .is_some_and(|name| name.eq_ignore_ascii_case(&format!("{registry}/{repository}")))
        };
        match self {
            Pattern::AnyDigest { digest } => (running.digest == *digest).then_some(Match::RunningDigest),
            Pattern::Digest { registry, repository, digest } => (running.digest == *digest
                && in_repository(registry, repository))
            .then_some(Match::RunningDigest),
            Pattern::Tag { registry, repository, resolved: Some(resolved), .. } => {
                (running.digest == *resolved && in_repository(registry, repository))
                    .then_some(Match::ResolvedDigest)
            }
            _ => None,
        }
    }

    /// What the pattern covers, for a person reading a plan or a policy.
    pub fn describe(&self) -> String {
        match self {
            Pattern::Repository { registry, repository } => {
                format!("every tag and digest of {registry}/{repository}")
            }
            Pattern::Tag { registry, repository, tag, resolved: None } => {
                format!("{registry}/{repository}:{tag}")
            }
            Pattern::Tag { registry, repository, tag, resolved: Some(digest) } => {
                format!("{registry}/{repository}:{tag} and the digest it resolved to, {digest}")
            }
            Pattern::Digest { registry, repository, digest } => format!("{registry}/{repository}@{digest}"),
            Pattern::AnyDigest { digest } => format!("any image with digest {digest}"),
            Pattern::Prefix { registry, path: None } => format!("every image from registry {registry}"),
            Pattern::Prefix { registry, path: Some(path) } => format!("every image under {registry}/{path}/"),
        }
    }
}

/// The canonical text of a pattern: what policy names are derived from and what annotations
/// hold.
impl fmt::Display for Pattern {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Pattern::Repository { registry, repository } => write!(f, "{registry}/{repository}"),
            Pattern::Tag { registry, repository, tag, resolved } => {
                write!(f, "{registry}/{repository}:{tag}")?;
                match resolved {
                    Some(digest) => write!(f, " (resolved to {digest})"),
                    None => Ok(()),
                }
            }
            Pattern::Digest { registry, repository, digest } => write!(f, "{registry}/{repository}@{digest}"),
            Pattern::AnyDigest { digest } => write!(f, "{digest}"),
            Pattern::Prefix { registry, path: None } => write!(f, "{registry}/"),
            Pattern::Prefix { registry, path: Some(path) } => write!(f, "{registry}/{path}/"),
        }
    }
}

/// Registries compare case-insensitively (they are host names), repositories exactly (they
/// are lower case).
fn same_name(registry: &str, repository: &str, spec: &ImageRef) -> bool {
    registry.eq_ignore_ascii_case(spec.registry()) && repository == spec.repository()
}

/// `prefix` is the pattern without its trailing `/` or `/*`.
fn parse_prefix(prefix: &str) -> Result<Pattern, ImageRefError> {
    if prefix.contains('@') {
        return Err(ImageRefError::PrefixWithTagOrDigest { prefix: quoted(prefix) });
    }
    let (registry, path) = match prefix.split_once('/') {
        None if names_a_registry(prefix) => (prefix, None),
        Some((first, rest)) if names_a_registry(first) => (first, Some(rest)),
        _ => (DOCKER_HUB, Some(prefix)),
    };
    if registry != DOCKER_HUB {
        check_pattern_registry(registry)?;
    }
    if let Some(path) = path {
        if path.contains(':') {
            return Err(ImageRefError::PrefixWithTagOrDigest { prefix: quoted(prefix) });
        }
        check_repository(path)?;
    }
    let registry = if is_docker_hub(registry) { DOCKER_HUB } else { registry };
    Ok(Pattern::Prefix { registry: registry.to_owned(), path: path.map(str::to_owned) })
}

/// A registry that is one only because of its capitals (`Registry/app`) would match its
/// lower-case spelling, which Docker reads as a Docker Hub path: patterns need a host with a
/// `.`, a port, or `localhost`.
fn check_pattern_registry(registry: &str) -> Result<(), ImageRefError> {
    check_registry(registry)?;
    if registry.contains(['.', ':']) || registry.eq_ignore_ascii_case("localhost") {
        Ok(())
    } else {
        Err(ImageRefError::Registry { registry: quoted(registry) })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const HEX: &str = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";
    const OTHER: &str = "fedcba9876543210fedcba9876543210fedcba9876543210fedcba9876543210";

    fn pattern(text: &str) -> Pattern {
        Pattern::parse(&text.replace("HEX", HEX)).unwrap()
    }

    fn digest(hex: &str) -> Digest {
        Digest::parse(&format!("sha256:{hex}")).unwrap()
    }

    #[test]
    fn patterns_are_read_by_what_they_name() {
        assert_eq!(pattern("nginx").to_string(), "docker.io/library/nginx");
        assert!(matches!(pattern("nginx:1.25"), Pattern::Tag { resolved: None, .. }));
        assert!(matches!(pattern("nginx@sha256:HEX"), Pattern::Digest { .. }));
        assert_eq!(pattern("nginx:1.25@sha256:HEX"), pattern("nginx@sha256:HEX"));
        assert_eq!(pattern("sha256:HEX"), Pattern::AnyDigest { digest: digest(HEX) });
        assert_eq!(
            pattern("registry.evil.io/"),
            Pattern::Prefix { registry: "registry.evil.io".into(), path: None }
        );
        assert_eq!(pattern("ghcr.io/team/*").to_string(), "ghcr.io/team/");
        assert_eq!(pattern("index.docker.io/team/").to_string(), "docker.io/team/");
        assert_eq!(pattern("team/").to_string(), "docker.io/team/");
        assert_eq!(pattern("localhost:5000/").to_string(), "localhost:5000/");
    }

    #[test]
    fn bad_patterns_say_what_is_wrong() {
        let error = |text: &str| Pattern::parse(text).unwrap_err();
        assert_eq!(error("sha512:abc"), ImageRefError::DigestAlgorithm { algorithm: "sha512".into() });
        assert!(matches!(error("sha256:abc"), ImageRefError::DigestHex { .. }));
        assert!(matches!(error("ghcr.io/team:1/"), ImageRefError::PrefixWithTagOrDigest { .. }));
        assert!(matches!(error("ghcr.io/a@sha256:x/"), ImageRefError::PrefixWithTagOrDigest { .. }));
        assert_eq!(error("/"), ImageRefError::EmptyRepository);
        assert_eq!(error("Registry/app"), ImageRefError::Registry { registry: "Registry".into() });
        assert_eq!(error("ghcr.io/*/app"), ImageRefError::RepositoryComponent { component: "*".into() });
        assert_eq!(
            pattern("nginx").with_resolved_digest(digest(HEX)),
            Err(ImageRefError::ResolvedDigestWithoutTag)
        );
    }

    #[test]
    fn a_running_digest_is_found_whatever_the_spec_says() {
        let running = format!("docker-pullable://nginx@sha256:{HEX}");
        let blocked = pattern("nginx@sha256:HEX");
        assert_eq!(blocked.matches("nginx:1.25", Some(&running)), Match::RunningDigest);
        assert_eq!(blocked.matches("nginx:1.25", Some(&format!("sha256:{OTHER}"))), Match::NoMatch);
        assert_eq!(
            blocked.matches("mirror.io/nginx:1", Some(&format!("containerd://sha256:{HEX}"))),
            Match::NoMatch
        );
        assert_eq!(
            pattern("sha256:HEX").matches("mirror.io/x:1", Some(&format!("sha256:{HEX}"))),
            Match::RunningDigest
        );
        assert_eq!(pattern("sha256:HEX").matches("not an image", Some(&running)), Match::RunningDigest);
        assert_eq!(blocked.matches("nginx:", Some(&running)), Match::RunningDigest);
        assert_eq!(blocked.matches("nginx:", None), Match::Unparseable);
    }

    #[test]
    fn a_tag_also_catches_the_digest_it_resolved_to() {
        let blocked = pattern("nginx:1.25").with_resolved_digest(digest(OTHER)).unwrap();
        assert_eq!(blocked.matches("docker.io/library/nginx:1.25", None), Match::Tag);
        assert_eq!(blocked.matches(&format!("nginx@sha256:{OTHER}"), None), Match::ResolvedDigest);
        let running = format!("docker.io/library/nginx@sha256:{OTHER}");
        assert_eq!(blocked.matches("nginx:1.25-retagged", Some(&running)), Match::ResolvedDigest);
        assert_eq!(blocked.matches("other:1.25", Some(&format!("sha256:{OTHER}"))), Match::NoMatch);
        assert!(blocked.describe().contains(OTHER));
    }

    #[test]
    fn prefixes_stop_at_a_slash() {
        let team = pattern("ghcr.io/team/");
        assert_eq!(team.matches("ghcr.io/team/app:1", None), Match::Prefix);
        assert_eq!(team.matches("ghcr.io/teamx/app", None), Match::NoMatch);
        assert_eq!(team.matches("ghcr.io/team", None), Match::NoMatch);
        assert_eq!(pattern("ghcr.io/").matches("GHCR.IO/any/thing", None), Match::Prefix);
        assert_eq!(pattern("docker.io/library/").matches("nginx", None), Match::Prefix);
        assert_eq!(team.matches("", None), Match::Unparseable);
    }

    #[test]
    fn every_match_is_described() {
        for found in [
            Match::Repository,
            Match::Tag,
            Match::Digest,
            Match::RunningDigest,
            Match::ResolvedDigest,
            Match::Prefix,
        ] {
            assert!(found.is_match() && !found.describe().is_empty());
        }
        assert!(!Match::NoMatch.is_match() && !Match::Unparseable.is_match());
    }
}

//! Image references normalised as Docker and containerd read them (the distribution grammar),
//! so that every spelling of one image compares equal.

use std::fmt;

use crate::error::{ImageRefError, quoted};

/// The registry a reference without one is pulled from.
pub const DOCKER_HUB: &str = "docker.io";

/// Host names that reach Docker Hub: `index.docker.io` is Docker's legacy name for it and
/// `registry-1.docker.io` the host its API is served from, so a blocked image must be
/// recognised under all three.
pub const DOCKER_HUB_ALIASES: [&str; 3] = ["docker.io", "index.docker.io", "registry-1.docker.io"];

/// Docker refuses names (registry included) longer than this.
pub const NAME_MAX: usize = 255;

/// The longest tag the distribution grammar allows.
pub const TAG_MAX: usize = 128;

/// A `sha256` content digest: the one identity of an image that its publisher cannot move.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Digest {
    hex: String,
}

impl Digest {
    /// Reads `sha256:<64 lower-case hex>`. Other algorithms are refused: registries and
    /// runtimes name images by sha256, and a second spelling would be a way around a block.
    pub fn parse(text: &str) -> Result<Digest, ImageRefError> {
        let Some((algorithm, hex)) = text.split_once(':') else {
            return Err(ImageRefError::DigestHex { digest: quoted(text) });
        };
        if algorithm != "sha256" {
            return Err(ImageRefError::DigestAlgorithm { algorithm: quoted(algorithm) });
        }
        let lower_hex = |byte: u8| byte.is_ascii_digit() || (b'a'..=b'f').contains(&byte);
        if hex.len() != 64 || !hex.bytes().all(lower_hex) {
            return Err(ImageRefError::DigestHex { digest: quoted(text) });
        }
        Ok(Digest { hex: hex.to_owned() })
    }

    /// The 64 hex digits, without the algorithm.
    pub fn hex(&self) -> &str {
        &self.hex
    }
}

impl fmt::Display for Digest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "sha256:{}", self.hex)
    }
}

impl serde::Serialize for Digest {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

/// A container image reference, normalised: `nginx` is `docker.io/library/nginx` with the
/// implied tag `latest`.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct ImageRef {
    registry: String,
    repository: String,
    tag: Option<String>,
    digest: Option<Digest>,
}

impl ImageRef {
    /// Reads a reference as written in a pod spec. The first path component is a registry only
    /// when more follow and it holds a `.` or `:`, is `localhost`, or has upper-case letters
    /// (Docker's rule); Docker Hub's aliases become `docker.io`, and its one-component names
    /// gain `library/`.
    pub fn parse(text: &str) -> Result<ImageRef, ImageRefError> {
        if text.is_empty() {
            return Err(ImageRefError::Empty);
        }
        if let Some(offset) = text.find(|c: char| c.is_whitespace() || c.is_control()) {
            return Err(ImageRefError::Whitespace { offset });
        }
        let (named, digest) = match text.split_once('@') {
            Some((named, digest)) => (named, Some(Digest::parse(digest)?)),
            None => (text, None),
        };
        let last_slash = named.rfind('/');
        let (name, tag) = match named.rfind(':') {
            Some(colon) if last_slash.is_none_or(|slash| colon > slash) => {
                (&named[..colon], Some(&named[colon + 1..]))
            }
            _ => (named, None),
        };
        let (registry, repository) = split_name(name)?;
        if let Some(tag) = tag {
            check_tag(tag)?;
        }
        Ok(ImageRef { registry, repository, tag: tag.map(str::to_owned), digest })
    }

    /// The registry host (and port), e.g. `docker.io`, `ghcr.io`, `localhost:5000`.
    pub fn registry(&self) -> &str {
        &self.registry
    }

    /// The repository path within the registry, e.g. `library/nginx`.
    pub fn repository(&self) -> &str {
        &self.repository
    }

    /// `registry/repository`, e.g. `docker.io/library/nginx`.
    pub fn name(&self) -> String {
        format!("{}/{}", self.registry, self.repository)
    }

    /// The tag the runtime pulls: the written one, else `latest` when there is no digest.
    pub fn tag(&self) -> Option<&str> {
        match (&self.tag, &self.digest) {
            (Some(tag), _) => Some(tag),
            (None, None) => Some("latest"),
            (None, Some(_)) => None,
        }
    }

    /// Whether the tag was written, rather than implied.
    pub fn tag_is_explicit(&self) -> bool {
        self.tag.is_some()
    }

    /// The digest, when the reference pins one; the runtime pulls it whatever the tag says.
    pub fn digest(&self) -> Option<&Digest> {
        self.digest.as_ref()
    }
}

/// Canonical `registry/repository[:tag][@digest]`; an implied `latest` stays implied, so the
/// text reads back as the same reference.
impl fmt::Display for ImageRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.registry, self.repository)?;
        if let Some(tag) = &self.tag {
            write!(f, ":{tag}")?;
        }
        if let Some(digest) = &self.digest {
            write!(f, "@{digest}")?;
        }
        Ok(())
    }
}

/// What a pod's status says a container runs: the digest, and the repository when the runtime
/// names it.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct RunningImage {
    /// Normalised `registry/repository`, when the image id carries one.
    pub name: Option<String>,
    pub digest: Digest,
}

/// Reads a container status `imageID`: `docker-pullable://nginx@sha256:…`,
/// `docker.io/library/nginx@sha256:…`, `containerd://sha256:…` or a bare `sha256:…`. A bare
/// digest may be the image's config id rather than its manifest digest (Docker reports that);
/// it is returned as written. `None` when there is no digest (an empty id while pulling).
pub fn parse_image_id(image_id: &str) -> Option<RunningImage> {
    let id = image_id.split_once("://").map_or(image_id, |(_, id)| id);
    if let Ok(digest) = Digest::parse(id) {
        return Some(RunningImage { name: None, digest });
    }
    let reference = ImageRef::parse(id).ok()?;
    let digest = reference.digest()?.clone();
    Some(RunningImage { name: Some(reference.name()), digest })
}

/// Whether `name` (case-insensitive, as host names are) is one of Docker Hub's hosts.
pub fn is_docker_hub(registry: &str) -> bool {
    DOCKER_HUB_ALIASES.iter().any(|alias| alias.eq_ignore_ascii_case(registry))
}

/// Whether the first component of a name with more to follow is read as a registry.
pub(crate) fn names_a_registry(component: &str) -> bool {
    component.contains(['.', ':'])
        || component == "localhost"
        || component.bytes().any(|b| b.is_ascii_uppercase())
}

/// Splits a name (no tag, no digest) into its normalised registry and repository.
pub(crate) fn split_name(name: &str) -> Result<(String, String), ImageRefError> {
    let (registry, path) = match name.split_once('/') {
        Some((first, rest)) if names_a_registry(first) => {
            check_registry(first)?;
            (first, rest)
        }
        _ => (DOCKER_HUB, name),
    };
    check_repository(path)?;
    let (registry, repository) = if is_docker_hub(registry) {
        let repository = if path.contains('/') { path.to_owned() } else { format!("library/{path}") };
        (DOCKER_HUB.to_owned(), repository)
    } else {
        (registry.to_owned(), path.to_owned())
    };
    let length = registry.len() + 1 + repository.len();
    if length > NAME_MAX {
        return Err(ImageRefError::NameTooLong { length });
    }
    Ok((registry, repository))
}

/// A host name (dot-separated labels of letters, digits and inner dashes) with an optional
/// numeric port. Bracketed IPv6 addresses are refused.
pub(crate) fn check_registry(registry: &str) -> Result<(), ImageRefError> {
    let (host, port) = match registry.split_once(':') {
        Some((host, port)) => (host, Some(port)),
        None => (registry, None),
    };
    let label_ok = |label: &str| {
        let bytes = label.as_bytes();
        !bytes.is_empty()
            && bytes.iter().all(|b| b.is_ascii_alphanumeric() || *b == b'-')
            && bytes[0] != b'-'
            && bytes[bytes.len() - 1] != b'-'
    };
    let port_ok = port.is_none_or(|port| !port.is_empty() && port.bytes().all(|b| b.is_ascii_digit()));
    if host.split('.').all(label_ok) && port_ok {
        Ok(())
    } else {
        Err(ImageRefError::Registry { registry: quoted(registry) })
    }
}

/// Slash-separated path components of the distribution grammar.
pub(crate) fn check_repository(path: &str) -> Result<(), ImageRefError> {
    if path.is_empty() {
        return Err(ImageRefError::EmptyRepository);
    }
    for component in path.split('/') {
        if is_path_component(component) {
            continue;
        }
        if component.bytes().any(|b| b.is_ascii_uppercase())
            && is_path_component(&component.to_ascii_lowercase())
        {
            return Err(ImageRefError::UppercaseRepository { component: quoted(component) });
        }
        return Err(ImageRefError::RepositoryComponent { component: quoted(component) });
    }
    Ok(())
}

/// `[a-z0-9]+` runs joined by one `.`, one `_`, `__`, or any number of `-`.
fn is_path_component(component: &str) -> bool {
    let lower_alnum = |b: u8| b.is_ascii_lowercase() || b.is_ascii_digit();
    let bytes = component.as_bytes();
    let (Some(&first), Some(&last)) = (bytes.first(), bytes.last()) else { return false };
    lower_alnum(first)
        && lower_alnum(last)
        && component.split(|c: char| c.is_ascii_lowercase() || c.is_ascii_digit()).all(|separator| {
            matches!(separator, "" | "." | "_" | "__") || separator.bytes().all(|b| b == b'-')
        })
}

fn check_tag(tag: &str) -> Result<(), ImageRefError> {
    let word = |b: u8| b.is_ascii_alphanumeric() || b == b'_';
    let bytes = tag.as_bytes();
    let Some(&first) = bytes.first() else { return Err(ImageRefError::EmptyTag) };
    if bytes.len() <= TAG_MAX && word(first) && bytes.iter().all(|&b| word(b) || b == b'.' || b == b'-') {
        Ok(())
    } else {
        Err(ImageRefError::Tag { tag: quoted(tag) })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const HEX: &str = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";

    fn parsed(text: &str) -> String {
        ImageRef::parse(text).unwrap().to_string()
    }

    #[test]
    fn docker_hub_names_are_normalised() {
        assert_eq!(parsed("nginx"), "docker.io/library/nginx");
        assert_eq!(parsed("nginx:1.25"), "docker.io/library/nginx:1.25");
        assert_eq!(parsed("library/nginx"), "docker.io/library/nginx");
        assert_eq!(parsed("docker.io/nginx"), "docker.io/library/nginx");
        assert_eq!(parsed("index.docker.io/nginx:1"), "docker.io/library/nginx:1");
        assert_eq!(parsed("registry-1.docker.io/bitnami/redis"), "docker.io/bitnami/redis");
        assert_eq!(parsed("Docker.IO/nginx"), "docker.io/library/nginx");
        assert_eq!(parsed("team/app"), "docker.io/team/app");
    }

    #[test]
    fn the_first_component_is_a_registry_only_when_it_looks_like_one() {
        let reference = ImageRef::parse("localhost:5000/app:dev").unwrap();
        assert_eq!((reference.registry(), reference.repository()), ("localhost:5000", "app"));
        assert_eq!(ImageRef::parse("localhost/app").unwrap().registry(), "localhost");
        assert_eq!(ImageRef::parse("ghcr.io/team/app").unwrap().name(), "ghcr.io/team/app");
        assert_eq!(ImageRef::parse("Registry/app").unwrap().registry(), "Registry");
        assert_eq!(parsed("localhost:5000"), "docker.io/library/localhost:5000");
        assert_eq!(parsed("my.app"), "docker.io/library/my.app");
    }

    #[test]
    fn the_tag_is_latest_only_without_a_digest() {
        let plain = ImageRef::parse("nginx").unwrap();
        assert_eq!((plain.tag(), plain.tag_is_explicit()), (Some("latest"), false));
        let pinned = ImageRef::parse(&format!("nginx@sha256:{HEX}")).unwrap();
        assert_eq!((pinned.tag(), pinned.digest().map(Digest::hex)), (None, Some(HEX)));
        let both = ImageRef::parse(&format!("ghcr.io/a/b:v1@sha256:{HEX}")).unwrap();
        assert_eq!((both.tag(), both.tag_is_explicit()), (Some("v1"), true));
        assert_eq!(both.to_string(), format!("ghcr.io/a/b:v1@sha256:{HEX}"));
    }

    #[test]
    fn errors_name_the_wrong_part() {
        let error = |text: &str| ImageRef::parse(text).unwrap_err();
        assert_eq!(error(""), ImageRefError::Empty);
        assert_eq!(error("::"), ImageRefError::RepositoryComponent { component: ":".into() });
        assert_eq!(error("nginx:"), ImageRefError::EmptyTag);
        assert_eq!(error("nginx:-x"), ImageRefError::Tag { tag: "-x".into() });
        assert_eq!(error("nginx@md5:abc"), ImageRefError::DigestAlgorithm { algorithm: "md5".into() });
        assert!(matches!(error("nginx@sha256:ABC"), ImageRefError::DigestHex { .. }));
        assert!(matches!(
            error(&format!("nginx@sha256:{}", HEX.to_uppercase())),
            ImageRefError::DigestHex { .. }
        ));
        assert_eq!(error("team/App"), ImageRefError::UppercaseRepository { component: "App".into() });
        assert_eq!(error("Nginx"), ImageRefError::UppercaseRepository { component: "Nginx".into() });
        assert_eq!(error("ghcr.io/"), ImageRefError::EmptyRepository);
        assert_eq!(error("a//b"), ImageRefError::RepositoryComponent { component: "".into() });
        assert_eq!(error("bad_host.io/app"), ImageRefError::Registry { registry: "bad_host.io".into() });
        assert_eq!(error("host:port/app"), ImageRefError::Registry { registry: "host:port".into() });
        assert_eq!(error("nginx 1.25"), ImageRefError::Whitespace { offset: 5 });
        assert!(matches!(error(&format!("{}/a", "a".repeat(300))), ImageRefError::NameTooLong { .. }));
        assert!(error("nginx@md5:abc").to_string().contains("only sha256"));
        assert!(error("team/App").to_string().contains("lower case"));
    }

    #[test]
    fn separators_follow_the_distribution_grammar() {
        for good in ["a.b", "a_b", "a__b", "a---b", "a1-b2.c3"] {
            assert!(is_path_component(good), "{good}");
        }
        for bad in ["", "-a", "a-", "a..b", "a___b", "a._b", "a*b", ".a"] {
            assert!(!is_path_component(bad), "{bad}");
        }
    }

    #[test]
    fn image_ids_give_the_running_digest() {
        let named = |id: &str| parse_image_id(id).map(|running| (running.name, running.digest.to_string()));
        let digest = format!("sha256:{HEX}");
        let library = Some("docker.io/library/nginx".to_owned());
        assert_eq!(
            named(&format!("docker-pullable://nginx@{digest}")),
            Some((library.clone(), digest.clone()))
        );
        assert_eq!(named(&format!("docker.io/library/nginx@{digest}")), Some((library, digest.clone())));
        assert_eq!(named(&digest), Some((None, digest.clone())));
        assert_eq!(named(&format!("containerd://{digest}")), Some((None, digest)));
        assert_eq!(named(""), None);
        assert_eq!(named("nginx:1.25"), None);
        assert_eq!(named("docker://sha256:short"), None);
    }
}

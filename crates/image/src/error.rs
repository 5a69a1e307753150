/// Why a text is not an image reference (or pattern). Each message names the part that is wrong
/// and what a valid one looks like; parts quoted from the input are cut to [`QUOTED_MAX`] chars.
#[derive(Debug, Clone, thiserror::Error, PartialEq, Eq)]
pub enum ImageRefError {
    #[error("no image reference: the text is empty")]
    Empty,
    #[error(
        "the image reference holds whitespace or a control character at byte {offset}: give the \
         reference alone, e.g. nginx:1.25"
    )]
    Whitespace { offset: usize },
    #[error(
        "registry \"{registry}\" is not a host name with an optional port: expected e.g. \
         ghcr.io, registry.example.com:5000 or localhost"
    )]
    Registry { registry: String },
    #[error("no repository name: expected e.g. nginx, library/nginx or ghcr.io/team/app")]
    EmptyRepository,
    #[error(
        "repository component \"{component}\" has upper-case letters: repository names are lower \
         case, e.g. team/app"
    )]
    UppercaseRepository { component: String },
    #[error(
        "repository component \"{component}\" is not valid: expected lower-case letters and digits, \
         separated by one '.', one or two '_' or dashes, e.g. my-team/web_app"
    )]
    RepositoryComponent { component: String },
    #[error("the repository name is {length} characters long, at most 255 (registry included)")]
    NameTooLong { length: usize },
    #[error("empty tag after ':': give a tag, e.g. nginx:1.25, or none for latest")]
    EmptyTag,
    #[error(
        "tag \"{tag}\" is not valid: 1 to 128 of letters, digits, '_', '.' and '-', not starting \
         with '.' or '-', e.g. 1.25-alpine"
    )]
    Tag { tag: String },
    #[error(
        "digest algorithm \"{algorithm}\" is not supported: only sha256, e.g. \
         nginx@sha256:<64 lower-case hex digits>"
    )]
    DigestAlgorithm { algorithm: String },
    #[error(
        "digest \"{digest}\" is not sha256:<64 lower-case hex digits> (as in \
         nginx@sha256:0123…)"
    )]
    DigestHex { digest: String },
    #[error(
        "a prefix pattern such as \"{prefix}\" takes no tag or digest: give a registry or \
         repository path ending in '/' or '/*', e.g. ghcr.io/team/"
    )]
    PrefixWithTagOrDigest { prefix: String },
    #[error("only a tag pattern (e.g. nginx:1.25) carries the digest its tag resolved to")]
    ResolvedDigestWithoutTag,
}

/// How many characters of the input an error quotes: enough to recognise, never a whole file.
pub const QUOTED_MAX: usize = 80;

/// `text` cut to [`QUOTED_MAX`] characters, for quoting in an error.
pub(crate) fn quoted(text: &str) -> String {
    match text.char_indices().nth(QUOTED_MAX) {
        Some((end, _)) => format!("{}…", &text[..end]),
        None => text.to_owned(),
    }
}

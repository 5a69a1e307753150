//! Search filters: which events `kir audit search` (and `timeline`) keep.
//!
//! Values of one filter are alternatives (`--verb create --verb patch`); different filters
//! must all hold. Pure logic: the command line builds a [`Filter`], the scanner calls
//! [`Filter::matches`]. Time is filtered apart, by [`crate::window`], for every command alike.

use crate::{
    credential::CredentialId,
    event::Event,
    pattern::{Cidr, Glob},
};

#[derive(Debug, Clone, Default)]
pub struct Filter {
    /// Authenticated or impersonated user name; exact or glob.
    pub users: Vec<Glob>,
    pub groups: Vec<Glob>,
    pub ips: Vec<Cidr>,
    pub verbs: Vec<String>,
    /// `resource` or `resource/subresource`.
    pub resources: Vec<String>,
    pub subresources: Vec<String>,
    pub namespaces: Vec<Glob>,
    pub names: Vec<Glob>,
    pub codes: Vec<CodeMatch>,
    /// Case-insensitive substrings of the user agent.
    pub user_agents: Vec<String>,
    /// Compared exactly with `user.extra["authentication.kubernetes.io/credential-id"]`.
    pub credential_ids: Vec<CredentialId>,
}

/// `403`, or a class like `4xx`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CodeMatch {
    Exact(i64),
    Class(i64),
}

impl std::str::FromStr for CodeMatch {
    type Err = String;
    fn from_str(text: &str) -> Result<CodeMatch, String> {
        let bad = || format!("{text:?} is not an HTTP status: use a code like 403 or a class like 4xx");
        if let Some(class) = text.strip_suffix("xx").or_else(|| text.strip_suffix("XX")) {
            let class: i64 = class.parse().map_err(|_| bad())?;
            return if (1..=5).contains(&class) { Ok(CodeMatch::Class(class)) } else { Err(bad()) };
        }
        let code: i64 = text.parse().map_err(|_| bad())?;
        if (100..=599).contains(&code) { Ok(CodeMatch::Exact(code)) } else { Err(bad()) }
    }
}

impl CodeMatch {
    fn matches(self, code: i64) -> bool {
        match self {
            CodeMatch::Exact(c) => c == code,
            CodeMatch::Class(class) => code / 100 == class,
        }
    }
}

/// Characters some JSON writers escape (Go escapes `<>&`, others `/` or all non-ASCII): a
/// literal containing any of them may not appear verbatim in the line, so it cannot be used
/// to skip lines.
fn verbatim_in_json(text: &str) -> bool {
    !text.is_empty()
        && text
            .bytes()
            .all(|b| b.is_ascii_graphic() && !matches!(b, b'"' | b'\\' | b'<' | b'>' | b'&' | b'/' | b'\''))
}

impl Filter {
    pub fn is_empty(&self) -> bool {
        self.users.is_empty()
            && self.groups.is_empty()
            && self.ips.is_empty()
            && self.verbs.is_empty()
            && self.resources.is_empty()
            && self.subresources.is_empty()
            && self.namespaces.is_empty()
            && self.names.is_empty()
            && self.codes.is_empty()
            && self.user_agents.is_empty()
            && self.credential_ids.is_empty()
    }

    /// A byte string every matching line contains verbatim, if the filters imply one: the
    /// longest such literal among the filters that allow exactly one value.
    pub fn literal(&self) -> Option<String> {
        let mut candidates: Vec<String> = Vec::new();
        let single_glob = |globs: &[Glob]| match globs {
            [one] => Some(one.longest_literal().to_string()),
            _ => None,
        };
        candidates.extend(single_glob(&self.users));
        candidates.extend(single_glob(&self.groups));
        candidates.extend(single_glob(&self.namespaces));
        candidates.extend(single_glob(&self.names));
        if let [one] = self.ips.as_slice() {
            candidates.extend(one.text_prefix());
        }
        if let [one] = self.credential_ids.as_slice() {
            candidates.push(one.to_string());
        }
        if let [one] = self.resources.as_slice() {
            candidates.push(one.split('/').next().unwrap_or_default().to_string());
        }
        candidates.into_iter().filter(|c| c.len() >= 3 && verbatim_in_json(c)).max_by_key(|c| c.len())
    }

    pub fn matches(&self, event: &Event<'_>) -> bool {
        if !self.users.is_empty() {
            let effective = event.effective_user();
            let user = &event.user.username;
            if !self.users.iter().any(|g| g.matches(user) || g.matches(effective)) {
                return false;
            }
        }
        if !self.groups.is_empty() {
            let mut groups =
                event.user.groups.iter().chain(event.impersonated_user.iter().flat_map(|u| u.groups.iter()));
            if !groups.any(|g| self.groups.iter().any(|p| p.matches(g))) {
                return false;
            }
        }
        if !self.ips.is_empty()
            && !event.source_ips.iter().any(|ip| self.ips.iter().any(|c| c.contains_text(ip)))
        {
            return false;
        }
        if !self.verbs.is_empty() && !self.verbs.iter().any(|v| v.eq_ignore_ascii_case(&event.verb)) {
            return false;
        }
        if !self.resources.is_empty() && !self.resources.iter().any(|r| resource_matches(r, event)) {
            return false;
        }
        if !self.subresources.is_empty() && !self.subresources.iter().any(|s| s == event.subresource()) {
            return false;
        }
        if !self.namespaces.is_empty() && !self.namespaces.iter().any(|n| n.matches(event.namespace())) {
            return false;
        }
        if !self.names.is_empty() && !self.names.iter().any(|n| n.matches(event.name())) {
            return false;
        }
        if !self.codes.is_empty()
            && !event.code().is_some_and(|code| self.codes.iter().any(|c| c.matches(code)))
        {
            return false;
        }
        if !self.user_agents.is_empty() {
            let agent = event.user_agent.to_lowercase();
            if !self.user_agents.iter().any(|a| agent.contains(&a.to_lowercase())) {
                return false;
            }
        }
        if !self.credential_ids.is_empty()
            && !event.credential_ids().any(|id| self.credential_ids.iter().any(|c| c.as_str() == id))
        {
            return false;
        }
        true
    }
}

fn resource_matches(wanted: &str, event: &Event<'_>) -> bool {
    match wanted.split_once('/') {
        Some((resource, sub)) => resource == event.resource() && sub == event.subresource(),
        None => wanted == event.resource(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn event(json: &str) -> Event<'_> {
        serde_json::from_str(json).unwrap()
    }

    const EXEC: &str = r#"{"auditID":"1","verb":"create","user":{"username":"alice","groups":["dev"],"extra":{"authentication.kubernetes.io/credential-id":["JTI=abc"]}},"impersonatedUser":{"username":"system:serviceaccount:ns:sa"},"sourceIPs":["10.1.2.3"],"userAgent":"kubectl/v1.33","objectRef":{"resource":"pods","subresource":"exec","namespace":"prod","name":"web-1"},"responseStatus":{"code":101},"stageTimestamp":"2026-11-27T10:00:00Z"}"#;

    #[test]
    fn every_filter_narrows_and_they_combine() {
        let e = event(EXEC);
        let mut f = Filter::default();
        assert!(f.matches(&e));
        type Set = Box<dyn Fn(&mut Filter)>;
        let checks: Vec<(&str, Set, bool)> = vec![
            ("user exact", Box::new(|f| f.users = vec![Glob::new("alice")]), true),
            ("impersonated", Box::new(|f| f.users = vec![Glob::new("system:serviceaccount:*")]), true),
            ("user other", Box::new(|f| f.users = vec![Glob::new("bob")]), false),
            ("group", Box::new(|f| f.groups = vec![Glob::new("dev")]), true),
            ("ip cidr", Box::new(|f| f.ips = vec!["10.1.0.0/16".parse().unwrap()]), true),
            ("ip other", Box::new(|f| f.ips = vec!["10.2.0.0/16".parse().unwrap()]), false),
            ("verb", Box::new(|f| f.verbs = vec!["get".into(), "create".into()]), true),
            ("resource/sub", Box::new(|f| f.resources = vec!["pods/exec".into()]), true),
            ("resource", Box::new(|f| f.resources = vec!["secrets".into()]), false),
            ("subresource", Box::new(|f| f.subresources = vec!["exec".into()]), true),
            ("namespace", Box::new(|f| f.namespaces = vec![Glob::new("pro*")]), true),
            ("name", Box::new(|f| f.names = vec![Glob::new("web-2")]), false),
            ("code class", Box::new(|f| f.codes = vec!["1xx".parse().unwrap()]), true),
            ("code", Box::new(|f| f.codes = vec!["403".parse().unwrap()]), false),
            ("agent", Box::new(|f| f.user_agents = vec!["KUBECTL".into()]), true),
            ("credential", Box::new(|f| f.credential_ids = vec!["JTI=abc".parse().unwrap()]), true),
        ];
        for (what, set, expected) in checks {
            let mut one = Filter::default();
            set(&mut one);
            assert_eq!(one.matches(&e), expected, "{what}");
            set(&mut f);
        }
        assert!(!f.matches(&e), "all together include the failing ones");
    }

    #[test]
    fn literals_come_only_from_single_verbatim_values() {
        let f = Filter { users: vec![Glob::new("system:serviceaccount:prod:*")], ..Filter::default() };
        assert_eq!(f.literal().as_deref(), Some("system:serviceaccount:prod:"));
        let f = Filter { users: vec![Glob::new("a&b")], ..Filter::default() };
        assert_eq!(f.literal(), None, "Go escapes & in JSON");
        let f = Filter { users: vec![Glob::new("alice"), Glob::new("bob")], ..Filter::default() };
        assert_eq!(f.literal(), None);
        let f = Filter { ips: vec!["10.1.0.0/16".parse().unwrap()], ..Filter::default() };
        assert_eq!(f.literal().as_deref(), Some("10.1."));
    }

    #[test]
    fn credential_ids_match_exactly_and_skip_lines_without_them() {
        const JTI: &str = "JTI=5c1b6d4e-8a51-4b0e-9d3a-2f0e5c7b9a11";
        let line = |extra: &str| {
            format!(
                r#"{{"auditID":"1","verb":"get","user":{{"username":"system:serviceaccount:ci:deployer","extra":{{"authentication.kubernetes.io/credential-id":{extra}}}}}}}"#
            )
        };
        let one = Filter { credential_ids: vec![JTI.parse().unwrap()], ..Filter::default() };
        assert_eq!(one.literal().as_deref(), Some(JTI), "the scanner looks for the id before decoding");
        assert!(one.matches(&event(&line(&format!(r#"["{JTI}"]"#)))));
        assert!(one.matches(&event(&line(&format!(r#""{JTI}""#)))), "a lone string, not a list");
        for other in [
            format!(r#"["{JTI}0"]"#),
            format!(r#"["{}"]"#, &JTI[..JTI.len() - 1]),
            format!(r#"["{}"]"#, JTI.to_uppercase()),
            format!(r#"[{{"id":"{JTI}"}}]"#),
            "[]".to_string(),
            format!(r#"["{JTI}{}"]"#, "0".repeat(1 << 20)),
        ] {
            assert!(!one.matches(&event(&line(&other))), "{}", &other[..other.len().min(80)]);
        }
        // The token's issue names the id in an annotation; its use is what the filter finds.
        let issued = format!(
            r#"{{"auditID":"2","verb":"create","user":{{"username":"admin"}},"annotations":{{"authentication.kubernetes.io/issued-credential-id":"{JTI}"}}}}"#
        );
        assert!(!one.matches(&event(&issued)));
        let two = Filter {
            credential_ids: [JTI.to_string(), format!("X509SHA256={}", "ab".repeat(32))]
                .iter()
                .map(|id| id.parse().unwrap())
                .collect(),
            ..Filter::default()
        };
        assert_eq!(two.literal(), None, "alternatives imply no single string");
        assert!(two.matches(&event(&line(&format!(r#"["{JTI}"]"#)))));
    }

    #[test]
    fn codes_parse_exact_or_by_class() {
        assert_eq!("403".parse(), Ok(CodeMatch::Exact(403)));
        assert_eq!("5xx".parse(), Ok(CodeMatch::Class(5)));
        assert!("9xx".parse::<CodeMatch>().is_err());
        assert!("abc".parse::<CodeMatch>().unwrap_err().contains("4xx"));
    }
}

//! The admission objects `kir image block` applies: a ValidatingAdmissionPolicy and its binding
//! (built in since Kubernetes 1.30), or the same rule for Kyverno or Gatekeeper where those run.
//!
//! All of them deny a blocked image only when an object brings it in: an update that keeps the
//! images the object already had is let through, so kir can still label and quarantine a pod
//! that runs the image, and scale its Deployment to zero.
//!
//! They share one regular expression ([`image_regex`]) in the syntax common to RE2 (CEL, Go's
//! regexp in Kyverno and Gatekeeper) and Rust's `regex`, without backslashes or quotes, so that
//! it goes unchanged into CEL, JMESPath and YAML strings.

use serde_json::{Value, json};
use sha2::{Digest as _, Sha256};

use crate::Pattern;
use crate::reference::{DOCKER_HUB, DOCKER_HUB_ALIASES, names_a_registry};

/// Label naming the tool that owns an object.
pub const MANAGED_BY_LABEL: &str = "app.kubernetes.io/managed-by";
/// Label naming the kir case an object was made for.
pub const CASE_LABEL: &str = "kir.dev/case";
/// Annotation holding the pattern's canonical text.
pub const PATTERN_ANNOTATION: &str = "kir.dev/image-pattern";

/// The Gatekeeper constraint kind of [`gatekeeper_constraint_template`].
pub const GATEKEEPER_KIND: &str = "KirBlockedImage";

/// One path component of the distribution grammar.
const COMPONENT: &str = "[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*";
/// A path component without a dot: a first component that Docker does not take for a registry
/// (unless it is `localhost`).
const DOTLESS_COMPONENT: &str = "[a-z0-9]+(?:(?:_|__|-+)[a-z0-9]+)*";
const ANY_TAG: &str = "[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}";
const ANY_DIGEST: &str = "sha256:[a-f0-9]{64}";
const HOST_LABEL: &str = "[a-zA-Z0-9](?:[a-zA-Z0-9-]*[a-zA-Z0-9])?";

/// The one regular expression, anchored, that matches every spelling of a blocked reference as
/// a pod spec may write it: with or without a Docker Hub host (any of its aliases, in any
/// case) and `library/`, an implied `latest`, any tag beside a digest. It matches exactly the
/// references [`Pattern::matches`] selects from the spec alone, except that it does not count
/// characters: names over 255 characters, which no runtime pulls, match too.
pub fn image_regex(pattern: &Pattern) -> String {
    let any_tag_or_digest = format!("(?::{ANY_TAG})?(?:@{ANY_DIGEST})?");
    let body = match pattern {
        Pattern::Repository { registry, repository } => {
            format!("{}{any_tag_or_digest}", name_regex(registry, repository))
        }
        Pattern::Tag { registry, repository, tag, resolved } => {
            let name = name_regex(registry, repository);
            let tagged = if tag == "latest" {
                format!("{name}(?::latest(?:@{ANY_DIGEST})?)?")
            } else {
                format!("{name}:{}(?:@{ANY_DIGEST})?", literal(tag))
            };
            match resolved {
                Some(digest) => format!("(?:{tagged}|{name}(?::{ANY_TAG})?@{digest})"),
                None => tagged,
            }
        }
        Pattern::Digest { registry, repository, digest } => {
            format!("{}(?::{ANY_TAG})?@{digest}", name_regex(registry, repository))
        }
        Pattern::AnyDigest { digest } => format!("(?:{})(?::{ANY_TAG})?@{digest}", any_name_regex()),
        Pattern::Prefix { registry, path } => {
            format!("(?:{}){any_tag_or_digest}", prefix_regex(registry, path.as_deref()))
        }
    };
    format!("^{body}$")
}

/// `kir-block-image-` and 12 hex digits of the SHA-256 of the pattern's canonical text: the
/// same pattern always gives the same name, so blocking twice updates one object.
pub fn policy_name(pattern: &Pattern) -> String {
    let hash = Sha256::digest(pattern.to_string().as_bytes());
    let hex: String = hash.iter().take(6).map(|byte| format!("{byte:02x}")).collect();
    format!("kir-block-image-{hex}")
}

/// A ValidatingAdmissionPolicy denying pods and pod templates (in every workload kind, and
/// ephemeral containers) that bring in a blocked image.
pub fn validating_admission_policy(pattern: &Pattern, case_id: &str) -> Value {
    let regex = image_regex(pattern);
    let expression = format!(
        "!variables.images.exists(image, image.matches('{regex}') && !(image in variables.oldImages))"
    );
    pod_admission_policy(
        metadata(pattern, case_id),
        json!({
            "expression": expression,
            "message": denial_message(pattern, case_id),
            "reason": "Forbidden",
        }),
    )
}

/// A ValidatingAdmissionPolicy with one `validation` over the images of pods and pod templates
/// (every workload kind, and ephemeral containers): `variables.images` are the images the
/// object brings, `variables.oldImages` those it had before the update.
fn pod_admission_policy(metadata: Value, validation: Value) -> Value {
    json!({
        "apiVersion": "admissionregistration.k8s.io/v1",
        "kind": "ValidatingAdmissionPolicy",
        "metadata": metadata,
        "spec": {
            "failurePolicy": "Fail",
            "matchConstraints": {
                "resourceRules": [
                    {
                        "apiGroups": [""],
                        "apiVersions": ["v1"],
                        "operations": ["CREATE", "UPDATE"],
                        "resources": ["pods", "replicationcontrollers"],
                    },
                    {
                        "apiGroups": [""],
                        "apiVersions": ["v1"],
                        "operations": ["UPDATE"],
                        "resources": ["pods/ephemeralcontainers"],
                    },
                    {
                        "apiGroups": ["apps"],
                        "apiVersions": ["v1"],
                        "operations": ["CREATE", "UPDATE"],
                        "resources": ["deployments", "replicasets", "statefulsets", "daemonsets"],
                    },
                    {
                        "apiGroups": ["batch"],
                        "apiVersions": ["v1"],
                        "operations": ["CREATE", "UPDATE"],
                        "resources": ["jobs", "cronjobs"],
                    },
                ],
            },
            "variables": [
                { "name": "podSpecs", "expression": pod_specs_cel("object") },
                {
                    "name": "oldPodSpecs",
                    "expression": format!("oldObject == null ? [] : {}", pod_specs_cel("oldObject")),
                },
                { "name": "images", "expression": images_cel("variables.podSpecs") },
                { "name": "oldImages", "expression": images_cel("variables.oldPodSpecs") },
            ],
            "validations": [validation],
        },
    })
}

/// The binding that makes [`validating_admission_policy`] deny, in every namespace.
pub fn validating_admission_policy_binding(pattern: &Pattern, case_id: &str) -> Value {
    json!({
        "apiVersion": "admissionregistration.k8s.io/v1",
        "kind": "ValidatingAdmissionPolicyBinding",
        "metadata": metadata(pattern, case_id),
        "spec": {
            "policyName": policy_name(pattern),
            "validationActions": ["Deny"],
        },
    })
}

/// The same rule as a Kyverno ClusterPolicy. It names every workload kind itself, with
/// auto-generation off: one rule whose JMESPath finds the pod spec in any of them (Kyverno's
/// rewriting of `request.object.spec` would break that path) and that also covers
/// ReplicationControllers, which auto-generation leaves out.
pub fn kyverno_cluster_policy(pattern: &Pattern, case_id: &str) -> Value {
    let regex = image_regex(pattern);
    let mut metadata = metadata(pattern, case_id);
    metadata["annotations"]["pod-policies.kyverno.io/autogen-controllers"] = json!("none");
    let pod_spec = |object: &str| {
        format!(
            "request.{object}.spec.jobTemplate.spec.template.spec || request.{object}.spec.template.spec \
             || request.{object}.spec"
        )
    };
    let blocked = |spec: &str| {
        format!(
            "[{spec}.containers[].image, {spec}.initContainers[].image, {spec}.ephemeralContainers[].image][] \
             | [?regex_match('{regex}', @)]"
        )
    };
    json!({
        "apiVersion": "kyverno.io/v1",
        "kind": "ClusterPolicy",
        "metadata": metadata,
        "spec": {
            "validationFailureAction": "Enforce",
            "failurePolicy": "Fail",
            "background": false,
            "rules": [{
                "name": "block-image",
                "match": {
                    "any": [{
                        "resources": {
                            "kinds": [
                                "Pod",
                                "Pod/ephemeralcontainers",
                                "ReplicationController",
                                "Deployment",
                                "ReplicaSet",
                                "StatefulSet",
                                "DaemonSet",
                                "Job",
                                "CronJob",
                            ],
                            "operations": ["CREATE", "UPDATE"],
                        },
                    }],
                },
                "context": [
                    { "name": "newPodSpec", "variable": { "jmesPath": pod_spec("object"), "default": {} } },
                    { "name": "oldPodSpec", "variable": { "jmesPath": pod_spec("oldObject"), "default": {} } },
                    { "name": "newBlocked", "variable": { "jmesPath": blocked("newPodSpec"), "default": [] } },
                    { "name": "oldBlocked", "variable": { "jmesPath": blocked("oldPodSpec"), "default": [] } },
                ],
                "validate": {
                    "message": denial_message(pattern, case_id),
                    "deny": {
                        "conditions": {
                            "all": [
                                { "key": "{{ length(newBlocked) }}", "operator": "GreaterThan", "value": 0 },
                                { "key": "{{ newBlocked }}", "operator": "AnyNotIn", "value": "{{ oldBlocked }}" },
                            ],
                        },
                    },
                },
            }],
        },
    })
}

/// The Gatekeeper ConstraintTemplate behind every [`gatekeeper_constraint`]: one template for
/// all patterns, each constraint passing its regular expressions as parameters. Gatekeeper's
/// audit has no old object, so it reports every existing object that has a blocked image.
pub fn gatekeeper_constraint_template() -> Value {
    json!({
        "apiVersion": "templates.gatekeeper.sh/v1",
        "kind": "ConstraintTemplate",
        "metadata": {
            "name": GATEKEEPER_KIND.to_ascii_lowercase(),
            "labels": { MANAGED_BY_LABEL: "kir" },
        },
        "spec": {
            "crd": {
                "spec": {
                    "names": { "kind": GATEKEEPER_KIND },
                    "validation": {
                        "openAPIV3Schema": {
                            "type": "object",
                            "properties": {
                                "regexes": { "type": "array", "items": { "type": "string" } },
                                "caseId": { "type": "string" },
                                "pattern": { "type": "string" },
                            },
                        },
                    },
                },
            },
            "targets": [{ "target": "admission.k8s.gatekeeper.sh", "rego": GATEKEEPER_REGO }],
        },
    })
}

/// The rule in Rego: the pod spec of a Pod, a CronJob or any other workload's template; a
/// violation for each blocked image the old object (absent on create) did not have.
const GATEKEEPER_REGO: &str = r#"package kirblockedimage

pod_spec(obj) = spec {
  obj.kind == "Pod"
  spec := obj.spec
}

pod_spec(obj) = spec {
  obj.kind == "CronJob"
  spec := obj.spec.jobTemplate.spec.template.spec
}

pod_spec(obj) = spec {
  not obj.kind == "Pod"
  not obj.kind == "CronJob"
  spec := obj.spec.template.spec
}

images(obj) = {image |
  spec := pod_spec(obj)
  field := {"containers", "initContainers", "ephemeralContainers"}[_]
  image := spec[field][_].image
}

blocked(image) {
  regex.match(input.parameters.regexes[_], image)
}

old_images := images(object.get(input.review, "oldObject", null))

violation[{"msg": msg}] {
  image := images(input.review.object)[_]
  blocked(image)
  not old_images[image]
  msg := sprintf("image %v is blocked by kir case %v (%v)", [image, input.parameters.caseId, input.parameters.pattern])
}
"#;

/// A Gatekeeper constraint of kind [`GATEKEEPER_KIND`] for one pattern.
pub fn gatekeeper_constraint(pattern: &Pattern, case_id: &str) -> Value {
    json!({
        "apiVersion": "constraints.gatekeeper.sh/v1beta1",
        "kind": GATEKEEPER_KIND,
        "metadata": metadata(pattern, case_id),
        "spec": {
            "enforcementAction": "deny",
            "match": {
                "kinds": [
                    { "apiGroups": [""], "kinds": ["Pod", "ReplicationController"] },
                    { "apiGroups": ["apps"], "kinds": ["Deployment", "ReplicaSet", "StatefulSet", "DaemonSet"] },
                    { "apiGroups": ["batch"], "kinds": ["Job", "CronJob"] },
                ],
            },
            "parameters": {
                "regexes": [image_regex(pattern)],
                "caseId": case_id,
                "pattern": pattern.to_string(),
            },
        },
    })
}

/// A ValidatingAdmissionPolicy that admits pods and pod templates only with images from
/// `allowed` (registry or path prefixes, see [`Pattern::Prefix`]): the preventive twin of
/// [`validating_admission_policy`]. Like it, an update that keeps the images an object already
/// had is let through. Named `name`, labelled with `case_id`; other patterns than prefixes are
/// allowed by their own regular expression too.
pub fn allowed_images_policy(allowed: &[Pattern], name: &str, case_id: &str) -> Value {
    let alternatives: Vec<String> =
        allowed.iter().map(|pattern| format!("image.matches('{}')", image_regex(pattern))).collect();
    let allowed_expression =
        if alternatives.is_empty() { "false".to_string() } else { alternatives.join(" || ") };
    let described: Vec<String> = allowed.iter().map(Pattern::to_string).collect();
    pod_admission_policy(
        json!({ "name": name, "labels": { MANAGED_BY_LABEL: "kir", CASE_LABEL: case_id } }),
        json!({
            "expression": format!("variables.images.all(image, {allowed_expression} || image in variables.oldImages)"),
            "message": format!(
                "kir case {case_id} allows images only from {}; objects that already run another image may be \
                 updated but not given a new one",
                described.join(", ")
            ),
            "reason": "Forbidden",
        }),
    )
}

/// The binding that makes the policy `name` deny, in every namespace.
pub fn policy_binding(name: &str, case_id: &str) -> Value {
    json!({
        "apiVersion": "admissionregistration.k8s.io/v1",
        "kind": "ValidatingAdmissionPolicyBinding",
        "metadata": { "name": name, "labels": { MANAGED_BY_LABEL: "kir", CASE_LABEL: case_id } },
        "spec": { "policyName": name, "validationActions": ["Deny"] },
    })
}

fn metadata(pattern: &Pattern, case_id: &str) -> Value {
    json!({
        "name": policy_name(pattern),
        "labels": { MANAGED_BY_LABEL: "kir", CASE_LABEL: case_id },
        "annotations": { PATTERN_ANNOTATION: pattern.to_string() },
    })
}

fn denial_message(pattern: &Pattern, case_id: &str) -> String {
    format!(
        "image blocked by kir case {case_id}: {}; objects that already run it may be updated but not \
         given it anew",
        pattern.describe()
    )
}

/// A CEL list holding the pod spec of `object` (a Pod, a CronJob's job template, any other
/// workload's template), or nothing when the object has none.
fn pod_specs_cel(object: &str) -> String {
    let o = object;
    format!(
        "{o}.kind == 'CronJob' ? (has({o}.spec) && has({o}.spec.jobTemplate) && has({o}.spec.jobTemplate.spec) \
         && has({o}.spec.jobTemplate.spec.template) && has({o}.spec.jobTemplate.spec.template.spec) \
         ? [{o}.spec.jobTemplate.spec.template.spec] : []) \
         : {o}.kind == 'Pod' ? (has({o}.spec) ? [{o}.spec] : []) \
         : (has({o}.spec) && has({o}.spec.template) && has({o}.spec.template.spec) ? [{o}.spec.template.spec] : [])"
    )
}

/// A CEL list of the images of every container, init container and ephemeral container in the
/// pod spec list `specs` (empty or one spec).
fn images_cel(specs: &str) -> String {
    let field = |field: &str| {
        format!("(has({specs}[0].{field}) ? {specs}[0].{field}.map(c, has(c.image) ? c.image : '') : [])")
    };
    format!(
        "{specs}.size() == 0 ? [] : {} + {} + {}",
        field("containers"),
        field("initContainers"),
        field("ephemeralContainers")
    )
}

/// A name in the regex: validated references hold only `[A-Za-z0-9._/:@-]`, of which only `.` is
/// special; it is written `[.]` rather than with a backslash.
fn literal(text: &str) -> String {
    text.replace('.', "[.]")
}

/// A registry host in any case, as host names are. Each letter is a class of its two cases
/// rather than `(?i)`, which also folds the Kelvin sign into `k` and the long s into `s`.
fn host_regex(registry: &str) -> String {
    registry
        .chars()
        .map(|c| match c {
            '.' => "[.]".to_owned(),
            c if c.is_ascii_alphabetic() => format!("[{}{}]", c.to_ascii_lowercase(), c.to_ascii_uppercase()),
            c => c.to_string(),
        })
        .collect()
}

fn docker_hub_regex() -> String {
    let hosts: Vec<String> = DOCKER_HUB_ALIASES.iter().map(|alias| host_regex(alias)).collect();
    format!("(?:{})", hosts.join("|"))
}

fn any_path_regex() -> String {
    format!("{COMPONENT}(?:/{COMPONENT})*")
}

/// Every spelling of one repository's name (no top-level alternation).
fn name_regex(registry: &str, repository: &str) -> String {
    if registry != DOCKER_HUB {
        return format!("{}/{}", host_regex(registry), literal(repository));
    }
    let hub = docker_hub_regex();
    if let Some(official) = repository.strip_prefix("library/").filter(|name| !name.contains('/')) {
        return format!("(?:{hub}/)?(?:library/)?{}", literal(official));
    }
    let first = repository.split('/').next().unwrap_or(repository);
    if names_a_registry(first) {
        format!("{hub}/{}", literal(repository))
    } else {
        format!("(?:{hub}/)?{}", literal(repository))
    }
}

/// Every name under a registry, or under a path in it.
fn prefix_regex(registry: &str, path: Option<&str>) -> String {
    let rest = any_path_regex();
    if registry != DOCKER_HUB {
        let path = path.map(|path| format!("{}/", literal(path))).unwrap_or_default();
        return format!("{}/{path}{rest}", host_regex(registry));
    }
    let hub = docker_hub_regex();
    match path {
        None => format!("{hub}/{rest}|{COMPONENT}|{}/{rest}", docker_hub_first_component()),
        Some("library") => format!("(?:{hub}/)?(?:library/{rest}|{COMPONENT})"),
        Some(path) if names_a_registry(path.split('/').next().unwrap_or(path)) => {
            format!("{hub}/{}/{rest}", literal(path))
        }
        Some(path) => format!("(?:{hub}/)?{}/{rest}", literal(path)),
    }
}

/// A first component that Docker keeps on Docker Hub when more follow: no dot, and not
/// `localhost`. Without lookaround, "not localhost" is spelled out: a component with a
/// separator, a run of letters and digits of another length, or one of nine that differs from
/// `localhost` at some place.
fn docker_hub_first_component() -> String {
    const LOCALHOST: &str = "localhost";
    let mut alternatives = vec![
        "[a-z0-9]+(?:(?:_|__|-+)[a-z0-9]+)+".to_owned(),
        format!("[a-z0-9]{{1,{}}}", LOCALHOST.len() - 1),
        format!("[a-z0-9]{{{},}}", LOCALHOST.len() + 1),
    ];
    for (index, letter) in LOCALHOST.char_indices() {
        let others: String = ('a'..='z').chain('0'..='9').filter(|c| *c != letter).collect();
        let remaining = LOCALHOST.len() - index - 1;
        let tail = if remaining == 0 { String::new() } else { format!("[a-z0-9]{{{remaining}}}") };
        alternatives.push(format!("{}[{others}]{tail}", &LOCALHOST[..index]));
    }
    format!("(?:{})", alternatives.join("|"))
}

/// Every name that parses, on any registry.
fn any_name_regex() -> String {
    let path = any_path_regex();
    let host = format!("{HOST_LABEL}(?:[.]{HOST_LABEL})*(?::[0-9]+)?");
    format!("{host}/{path}|{DOTLESS_COMPONENT}/{path}|{COMPONENT}")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Digest;

    const HEX: &str = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";
    const OTHER: &str = "fedcba9876543210fedcba9876543210fedcba9876543210fedcba9876543210";

    fn regex(pattern: &str) -> regex::Regex {
        regex::Regex::new(&image_regex(&Pattern::parse(pattern).unwrap())).unwrap()
    }

    /// Each case: pattern, then (spec image, whether it is blocked).
    fn cases() -> Vec<(Pattern, Vec<(String, bool)>)> {
        let resolved = Pattern::parse("nginx:1.25")
            .unwrap()
            .with_resolved_digest(Digest::parse(&format!("sha256:{OTHER}")).unwrap())
            .unwrap();
        let table: Vec<(Pattern, Vec<(&str, bool)>)> = vec![
            (
                Pattern::parse("nginx:1.25").unwrap(),
                vec![
                    ("nginx:1.25", true),
                    ("docker.io/nginx:1.25", true),
                    ("index.docker.io/library/nginx:1.25", true),
                    ("REGISTRY-1.docker.io/nginx:1.25", true),
                    ("library/nginx:1.25", true),
                    ("nginx:1.25@sha256:HEX", true),
                    ("nginx:1.24", false),
                    ("nginx", false),
                    ("nginx:1.25.1", false),
                    ("nginx:1x25", false),
                    ("evil.io/nginx:1.25", false),
                    ("nginx/nginx:1.25", false),
                    ("docker.io/library/nginx:1.25 ", false),
                ],
            ),
            (
                resolved,
                vec![
                    ("nginx:1.25", true),
                    ("nginx@sha256:OTHER", true),
                    ("nginx:1.0@sha256:OTHER", true),
                    ("nginx@sha256:HEX", false),
                    ("other@sha256:OTHER", false),
                ],
            ),
            (
                Pattern::parse("nginx:latest").unwrap(),
                vec![
                    ("nginx", true),
                    ("nginx:latest", true),
                    ("nginx:latest@sha256:HEX", true),
                    ("nginx@sha256:HEX", false),
                    ("nginx:1", false),
                ],
            ),
            (
                Pattern::parse("nginx").unwrap(),
                vec![
                    ("nginx", true),
                    ("nginx:1", true),
                    ("docker.io/library/nginx@sha256:HEX", true),
                    ("nginx-x", false),
                    ("nginx@sha256:abc", false),
                ],
            ),
            (
                Pattern::parse("nginx@sha256:HEX".replace("HEX", HEX).as_str()).unwrap(),
                vec![
                    ("nginx@sha256:HEX", true),
                    ("nginx:1.25@sha256:HEX", true),
                    ("nginx:1.25", false),
                    ("nginx@sha256:OTHER", false),
                    ("mirror.io/nginx@sha256:HEX", false),
                ],
            ),
            (
                Pattern::parse(&format!("sha256:{HEX}")).unwrap(),
                vec![
                    ("anything.io/x/y:z@sha256:HEX", true),
                    ("nginx@sha256:HEX", true),
                    ("localhost/a@sha256:HEX", true),
                    ("a_b.c/d@sha256:HEX", false),
                    ("nginx:1.25", false),
                ],
            ),
            (
                Pattern::parse("ghcr.io/team/").unwrap(),
                vec![
                    ("ghcr.io/team/app", true),
                    ("GHCR.io/team/a/b:1", true),
                    ("ghcr.io/teamx/app", false),
                    ("ghcr.io/team", false),
                    ("team/app", false),
                ],
            ),
            (
                Pattern::parse("registry.evil.io/*").unwrap(),
                vec![
                    ("registry.evil.io/x", true),
                    ("registry.evil.io/a/b@sha256:HEX", true),
                    ("registry.evil.io.example/x", false),
                ],
            ),
            (
                Pattern::parse("docker.io/").unwrap(),
                vec![
                    ("nginx", true),
                    ("team/app", true),
                    ("localhostx/app", true),
                    ("localhost/app", false),
                    ("ghcr.io/app", false),
                    ("docker.io/my.org/app", true),
                ],
            ),
            (
                Pattern::parse("docker.io/my.org/app").unwrap(),
                vec![("docker.io/my.org/app", true), ("my.org/app", false)],
            ),
        ];
        let expand = |image: &str| image.replace("OTHER", OTHER).replace("HEX", HEX);
        table
            .into_iter()
            .map(|(pattern, images)| {
                (pattern, images.into_iter().map(|(image, blocked)| (expand(image), blocked)).collect())
            })
            .collect()
    }

    #[test]
    fn regex_and_matches_agree_on_every_spelling() {
        for (pattern, images) in cases() {
            let compiled = regex::Regex::new(&image_regex(&pattern)).unwrap();
            for (image, blocked) in images {
                assert_eq!(pattern.matches(&image, None).is_match(), blocked, "{pattern} matches {image:?}");
                assert_eq!(compiled.is_match(&image), blocked, "{pattern} regex on {image:?}");
            }
        }
    }

    #[test]
    fn regexes_need_no_escaping_in_cel_jmespath_or_yaml() {
        for (pattern, _) in cases() {
            let regex = image_regex(&pattern);
            assert!(!regex.contains(['\\', '\'', '"']), "{regex}");
            assert!(!regex.contains("{{") && !regex.contains("}}"), "{regex}");
        }
    }

    #[test]
    fn the_documented_regexes() {
        insta::assert_snapshot!("regex_tag", image_regex(&Pattern::parse("nginx:1.25").unwrap()));
        insta::assert_snapshot!("regex_prefix", image_regex(&Pattern::parse("ghcr.io/team/").unwrap()));
        assert!(regex("ghcr.io/team/*").is_match("ghcr.io/team/app:1"));
    }

    #[test]
    fn policy_names_follow_the_canonical_pattern() {
        let name = policy_name(&Pattern::parse("nginx:1.25").unwrap());
        assert_eq!(name, policy_name(&Pattern::parse("docker.io/library/nginx:1.25").unwrap()));
        assert_ne!(name, policy_name(&Pattern::parse("nginx:1.24").unwrap()));
        assert!(name.starts_with("kir-block-image-") && name.len() == "kir-block-image-".len() + 12);
    }

    fn yaml(value: &Value) -> String {
        serde_saphyr::to_string(value).unwrap()
    }

    #[test]
    fn the_allowlist_admits_only_its_registries_and_what_an_object_already_ran() {
        let allowed = [Pattern::parse("ghcr.io/acme/").unwrap(), Pattern::parse("docker.io/").unwrap()];
        let policy = allowed_images_policy(&allowed, "kir-allowed-registries", "case-1");
        let expression = policy["spec"]["validations"][0]["expression"].as_str().unwrap();
        assert!(expression.starts_with("variables.images.all(image, image.matches('"), "{expression}");
        assert!(expression.ends_with("|| image in variables.oldImages)"), "{expression}");
        let regexes: Vec<regex::Regex> =
            allowed.iter().map(|p| regex::Regex::new(&image_regex(p)).unwrap()).collect();
        let admitted = |image: &str| regexes.iter().any(|r| r.is_match(image));
        assert!(admitted("ghcr.io/acme/web:1.2") && admitted("nginx:1.27") && admitted("docker.io/team/app"));
        assert!(!admitted("ghcr.io/other/web:1.2") && !admitted("evil.example/miner:latest"));
        assert_eq!(policy["metadata"]["name"], "kir-allowed-registries");
        assert_eq!(
            policy_binding("kir-allowed-registries", "case-1")["spec"]["policyName"],
            "kir-allowed-registries"
        );
    }

    #[test]
    fn admission_objects() {
        let pattern = Pattern::parse("nginx:1.25").unwrap();
        let case = "20261206-120000-a1b2c3";
        insta::assert_snapshot!(
            "validating_admission_policy",
            yaml(&validating_admission_policy(&pattern, case))
        );
        insta::assert_snapshot!(
            "validating_admission_policy_binding",
            yaml(&validating_admission_policy_binding(&pattern, case))
        );
        insta::assert_snapshot!("kyverno_cluster_policy", yaml(&kyverno_cluster_policy(&pattern, case)));
        insta::assert_snapshot!("gatekeeper_constraint_template", yaml(&gatekeeper_constraint_template()));
        insta::assert_snapshot!("gatekeeper_constraint", yaml(&gatekeeper_constraint(&pattern, case)));
    }
}

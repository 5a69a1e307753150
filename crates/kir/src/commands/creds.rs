//! `kir creds`: what a leaked credential is and how it dies (`show`), what a subject can reach
//! (`scope`), and who can do something (`who-can`).

use std::{io::Read, path::Path};

use comfy_table::Cell;
use kir_cluster::{KubeconfigCredential, kubeconfig_credential};
use kir_evidence::JournalRecord;
use kir_respond::creds::{self, CredentialInput, CredentialReport};

use crate::{
    cli::{
        CredsRevokeArgs, CredsRotateArgs, CredsScopeArgs, CredsShowArgs, OutputFormat, RespondStolenArgs,
        WhoCanArgs,
    },
    commands::responder,
    output::{print_json, print_key_values, print_table, print_yaml, sanitize, table},
    settings::{Settings, UsageError},
};

/// Tokens larger than this are not tokens (the API server refuses headers far smaller).
const TOKEN_LIMIT: u64 = 64 * 1024;
/// Certificates larger than this are not one client certificate.
const CERTIFICATE_LIMIT: u64 = 1024 * 1024;

pub async fn show(args: &CredsShowArgs, settings: &Settings) -> anyhow::Result<u8> {
    let input = credential_input(args, settings)?;
    let responder = responder::connect(settings).await?;
    let report = creds::show(&responder.cluster, input).await.map_err(usage_if_invalid)?;
    if settings.case.is_some() {
        let case = responder::open_case(settings, &responder, "stolen credentials".to_string()).await?;
        kir_respond::blocking::record(
            &case,
            JournalRecord::new(&responder.actor, "creds.show")
                .target(report.user.clone().unwrap_or_else(|| report.kind.clone()))
                .result(serde_json::json!({
                    "kind": report.kind,
                    "fingerprint": report.fingerprint,
                    "credentialId": report.credential_id,
                    "user": report.user,
                    "groups": report.groups,
                    "accepted": report.accepted.as_ref().map(|a| a.authenticated),
                })),
        )
        .await?;
    }
    match settings.output {
        OutputFormat::Json => print_json(&report)?,
        OutputFormat::Yaml => print_yaml(&report)?,
        OutputFormat::Table => print_report(&report)?,
    }
    Ok(crate::exit::SUCCESS)
}

/// The credential named on the command line, read and checked before any request is made:
/// bad input is a usage error naming it.
fn credential_input(args: &CredsShowArgs, settings: &Settings) -> Result<CredentialInput, UsageError> {
    if let Some(path) = &args.token_file {
        let bytes = read_capped(path, TOKEN_LIMIT, "--token-file")?;
        let text = String::from_utf8(bytes)
            .map_err(|_| UsageError(format!("--token-file {}: not text, so not a token", shown(path))))?;
        kir_credential::inspect_token(&text)
            .map_err(|e| UsageError(format!("--token-file {}: {e}", shown(path))))?;
        return Ok(CredentialInput::Token(text));
    }
    if let Some(path) = &args.cert {
        let bytes = read_capped(path, CERTIFICATE_LIMIT, "--cert")?;
        kir_credential::inspect_certificate(&bytes)
            .map_err(|e| UsageError(format!("--cert {}: {e}", shown(path))))?;
        return Ok(CredentialInput::Certificate(bytes));
    }
    if let Some(user) = &args.kubeconfig_user {
        return match kubeconfig_credential(&settings.connect, user) {
            Ok(KubeconfigCredential::Token(token)) => {
                kir_credential::inspect_token(&token)
                    .map_err(|e| UsageError(format!("--kubeconfig-user {user}: its token: {e}")))?;
                Ok(CredentialInput::Token(token))
            }
            Ok(KubeconfigCredential::Certificate(pem)) => {
                kir_credential::inspect_certificate(&pem)
                    .map_err(|e| UsageError(format!("--kubeconfig-user {user}: its certificate: {e}")))?;
                Ok(CredentialInput::Certificate(pem))
            }
            Ok(KubeconfigCredential::Issued(how)) => Ok(CredentialInput::Issued(how)),
            Err(error) => Err(UsageError(format!("--kubeconfig-user {user}: {error}"))),
        };
    }
    let arg = args.credential.as_deref().unwrap_or_default();
    if let Some(rest) = arg.strip_prefix("secret/") {
        let Some((namespace, name)) = rest.split_once('/').filter(|(ns, n)| !ns.is_empty() && !n.is_empty())
        else {
            return Err(UsageError(format!("{arg:?}: a token Secret is secret/NAMESPACE/NAME")));
        };
        return Ok(CredentialInput::Secret { namespace: namespace.to_string(), name: name.to_string() });
    }
    kir_rbac::Identity::parse(arg).map_err(|e| UsageError(e.to_string()))?;
    Ok(CredentialInput::Subject(arg.to_string()))
}

fn shown(path: &Path) -> String {
    sanitize(&path.display().to_string()).into_owned()
}

/// At most `limit` bytes of `path` (`-`: standard input); more is an error, not a truncation.
fn read_capped(path: &Path, limit: u64, flag: &str) -> Result<Vec<u8>, UsageError> {
    let fail = |why: String| UsageError(format!("{flag} {}: {why}", shown(path)));
    let reader: Box<dyn Read> = if path == Path::new("-") {
        Box::new(std::io::stdin())
    } else {
        Box::new(std::fs::File::open(path).map_err(|e| fail(format!("cannot open it: {e}")))?)
    };
    let mut bytes = Vec::new();
    reader.take(limit + 1).read_to_end(&mut bytes).map_err(|e| fail(format!("cannot read it: {e}")))?;
    if bytes.len() as u64 > limit {
        return Err(fail(format!("more than {limit} bytes: not a credential")));
    }
    if bytes.is_empty() {
        return Err(fail("it is empty".to_string()));
    }
    Ok(bytes)
}

/// A credential's own problems (a Secret of another type, an unparsable token) are the
/// responder's input, not a failure of kir.
fn usage_if_invalid(error: kir_respond::Error) -> anyhow::Error {
    match error {
        kir_respond::Error::Invalid(why) => UsageError(why).into(),
        other => other.into(),
    }
}

fn print_report(report: &CredentialReport) -> anyhow::Result<()> {
    let mut rows: Vec<(&str, String)> = vec![("credential", report.kind.clone())];
    if let Some(user) = &report.user {
        rows.push(("user", user.clone()));
    }
    if !report.groups.is_empty() {
        rows.push(("groups", report.groups.join(", ")));
    }
    if let Some(fingerprint) = &report.fingerprint {
        rows.push(("sha256", fingerprint.clone()));
    }
    if let Some(id) = &report.credential_id {
        rows.push(("audit credential id", id.clone()));
    }
    if let Some(accepted) = &report.accepted {
        let verdict = match (accepted.authenticated, &accepted.error) {
            (true, _) => "yes: the API server accepts it now (TokenReview)".to_string(),
            (false, Some(error)) => format!("no (TokenReview: {error})"),
            (false, None) => "no (TokenReview)".to_string(),
        };
        rows.push(("accepted now", verdict));
    }
    if let Some(token) = &report.token
        && let Some(claims) = &token.claims
    {
        if let Some(issuer) = &claims.issuer {
            rows.push(("issuer", issuer.clone()));
        }
        if !claims.audiences.is_empty() {
            rows.push(("audiences", claims.audiences.join(", ")));
        }
        if let Some(issued) = &claims.issued_at {
            rows.push(("issued", issued.to_string()));
        }
        rows.push(("expires", claims.expires_at.map_or("never".to_string(), |t| t.to_string())));
    }
    if let Some(certificate) = &report.certificate {
        rows.push(("issuer", certificate.issuer.clone()));
        rows.push(("valid", format!("{} to {}", certificate.not_before, certificate.not_after)));
    }
    if let Some(account) = &report.service_account {
        let mut state = if account.exists { "exists".to_string() } else { "does not exist".to_string() };
        if account.uid_matches == Some(false) {
            state.push_str(", recreated since the token was issued (another UID)");
        }
        rows.push(("service account", format!("{}/{}: {state}", account.namespace, account.name)));
        for identity in &account.cloud_identities {
            rows.push(("cloud identity", identity.clone()));
        }
    }
    if let Some(object) = &report.bound_object {
        let mut state = if object.exists { "exists" } else { "gone" }.to_string();
        if object.uid_matches == Some(false) {
            state = "another object of that name (the token's is gone)".into();
        }
        let name = match &object.namespace {
            Some(ns) => format!("{ns}/{}", object.name),
            None => object.name.clone(),
        };
        rows.push(("dies with", format!("{} {name}: {state}", object.kind)));
    }
    for secret in &report.token_secrets {
        rows.push(("legacy token Secret", secret.clone()));
    }
    for kill in &report.kill {
        rows.push(("to kill it", kill.clone()));
    }
    for note in &report.notes {
        rows.push(("note", note.clone()));
    }
    print_key_values(&rows)
}

pub async fn scope(args: &CredsScopeArgs, settings: &Settings) -> anyhow::Result<u8> {
    let who = kir_rbac::Identity::parse(&args.subject)
        .map_err(|e| UsageError(e.to_string()))?
        .with_groups(args.group.iter().cloned());
    // Read only: no actor to journal, so no SelfSubjectReview before the lists.
    let cluster = kir_cluster::Cluster::connect(&settings.connect).await?;
    let snapshot = creds::rbac_snapshot(&cluster).await?;
    let report = creds::scope(&snapshot, &who);
    match settings.output {
        OutputFormat::Json => print_json(&report)?,
        OutputFormat::Yaml => print_yaml(&report)?,
        OutputFormat::Table => {
            let mut rows = table(&["danger", "namespace", "verbs", "resources", "granted by", "as"]);
            for grant in &report.grants {
                let danger = grant
                    .dangers
                    .iter()
                    .map(|d| format!("{}: {}", severity(&d.severity), d.label))
                    .collect::<Vec<_>>()
                    .join("; ");
                rows.add_row(vec![
                    Cell::new(danger),
                    Cell::new(grant.namespace.unwrap_or("*")),
                    Cell::new(grant.rule.verbs.join(",")),
                    Cell::new(rule_targets(grant.rule)),
                    Cell::new(via(&grant.binding, &grant.role)),
                    Cell::new(grant.subject.to_string()),
                ]);
            }
            print_table(&rows)?;
            let dangerous = report.grants.iter().filter(|g| !g.dangers.is_empty()).count();
            println!(
                "{} grants to {}{}, {dangerous} of them dangerous ('*' namespace: every namespace and the cluster)",
                report.grants.len(),
                sanitize(&subject_line(&who)),
                if who.groups.is_empty() {
                    String::new()
                } else {
                    format!(" (groups {})", sanitize(&who.groups.join(", ")))
                },
            );
        }
    }
    Ok(crate::exit::SUCCESS)
}

pub async fn who_can(args: &WhoCanArgs, settings: &Settings) -> anyhow::Result<u8> {
    let namespace = if args.all_namespaces { None } else { settings.connect.namespace.as_deref() };
    if args.all_namespaces && settings.connect.namespace.is_some() {
        return Err(UsageError("give -n NS or -A, not both".to_string()).into());
    }
    let request = creds::request_of(&args.verb, &args.resource, args.name.as_deref(), namespace)
        .map_err(usage_if_invalid)?;
    let cluster = kir_cluster::Cluster::connect(&settings.connect).await?;
    let snapshot = creds::rbac_snapshot(&cluster).await?;
    let holders: Vec<kir_rbac::Holder> = if args.all_namespaces {
        // Any namespace: every RoleBinding's namespace is asked about.
        let mut namespaces: Vec<&str> =
            snapshot.role_bindings.iter().filter_map(|b| b.metadata.namespace.as_deref()).collect();
        namespaces.sort_unstable();
        namespaces.dedup();
        let index = snapshot.index();
        let mut holders = index.who_can(&request);
        for ns in namespaces {
            let mut in_ns = request.clone();
            in_ns.namespace = Some(ns.to_string());
            holders.extend(index.who_can(&in_ns).into_iter().filter(|h| h.namespace.is_some()));
        }
        holders
    } else {
        creds::who_can(&snapshot, &request)
    };
    match settings.output {
        OutputFormat::Json => print_json(&holders)?,
        OutputFormat::Yaml => print_yaml(&holders)?,
        OutputFormat::Table => {
            let mut rows = table(&["subject", "namespace", "granted by"]);
            for holder in &holders {
                rows.add_row(vec![
                    Cell::new(holder.subject.to_string()),
                    Cell::new(holder.namespace.unwrap_or("*")),
                    Cell::new(via(&holder.binding, &holder.role)),
                ]);
            }
            print_table(&rows)?;
        }
    }
    Ok(crate::exit::SUCCESS)
}

fn severity(severity: &kir_rbac::Severity) -> String {
    serde_json::to_value(severity).ok().and_then(|v| v.as_str().map(str::to_string)).unwrap_or_default()
}

fn subject_line(who: &kir_rbac::Identity) -> String {
    if who.user.is_empty() { format!("group {}", who.groups.join(", ")) } else { who.user.clone() }
}

/// `RoleBinding shop/deployers -> ClusterRole edit`.
fn via(binding: &kir_rbac::BindingId, role: &kir_rbac::RoleId) -> String {
    let binding_name = match binding.namespace {
        Some(ns) => format!("{ns}/{}", binding.name),
        None => binding.name.to_string(),
    };
    let kind = serde_json::to_value(binding.kind)
        .ok()
        .and_then(|v| v.as_str().map(str::to_string))
        .unwrap_or_default();
    format!("{kind} {binding_name} -> {} {}", role.kind, role.name)
}

/// What a rule reaches: `deployments.apps, pods/exec [web-1]`, or its URLs.
fn rule_targets(rule: &k8s_openapi::api::rbac::v1::PolicyRule) -> String {
    let mut targets: Vec<String> = Vec::new();
    let groups = rule.api_groups.clone().unwrap_or_default();
    for resource in rule.resources.iter().flatten() {
        for group in &groups {
            targets.push(if group.is_empty() { resource.clone() } else { format!("{resource}.{group}") });
        }
    }
    let mut text = targets.join(",");
    if let Some(names) = rule.resource_names.as_ref().filter(|n| !n.is_empty()) {
        text.push_str(&format!(" [{}]", names.join(",")));
    }
    if let Some(urls) = rule.non_resource_urls.as_ref().filter(|u| !u.is_empty()) {
        if !text.is_empty() {
            text.push(' ');
        }
        text.push_str(&urls.join(","));
    }
    text
}

pub async fn revoke(args: &CredsRevokeArgs, settings: &Settings) -> anyhow::Result<u8> {
    use kir_respond::revoke;
    let subject = kir_rbac::SubjectRef::parse(&args.subject).map_err(|e| UsageError(e.to_string()))?;
    revoke::refuse_everyone(&subject).map_err(usage_if_invalid)?;
    let who = kir_rbac::Identity::for_subject(&subject).with_groups(args.group.iter().cloned());
    let (entries, kept) = revoke::entries_to_revoke(&subject, &who, args.include_groups);
    let responder = responder::connect(settings).await?;
    let plan = revoke::plan_from_cluster(&responder.cluster, &who, &entries, kept).await?;
    let mut text = format!("Plan to revoke {}:\n", args.subject);
    for change in &plan.changes {
        text.push_str(&format!("  - {}\n", change.describe()));
    }
    if plan.changes.is_empty() {
        text.push_str("  no binding names it: nothing to change\n");
    }
    for group in &plan.kept_groups {
        text.push_str(&format!(
            "  kept: group {group} (not revoked; --include-groups takes the subject's own groups)\n"
        ));
    }
    text.push_str(&format!(
        "  then ask the API server about {} request(s) it could make, which must be denied\n",
        plan.probes.len()
    ));
    if plan.changes.is_empty() {
        print!("{}", sanitize(&text));
        return Ok(crate::exit::SUCCESS);
    }
    if !responder::plan_confirmed(&plan, &text, &args.confirm, "Revoke?", settings)? {
        return Ok(crate::exit::SUCCESS);
    }
    let case = responder::open_case(settings, &responder, format!("revocation of {}", args.subject)).await?;
    let report = revoke::apply(&responder.cluster, &case, &responder.actor, plan).await?;
    match settings.output {
        OutputFormat::Json => print_json(&report)?,
        OutputFormat::Yaml => print_yaml(&report)?,
        OutputFormat::Table => {
            let mut changes = table(&["change", "status", "detail"]);
            for change in &report.changes {
                changes.add_row(vec![
                    Cell::new(&change.change),
                    Cell::new(change.status),
                    Cell::new(change.detail.clone().unwrap_or_default()),
                ]);
            }
            print_table(&changes)?;
            println!();
            let mut probes = table(&["could before", "now"]);
            for probe in &report.probes {
                let now = match &probe.still_granted_by {
                    None => "denied (SubjectAccessReview)".to_string(),
                    Some(by) => format!("STILL ALLOWED by {by}"),
                };
                probes.add_row(vec![Cell::new(&probe.probe), Cell::new(now)]);
            }
            print_table(&probes)?;
            println!(
                "{}; case: {}",
                if report.revoked {
                    "revoked: every change read back, every request denied"
                } else {
                    "NOT fully revoked"
                },
                sanitize(&case.path().display().to_string())
            );
        }
    }
    Ok(if report.failed() || !report.revoked { crate::exit::FAILURE } else { crate::exit::SUCCESS })
}

/// Bytes a value read with --from-file may have (a Secret holds at most 1 MiB in all).
const VALUE_LIMIT: u64 = 1024 * 1024;

/// The new values the flags give, each key once. Checked before anything is read.
fn new_values(args: &CredsRotateArgs) -> Result<std::collections::BTreeMap<String, Vec<u8>>, UsageError> {
    let mut values = std::collections::BTreeMap::new();
    let valid_key = |key: &str| {
        !key.is_empty()
            && key.len() <= 253
            && key.chars().all(|c| c.is_ascii_alphanumeric() || "-._".contains(c))
    };
    let mut add = |flag: &str, key: &str, value: Vec<u8>| {
        if !valid_key(key) {
            return Err(UsageError(format!(
                "{flag}: {key:?} is not a Secret key (letters, digits, '-', '_' and '.')"
            )));
        }
        if values.insert(key.to_string(), value).is_some() {
            return Err(UsageError(format!("key {key} is given twice")));
        }
        Ok(())
    };
    for literal in &args.from_literal {
        let Some((key, value)) = literal.split_once('=') else {
            return Err(UsageError(format!(
                "--from-literal {:?}: give KEY=VALUE",
                sanitize(key_only(literal))
            )));
        };
        add("--from-literal", key, value.as_bytes().to_vec())?;
    }
    for file in &args.from_file {
        let Some((key, path)) = file.split_once('=') else {
            return Err(UsageError(format!("--from-file {:?}: give KEY=PATH", sanitize(file))));
        };
        let value = read_capped(Path::new(path), VALUE_LIMIT, "--from-file")?;
        add("--from-file", key, value)?;
    }
    for key in &args.generate {
        add("--generate", key, kir_respond::rotate::generated_value().map_err(UsageError)?)?;
    }
    if values.is_empty() {
        return Err(UsageError("no new value: give --from-literal, --from-file or --generate".to_string()));
    }
    Ok(values)
}

/// What a literal shows in an error: never its value.
fn key_only(literal: &str) -> &str {
    literal.split_once('=').map_or("(no '=')", |(key, _)| key)
}

pub async fn rotate(args: &CredsRotateArgs, settings: &Settings) -> anyhow::Result<u8> {
    use kir_respond::rotate;
    let Some((namespace, name)) = args
        .secret
        .strip_prefix("secret/")
        .and_then(|rest| rest.split_once('/'))
        .filter(|(ns, n)| !ns.is_empty() && !n.is_empty() && !n.contains('/'))
    else {
        return Err(
            UsageError(format!("{:?}: the Secret is secret/NAMESPACE/NAME", sanitize(&args.secret))).into()
        );
    };
    let values = new_values(args)?;
    let responder = responder::connect(settings).await?;
    let plan = rotate::plan(&responder.cluster, namespace, name, values.keys().cloned().collect())
        .await
        .map_err(usage_if_invalid)?;
    let mut text =
        format!("Plan to rotate Secret {namespace}/{name}:\n  - new values for {}\n", plan.keys.join(", "));
    for consumer in &plan.consumers {
        text.push_str(&format!(
            "  - restart {} {} (reads it by {}) and wait until it runs again\n",
            consumer.kind,
            consumer.name,
            consumer.uses.join(", ")
        ));
    }
    if plan.consumers.is_empty() {
        text.push_str("  no workload of the namespace reads it\n");
    }
    for warning in &plan.warnings {
        text.push_str(&format!("warning: {warning}\n"));
    }
    if !responder::plan_confirmed(&plan, &text, &args.confirm, "Rotate?", settings)? {
        return Ok(crate::exit::SUCCESS);
    }
    let case =
        responder::open_case(settings, &responder, format!("rotation of Secret {namespace}/{name}")).await?;
    let report = rotate::apply(&responder.cluster, &case, &responder.actor, plan, values, args.wait)
        .await
        .map_err(usage_if_invalid)?;
    match settings.output {
        OutputFormat::Json => print_json(&report)?,
        OutputFormat::Yaml => print_yaml(&report)?,
        OutputFormat::Table => {
            let mut rows = table(&["workload", "status", "detail"]);
            for restart in &report.restarts {
                rows.add_row(vec![
                    Cell::new(&restart.workload),
                    Cell::new(restart.status),
                    Cell::new(restart.detail.clone().unwrap_or_default()),
                ]);
            }
            print_table(&rows)?;
            println!(
                "{}; case: {}",
                match (report.secret_updated, report.complete()) {
                    (false, _) => "the Secret read back does NOT hold the new values",
                    (true, true) =>
                        "rotated: the Secret holds the new values and every reader runs with them",
                    (true, false) =>
                        "the Secret holds the new values, but not every reader runs with them yet",
                },
                sanitize(&case.path().display().to_string())
            );
        }
    }
    Ok(if report.complete() { crate::exit::SUCCESS } else { crate::exit::FAILURE })
}

pub async fn stolen(args: &RespondStolenArgs, settings: &Settings) -> anyhow::Result<u8> {
    use kir_respond::stolen;
    let input = credential_input(&args.credential, settings)?;
    let token = match &input {
        CredentialInput::Token(token) => Some(token.clone()),
        _ => None,
    };
    let responder = responder::connect(settings).await?;
    let report = creds::show(&responder.cluster, input).await.map_err(usage_if_invalid)?;
    let plan = stolen::plan(report);
    let mut text = format!("Plan for stolen credentials: {}\n", plan.credential.kind);
    text.push_str("  evidence  what it is (fingerprint, never the token), its reach in every namespace, the bindings that grant it\n");
    for switch in &plan.kill {
        text.push_str(&format!("  kill      {}\n", switch.describe()));
    }
    text.push_str("  confirm   TokenReview refuses the token, SubjectAccessReview denies its reach, workloads run again\n");
    for residual in &plan.residual {
        text.push_str(&format!("warning: {residual}\n"));
    }
    if !responder::plan_confirmed(&plan, &text, &args.confirm, "Kill this credential?", settings)? {
        return Ok(crate::exit::SUCCESS);
    }
    let case = responder::open_case(settings, &responder, "stolen credentials".to_string()).await?;
    if !args.audit_log.is_empty() {
        review_activity(&args.audit_log, &plan.credential, &case).await?;
    }
    let options = stolen::StolenOptions { wait: args.wait, token };
    let report = stolen::run(&responder.cluster, &case, &responder.actor, plan, &options).await?;
    match settings.output {
        OutputFormat::Json => print_json(&report)?,
        OutputFormat::Yaml => print_yaml(&report)?,
        OutputFormat::Table => {
            let mut kills = table(&["kill", "status", "detail"]);
            for kill in &report.kill {
                kills.add_row(vec![
                    Cell::new(&kill.action),
                    Cell::new(kill.status),
                    Cell::new(kill.detail.clone().unwrap_or_default()),
                ]);
            }
            print_table(&kills)?;
            println!();
            let mut checks = table(&["checked", "holds", "detail"]);
            for check in &report.confirmations {
                checks.add_row(vec![
                    Cell::new(&check.check),
                    crate::output::yes_no(check.holds),
                    Cell::new(&check.detail),
                ]);
            }
            print_table(&checks)?;
            for residual in &report.plan.residual {
                println!("{}", sanitize(&format!("still open: {residual}")));
            }
            println!(
                "{}; case: {}",
                if report.dead { "dead: every kill made and every check holds" } else { "NOT proved dead" },
                sanitize(&case.path().display().to_string())
            );
        }
    }
    Ok(if report.dead { crate::exit::SUCCESS } else { crate::exit::FAILURE })
}

/// What the credential did, from the audit logs: by its credential id when the report has one
/// (one token or certificate), else by its user. Into the case, and the writes that may be
/// persistence (bindings, accounts, tokens, workloads, webhooks, secrets read) as follow-ups.
async fn review_activity(
    paths: &[std::path::PathBuf],
    report: &CredentialReport,
    case: &kir_evidence::Case,
) -> anyhow::Result<()> {
    use kir_audit::{filter::Filter, pattern::Glob, timeline::Category};
    let mut filter = Filter::default();
    let by = match (&report.credential_id, &report.user) {
        (Some(id), _) => {
            filter.credential_ids.push(id.parse().map_err(|e| anyhow::anyhow!("credential id {id}: {e}"))?);
            format!("credential {id}")
        }
        (None, Some(user)) => {
            filter.users.push(Glob::new(user));
            format!("user {user}")
        }
        (None, None) => {
            eprintln!("the audit logs are not read: kir knows neither the credential id nor the user");
            return Ok(());
        }
    };
    let (entries, _) = super::audit::timeline_entries(paths, &filter, kir_audit::Window::default(), None)?;
    let mut bytes = serde_json::to_vec_pretty(&entries)?;
    bytes.push(b'\n');
    let source = format!(
        "kir audit timeline --credential-id or --user, of {by}, over {} audit log path(s)",
        paths.len()
    );
    let stored = {
        let case = case.clone();
        kir_respond::blocking::blocking(move || {
            case.store_bytes("credentials/activity.json", &source, &bytes)
        })
        .await
    };
    match stored {
        Ok(_) => {}
        Err(kir_evidence::Error::AlreadyCollected { .. }) => {
            eprintln!("the activity is in the case from an earlier run (credentials/activity.json)");
        }
        Err(error) => eprintln!("the activity could not be kept in the case: {error}"),
    }
    let follow_up = [
        Category::BindingWritten,
        Category::PrivilegeWritten,
        Category::PodAccess,
        Category::SecretRead,
        Category::WorkloadCreated,
    ];
    eprintln!("{} action(s) of {} in the audit logs", entries.len(), sanitize(&by));
    for entry in entries.iter().filter(|e| follow_up.contains(&e.category)).take(20) {
        eprintln!(
            "{}",
            sanitize(&format!(
                "  follow up: {} {} {} {} ({})",
                entry.time,
                entry.verb,
                entry.resource,
                entry.object,
                entry.category.title()
            ))
        );
    }
    Ok(())
}

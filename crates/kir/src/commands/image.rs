//! `kir image`: where a malicious image runs or would run again (`find`), keeping it out
//! (`block`), and removing it (`purge`).

use comfy_table::Cell;
use kir_image::Pattern;
use kir_respond::{
    block::{self, Admission, BlockReport},
    image::{ContainerHit, FindReport},
};

use crate::{
    cli::{
        EngineArg, ImageBlockArgs, ImageFindArgs, ImagePurgeArgs, ImageScanArgs, OutputFormat, ResolveArgs,
        RespondImageArgs,
    },
    commands::responder,
    output::{print_json, print_table, print_yaml, sanitize, table},
    settings::{Settings, UsageError},
};

/// The image argument, checked before anything is asked of the cluster.
fn pattern(text: &str) -> Result<Pattern, UsageError> {
    Pattern::parse(text).map_err(|e| UsageError(format!("image {:?}: {e}", sanitize(text))))
}

/// How long the registry may take to say what a tag points to.
const REGISTRY_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(10);

/// The registry credentials `--registry-config` names, else docker's own file if there is one.
fn registry_config(args: &ResolveArgs) -> Result<Option<kir_registry::DockerConfig>, UsageError> {
    let (path, explicit) = match &args.registry_config {
        Some(path) => (path.clone(), true),
        None => {
            let dir = std::env::var_os("DOCKER_CONFIG").map(std::path::PathBuf::from).or_else(|| {
                std::env::var_os("HOME").map(|home| std::path::PathBuf::from(home).join(".docker"))
            });
            match dir.map(|d| d.join("config.json")).filter(|p| p.is_file()) {
                Some(path) => (path, false),
                None => return Ok(None),
            }
        }
    };
    let shown = sanitize(&path.display().to_string()).into_owned();
    let bytes = std::fs::read(&path)
        .map_err(|e| UsageError(format!("--registry-config {shown}: cannot read it: {e}")));
    let parsed = bytes.and_then(|b| {
        kir_registry::DockerConfig::parse(&b)
            .map_err(|e| UsageError(format!("--registry-config {shown}: {e}")))
    });
    match parsed {
        Ok(config) => Ok(Some(config)),
        Err(error) if explicit => Err(error),
        Err(error) => {
            eprintln!("warning: {}; resolving anonymously", error.0);
            Ok(None)
        }
    }
}

/// The credentials for `registry`: `--registry-config`'s; else those of the pull Secrets of the
/// namespace's service accounts (with `-n`); else docker's own file's; else none.
async fn credentials(
    registry: &str,
    args: &ResolveArgs,
    cluster: &kir_cluster::Cluster,
    namespace: Option<&str>,
) -> Result<Option<kir_registry::Basic>, UsageError> {
    if args.registry_config.is_some() {
        return Ok(registry_config(args)?.and_then(|c| c.for_registry(registry).cloned()));
    }
    if let Some(namespace) = namespace {
        match cluster.pull_secret_configs(namespace).await {
            Ok(configs) => {
                let found = configs
                    .iter()
                    .filter_map(|bytes| kir_registry::DockerConfig::parse(bytes).ok())
                    .find_map(|c| c.for_registry(registry).cloned());
                if found.is_some() {
                    return Ok(found);
                }
            }
            Err(error) => eprintln!(
                "warning: the pull secrets of namespace {namespace} cannot be read ({}): the registry is asked without them",
                sanitize(&error.to_string())
            ),
        }
    }
    Ok(registry_config(args)?.and_then(|c| c.for_registry(registry).cloned()))
}

/// A tag pattern with the digest the registry says the tag points to now, so that pods naming
/// that content by digest are found (and blocked) too. Without an answer, the tag alone, said.
async fn resolved(
    pattern: Pattern,
    args: &ResolveArgs,
    cluster: &kir_cluster::Cluster,
    namespace: Option<&str>,
) -> Result<Pattern, UsageError> {
    if args.no_resolve || !matches!(pattern, Pattern::Tag { .. }) {
        return Ok(pattern);
    }
    let Ok(image) = kir_image::ImageRef::parse(&pattern.to_string()) else { return Ok(pattern) };
    let basic = credentials(image.registry(), args, cluster, namespace).await?;
    let answer = match kir_registry::Registry::new(REGISTRY_TIMEOUT) {
        Ok(registry) => registry.resolve(&image, basic.as_ref()).await,
        Err(error) => Err(error),
    };
    match answer {
        Ok(digest) => {
            eprintln!(
                "{} points to {digest} in its registry: searched for too",
                sanitize(&image.to_string())
            );
            Ok(pattern.clone().with_resolved_digest(digest).unwrap_or(pattern))
        }
        Err(error) => {
            eprintln!(
                "warning: the tag is not resolved ({}): pods naming the image by digest are found only by the digest they run",
                sanitize(&error.to_string())
            );
            Ok(pattern)
        }
    }
}

pub async fn find(args: &ImageFindArgs, settings: &Settings) -> anyhow::Result<u8> {
    let pattern = pattern(&args.image)?;
    let namespace = settings.connect.namespace.as_deref();
    if args.all_namespaces && namespace.is_some() {
        return Err(UsageError("-A and -n name different scopes: give one of them".into()).into());
    }
    let responder = responder::connect(settings).await?;
    let pattern = resolved(pattern, &args.resolve, &responder.cluster, namespace).await?;
    let report = kir_respond::image::find(&responder.cluster, &pattern, namespace).await?;
    match settings.output {
        OutputFormat::Json => print_json(&report)?,
        OutputFormat::Yaml => print_yaml(&report)?,
        OutputFormat::Table => print_found(&report)?,
    }
    for unread in &report.unread {
        eprintln!("warning: not searched: {}", sanitize(unread));
    }
    if report.unparseable > 0 {
        eprintln!(
            "warning: {} container image reference(s) are not valid references and were not matched, e.g. {}",
            report.unparseable,
            sanitize(&report.unparseable_examples.join(", "))
        );
    }
    Ok(if report.complete() { crate::exit::SUCCESS } else { crate::exit::INCOMPLETE })
}

fn print_found(report: &FindReport) -> anyhow::Result<()> {
    let scope =
        report.namespace.as_deref().map_or("every namespace".to_string(), |ns| format!("namespace {ns}"));
    if !report.pods.is_empty() {
        let mut pods = table(&["pod", "container", "image", "running", "match", "node", "started by"]);
        for pod in &report.pods {
            let mut name = format!("{}/{}", pod.namespace, pod.name);
            if pod.mirror {
                name.push_str(" (static: mirror pod)");
            }
            if pod.terminating {
                name.push_str(" (terminating)");
            }
            for hit in &pod.containers {
                pods.add_row(vec![
                    Cell::new(&name),
                    Cell::new(container_name(hit)),
                    Cell::new(&hit.container.image),
                    Cell::new(hit.container.image_id.as_deref().unwrap_or("-")),
                    Cell::new(hit.matched),
                    Cell::new(pod.node.as_deref().unwrap_or("-")),
                    Cell::new(owners(&pod.owners)),
                ]);
            }
        }
        print_table(&pods)?;
        println!();
    }
    if !report.templates.is_empty() {
        let mut templates = table(&["controller", "container", "image", "match", "replicas", "owned by"]);
        for template in &report.templates {
            let mut name = format!("{} {}/{}", template.kind.name(), template.namespace, template.name);
            if template.suspended {
                name.push_str(" (suspended)");
            }
            for hit in &template.containers {
                templates.add_row(vec![
                    Cell::new(&name),
                    Cell::new(container_name(hit)),
                    Cell::new(&hit.container.image),
                    Cell::new(hit.matched),
                    Cell::new(template.replicas.map_or("-".to_string(), |r| r.to_string())),
                    Cell::new(owners(&template.owners)),
                ]);
            }
        }
        print_table(&templates)?;
        println!();
    }
    let mirrors = report.pods.iter().filter(|p| p.mirror).count();
    println!(
        "{}: {} pod(s) ({} running) and {} controller template(s) use it; searched {} pods ({} containers) and {} templates in {scope}",
        sanitize(&report.pattern),
        report.pods.len(),
        report.running_pods().count(),
        report.templates.len(),
        report.searched.pods,
        report.searched.containers,
        report.searched.templates,
    );
    if mirrors > 0 {
        println!(
            "{mirrors} of them are static pods: the kubelet runs them from a manifest file on the node; deleting them through the API does not stop them"
        );
    }
    Ok(())
}

fn container_name(hit: &ContainerHit) -> String {
    use kir_cluster::images::ContainerKind;
    match hit.container.kind {
        ContainerKind::Container => hit.container.name.clone(),
        ContainerKind::Init => format!("{} (init)", hit.container.name),
        ContainerKind::Ephemeral => format!("{} (ephemeral)", hit.container.name),
    }
}

fn owners(owners: &[String]) -> String {
    if owners.is_empty() { "-".to_string() } else { owners.join(" < ") }
}

/// The engine `--engine` names, or what the cluster uses (`auto`), and why.
async fn engine(
    choice: EngineArg,
    cluster: &kir_cluster::Cluster,
) -> anyhow::Result<(block::Engine, String)> {
    Ok(match choice {
        EngineArg::Auto => block::detect_engine(cluster).await?,
        EngineArg::Vap => (block::Engine::ValidatingAdmissionPolicy, "--engine vap".into()),
        EngineArg::Kyverno => (block::Engine::Kyverno, "--engine kyverno".into()),
        EngineArg::Gatekeeper => (block::Engine::Gatekeeper, "--engine gatekeeper".into()),
    })
}

/// The block's objects in words.
fn block_text(plan: &block::BlockPlan, why: &str) -> String {
    let objects = match plan.engine {
        block::Engine::ValidatingAdmissionPolicy => {
            format!("ValidatingAdmissionPolicy {0} and its binding {0} (Deny)", plan.policy)
        }
        block::Engine::Kyverno => format!("Kyverno ClusterPolicy {} (Enforce)", plan.policy),
        block::Engine::Gatekeeper => format!(
            "Gatekeeper constraint {} {} (and kir's ConstraintTemplate when missing)",
            kir_image::admission::GATEKEEPER_KIND,
            plan.policy
        ),
    };
    format!("{objects}, engine {} ({why})", plan.engine.name())
}

pub async fn block(args: &ImageBlockArgs, settings: &Settings) -> anyhow::Result<u8> {
    let pattern = pattern(&args.image)?;
    if settings.output == OutputFormat::Yaml && !args.confirm.dry_run {
        // For GitOps: the objects, applied by whoever commits them. Nothing is asked of the
        // cluster, so nothing is proved; the case label says no case made them.
        let engine = match args.engine {
            EngineArg::Kyverno => block::Engine::Kyverno,
            EngineArg::Gatekeeper => block::Engine::Gatekeeper,
            EngineArg::Auto | EngineArg::Vap => block::Engine::ValidatingAdmissionPolicy,
        };
        let plan = block::plan(&pattern, engine, "none", "default");
        let mut objects = plan.objects.clone();
        if engine == block::Engine::Gatekeeper {
            objects.insert(0, kir_image::admission::gatekeeper_constraint_template());
        }
        for (index, object) in objects.iter().enumerate() {
            if index > 0 {
                println!("---");
            }
            print_yaml(object)?;
        }
        return Ok(crate::exit::SUCCESS);
    }
    let responder = responder::connect(settings).await?;
    let pattern =
        resolved(pattern, &args.resolve, &responder.cluster, settings.connect.namespace.as_deref()).await?;
    let (engine, why) = engine(args.engine, &responder.cluster).await?;
    let namespace =
        settings.connect.namespace.clone().unwrap_or_else(|| responder.cluster.namespace().to_string());
    // The case id is known only once the case is open; the plan shown names objects by the
    // pattern, which does not depend on it.
    let preview = block::plan(&pattern, engine, "CASE", &namespace);
    let mut text = format!("Plan to block {}:\n", preview.pattern);
    text.push_str(&format!(
        "  - create {}: pods, ephemeral containers and the pod templates of every controller kind\n",
        block_text(&preview, &why)
    ));
    text.push_str(&format!(
        "  - prove it in namespace {namespace} by server-side dry-runs (nothing is created): {} spelling(s) denied ({}), the control image {} allowed\n",
        preview.spellings.len(),
        preview.spellings.join(", "),
        preview.control
    ));
    if !responder::plan_confirmed(&preview, &text, &args.confirm, "Block?", settings)? {
        return Ok(crate::exit::SUCCESS);
    }
    let case =
        responder::open_case(settings, &responder, format!("malicious image {}", preview.pattern)).await?;
    let plan = block::plan(&pattern, engine, case.id(), &namespace);
    let report = block::apply(&responder.cluster, &case, &responder.actor, &plan).await?;
    match settings.output {
        OutputFormat::Json => print_json(&report)?,
        OutputFormat::Yaml => print_yaml(&report)?,
        OutputFormat::Table => print_blocked(&report, &case.path().display().to_string())?,
    }
    Ok(if report.blocked { crate::exit::SUCCESS } else { crate::exit::FAILURE })
}

fn print_blocked(report: &BlockReport, case: &str) -> anyhow::Result<()> {
    let mut objects = table(&["object", "status", "read back", "detail"]);
    for object in &report.objects {
        objects.add_row(vec![
            Cell::new(format!("{} {}", object.kind.name(), object.name)),
            Cell::new(object.status),
            Cell::new(if object.read_back { "as generated" } else { "NO" }),
            Cell::new(object.detail.clone().unwrap_or_default()),
        ]);
    }
    print_table(&objects)?;
    println!();
    let mut proofs = table(&["dry-run", "expected", "answered"]);
    let word = |a: Option<Admission>| match a {
        Some(Admission::Denied) => "denied",
        Some(Admission::Allowed) => "allowed",
        None => "no answer",
    };
    for proof in &report.proofs {
        proofs.add_row(vec![
            Cell::new(&proof.request),
            Cell::new(word(Some(proof.expected))),
            Cell::new(word(proof.answered)),
        ]);
    }
    print_table(&proofs)?;
    for unknown in &report.unknown {
        println!("unknown: {}", sanitize(unknown));
    }
    println!(
        "{}; case: {}",
        if report.blocked {
            "blocked: the policy and binding read back as generated, every spelling denied, the control allowed"
        } else {
            "NOT proved blocked"
        },
        sanitize(case)
    );
    Ok(())
}

/// The scope and remedy of `purge` and the playbook, checked before the cluster is asked.
fn purge_settings<'s>(
    args: &ImagePurgeArgs,
    settings: &'s Settings,
) -> Result<(Pattern, Option<&'s str>, kir_respond::purge::Remedy), UsageError> {
    use kir_respond::purge::Remedy;
    let pattern = pattern(&args.image)?;
    let namespace = settings.connect.namespace.as_deref();
    if args.all_namespaces && namespace.is_some() {
        return Err(UsageError("-A and -n name different scopes: give one of them".into()));
    }
    let remedy = match &args.set_image {
        Some(image) => {
            kir_image::ImageRef::parse(image)
                .map_err(|e| UsageError(format!("--set-image {:?}: {e}", sanitize(image))))?;
            if pattern.matches(image, None).is_match() {
                return Err(UsageError(format!(
                    "--set-image {:?} is itself an image {} names: choose another image",
                    sanitize(image),
                    sanitize(&pattern.to_string())
                )));
            }
            Remedy::SetImage(image.clone())
        }
        None if args.scale_to_zero => Remedy::ScaleToZero,
        None => Remedy::DeletePods,
    };
    Ok((pattern, namespace, remedy))
}

/// The purge plan in words.
fn purge_text(
    plan: &kir_respond::purge::PurgePlan,
    unread: &[String],
    timeout: std::time::Duration,
) -> String {
    let mut text = String::new();
    for change in &plan.workloads {
        text.push_str(&format!(
            "  - {} {}/{}: {}\n",
            change.kind.name(),
            change.namespace,
            change.name,
            change.change
        ));
    }
    for pod in &plan.pods {
        let how = if pod.bare { "capture, then delete" } else { "delete" };
        text.push_str(&format!("  - {how} pod {}/{}\n", pod.namespace, pod.name));
    }
    if plan.is_empty() {
        text.push_str("  nothing to change: no running pod or controller template uses it\n");
    }
    text.push_str(&format!(
        "  then search again until no running pod uses it (at most {}s)\n",
        timeout.as_secs()
    ));
    for static_pod in &plan.static_pods {
        text.push_str(&format!("  static pod (not removable through the API): {static_pod}\n"));
    }
    for note in plan.notes.iter().chain(unread) {
        text.push_str(&format!("  note: {note}\n"));
    }
    text
}

pub async fn purge(args: &ImagePurgeArgs, settings: &Settings) -> anyhow::Result<u8> {
    use kir_respond::purge;
    let (pattern, namespace, remedy) = purge_settings(args, settings)?;
    let responder = responder::connect(settings).await?;
    let pattern = resolved(pattern, &args.resolve, &responder.cluster, namespace).await?;
    let found = kir_respond::image::find(&responder.cluster, &pattern, namespace).await?;
    let blocked = match kir_respond::block::in_place(&responder.cluster, &pattern).await {
        Ok(blocked) => blocked,
        Err(error) => {
            eprintln!("warning: whether the image is blocked is unknown: {}", sanitize(&error.to_string()));
            false
        }
    };
    let plan = purge::plan(&found, &pattern, &remedy, blocked);
    let text = format!("Plan to purge {}:\n{}", plan.pattern, purge_text(&plan, &found.unread, args.timeout));
    if !responder::plan_confirmed(&plan, &text, &args.confirm, "Purge?", settings)? {
        return Ok(crate::exit::SUCCESS);
    }
    let case =
        responder::open_case(settings, &responder, format!("malicious image {}", plan.pattern)).await?;
    let report =
        purge::apply(&responder.cluster, &case, &responder.actor, &pattern, namespace, &plan, args.timeout)
            .await?;
    match settings.output {
        OutputFormat::Json => print_json(&report)?,
        OutputFormat::Yaml => print_yaml(&report)?,
        OutputFormat::Table => {
            print_purged(&report)?;
            println!(
                "{}; case: {}",
                match report.purged_after_seconds {
                    Some(seconds) =>
                        format!("purged: no running pod uses the image (searched again after {seconds:.1}s)"),
                    None => "NOT purged".to_string(),
                },
                sanitize(&case.path().display().to_string())
            );
        }
    }
    Ok(if report.failed() || (!report.purged && !report.evidence_incomplete()) {
        crate::exit::FAILURE
    } else if report.evidence_incomplete() {
        crate::exit::INCOMPLETE
    } else {
        crate::exit::SUCCESS
    })
}

fn print_purged(report: &kir_respond::purge::PurgeReport) -> anyhow::Result<()> {
    let mut steps = table(&["step", "status", "detail"]);
    for step in &report.steps {
        steps.add_row(vec![
            Cell::new(&step.what),
            Cell::new(step.status),
            Cell::new(step.detail.clone().unwrap_or_default()),
        ]);
    }
    print_table(&steps)?;
    for pod in &report.still_running {
        println!("still running the image: {}", sanitize(pod));
    }
    for static_pod in &report.static_pods {
        println!("static pod, remove it on its node: {}", sanitize(static_pod));
    }
    for unread in &report.unread {
        println!("not searched: {}", sanitize(unread));
    }
    Ok(())
}

pub async fn respond(args: &RespondImageArgs, settings: &Settings) -> anyhow::Result<u8> {
    use kir_respond::{malicious, purge};
    let (pattern, namespace, remedy) = purge_settings(&args.purge, settings)?;
    let responder = responder::connect(settings).await?;
    let pattern = resolved(pattern, &args.purge.resolve, &responder.cluster, namespace).await?;
    let found = kir_respond::image::find(&responder.cluster, &pattern, namespace).await?;
    let proof_namespace =
        settings.connect.namespace.clone().unwrap_or_else(|| responder.cluster.namespace().to_string());
    let (engine, why) = engine(args.engine, &responder.cluster).await?;
    let block_plan = block::plan(&pattern, engine, "CASE", &proof_namespace);
    let purge_plan = purge::plan(&found, &pattern, &remedy, true);
    let running = found.running_pods().filter(|p| !p.mirror).count();
    let mut text = format!("Plan for the malicious image {}:\n", found.pattern);
    text.push_str(&format!(
        "  evidence  the search ({} pod(s), {} controller template(s)) kept; {} running pod(s) captured (at most {}); the templates kept as read{}\n",
        found.pods.len(),
        found.templates.len(),
        running.min(args.capture_limit),
        args.capture_limit,
        if args.audit_log.is_empty() { "" } else { "; who created or changed them, from the audit logs" }
    ));
    text.push_str(&format!(
        "  block     {}, proved by dry-runs of {} spelling(s) and a control image\n",
        block_text(&block_plan, &why),
        block_plan.spellings.len()
    ));
    text.push_str("  purge\n");
    text.push_str(&purge_text(&purge_plan, &found.unread, args.purge.timeout));
    #[derive(serde::Serialize)]
    struct Plan<'p> {
        found: &'p kir_respond::image::FindReport,
        block: &'p block::BlockPlan,
        purge: &'p purge::PurgePlan,
    }
    let plan = Plan { found: &found, block: &block_plan, purge: &purge_plan };
    if !responder::plan_confirmed(&plan, &text, &args.purge.confirm, "Respond?", settings)? {
        return Ok(crate::exit::SUCCESS);
    }
    let case =
        responder::open_case(settings, &responder, format!("malicious image {}", found.pattern)).await?;
    if !args.audit_log.is_empty() {
        introduced_by(&args.audit_log, &found, &case).await?;
    }
    let options = malicious::PlaybookOptions {
        remedy,
        engine,
        capture_limit: args.capture_limit,
        proof_namespace,
        wait: args.purge.timeout,
    };
    let report =
        malicious::run(&responder.cluster, &case, &responder.actor, &pattern, namespace, &found, &options)
            .await?;
    match settings.output {
        OutputFormat::Json => print_json(&report)?,
        OutputFormat::Yaml => print_yaml(&report)?,
        OutputFormat::Table => {
            let evidence = &report.evidence;
            println!(
                "evidence: {} pod(s) captured, {} template(s) kept",
                evidence.captured.len(),
                evidence.templates.len()
            );
            for missing in &evidence.not_captured {
                println!("not captured: {}", sanitize(missing));
            }
            println!();
            print_blocked(&report.block, &case.path().display().to_string())?;
            println!();
            match &report.purge {
                Some(purged) => print_purged(purged)?,
                None => println!(
                    "purge not made: deleting the pods would only have their controllers start them again while the block is not proved"
                ),
            }
            let t = &report.timings;
            println!(
                "{} (evidence {} ms, block {} ms, purge {} ms, total {} ms); case: {}",
                if report.contained {
                    "contained: blocked, and no running pod uses the image"
                } else {
                    "NOT contained"
                },
                t.evidence_ms,
                t.block_ms,
                t.purge_ms,
                t.total_ms,
                sanitize(&case.path().display().to_string())
            );
        }
    }
    let incomplete = report.purge.as_ref().is_some_and(|p| p.evidence_incomplete());
    Ok(if report.contained {
        crate::exit::SUCCESS
    } else if incomplete {
        crate::exit::INCOMPLETE
    } else {
        crate::exit::FAILURE
    })
}

/// Who created or changed the affected pods and templates, from the audit logs: into the case,
/// and each identity named with what it did.
async fn introduced_by(
    paths: &[std::path::PathBuf],
    found: &kir_respond::image::FindReport,
    case: &kir_evidence::Case,
) -> anyhow::Result<()> {
    use std::collections::{BTreeMap, BTreeSet};

    use kir_audit::{filter::Filter, pattern::Glob};
    let objects: BTreeSet<(String, String)> = found
        .pods
        .iter()
        .map(|p| ("pods".to_string(), format!("{}/{}", p.namespace, p.name)))
        .chain(
            found
                .templates
                .iter()
                .map(|t| (t.kind.plural().to_string(), format!("{}/{}", t.namespace, t.name))),
        )
        .collect();
    let mut filter =
        Filter { verbs: ["create", "update", "patch"].map(String::from).to_vec(), ..Filter::default() };
    let namespaces: BTreeSet<&str> =
        objects.iter().filter_map(|(_, object)| object.split_once('/').map(|(ns, _)| ns)).collect();
    filter.namespaces = namespaces.into_iter().map(Glob::new).collect();
    let (entries, _) = super::audit::timeline_entries(paths, &filter, kir_audit::Window::default(), None)?;
    let entries: Vec<_> = entries
        .into_iter()
        .filter(|e| {
            let (resource, subresource) = e.resource.split_once('/').unwrap_or((&e.resource, ""));
            // Status and binding writes (kubelet, scheduler, controllers) never name an image.
            matches!(subresource, "" | "ephemeralcontainers")
                && objects.contains(&(resource.to_string(), e.object.clone()))
        })
        .collect();
    let mut bytes = serde_json::to_vec_pretty(&entries)?;
    bytes.push(b'\n');
    let source = format!(
        "kir audit timeline: create, update and patch of the {} pod(s) and template(s) using the image, over {} audit log path(s)",
        objects.len(),
        paths.len()
    );
    let stored = {
        let case = case.clone();
        kir_respond::blocking::blocking(move || case.store_bytes("image/introduced-by.json", &source, &bytes))
            .await
    };
    match stored {
        Ok(_) => {}
        Err(kir_evidence::Error::AlreadyCollected { .. }) => {
            eprintln!(
                "who introduced the image is in the case from an earlier run (image/introduced-by.json)"
            );
        }
        Err(error) => eprintln!("who introduced the image could not be kept in the case: {error}"),
    }
    let mut by_user: BTreeMap<&str, BTreeSet<String>> = BTreeMap::new();
    for entry in &entries {
        by_user
            .entry(entry.user.as_str())
            .or_default()
            .insert(format!("{} {} {}", entry.verb, entry.resource, entry.object));
    }
    eprintln!(
        "{} write(s) of the affected objects in the audit logs, by {} identit(ies)",
        entries.len(),
        by_user.len()
    );
    for (user, actions) in by_user {
        let shown: Vec<&String> = actions.iter().take(5).collect();
        let more = actions.len().saturating_sub(shown.len());
        eprintln!(
            "{}",
            sanitize(&format!(
                "  {user}: {}{}",
                shown.iter().map(|a| a.as_str()).collect::<Vec<_>>().join("; "),
                if more > 0 { format!(" (and {more} more)") } else { String::new() }
            ))
        );
    }
    Ok(())
}

/// The trivy program: `--trivy`/`KIR_TRIVY`, else `trivy` on PATH.
fn trivy_program(args: &ImageScanArgs) -> Result<std::path::PathBuf, UsageError> {
    let install = "install trivy (https://trivy.dev, or: GOEXPERIMENT=jsonv2 go install github.com/aquasecurity/trivy/cmd/trivy@v0.74.0) \
                   or name it with --trivy PATH";
    if let Some(path) = &args.trivy {
        if path.is_file() {
            return Ok(path.clone());
        }
        return Err(UsageError(format!(
            "--trivy {}: no such file: {install}",
            sanitize(&path.display().to_string())
        )));
    }
    std::env::var_os("PATH")
        .iter()
        .flat_map(std::env::split_paths)
        .map(|dir| dir.join("trivy"))
        .find(|p| p.is_file())
        .ok_or_else(|| UsageError(format!("trivy is not on PATH: {install}")))
}

pub async fn scan(args: &ImageScanArgs, settings: &Settings) -> anyhow::Result<u8> {
    use kir_respond::imagescan::{self, TrivyOptions};
    let like = args.like.as_deref().map(pattern).transpose()?;
    let namespace = settings.connect.namespace.as_deref();
    if args.all_namespaces && namespace.is_some() {
        return Err(UsageError("-A and -n name different scopes: give one of them".into()).into());
    }
    if let Some(bad) =
        args.scanners.split(',').find(|s| !["vuln", "secret", "misconfig", "license"].contains(&s.trim()))
    {
        return Err(UsageError(format!(
            "--scanners {:?}: {:?} is not a trivy scanner (vuln, secret, misconfig, license)",
            sanitize(&args.scanners),
            sanitize(bad)
        ))
        .into());
    }
    for file in &args.from {
        if !file.is_file() {
            return Err(UsageError(format!(
                "--from {}: no such file",
                sanitize(&file.display().to_string())
            ))
            .into());
        }
    }
    let program = if args.from.is_empty() { Some(trivy_program(args)?) } else { None };
    let responder = responder::connect(settings).await?;
    let case = responder::open_case(settings, &responder, "image scan".to_string()).await?;
    let scans = match program {
        None => imagescan::ingest(&case, &responder.actor, &args.from).await?,
        Some(program) => {
            let pods = imagescan::running_pods(&responder.cluster, namespace).await?;
            let targets = imagescan::targets(&pods, like.as_ref());
            let total = targets.len();
            eprintln!(
                "{total} distinct image(s) running; scanning {} at a time with {}",
                args.parallel,
                sanitize(&program.display().to_string())
            );
            let options = TrivyOptions {
                program,
                scanners: args.scanners.clone(),
                parallel: usize::from(args.parallel),
                timeout: args.timeout,
            };
            let count = std::sync::atomic::AtomicUsize::new(0);
            let progress = |scan: &imagescan::ImageScan| {
                let n = count.fetch_add(1, std::sync::atomic::Ordering::Relaxed) + 1;
                let how = match (&scan.summary, &scan.error) {
                    (_, Some(error)) => format!("failed: {error}"),
                    (Some(summary), None) => format!(
                        "{} critical, {} high, {} secret(s)",
                        summary.vulnerabilities.critical,
                        summary.vulnerabilities.high,
                        summary.secrets.len()
                    ),
                    (None, None) => "no report".to_string(),
                };
                eprintln!("{}", sanitize(&format!("[{n}/{total}] {}: {how}", scan.target.reference)));
            };
            imagescan::scan(&case, &responder.actor, targets, &options, &progress).await?
        }
    };
    match settings.output {
        OutputFormat::Json => print_json(&scans)?,
        OutputFormat::Yaml => print_yaml(&scans)?,
        OutputFormat::Table => {
            let mut rows = table(&["image", "critical", "high", "medium", "low", "secrets", "pods", "note"]);
            for scan in &scans {
                // Without the vulnerability scanner there are no counts, not zero of each.
                let vulnerabilities_scanned =
                    !args.from.is_empty() || args.scanners.split(',').any(|s| s.trim() == "vuln");
                let counts =
                    scan.summary.as_ref().filter(|_| vulnerabilities_scanned).map(|s| &s.vulnerabilities);
                let count = |f: fn(&kir_image::trivy::SeverityCounts) -> u64| {
                    counts.map_or("-".to_string(), |c| f(c).to_string())
                };
                let pods = match scan.target.pods.len() {
                    0 => "-".to_string(),
                    1..=2 => scan.target.pods.join(", "),
                    n => format!("{}, {} and {} more", scan.target.pods[0], scan.target.pods[1], n - 2),
                };
                rows.add_row(vec![
                    Cell::new(&scan.target.reference),
                    Cell::new(count(|c| c.critical)),
                    Cell::new(count(|c| c.high)),
                    Cell::new(count(|c| c.medium)),
                    Cell::new(count(|c| c.low)),
                    Cell::new(scan.summary.as_ref().map_or("-".to_string(), |s| s.secrets.len().to_string())),
                    Cell::new(pods),
                    Cell::new(scan.error.clone().unwrap_or_default()),
                ]);
            }
            print_table(&rows)?;
            println!("case: {}", sanitize(&case.path().display().to_string()));
        }
    }
    Ok(if scans.iter().any(|s| s.error.is_some()) { crate::exit::FAILURE } else { crate::exit::SUCCESS })
}

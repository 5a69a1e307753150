//! The inventory as a document (Markdown) and as a diagram (Graphviz DOT, or SVG kir lays out
//! itself), and the drift as Markdown. Every cluster string goes through [`crate::escape`].

use std::fmt::Write;

use crate::{
    diff::{ChangeKind, Drift},
    escape::{dot_string, markdown_text as md, xml_text},
    model::{Exposure, Holder, Inventory, Workload},
};

fn yes_no(value: bool) -> &'static str {
    if value { "yes" } else { "**no**" }
}

/// A Markdown table: headers, then rows of cells already escaped.
fn table(out: &mut String, headers: &[&str], rows: Vec<Vec<String>>) {
    if rows.is_empty() {
        out.push_str("None.\n\n");
        return;
    }
    let _ = writeln!(out, "| {} |", headers.join(" | "));
    let _ = writeln!(out, "|{}", " --- |".repeat(headers.len()));
    for row in rows {
        let _ = writeln!(out, "| {} |", row.join(" | "));
    }
    out.push('\n');
}

fn list(items: &[String]) -> String {
    if items.is_empty() {
        "-".to_string()
    } else {
        items.iter().map(|i| md(i)).collect::<Vec<_>>().join(", ")
    }
}

/// Each section's sources: a note when one of them could not be read, since "None." would then
/// not be known.
fn incomplete(out: &mut String, inventory: &Inventory, kinds: &[&str]) {
    let missing: Vec<String> = inventory
        .gaps
        .iter()
        .filter(|gap| kinds.iter().any(|kind| gap.kind == *kind))
        .map(|gap| gap.kind.clone())
        .collect();
    if !missing.is_empty() {
        let _ = writeln!(out, "**Incomplete**: {} could not be read.\n", list(&missing));
    }
}

const WORKLOAD_KINDS: &[&str] =
    &["deployments.apps", "statefulsets.apps", "daemonsets.apps", "jobs.batch", "cronjobs.batch", "pods"];
const EXPOSURE_KINDS: &[&str] =
    &["services", "ingresses.networking.k8s.io", "httproutes.gateway.networking.k8s.io"];
const RBAC_KINDS: &[&str] = &[
    "clusterroles.rbac.authorization.k8s.io",
    "roles.rbac.authorization.k8s.io",
    "clusterrolebindings.rbac.authorization.k8s.io",
    "rolebindings.rbac.authorization.k8s.io",
];

fn holder_rows(holders: &[Holder]) -> Vec<Vec<String>> {
    holders
        .iter()
        .map(|h| {
            vec![
                md(&h.subject),
                h.namespace.as_deref().map_or("cluster-wide".to_string(), md),
                md(&h.binding),
                md(&h.role),
            ]
        })
        .collect()
}

/// The architecture document.
pub fn markdown(inventory: &Inventory) -> String {
    let mut out = String::from("# Cluster inventory\n\n");
    let cluster = &inventory.cluster;
    let _ = writeln!(out, "- Server: {}", md(&cluster.server));
    if let Some(context) = &cluster.context {
        let _ = writeln!(out, "- Context: {}", md(context));
    }
    if let Some(version) = &cluster.version {
        let _ = writeln!(out, "- Kubernetes: {}", md(version));
    }
    let _ = writeln!(out, "- Taken at: {}", md(&inventory.taken_at));
    let scope = inventory
        .namespace
        .as_deref()
        .map_or("all namespaces".to_string(), |ns| format!("namespace {}", md(ns)));
    let _ = writeln!(out, "- Scope: {scope}");
    let _ = writeln!(
        out,
        "- {} namespaces, {} workloads, {} exposures, {} nodes, {} network policies\n",
        inventory.facts.coverage.len(),
        inventory.workloads.len(),
        inventory.facts.exposures.len(),
        inventory.nodes.len(),
        inventory.network_policies.len()
    );
    if !inventory.gaps.is_empty() {
        out.push_str("## Not read (the inventory is incomplete)\n\n");
        for gap in &inventory.gaps {
            let _ = writeln!(out, "- {}: {}", md(&gap.kind), md(&gap.reason));
        }
        out.push('\n');
    }
    if !inventory.not_served.is_empty() {
        let _ = writeln!(out, "APIs not served by this cluster: {}.\n", list(&inventory.not_served));
    }

    out.push_str(
        "## Exposure\n\nWays in from outside the cluster network, and the workloads they reach.\n\n",
    );
    incomplete(&mut out, inventory, &[EXPOSURE_KINDS, WORKLOAD_KINDS].concat());
    let rows = inventory
        .facts
        .exposures
        .iter()
        .map(|e| {
            vec![md(&e.via), md(&format!("{}/{}", e.namespace, e.name)), md(&e.detail), list(&e.workloads)]
        })
        .collect();
    table(&mut out, &["via", "object", "reaches", "workloads"], rows);

    out.push_str("## Privileged and host access\n\n");
    incomplete(&mut out, inventory, WORKLOAD_KINDS);
    let rows = inventory.facts.host_access.iter().map(|h| vec![md(&h.workload), list(&h.reasons)]).collect();
    table(&mut out, &["workload", "reaches the node through"], rows);

    out.push_str("## Network policy coverage\n\n");
    incomplete(&mut out, inventory, &["namespaces", "networkpolicies.networking.k8s.io"]);
    let rows = inventory
        .facts
        .coverage
        .iter()
        .map(|c| {
            vec![
                md(&c.namespace),
                c.policies.to_string(),
                yes_no(c.default_deny_ingress).to_string(),
                yes_no(c.default_deny_egress).to_string(),
            ]
        })
        .collect();
    table(&mut out, &["namespace", "policies", "default-deny ingress", "default-deny egress"], rows);

    out.push_str("## Cluster admins\n\nEverything on everything: bound to `cluster-admin` or a role with `*` verbs on `*` resources.\n\n");
    incomplete(&mut out, inventory, RBAC_KINDS);
    table(&mut out, &["subject", "where", "binding", "role"], holder_rows(&inventory.facts.admins));
    out.push_str("## Secret readers\n\nMay get or list Secrets.\n\n");
    incomplete(&mut out, inventory, RBAC_KINDS);
    table(&mut out, &["subject", "where", "binding", "role"], holder_rows(&inventory.facts.secret_readers));

    out.push_str("## Workloads\n\n");
    incomplete(&mut out, inventory, WORKLOAD_KINDS);
    let rows = inventory
        .workloads
        .iter()
        .map(|w| {
            vec![
                md(&w.kind),
                md(&w.namespace),
                md(&w.name),
                md(&w.service_account),
                w.replicas.map_or("-".to_string(), |r| r.to_string()),
                list(&w.images),
            ]
        })
        .collect();
    table(&mut out, &["kind", "namespace", "name", "service account", "replicas", "images"], rows);

    out.push_str("## Services\n\n");
    let rows = inventory
        .services
        .iter()
        .filter(|s| s.exposed())
        .map(|s| {
            let ports: Vec<String> = s
                .ports
                .iter()
                .map(|p| match p.node_port {
                    Some(node) => format!("{}:{node}/{}", p.port, p.protocol),
                    None => format!("{}/{}", p.port, p.protocol),
                })
                .collect();
            vec![md(&s.namespace), md(&s.name), md(&s.kind), list(&ports), list(&s.external)]
        })
        .collect();
    table(&mut out, &["namespace", "name", "type", "ports", "external"], rows);

    out.push_str("## Ingresses\n\n");
    let rows = inventory
        .ingresses
        .iter()
        .map(|i| {
            vec![
                md(&i.namespace),
                md(&i.name),
                i.class.as_deref().map_or("-".to_string(), md),
                list(&i.hosts),
                list(&i.backends),
            ]
        })
        .collect();
    table(&mut out, &["namespace", "name", "class", "hosts", "backends"], rows);

    if !inventory.gateways.is_empty() || !inventory.http_routes.is_empty() {
        out.push_str("## Gateways\n\n");
        let rows = inventory
            .gateways
            .iter()
            .map(|g| vec![md(&g.namespace), md(&g.name), md(&g.class), list(&g.listeners)])
            .collect();
        table(&mut out, &["namespace", "name", "class", "listeners"], rows);
        out.push_str("## HTTPRoutes\n\n");
        let rows = inventory
            .http_routes
            .iter()
            .map(|r| {
                let backends: Vec<String> =
                    r.backends.iter().map(|b| format!("{}/{}", b.namespace, b.name)).collect();
                vec![md(&r.namespace), md(&r.name), list(&r.hostnames), list(&r.parents), list(&backends)]
            })
            .collect();
        table(&mut out, &["namespace", "name", "hostnames", "gateways", "backends"], rows);
    }

    out.push_str("## Network policies\n\n");
    let rows = inventory
        .network_policies
        .iter()
        .map(|p| {
            vec![
                md(&p.namespace),
                md(&p.name),
                if p.selects_all { "all pods".to_string() } else { "some pods".to_string() },
                list(&p.policy_types),
                p.ingress_rules.to_string(),
                p.egress_rules.to_string(),
            ]
        })
        .collect();
    table(&mut out, &["namespace", "name", "selects", "types", "ingress rules", "egress rules"], rows);

    out.push_str("## Nodes\n\n");
    let rows = inventory
        .nodes
        .iter()
        .map(|n| {
            let mut state = if n.ready { "Ready".to_string() } else { "NotReady".to_string() };
            if n.unschedulable {
                state.push_str(", cordoned");
            }
            vec![
                md(&n.name),
                list(&n.roles),
                state,
                md(&n.kubelet_version),
                md(&n.os_image),
                md(&n.container_runtime),
                list(&n.addresses),
            ]
        })
        .collect();
    table(&mut out, &["name", "roles", "state", "kubelet", "OS", "runtime", "addresses"], rows);

    let rbac = &inventory.rbac;
    let _ = writeln!(
        out,
        "## RBAC\n\n{} ClusterRoles, {} Roles, {} bindings.\n",
        rbac.cluster_roles,
        rbac.roles,
        rbac.bindings.len()
    );
    let rows = rbac
        .bindings
        .iter()
        .map(|b| {
            let name = match &b.namespace {
                Some(namespace) => format!("{}/{namespace}/{}", b.kind, b.name),
                None => format!("{}/{}", b.kind, b.name),
            };
            vec![md(&name), md(&b.role), list(&b.subjects)]
        })
        .collect();
    table(&mut out, &["binding", "role", "subjects"], rows);
    out
}

/// The diagram's contents: namespaces, and in each its exposures and workloads.
struct Diagram<'a> {
    namespaces: Vec<(&'a str, bool, Vec<&'a Exposure>, Vec<&'a Workload>)>,
}

impl<'a> Diagram<'a> {
    fn of(inventory: &'a Inventory) -> Diagram<'a> {
        let namespaces = inventory
            .facts
            .coverage
            .iter()
            .map(|c| {
                let exposures =
                    inventory.facts.exposures.iter().filter(|e| e.namespace == c.namespace).collect();
                let workloads = inventory.workloads.iter().filter(|w| w.namespace == c.namespace).collect();
                (c.namespace.as_str(), c.default_deny_ingress, exposures, workloads)
            })
            .collect();
        Diagram { namespaces }
    }

    /// Node ids: exposures `e0..`, workloads `w0..`, in drawing order.
    fn workload_id(&self, key: &str) -> Option<usize> {
        self.namespaces.iter().flat_map(|(_, _, _, w)| w.iter()).position(|w| w.key() == key)
    }
}

const PRIVILEGED_FILL: &str = "#f8d7da";
const DENIED_BORDER: &str = "#2e7d32";
const OPEN_BORDER: &str = "#e67e22";

/// The diagram in Graphviz DOT: namespaces as clusters, exposures and workloads inside, an
/// `internet` node with an edge to each exposure and from it to each workload it reaches.
pub fn dot(inventory: &Inventory) -> String {
    let diagram = Diagram::of(inventory);
    let mut out = String::from("digraph inventory {\n  graph [rankdir=LR, fontname=\"Helvetica\"];\n");
    out.push_str("  node [shape=box, fontname=\"Helvetica\", fontsize=10];\n");
    out.push_str("  internet [label=\"internet\", shape=ellipse];\n");
    let (mut exposure, mut workload) = (0, 0);
    let mut edges = String::new();
    for (i, (namespace, denied, exposures, workloads)) in diagram.namespaces.iter().enumerate() {
        let (border, note) =
            if *denied { (DENIED_BORDER, "") } else { (OPEN_BORDER, "\\n(no default-deny ingress)") };
        let _ = writeln!(
            out,
            "  subgraph cluster_{i} {{\n    label=\"{}{note}\";\n    color=\"{border}\";",
            dot_string(namespace)
        );
        for e in exposures {
            let _ = writeln!(
                out,
                "    e{exposure} [label=\"{}\\n{}\", shape=cds];",
                dot_string(&e.via),
                dot_string(&e.name)
            );
            let _ = writeln!(edges, "  internet -> e{exposure} [label=\"{}\"];", dot_string(&e.detail));
            for key in &e.workloads {
                if let Some(target) = diagram.workload_id(key) {
                    let _ = writeln!(edges, "  e{exposure} -> w{target};");
                }
            }
            exposure += 1;
        }
        for w in workloads {
            let fill = if w.host.reasons().is_empty() {
                String::new()
            } else {
                format!(", style=filled, fillcolor=\"{PRIVILEGED_FILL}\"")
            };
            let _ = writeln!(
                out,
                "    w{workload} [label=\"{}\\n{}\\nsa: {}\"{fill}];",
                dot_string(&w.kind),
                dot_string(&w.name),
                dot_string(&w.service_account)
            );
            workload += 1;
        }
        out.push_str("  }\n");
    }
    out.push_str(&edges);
    out.push_str("}\n");
    out
}

/// At most `max` characters of `text`, an ellipsis marking the cut.
fn clipped(text: &str, max: usize) -> String {
    if text.chars().count() <= max {
        return text.to_string();
    }
    let mut cut: String = text.chars().take(max - 1).collect();
    cut.push('…');
    cut
}

const ROW: i64 = 44;
const BOX_HEIGHT: i64 = 36;
const NAMESPACE_X: i64 = 180;
const EXPOSURE_X: i64 = NAMESPACE_X + 16;
const WORKLOAD_X: i64 = EXPOSURE_X + 250;
const ITEM_WIDTH: i64 = 220;
const NAMESPACE_WIDTH: i64 = WORKLOAD_X + ITEM_WIDTH + 16 - NAMESPACE_X;
const HEADER: i64 = 30;
const GAP: i64 = 16;
const INTERNET: (i64, i64) = (70, 50);

/// The diagram as SVG, laid out by kir: namespaces stacked as boxes, each with its exposures
/// on the left and its workloads on the right; edges from the internet to each exposure, and
/// from each exposure to the workloads it reaches. The same inventory always draws the same.
pub fn svg(inventory: &Inventory) -> String {
    let diagram = Diagram::of(inventory);
    let mut body = String::new();
    let mut edges = String::new();
    let mut workload_at: Vec<(i64, i64)> = Vec::new();
    let mut exposure_links: Vec<((i64, i64), &[String])> = Vec::new();
    let mut y = 20;
    for (namespace, denied, exposures, workloads) in &diagram.namespaces {
        let rows = exposures.len().max(workloads.len()).max(1) as i64;
        let height = HEADER + rows * ROW;
        let (border, note) =
            if *denied { (DENIED_BORDER, "") } else { (OPEN_BORDER, " (no default-deny ingress)") };
        let _ = writeln!(
            body,
            "<rect x=\"{NAMESPACE_X}\" y=\"{y}\" width=\"{NAMESPACE_WIDTH}\" height=\"{height}\" rx=\"6\" fill=\"#fafafa\" stroke=\"{border}\" stroke-width=\"2\"/>"
        );
        let _ = writeln!(
            body,
            "<text x=\"{}\" y=\"{}\" font-weight=\"bold\">{}{note}</text>",
            NAMESPACE_X + 8,
            y + 20,
            xml_text(&clipped(namespace, 48))
        );
        for (row, e) in exposures.iter().enumerate() {
            let top = y + HEADER + row as i64 * ROW;
            let _ = writeln!(
                body,
                "<rect x=\"{EXPOSURE_X}\" y=\"{top}\" width=\"{ITEM_WIDTH}\" height=\"{BOX_HEIGHT}\" rx=\"4\" fill=\"#e3f2fd\" stroke=\"#1565c0\"/>"
            );
            let _ = writeln!(
                body,
                "<text x=\"{}\" y=\"{}\">{}</text>\n<text x=\"{}\" y=\"{}\" font-size=\"10\">{}</text>",
                EXPOSURE_X + 6,
                top + 15,
                xml_text(&clipped(&format!("{} {}", e.via, e.name), 34)),
                EXPOSURE_X + 6,
                top + 29,
                xml_text(&clipped(&e.detail, 40))
            );
            let middle = top + BOX_HEIGHT / 2;
            let _ = writeln!(
                edges,
                "<line x1=\"{}\" y1=\"{}\" x2=\"{EXPOSURE_X}\" y2=\"{middle}\" stroke=\"#1565c0\"/>",
                INTERNET.0 + 40,
                INTERNET.1
            );
            exposure_links.push(((EXPOSURE_X + ITEM_WIDTH, middle), &e.workloads));
        }
        for (row, w) in workloads.iter().enumerate() {
            let top = y + HEADER + row as i64 * ROW;
            let fill = if w.host.reasons().is_empty() { "#ffffff" } else { PRIVILEGED_FILL };
            let _ = writeln!(
                body,
                "<rect x=\"{WORKLOAD_X}\" y=\"{top}\" width=\"{ITEM_WIDTH}\" height=\"{BOX_HEIGHT}\" rx=\"4\" fill=\"{fill}\" stroke=\"#555555\"/>"
            );
            let _ = writeln!(
                body,
                "<text x=\"{}\" y=\"{}\">{}</text>\n<text x=\"{}\" y=\"{}\" font-size=\"10\">{}</text>",
                WORKLOAD_X + 6,
                top + 15,
                xml_text(&clipped(&format!("{} {}", w.kind, w.name), 34)),
                WORKLOAD_X + 6,
                top + 29,
                xml_text(&clipped(&format!("sa: {}", w.service_account), 40))
            );
            workload_at.push((WORKLOAD_X, top + BOX_HEIGHT / 2));
        }
        y += height + GAP;
    }
    for ((x1, y1), keys) in exposure_links {
        for key in keys {
            if let Some(&(x2, y2)) = diagram.workload_id(key).and_then(|i| workload_at.get(i)) {
                let _ = writeln!(
                    edges,
                    "<line x1=\"{x1}\" y1=\"{y1}\" x2=\"{x2}\" y2=\"{y2}\" stroke=\"#1565c0\" stroke-dasharray=\"4 2\"/>"
                );
            }
        }
    }
    let width = NAMESPACE_X + NAMESPACE_WIDTH + 20;
    let height = y.max(INTERNET.1 + 40) + 4;
    format!(
        "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{width}\" height=\"{height}\" viewBox=\"0 0 {width} {height}\" font-family=\"Helvetica, Arial, sans-serif\" font-size=\"12\">\n\
         <rect width=\"100%\" height=\"100%\" fill=\"#ffffff\"/>\n\
         <ellipse cx=\"{}\" cy=\"{}\" rx=\"40\" ry=\"20\" fill=\"#fff3e0\" stroke=\"#e65100\"/>\n\
         <text x=\"{}\" y=\"{}\" text-anchor=\"middle\">internet</text>\n{body}{edges}</svg>\n",
        INTERNET.0,
        INTERNET.1,
        INTERNET.0,
        INTERNET.1 + 4
    )
}

/// The drift as Markdown.
pub fn drift_markdown(drift: &Drift) -> String {
    let mut out = format!("# Inventory drift\n\nFrom {} to {}.\n\n", md(&drift.from), md(&drift.to));
    if !drift.unknown.is_empty() {
        let _ = writeln!(out, "Not known (not read in one of the two): {}.\n", list(&drift.unknown));
    }
    if drift.changes.is_empty() {
        out.push_str("No change.\n");
        return out;
    }
    let rows = drift
        .changes
        .iter()
        .map(|c| {
            let kind = match c.kind {
                ChangeKind::Added => "added",
                ChangeKind::Removed => "removed",
                ChangeKind::Changed => "changed",
            };
            vec![
                c.topic.title().to_string(),
                kind.to_string(),
                md(&c.item),
                c.detail.as_deref().map_or("-".to_string(), md),
            ]
        })
        .collect();
    table(&mut out, &["what", "change", "item", "detail"], rows);
    out
}

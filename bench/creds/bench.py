#!/usr/bin/env python3
"""`kir creds scope SUBJECT` (every namespace, RBAC listed once) against
`kubectl auth can-i --list --as SUBJECT -n NS` (one namespace per call), on a testbed holding
5,000 RoleBindings and 2,000 Roles across 500 namespaces, plus the default ClusterRoles.

  generate  build the objects (deterministic: same seed, same cluster)
  populate  create them with parallel `kubectl create -f` of Lists, namespaces first, then wait
            until the authorizer sees the last binding of every batch
  check     kir and kubectl agree: in sampled namespaces, the namespaces where kir lists grants
            from the generated RoleBindings are those where kubectl lists more than the subject's
            cluster-wide rules, and the rules themselves are the same; exits 1 if not
  time      hyperfine (warm-up, >= 10 runs, medians), max RSS of kir (/usr/bin/time -v), the
            list calls alone (raw HTTP), and the report (Markdown, also written to --out)

`all` runs the four in order. Standard library only.
"""
import argparse
import http.client
import json
import os
import random
import re
import ssl
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.parse

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))

NAMESPACES = 500
ROLES_PER_NS = 4  # 2,000 Roles
BINDINGS_PER_NS = 10  # 5,000 RoleBindings
SUBJECT_NS = "tenant-042"
SUBJECT_SA = "release-bot"
SUBJECT = f"system:serviceaccount:{SUBJECT_NS}:{SUBJECT_SA}"
SUBJECT_GROUP = f"system:serviceaccounts:{SUBJECT_NS}"
SUBJECT_BINDINGS = 50  # namespaces where the subject is bound
SUBJECT_BY_GROUP = 10  # of which through the group system:serviceaccounts:tenant-042
LABEL = {"kir.dev/bench": "creds"}
SEED = 20261207


def ns_name(i):
    return f"tenant-{i:03d}"


def rule(groups, resources, verbs, names=None):
    r = {"apiGroups": groups, "resources": resources, "verbs": verbs}
    if names:
        r["resourceNames"] = names
    return r


READ = ["get", "list", "watch"]
WRITE = ["get", "list", "watch", "create", "update", "patch", "delete"]

# Namespaced Role templates; {ns} is the namespace.
ROLE_TEMPLATES = {
    "pod-reader": [rule([""], ["pods", "pods/log"], READ)],
    "config-editor": [rule([""], ["configmaps"], WRITE)],
    "deployer": [rule(["apps"], ["deployments", "replicasets", "statefulsets"], WRITE),
                 rule(["apps"], ["deployments/scale", "statefulsets/scale"], ["update", "patch"])],
    "secret-reader": [rule([""], ["secrets"], ["get"], ["{ns}-db-credentials", "{ns}-tls"])],
    "debugger": [rule([""], ["pods/exec", "pods/portforward", "pods/attach"], ["create", "get"]),
                 rule([""], ["pods"], ["get", "list"])],
    "job-runner": [rule(["batch"], ["jobs", "cronjobs"], ["*"])],
    "ingress-manager": [rule(["networking.k8s.io"], ["ingresses", "networkpolicies"], WRITE)],
    "widget-operator": [rule(["widgets.example.com"], ["widgets", "widgets/status"], ["*"]),
                        rule(["coordination.k8s.io"], ["leases"], WRITE)],
    "rbac-manager": [rule(["rbac.authorization.k8s.io"], ["roles", "rolebindings"],
                          ["get", "list", "create", "update", "patch", "delete", "bind", "escalate"])],
    "token-minter": [rule([""], ["serviceaccounts/token"], ["create"]),
                     rule([""], ["serviceaccounts"], ["get", "list"])],
    "event-viewer": [rule(["", "events.k8s.io"], ["events"], READ)],
    "storage-manager": [rule([""], ["persistentvolumeclaims"], WRITE)],
    "autoscaler-tuner": [rule(["autoscaling"], ["horizontalpodautoscalers"], WRITE),
                         rule(["policy"], ["poddisruptionbudgets"], READ)],
}

# Generated ClusterRoles (20), bound by RoleBindings and ClusterRoleBindings.
CLUSTER_ROLES = {
    "platform:log-reader": [rule([""], ["pods", "pods/log"], READ)],
    "platform:namespace-lister": [rule([""], ["namespaces"], ["get", "list"])],
    "platform:secrets-admin": [rule([""], ["secrets"], ["*"])],
    "platform:widget-viewer": [rule(["widgets.example.com"], ["widgets"], READ)],
    "platform:widget-admin": [rule(["widgets.example.com"], ["*"], ["*"])],
    "platform:ci-deployer": ROLE_TEMPLATES["deployer"] + [rule([""], ["services", "configmaps"], WRITE)],
    "platform:oncall": [rule(["", "apps", "batch"], ["*"], READ),
                        rule([""], ["pods/exec", "pods/log"], ["create", "get"])],
    "platform:pod-debugger": ROLE_TEMPLATES["debugger"],
    "platform:job-runner": ROLE_TEMPLATES["job-runner"],
    "platform:netpol-admin": [rule(["networking.k8s.io"], ["networkpolicies"], ["*"])],
    "platform:metrics-reader": [rule(["metrics.k8s.io"], ["pods", "nodes"], READ)],
    "platform:node-viewer": [rule([""], ["nodes", "nodes/status"], READ)],
    "platform:crd-viewer": [rule(["apiextensions.k8s.io"], ["customresourcedefinitions"], READ)],
    "platform:pvc-admin": ROLE_TEMPLATES["storage-manager"],
    "platform:token-minter": ROLE_TEMPLATES["token-minter"],
    "platform:event-viewer": ROLE_TEMPLATES["event-viewer"],
    "platform:lease-holder": [rule(["coordination.k8s.io"], ["leases"], WRITE)],
    "platform:hpa-tuner": ROLE_TEMPLATES["autoscaler-tuner"],
    "platform:service-editor": [rule([""], ["services", "endpoints"], WRITE),
                                rule(["discovery.k8s.io"], ["endpointslices"], READ)],
    "platform:prometheus": [rule([""], ["pods", "services", "endpoints"], READ),
                            {"nonResourceURLs": ["/metrics"], "verbs": ["get"]}],
}
# Bound through RoleBindings only (a non-resource URL in a RoleBinding grants nothing).
NAMESPACE_CLUSTER_ROLES = [n for n in CLUSTER_ROLES if n not in ("platform:prometheus", "platform:node-viewer",
                                                                   "platform:crd-viewer", "platform:namespace-lister")]


def generate(out):
    """Write the objects as Lists (namespaces.json, cluster.json, batch-N.json) and
    expect.json (what the subject holds where, the sample, the probes)."""
    rng = random.Random(SEED)
    os.makedirs(out, exist_ok=True)
    meta = lambda name, ns=None: {"name": name, "labels": LABEL, **({"namespace": ns} if ns else {})}
    namespaces = [ns_name(i) for i in range(NAMESPACES)]
    users = [f"user-{i:03d}@example.com" for i in range(400)]
    teams = [f"oidc:team-{i:02d}" for i in range(60)]

    first = [{"apiVersion": "v1", "kind": "Namespace", "metadata": meta(ns)} for ns in namespaces]
    first.append({"apiVersion": "v1", "kind": "ServiceAccount", "metadata": meta(SUBJECT_SA, SUBJECT_NS)})
    write_list(os.path.join(out, "namespaces.json"), first)

    cluster = [{"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRole", "metadata": meta(name), "rules": rules}
               for name, rules in CLUSTER_ROLES.items()]
    crbs = [("oidc:platform-admins", "Group", "cluster-admin"), ("oidc:sre", "Group", "platform:oncall"),
            ("system:serviceaccounts", "Group", "platform:namespace-lister")]
    for i in range(30 - len(crbs)):
        kind = rng.choice(["User", "Group", "ServiceAccount"])
        who = {"User": rng.choice(users), "Group": rng.choice(teams),
               "ServiceAccount": f"{ns_name(rng.randrange(NAMESPACES))}:monitoring"}[kind]
        if kind == "ServiceAccount" and who.startswith(SUBJECT_NS + ":"):
            who = "tenant-007:monitoring"
        crbs.append((who, kind, rng.choice(list(CLUSTER_ROLES) + ["view", "view", "system:monitoring"])))
    for i, (who, kind, role) in enumerate(crbs):
        cluster.append({
            "apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRoleBinding",
            "metadata": meta(f"platform-{i:02d}-{role.replace(':', '-')}"),
            "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": role},
            "subjects": [subject(kind, who)],
        })
    write_list(os.path.join(out, "cluster.json"), cluster)

    bound = sorted(rng.sample([n for n in namespaces if n != SUBJECT_NS], SUBJECT_BINDINGS - 1) + [SUBJECT_NS])
    by_group = set(rng.sample(bound, SUBJECT_BY_GROUP))
    expect = {"subject": SUBJECT, "bound": {}, "namespaces": namespaces, "probes": []}
    batches = [[] for _ in range(4)]
    rolebindings = roles = 0
    for i, ns in enumerate(namespaces):
        batch = batches[i * len(batches) // NAMESPACES]
        templates = rng.sample(sorted(ROLE_TEMPLATES), ROLES_PER_NS)
        for t in templates:
            rules = json.loads(json.dumps(ROLE_TEMPLATES[t]).replace("{ns}", ns))
            batch.append({"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "Role", "metadata": meta(t, ns), "rules": rules})
            roles += 1
        subject_at = rng.randrange(BINDINGS_PER_NS) if ns in bound else None
        for b in range(BINDINGS_PER_NS):
            pick = rng.random()
            if pick < 0.5:
                ref_kind, ref = "Role", rng.choice(templates)
            elif pick < 0.8:
                ref_kind, ref = "ClusterRole", rng.choices(["view", "edit", "admin"], [0.5, 0.35, 0.15])[0]
            else:
                ref_kind, ref = "ClusterRole", rng.choice(NAMESPACE_CLUSTER_ROLES)
            if b != subject_at and rng.random() < 0.01:
                ref_kind, ref = "Role", "deleted-role"  # a binding left behind by a removed Role
            subjects = []
            for _ in range(rng.choice([1, 1, 1, 2, 2, 3])):
                kind = rng.choices(["User", "Group", "ServiceAccount", "SAGroup"], [0.45, 0.25, 0.27, 0.03])[0]
                if kind == "User":
                    subjects.append(subject("User", rng.choice(users)))
                elif kind == "Group":
                    subjects.append(subject("Group", rng.choice(teams)))
                elif kind == "SAGroup":
                    other = ns_name(rng.randrange(NAMESPACES))
                    if other != SUBJECT_NS:
                        subjects.append(subject("Group", f"system:serviceaccounts:{other}"))
                else:
                    other = ns if rng.random() < 0.8 else ns_name(rng.randrange(NAMESPACES))
                    subjects.append(subject("ServiceAccount", f"{other}:{rng.choice(['default', 'app', 'ci', 'worker', 'monitoring'])}"))
            if not subjects:
                subjects.append(subject("User", rng.choice(users)))
            if b == subject_at:
                mine = subject("Group", SUBJECT_GROUP) if ns in by_group else subject("ServiceAccount", f"{SUBJECT_NS}:{SUBJECT_SA}")
                subjects.insert(rng.randrange(len(subjects) + 1), mine)
                expect["bound"][ns] = {"binding": f"{ref.replace(':', '-')}-{b}", "roleRef": f"{ref_kind}/{ref}",
                                       "as": mine["kind"] + " " + mine["name"]}
            batch.append({
                "apiVersion": "rbac.authorization.k8s.io/v1", "kind": "RoleBinding",
                "metadata": meta(f"{ref.replace(':', '-')}-{b}", ns),
                "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": ref_kind, "name": ref},
                "subjects": subjects,
            })
            rolebindings += 1
    for n, batch in enumerate(batches):
        write_list(os.path.join(out, f"batch-{n}.json"), batch)
        # The batch's last binding, to ask the authorizer about once it is created.
        last = next(o for o in reversed(batch) if o["kind"] == "RoleBinding" and o["roleRef"]["name"] != "deleted-role")
        expect["probes"].append(probe(last, batch))
    # Sample: 6 namespaces where the subject is bound (at least 2 through its namespace's group),
    # 4 where it is not, and default (no generated binding).
    groups = sorted(by_group)
    direct = sorted(set(bound) - by_group)
    unbound = sorted(set(namespaces) - set(bound))
    expect["sample"] = sorted(rng.sample(groups, 2) + rng.sample(direct, 4) + rng.sample(unbound, 4)) + ["default"]
    expect["counts"] = {"namespaces": NAMESPACES, "roles": roles, "rolebindings": rolebindings,
                        "generated clusterroles": len(CLUSTER_ROLES), "generated clusterrolebindings": len(crbs)}
    with open(os.path.join(out, "expect.json"), "w") as f:
        json.dump(expect, f, indent=1)
    return expect


def subject(kind, who):
    if kind == "ServiceAccount":
        ns, name = who.split(":")
        return {"kind": "ServiceAccount", "name": name, "namespace": ns}
    return {"kind": kind, "name": who, "apiGroup": "rbac.authorization.k8s.io"}


def probe(binding, batch):
    """A `kubectl auth can-i` that says yes once `binding` has reached the authorizer."""
    ns = binding["metadata"]["namespace"]
    ref = binding["roleRef"]
    if ref["kind"] == "Role":
        rules = next(o["rules"] for o in batch if o["kind"] == "Role" and o["metadata"]["namespace"] == ns
                     and o["metadata"]["name"] == ref["name"])
    elif ref["name"] in CLUSTER_ROLES:
        rules = CLUSTER_ROLES[ref["name"]]
    else:  # view, edit, admin
        rules = [rule([""], ["pods"], ["get"])]
    r = next(r for r in rules if r.get("resources"))
    group = r["apiGroups"][0]
    resource = r["resources"][0]
    base, _, sub = resource.partition("/")
    target = (base if not group or group == "*" else f"{base}.{group}")
    args = [r["verbs"][0] if r["verbs"][0] != "*" else "get", target]
    if sub:
        args.append(f"--subresource={sub}")
    if r.get("resourceNames"):
        args[1] = f"{target}/{r['resourceNames'][0]}"
    s = binding["subjects"][0]
    if s["kind"] == "User":
        args += ["--as", s["name"]]
    elif s["kind"] == "Group":
        args += ["--as", "bench-probe", "--as-group", s["name"]]
    else:
        args += ["--as", f"system:serviceaccount:{s['namespace']}:{s['name']}"]
    return args + ["-n", ns]


def write_list(path, items):
    with open(path, "w") as f:
        json.dump({"apiVersion": "v1", "kind": "List", "items": items}, f)


def run(args, **kw):
    return subprocess.run(args, check=True, capture_output=True, text=True, **kw)


def populate(kubectl, out, expect):
    start = time.perf_counter()
    run([kubectl, "create", "-f", os.path.join(out, "namespaces.json")])
    run([kubectl, "create", "-f", os.path.join(out, "cluster.json")])
    t_ns = time.perf_counter() - start
    procs = [subprocess.Popen([kubectl, "create", "-f", os.path.join(out, name)], stdout=subprocess.DEVNULL,
                              stderr=subprocess.PIPE, text=True)
             for name in sorted(os.listdir(out)) if name.startswith("batch-")]
    for p in procs:
        _, err = p.communicate()
        if p.returncode != 0:
            sys.exit(f"kubectl create failed: {err[:2000]}")
    t_created = time.perf_counter() - start
    deadline = time.time() + 300
    for args in expect["probes"]:
        while True:
            done = subprocess.run([kubectl, "auth", "can-i", *args], capture_output=True, text=True)
            if done.stdout.strip() == "yes":
                break
            if time.time() > deadline:
                sys.exit(f"the authorizer never allowed: kubectl auth can-i {' '.join(args)}")
            time.sleep(0.2)
    t_seen = time.perf_counter() - start
    print(f"populated: namespaces and cluster-wide RBAC {t_ns:.1f} s, all created {t_created:.1f} s, "
          f"seen by the authorizer {t_seen:.1f} s", file=sys.stderr)
    return {"created_s": t_created, "seen_s": t_seen}


# --- agreement -------------------------------------------------------------------------------

def breakdown(rules):
    """Rules as kubectl prints them: one (group, resource, name) or URL each, verbs as a set."""
    out = {}
    for r in rules:
        verbs = set(r.get("verbs") or [])
        for g in r.get("apiGroups") or []:
            for res in r.get("resources") or []:
                for name in (r.get("resourceNames") or [""]):
                    out.setdefault(("res", g, res, name), set()).update(verbs)
        for url in r.get("nonResourceURLs") or []:
            out.setdefault(("url", url), set()).update(verbs)
    return out


LINE = re.compile(r"^\s*(\S*)\s+\[([^\]]*)\]\s+\[([^\]]*)\]\s+\[([^\]]*)\]\s*$")


def parse_can_i(text):
    """`kubectl auth can-i --list` (table: Resources, Non-Resource URLs, Resource Names, Verbs)."""
    out = {}
    for line in text.splitlines()[1:]:
        m = LINE.match(line)
        if not m:
            if line.strip():
                raise ValueError(f"unexpected line from kubectl: {line!r}")
            continue
        resource, urls, names, verbs = m.groups()
        verbs = set(verbs.split())
        if resource:
            qualified, _, sub = resource.partition("/")
            base, _, group = qualified.partition(".")
            res = f"{base}/{sub}" if sub else base
            for name in (names.split() or [""]):
                out.setdefault(("res", group, res, name), set()).update(verbs)
        for url in urls.split():
            out.setdefault(("url", url), set()).update(verbs)
    return out


def check(kir, kubectl, expect):
    done = run([kir, "creds", "scope", SUBJECT, "-o", "json"])
    report = json.loads(done.stdout)
    grants = report["grants"]
    generated = set(expect["namespaces"])
    kir_ns = {g["binding"]["namespace"] for g in grants
              if g["binding"].get("namespace") in generated and g["binding"]["kind"] == "RoleBinding"}
    expected_ns = set(expect["bound"])
    baseline = parse_can_i(run([kubectl, "auth", "can-i", "--list", "--as", SUBJECT, "-n", "default"]).stdout)
    rows, failures = [], []
    if kir_ns != expected_ns:
        failures.append(f"kir lists generated grants in {len(kir_ns)} namespaces, the generator bound the subject in "
                        f"{len(expected_ns)}: missing {sorted(expected_ns - kir_ns)[:5]}, extra {sorted(kir_ns - expected_ns)[:5]}")
    for ns in expect["sample"]:
        k = parse_can_i(run([kubectl, "auth", "can-i", "--list", "--as", SUBJECT, "-n", ns]).stdout)
        kubectl_has = any(key not in baseline or not k[key] <= baseline[key] for key in k)
        kir_has = ns in kir_ns
        mine = [g for g in grants if g.get("namespace") in (ns, None)]
        # kir's rules in this namespace: its namespaced grants, and the cluster-wide ones.
        kir_rules = breakdown([g["rule"] for g in mine])
        same = kir_rules == k
        why = "" if same else diff(kir_rules, k)
        how = expect["bound"].get(ns)
        rows.append((ns, how["as"] + " -> " + how["roleRef"] if how else "not bound", kir_has, kubectl_has,
                     len({(g["binding"]["namespace"], g["binding"]["name"]) for g in mine if g.get("namespace") == ns}),
                     len(k), same))
        if kir_has != kubectl_has or kir_has != (how is not None):
            failures.append(f"{ns}: kir lists generated grants: {kir_has}, kubectl lists more than the cluster-wide rules: "
                            f"{kubectl_has}, generated binding: {how is not None}")
        if not same:
            failures.append(f"{ns}: kir's and kubectl's rules differ: {why}")
    return {"rows": rows, "failures": failures, "kir_namespaces": len(kir_ns), "grants": len(grants),
            "json_bytes": len(done.stdout)}


def diff(kir_rules, kubectl_rules):
    parts = []
    for key in sorted(set(kir_rules) | set(kubectl_rules)):
        a, b = kir_rules.get(key, set()), kubectl_rules.get(key, set())
        if a != b:
            parts.append(f"{key}: kir {sorted(a)} kubectl {sorted(b)}")
    return "; ".join(parts[:6]) + (f" (and {len(parts) - 6} more)" if len(parts) > 6 else "")


# --- timing ----------------------------------------------------------------------------------

def hyperfine(commands, runs, warmup, shell="none"):
    with tempfile.NamedTemporaryFile(suffix=".json", delete=False) as f:
        path = f.name
    args = ["hyperfine", "--warmup", str(warmup), "--runs", str(runs), "--export-json", path, "--style", "basic"]
    args += ["-N"] if shell == "none" else ["--shell", shell]
    done = subprocess.run(args + commands, capture_output=True, text=True)
    sys.stderr.write(done.stdout + done.stderr)
    if done.returncode != 0:
        sys.exit("hyperfine failed")
    with open(path) as f:
        results = json.load(f)["results"]
    os.unlink(path)
    return results


def max_rss_kb(command, runs=5):
    peaks = []
    for _ in range(runs):
        done = subprocess.run(["/usr/bin/time", "-v", *command], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
        if done.returncode != 0:
            sys.exit(f"failed: {' '.join(command)}\n{done.stderr}")
        peaks.append(int(re.search(r"Maximum resident set size \(kbytes\): (\d+)", done.stderr).group(1)))
    return peaks


class Raw:
    """The API server over HTTPS with the testbed's admin certificate: the list calls alone."""

    def __init__(self, state, server):
        pki = os.path.join(state, "pki")
        ctx = ssl.create_default_context(cafile=os.path.join(pki, "ca.crt"))
        ctx.load_cert_chain(os.path.join(pki, "admin.crt"), os.path.join(pki, "admin.key"))
        url = urllib.parse.urlsplit(server)
        self.conn = http.client.HTTPSConnection(url.hostname, url.port, context=ctx)

    def get(self, path, accept="application/json"):
        self.conn.request("GET", path, headers={"Accept": accept})
        resp = self.conn.getresponse()
        body = resp.read()
        if resp.status != 200:
            sys.exit(f"GET {path}: {resp.status} {body[:300]!r}")
        return body

    def list_all(self, plural):
        """Seconds per page, bytes, items."""
        pages, size, items, cont = [], 0, 0, ""
        while True:
            q = "limit=500" + (f"&continue={urllib.parse.quote(cont)}" if cont else "")
            t = time.perf_counter()
            body = self.get(f"/apis/rbac.authorization.k8s.io/v1/{plural}?{q}")
            pages.append(time.perf_counter() - t)
            doc = json.loads(body)
            size += len(body)
            items += len(doc["items"])
            cont = doc["metadata"].get("continue") or ""
            if not cont:
                return pages, size, items


STAMP = re.compile(r"(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d+)Z.*?(connecting to|pooling idle connection)")


def kir_phases(command, runs=5):
    """Where kir's wall time goes, from its HTTP client's debug log: start to the first
    connection (process start, kubeconfig), first connection to the last response read (TLS, the
    SelfSubjectReview and the four lists with their pages), last response to exit (evaluating,
    printing, exit). Medians in ms."""
    import datetime
    phases = []
    env = {**os.environ, "RUST_LOG": "hyper_util=debug", "NO_COLOR": "1"}
    for _ in range(runs):
        start = time.time()
        done = subprocess.run(command, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
        end = time.time()
        stamps = {}
        for m in STAMP.finditer(re.sub(r"\x1b\[[0-9;]*m", "", done.stderr)):
            t = datetime.datetime.fromisoformat(m.group(1)[:26]).replace(tzinfo=datetime.timezone.utc).timestamp()
            stamps.setdefault(m.group(2), []).append(t)
        if done.returncode != 0 or "connecting to" not in stamps or "pooling idle connection" not in stamps:
            return None
        first, last = min(stamps["connecting to"]), max(stamps["pooling idle connection"])
        phases.append(((first - start) * 1000, (last - first) * 1000, (end - last) * 1000, (end - start) * 1000,
                       len(stamps["connecting to"])))
    return [statistics.median(p[i] for p in phases) for i in range(5)]


def server_of(kubectl):
    return run([kubectl, "config", "view", "--minify", "-o", "jsonpath={.clusters[0].cluster.server}"]).stdout.strip()


def list_costs(kubectl, repeat=5):
    """The four lists kir makes, page by page, sequentially on one warm connection (kir makes
    them concurrently); the median of `repeat` rounds."""
    raw = Raw(os.environ["KIR_TESTBED_STATE"], server_of(kubectl))
    raw.get("/version")
    out = {}
    for plural in ("roles", "clusterroles", "rolebindings", "clusterrolebindings"):
        rounds = [raw.list_all(plural) for _ in range(repeat)]
        out[plural] = {"pages": len(rounds[0][0]), "items": rounds[0][2], "bytes": rounds[0][1],
                       "ms": statistics.median(sum(r[0]) for r in rounds) * 1000,
                       "page_ms": statistics.median(p for r in rounds for p in r[0]) * 1000}
    # The biggest list in one response: what the pages cost over the objects themselves.
    unpaged = []
    for _ in range(repeat):
        t = time.perf_counter()
        raw.get("/apis/rbac.authorization.k8s.io/v1/rolebindings")
        unpaged.append(time.perf_counter() - t)
    out["rolebindings, one unpaged list"] = {**out["rolebindings"], "pages": 1, "ms": statistics.median(unpaged) * 1000,
                                             "page_ms": statistics.median(unpaged) * 1000}
    # The same pages in protobuf, which the API server encodes with less work than JSON.
    rounds = []
    for _ in range(repeat):
        pages, size, cont = [], 0, ""
        while True:
            q = "limit=500" + (f"&continue={urllib.parse.quote(cont)}" if cont else "")
            t = time.perf_counter()
            body = raw.get(f"/apis/rbac.authorization.k8s.io/v1/rolebindings?{q}", "application/vnd.kubernetes.protobuf")
            pages.append(time.perf_counter() - t)
            size += len(body)
            # The continue token, without a protobuf decoder: ask for the same page's metadata as JSON.
            meta = json.loads(raw.get(f"/apis/rbac.authorization.k8s.io/v1/rolebindings?{q}",
                                      "application/json;as=PartialObjectMetadataList;g=meta.k8s.io;v=v1"))
            cont = meta["metadata"].get("continue") or ""
            if not cont:
                break
        rounds.append((pages, size))
    out["rolebindings, protobuf"] = {"pages": len(rounds[0][0]), "items": out["rolebindings"]["items"], "bytes": rounds[0][1],
                                     "ms": statistics.median(sum(r[0]) for r in rounds) * 1000,
                                     "page_ms": statistics.median(p for r in rounds for p in r[0]) * 1000}
    return out


def cpu_ms(r):
    """The command's own CPU time (its processes, not the API server's)."""
    return f"{r['user'] * 1000:.0f} + {r['system'] * 1000:.0f} ms"


def fmt_ms(r):
    return f"{r['median'] * 1000:.0f} ms"


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("step", choices=["generate", "populate", "check", "time", "all"])
    p.add_argument("--kir", default=os.path.join(ROOT, "target/release/kir"))
    p.add_argument("--kubectl", required=True)
    p.add_argument("--dir", default=os.path.join(tempfile.gettempdir(), "kir-bench-creds-objects"))
    p.add_argument("--runs", type=int, default=20)
    p.add_argument("--warmup", type=int, default=3)
    p.add_argument("--all-runs", type=int, default=3, help="runs of kubectl over every namespace")
    p.add_argument("--out")
    a = p.parse_args()
    steps = ["generate", "populate", "check", "time"] if a.step == "all" else [a.step]

    expect = generate(a.dir) if "generate" in steps else json.load(open(os.path.join(a.dir, "expect.json")))
    populated = populate(a.kubectl, a.dir, expect) if "populate" in steps else None
    checked = None
    if "check" in steps:
        checked = check(a.kir, a.kubectl, expect)
        for f in checked["failures"]:
            print(f"DISAGREE: {f}", file=sys.stderr)
        if checked["failures"]:
            sys.exit("kir and kubectl disagree: not timing")
        print(f"check: kir lists generated grants in {checked['kir_namespaces']} namespaces; "
              f"{len(checked['rows'])} sampled namespaces compared with kubectl", file=sys.stderr)
    if "time" in steps:
        report = measure(a, expect, populated, checked)
        print(report)
        if a.out:
            with open(a.out, "w") as f:
                f.write(report)


def measure(a, expect, populated, checked):
    k = a.kubectl
    one_ns = sorted(expect["bound"])[len(expect["bound"]) // 2]
    kir_cmd = f"{a.kir} creds scope {SUBJECT} -o json"
    one_cmd = f"{k} auth can-i --list --as {SUBJECT} -n {one_ns}"
    # Every namespace the cluster has, as a responder would loop over them.
    all_cmd = (f"for ns in $({k} get namespaces -o jsonpath='{{.items[*].metadata.name}}'); do "
               f"{k} auth can-i --list --as {SUBJECT} -n $ns; done")
    counts = {
        "namespaces (all)": len(run([k, "get", "namespaces", "-o", "name"]).stdout.split()),
        "Roles": len(run([k, "get", "roles", "-A", "-o", "name"]).stdout.split()),
        "RoleBindings": len(run([k, "get", "rolebindings", "-A", "-o", "name"]).stdout.split()),
        "ClusterRoles": len(run([k, "get", "clusterroles", "-o", "name"]).stdout.split()),
        "ClusterRoleBindings": len(run([k, "get", "clusterrolebindings", "-o", "name"]).stdout.split()),
    }
    load_before = open("/proc/loadavg").read().split()[:3]
    pair = hyperfine([kir_cmd, one_cmd], a.runs, a.warmup)
    kir_r, one_r = pair
    all_r = hyperfine([all_cmd], a.all_runs, 0, shell="bash")[0]
    rss = max_rss_kb(kir_cmd.split())
    lists = list_costs(k)
    phases = kir_phases(kir_cmd.split())
    load_after = open("/proc/loadavg").read().split()[:3]
    ratio = kir_r["median"] / one_r["median"]
    per_ns_all = all_r["median"] / counts["namespaces (all)"]
    versions = {
        "kir": run([a.kir, "--version"]).stdout.strip(),
        "commit": run(["git", "-C", ROOT, "rev-parse", "--short", "HEAD"]).stdout.strip(),
        "kubectl": run([k, "version", "--client", "-o", "json"]).stdout,
        "hyperfine": run(["hyperfine", "--version"]).stdout.strip(),
    }
    kubectl_version = json.loads(versions["kubectl"])["clientVersion"]["gitVersion"]
    cpu = next((l.split(":", 1)[1].strip() for l in open("/proc/cpuinfo") if l.startswith("model name")), "unknown CPU")
    mem = next(l.split()[1] for l in open("/proc/meminfo") if l.startswith("MemTotal"))
    target_time = "**met**" if kir_r["median"] <= one_r["median"] else "**missed**"
    target_rss = "**met**" if max(rss) < 100 * 1024 else "**missed**"
    paged = {k: v for k, v in lists.items() if "," not in k}
    list_total = sum(v["ms"] for v in paged.values())
    slowest = max(paged.items(), key=lambda kv: kv[1]["ms"])

    lines = [
        f"## `kir creds scope` against `kubectl auth can-i --list` ({time.strftime('%Y-%m-%d')})",
        "",
        f"Machine: {os.cpu_count()} cores ({cpu}), {int(mem) // 1024 // 1024} GiB RAM, shared with other builds; "
        f"load {' '.join(load_before)} before timing, {' '.join(load_after)} after. The testbed's control plane "
        f"(etcd, kube-apiserver {kubectl_version}, controller-manager, scheduler, kwok) runs on the same machine. "
        f"{versions['kir']} (release build, commit {versions['commit']}), kubectl {kubectl_version}, {versions['hyperfine']}.",
        "",
        "Cluster: " + ", ".join(f"{v:,} {n}" for n, v in counts.items())
        + f" (generated: {expect['counts']['namespaces']} namespaces, {expect['counts']['roles']:,} Roles, "
          f"{expect['counts']['rolebindings']:,} RoleBindings, {expect['counts']['generated clusterroles']} ClusterRoles, "
          f"{expect['counts']['generated clusterrolebindings']} ClusterRoleBindings; the rest are the defaults). "
          f"Each namespace has 4 Roles and 10 RoleBindings of 1 to 4 subjects (users, groups, service accounts) to "
          f"its Roles, to view/edit/admin, or to generated ClusterRoles; 1 % name a Role that does not exist. "
          f"The subject `{SUBJECT}` is bound in {len(expect['bound'])} namespaces "
          f"({SUBJECT_BY_GROUP} of them through the group `{SUBJECT_GROUP}`), and cluster-wide to list namespaces "
          f"through the group `system:serviceaccounts`.",
    ]
    if populated:
        lines.append(f"Populating took {populated['created_s']:.0f} s (4 parallel `kubectl create -f` of Lists, namespaces "
                     f"first); the authorizer allowed every batch's last binding {populated['seen_s']:.0f} s after the start.")
    lines += [
        "",
        f"Timed with hyperfine (`-N`, no shell; the output goes to /dev/null), {a.warmup} warm-up runs and {a.runs} runs "
        f"of each (hyperfine runs all of one command's runs, then the other's), on the warm testbed; the median decides:",
        "",
        "| command | covers | median | mean ± σ | min … max | CPU user + sys (mean) |",
        "| --- | --- | --- | --- | --- | --- |",
        f"| `{rel(kir_cmd)}` | every namespace and the cluster | **{fmt_ms(kir_r)}** | {kir_r['mean'] * 1000:.0f} ± {kir_r['stddev'] * 1000:.0f} ms | {kir_r['min'] * 1000:.0f} … {kir_r['max'] * 1000:.0f} ms | {cpu_ms(kir_r)} |",
        f"| `{rel(one_cmd)}` | one namespace ({one_ns}) | **{fmt_ms(one_r)}** | {one_r['mean'] * 1000:.0f} ± {one_r['stddev'] * 1000:.0f} ms | {one_r['min'] * 1000:.0f} … {one_r['max'] * 1000:.0f} ms | {cpu_ms(one_r)} |",
        f"| `{rel(all_cmd)}` (in bash; {a.all_runs} runs, no warm-up) | all {counts['namespaces (all)']} namespaces, measured | **{all_r['median']:.1f} s** | {all_r['mean']:.1f} ± {all_r['stddev']:.1f} s | {all_r['min']:.1f} … {all_r['max']:.1f} s | {cpu_ms(all_r)} |",
        "",
        "| measure | result | target |",
        "| --- | --- | --- |",
        f"| kir (every namespace) over kubectl (one namespace) | {ratio:.2f}x kubectl's time ({fmt_ms(kir_r)} vs {fmt_ms(one_r)}) | at most 1x: {target_time} |",
        f"| kubectl over every namespace | {all_r['median']:.1f} s, {per_ns_all * 1000:.0f} ms a namespace; {all_r['median'] / kir_r['median']:.0f}x kir's time | |",
        f"| kir's peak memory (max RSS, `/usr/bin/time -v`, {len(rss)} runs) | {max(rss) / 1024:.1f} MB (runs: {', '.join(f'{x / 1024:.1f}' for x in rss)}) | under 100 MB: {target_rss} |",
    ]
    if checked:
        lines.append(f"| kir's answer | {checked['grants']:,} grants, {checked['json_bytes'] / 1024:.0f} KiB of JSON; generated grants in "
                     f"{checked['kir_namespaces']} namespaces (generator: {len(expect['bound'])}) | |")
    lines += [
        "",
        "What kir's time is made of: the four lists it makes, timed alone here in pages of 500 (kir itself asks for pages of 5,000), over one warm HTTPS "
        "connection with the same admin certificate, one kind after the other (kir makes the four concurrently, "
        "pages of one kind in sequence), median of 5 rounds:",
        "",
        "| list | pages | items | size | time (all pages) | per page |",
        "| --- | --- | --- | --- | --- | --- |",
    ]
    for plural, v in lists.items():
        lines.append(f"| {plural} | {v['pages']} | {v['items']:,} | {v['bytes'] / 1024 / 1024:.1f} MiB | {v['ms']:.0f} ms | {v['page_ms']:.0f} ms |")
    lines += [
        "",
        f"The lists take {list_total:.0f} ms one after the other; the longest, {slowest[0]} ({slowest[1]['pages']} pages in sequence), "
        f"{slowest[1]['ms']:.0f} ms, is a floor for kir on this machine (one unpaged list of them: "
        f"{lists['rolebindings, one unpaged list']['ms']:.0f} ms, so the pages are not what costs: the API server "
        f"encoding {slowest[1]['bytes'] / 1024 / 1024:.1f} MiB of JSON is; the same pages in protobuf: "
        f"{lists['rolebindings, protobuf']['ms']:.0f} ms). kir's own CPU time is "
        f"{cpu_ms(kir_r)} of its {fmt_ms(kir_r)}: most of its wall time it waits for the API server, which shares the "
        f"{os.cpu_count()} cores with it (process start, kubeconfig, TLS, a SelfSubjectReview, decoding, evaluating "
        f"{counts['RoleBindings'] + counts['ClusterRoleBindings']:,} bindings and printing are the rest). kubectl's one call "
        f"is a process start, the kubeconfig, TLS and one SelfSubjectRulesReview, which the API server answers from "
        f"its authorizer's cache by visiting the ClusterRoleBindings and the RoleBindings of that one namespace.",
    ]
    if phases:
        lines += [
            "",
            f"kir's own timeline (its HTTP client's debug log, `RUST_LOG=hyper_util=debug`, median of 5 runs outside "
            f"hyperfine, {phases[3]:.0f} ms in all): {phases[0]:.0f} ms from the process start to its first connection "
            f"(start-up, kubeconfig); {phases[1]:.0f} ms from there to the last response read (TLS on {phases[4]:.0f} "
            f"connections, the SelfSubjectReview, then the four lists at once); {phases[2]:.0f} ms from the last response "
            f"to the exit (evaluating, printing {checked['json_bytes'] / 1024 if checked else 0:.0f} KiB of JSON, exit).",
        ]
    if checked:
        lines += [
            "",
            f"Agreement (sampled namespaces; kubectl's table parsed, kir's JSON grants for the namespace and cluster-wide, "
            f"both broken down to one (group, resource, resource name) or URL per row with its verbs, as kubectl prints "
            f"them). \"kubectl: more\" means kubectl lists rules beyond what it lists in `default`, where no generated "
            f"binding exists. All agree (the script stops before timing if any does not), and kir lists generated grants in exactly the "
            f"{len(expect['bound'])} namespaces where the generator bound the subject.",
            "",
            "| namespace | generated binding of the subject | kir: generated grants | kubectl: more | kir: bindings here | kubectl: distinct rules | same rules |",
            "| --- | --- | --- | --- | --- | --- | --- |",
        ]
        for ns, how, kir_has, kubectl_has, nb, rows, same in checked["rows"]:
            lines.append(f"| {ns} | {how} | {yes(kir_has)} | {yes(kubectl_has)} | {nb} | {rows} | {yes(same)} |")
    return "\n".join(lines) + "\n"


def yes(b):
    return "yes" if b else "no"


def rel(cmd):
    """Command lines as a reader would type them."""
    cmd = cmd.replace(os.path.join(ROOT, "target/release/kir"), "kir")
    return re.sub(r"/[^\s'$()]*/bin/kubectl", "kubectl", cmd)


if __name__ == "__main__":
    main()

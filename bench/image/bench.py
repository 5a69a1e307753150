#!/usr/bin/env python3
"""`kir image find REF -A` (every container kind of every pod, and every controller's pod
template) against the seed playbook's `kubectl get pods -A -o json | jq ...`, on a kwok testbed
holding 3,000 running pods and 300 controllers across 50 namespaces, with one malicious image
(`registry.evil.example/miner:2.1`) planted in every place a responder must look, and look-alikes
that must not match.

  generate  build the objects (deterministic: same seed, same cluster)
  populate  create them with parallel `kubectl create -f` of Lists, namespaces first, wait until
            every pod runs, then add an ephemeral container to one running pod
  check     the truth from the raw objects (every pod and controller kind as JSON, the reference
            parsed exactly); kir's pods and templates must equal it (exits 1 if not); what each jq
            variant misses, adds, or repeats
  time      hyperfine (warm-up, >= 10 runs, medians), max RSS of kir and kubectl
            (/usr/bin/time -v), and the report (Markdown, also written to --out)

`all` runs the four in order. Standard library only.
"""
import argparse
import hashlib
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

SEED = 20261206
REF = "registry.evil.example/miner:2.1"
REF_PARSED = ("registry.evil.example", "miner", "2.1")
DIGEST = "sha256:" + hashlib.sha256(b"registry.evil.example/miner:2.1").hexdigest()
SPELLINGS = [REF, f"{REF}@{DIGEST}"]
LOOKALIKES = ["registry.evil.example/miner-helper:2.1", "registry.evil.example/miner:2.10"]
LABEL = {"kir.dev/bench": "image"}

TARGET_PODS = 3000
DEPLOYMENTS, STATEFULSETS, DAEMONSETS, CRONJOBS, JOBS = 240, 20, 10, 15, 15
BARE_PODS = 10  # 2 of them malicious
TEAMS = ["shop", "payments", "checkout", "search", "catalog", "accounts", "billing", "identity", "ledger",
         "media", "notify", "orders", "pricing", "reviews", "risk", "routing", "shipping", "support",
         "tax", "inventory", "analytics", "ads", "mobile-api", "partners", "platform"]
NAMESPACES = [f"{t}-{env}" for t in TEAMS for env in ("prod", "staging")]  # 50
APPS = ["api", "web", "worker", "gateway", "scheduler", "indexer", "cache-warmer", "consumer", "exporter",
        "frontend", "backend", "sync", "importer", "renderer", "auth", "proxy", "cron-runner", "events"]
IMAGES = ["nginx:1.27.2", "docker.io/library/redis:7.2.5", "ghcr.io/acme/{app}:v3.{n}.1",
          "registry.acme.internal/{team}/{app}:2026.11.{n}", "quay.io/prometheus/node-exporter:v1.8.2",
          "gcr.io/distroless/java21-debian12:nonroot", "envoyproxy/envoy:v1.31.2",
          "registry.acme.internal/platform/log-shipper:1.4.{n}", "ghcr.io/acme/{app}@sha256:{hex}",
          "python:3.12-slim", "registry.acme.internal/{team}/{app}:sha-{short}",
          "registry.evil.example/cache:3.0"]
SIDECARS = ["registry.acme.internal/platform/log-shipper:1.4.7", "envoyproxy/envoy:v1.31.2",
            "quay.io/oauth2-proxy/oauth2-proxy:v7.7.1", "registry.acme.internal/platform/vault-agent:1.17.3"]
INITS = ["busybox:1.36.1", "registry.acme.internal/tools/migrate:0.9.2", "registry.acme.internal/tools/wait-for:1.2"]


# --- the scene ---------------------------------------------------------------------------------

def hexdigest(rng):
    return "%064x" % rng.getrandbits(256)


def container(rng, name, image, heavy=True, index=0):
    c = {"name": name, "image": image, "imagePullPolicy": "IfNotPresent"}
    if not heavy:
        c["command"] = ["sh", "-c", "until nslookup db; do sleep 2; done"]
        c["resources"] = {"requests": {"cpu": "10m", "memory": "16Mi"}, "limits": {"memory": "32Mi"}}
        return c
    port = rng.choice([8080, 8443, 9000, 3000, 5000]) + 10 * index  # unique in the pod
    c["args"] = [f"--port={port}", f"--log-level={rng.choice(['info', 'debug', 'warn'])}",
                 "--config=/etc/app/config.yaml"]
    http, metrics = ("http", "metrics") if index == 0 else (f"http-{index}", f"metrics-{index}")
    c["ports"] = [{"name": http, "containerPort": port, "protocol": "TCP"},
                  {"name": metrics, "containerPort": 9090 + index, "protocol": "TCP"}]
    env = [{"name": "APP_ENV", "value": rng.choice(["production", "staging"])},
           {"name": "POD_NAME", "valueFrom": {"fieldRef": {"fieldPath": "metadata.name"}}},
           {"name": "POD_NAMESPACE", "valueFrom": {"fieldRef": {"fieldPath": "metadata.namespace"}}},
           {"name": "OTEL_EXPORTER_OTLP_ENDPOINT", "value": "http://otel-collector.observability:4317"},
           {"name": "DB_PASSWORD", "valueFrom": {"secretKeyRef": {"name": "db-credentials", "key": "password"}}}]
    for i in range(rng.randrange(2, 9)):
        env.append({"name": f"FEATURE_FLAG_{i}", "value": rng.choice(["true", "false", "50", "canary"])})
    c["env"] = env
    memory = rng.choice([64, 128, 256, 512])
    c["resources"] = {"requests": {"cpu": f"{rng.choice([50, 100, 250, 500])}m", "memory": f"{memory}Mi"},
                      "limits": {"memory": f"{memory * rng.choice([1, 2, 4])}Mi"}}
    c["readinessProbe"] = {"httpGet": {"path": "/ready", "port": http}, "periodSeconds": 10}
    c["livenessProbe"] = {"httpGet": {"path": "/healthz", "port": http}, "initialDelaySeconds": 15,
                          "periodSeconds": 20, "failureThreshold": 3}
    c["volumeMounts"] = [{"name": "config", "mountPath": "/etc/app", "readOnly": True},
                         {"name": "tmp", "mountPath": "/tmp"}]
    c["securityContext"] = {"runAsNonRoot": True, "allowPrivilegeEscalation": False,
                            "readOnlyRootFilesystem": True, "capabilities": {"drop": ["ALL"]}}
    return c


def pod_template(rng, ns, app, containers, inits=(), restart="Always"):
    team = ns.rsplit("-", 1)[0]
    labels = {"app": app, "app.kubernetes.io/name": app, "app.kubernetes.io/part-of": team,
              "app.kubernetes.io/version": f"3.{rng.randrange(30)}.{rng.randrange(10)}", "team": team,
              "tier": rng.choice(["frontend", "backend", "data"])}
    spec = {"serviceAccountName": "app", "restartPolicy": restart,
            "terminationGracePeriodSeconds": 30,
            "securityContext": {"runAsUser": 10001, "runAsGroup": 10001, "fsGroup": 10001,
                                "seccompProfile": {"type": "RuntimeDefault"}},
            "volumes": [{"name": "config", "configMap": {"name": f"{app}-config"}}, {"name": "tmp", "emptyDir": {}}],
            "containers": containers}
    if inits:
        spec["initContainers"] = list(inits)
    return {"metadata": {"labels": labels,
                         "annotations": {"prometheus.io/scrape": "true", "prometheus.io/port": "9090",
                                         "checksum/config": hashlib.sha256(f"{ns}/{app}".encode()).hexdigest(),
                                         "acme.example/owner": f"{team}@acme.example",
                                         "acme.example/runbook": f"https://runbooks.acme.example/{team}/{app}"}},
            "spec": spec}


def benign_image(rng, ns, app):
    return rng.choice(IMAGES).format(app=app, team=ns.rsplit("-", 1)[0], n=rng.randrange(20), hex=hexdigest(rng),
                                     short=hexdigest(rng)[:7])


def benign_containers(rng, ns, app):
    cs = [container(rng, app, benign_image(rng, ns, app))]
    for i in range(rng.choices([0, 1, 2], [0.45, 0.4, 0.15])[0]):
        cs.append(container(rng, ["log-shipper", "proxy", "auth-proxy", "vault-agent"][i + rng.randrange(2)],
                            rng.choice(SIDECARS), index=i + 1))
    names = set()
    for c in cs:  # container names are unique in a pod
        while c["name"] in names:
            c["name"] += "-x"
        names.add(c["name"])
    return cs


def benign_inits(rng):
    return [container(rng, "init-" + str(i), rng.choice(INITS), heavy=False)
            for i in range(rng.choices([0, 1, 2], [0.7, 0.25, 0.05])[0])]


def meta(name, ns, rng=None):
    m = {"name": name, "namespace": ns, "labels": {**LABEL, "app": name.split("-")[0]}}
    if rng:
        m["annotations"] = {"acme.example/change": f"CHG-{rng.randrange(10000, 99999)}",
                            "acme.example/repo": f"https://git.acme.example/{ns}/{name}"}
    return m


def generate(out, nodes):
    """Objects as Lists (namespaces.json, batch-N.json) and expect.json (what was planted)."""
    rng = random.Random(SEED)
    os.makedirs(out, exist_ok=True)
    first = []
    for ns in NAMESPACES:
        first.append({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": ns, "labels": LABEL}})
        first.append({"apiVersion": "v1", "kind": "ServiceAccount", "metadata": {"name": "app", "namespace": ns}})
    write_list(os.path.join(out, "namespaces.json"), first)

    objects, planted = [], []
    used = set()

    def name_in(ns, base):
        name, i = base, 2
        while (ns, name) in used:
            name, i = f"{base}-{i}", i + 1
        used.add((ns, name))
        return name

    def ns_of(i):
        return NAMESPACES[(i * 7) % len(NAMESPACES)]

    # Replicas: most Deployments ~10, a few small or large; the sum makes 3,000 running pods.
    sts_replicas = [rng.choice([1, 2, 3, 3, 5]) for _ in range(STATEFULSETS)]
    sts_replicas[7] = 0  # the malicious StatefulSet, scaled to zero
    special = {  # Deployment index: (replicas, what)
        3: (3, "sidecar"), 17: (2, "digest"), 29: (2, "two"), 41: (2, "init"), 55: (4, "ephemeral-target"),
        66: (2, "lookalike-helper"), 78: (2, "lookalike-2.10")}
    deploy_pods = TARGET_PODS - sum(sts_replicas) - DAEMONSETS * nodes - BARE_PODS
    replicas = [rng.choices([10, 10, 10, 10, 8, 12, 15, 5, 20, 3], k=1)[0] for _ in range(DEPLOYMENTS)]
    for i, (r, _) in special.items():
        replicas[i] = r
    free = [i for i in range(DEPLOYMENTS) if i not in special]
    while sum(replicas) != deploy_pods:
        i = rng.choice(free)
        if sum(replicas) < deploy_pods:
            replicas[i] += 1
        elif replicas[i] > 2:
            replicas[i] -= 1

    for i in range(DEPLOYMENTS):
        ns = ns_of(i)
        app = rng.choice(APPS)
        name = name_in(ns, app)
        cs, inits = benign_containers(rng, ns, app), benign_inits(rng)
        what = special.get(i, (0, None))[1]
        if what == "sidecar":
            cs = [cs[0], container(rng, "metrics-agent", SPELLINGS[0], index=1)]
        elif what == "digest":
            cs[0]["image"] = SPELLINGS[1]
        elif what == "two":
            cs = [container(rng, app, SPELLINGS[0]), container(rng, "helper", SPELLINGS[1], index=1)]
        elif what == "init":
            inits = [container(rng, "setup", SPELLINGS[0], heavy=False)]
        elif what == "lookalike-helper":
            cs[0]["image"] = LOOKALIKES[0]
        elif what == "lookalike-2.10":
            cs[0]["image"] = LOOKALIKES[1]
        if what:
            planted.append({"kind": "Deployment", "namespace": ns, "name": name, "what": what, "replicas": replicas[i]})
        tpl = pod_template(rng, ns, name, cs, inits)
        tpl["metadata"]["labels"]["app"] = name
        objects.append({"apiVersion": "apps/v1", "kind": "Deployment", "metadata": meta(name, ns, rng),
                        "spec": {"replicas": replicas[i], "revisionHistoryLimit": 3,
                                 "selector": {"matchLabels": {"app": name}},
                                 "strategy": {"type": "RollingUpdate",
                                              "rollingUpdate": {"maxSurge": "25%", "maxUnavailable": 0}},
                                 "template": tpl}})
    for i in range(STATEFULSETS):
        ns = ns_of(i * 3 + 1)
        name = name_in(ns, rng.choice(["postgres", "kafka", "zookeeper", "elasticsearch", "etcd", "rabbitmq"]))
        cs = benign_containers(rng, ns, name)
        if i == 7:
            cs[0]["image"] = SPELLINGS[0]
            planted.append({"kind": "StatefulSet", "namespace": ns, "name": name, "what": "replicas 0", "replicas": 0})
        tpl = pod_template(rng, ns, name, cs, benign_inits(rng))
        tpl["metadata"]["labels"]["app"] = name
        objects.append({"apiVersion": "apps/v1", "kind": "StatefulSet", "metadata": meta(name, ns, rng),
                        "spec": {"replicas": sts_replicas[i], "serviceName": name, "podManagementPolicy": "Parallel",
                                 "selector": {"matchLabels": {"app": name}}, "template": tpl}})
    for i in range(DAEMONSETS):
        ns = ns_of(i * 5 + 2)
        name = name_in(ns, rng.choice(["node-exporter", "fluent-bit", "cilium-agent", "csi-node", "falco"]))
        tpl = pod_template(rng, ns, name, benign_containers(rng, ns, name))
        tpl["metadata"]["labels"]["app"] = name
        objects.append({"apiVersion": "apps/v1", "kind": "DaemonSet", "metadata": meta(name, ns, rng),
                        "spec": {"selector": {"matchLabels": {"app": name}}, "template": tpl}})
    for i in range(CRONJOBS):
        ns = ns_of(i * 11 + 3)
        name = name_in(ns, rng.choice(["nightly-report", "cleanup", "backup", "rotate-keys", "reindex"]))
        cs = benign_containers(rng, ns, name)[:1]
        if i == 4:
            cs[0]["image"] = SPELLINGS[0]
            planted.append({"kind": "CronJob", "namespace": ns, "name": name, "what": "suspended", "replicas": 0})
        tpl = pod_template(rng, ns, name, cs, restart="OnFailure")
        objects.append({"apiVersion": "batch/v1", "kind": "CronJob", "metadata": meta(name, ns, rng),
                        "spec": {"schedule": f"{rng.randrange(60)} {rng.randrange(24)} * * *", "suspend": True,
                                 "concurrencyPolicy": "Forbid",
                                 "jobTemplate": {"spec": {"backoffLimit": 2, "template": tpl}}}})
    for i in range(JOBS):
        ns = ns_of(i * 13 + 4)
        name = name_in(ns, rng.choice(["migrate", "seed-data", "reconcile", "export"]))
        cs = benign_containers(rng, ns, name)[:1]
        if i == 9:
            cs[0]["image"] = LOOKALIKES[1]
            planted.append({"kind": "Job", "namespace": ns, "name": name, "what": "lookalike-2.10", "replicas": 0})
        tpl = pod_template(rng, ns, name, cs, restart="Never")
        objects.append({"apiVersion": "batch/v1", "kind": "Job", "metadata": meta(name, ns, rng),
                        "spec": {"suspend": True, "backoffLimit": 2, "template": tpl}})
    for i in range(BARE_PODS):
        ns = ns_of(i * 17 + 5)
        name = name_in(ns, rng.choice(["debug", "toolbox", "netshoot", "psql-client"]) + f"-{hexdigest(rng)[:5]}")
        cs = benign_containers(rng, ns, name)[:1]
        if i < 2:
            cs[0]["image"] = SPELLINGS[i]
            planted.append({"kind": "Pod", "namespace": ns, "name": name, "what": "bare pod", "replicas": 1})
        tpl = pod_template(rng, ns, name, cs)
        objects.append({"apiVersion": "v1", "kind": "Pod",
                        "metadata": {**meta(name, ns, rng), "labels": tpl["metadata"]["labels"],
                                     "annotations": tpl["metadata"]["annotations"]},
                        "spec": tpl["spec"]})
    batches = [[] for _ in range(4)]
    for o in objects:
        batches[NAMESPACES.index(o["metadata"]["namespace"]) % len(batches)].append(o)
    for n, batch in enumerate(batches):
        write_list(os.path.join(out, f"batch-{n}.json"), batch)
    target = next(p for p in planted if p["what"] == "ephemeral-target")
    expect = {"planted": planted, "ephemeral": {"namespace": target["namespace"], "deployment": target["name"]},
              "pods": TARGET_PODS, "nodes": nodes,
              "counts": {"Deployment": DEPLOYMENTS, "StatefulSet": STATEFULSETS, "DaemonSet": DAEMONSETS,
                         "CronJob": CRONJOBS, "Job": JOBS, "bare Pod": BARE_PODS},
              "replicas": {"deployments": sum(replicas), "statefulsets": sum(sts_replicas),
                           "daemonsets": DAEMONSETS * nodes, "bare": BARE_PODS}}
    with open(os.path.join(out, "expect.json"), "w") as f:
        json.dump(expect, f, indent=1)
    return expect


def write_list(path, items):
    with open(path, "w") as f:
        json.dump({"apiVersion": "v1", "kind": "List", "items": items}, f)


def run(args, **kw):
    return subprocess.run(args, check=True, capture_output=True, text=True, **kw)


class Raw:
    """The API server over HTTPS with the testbed's admin certificate."""

    def __init__(self, state, server):
        pki = os.path.join(state, "pki")
        ctx = ssl.create_default_context(cafile=os.path.join(pki, "ca.crt"))
        ctx.load_cert_chain(os.path.join(pki, "admin.crt"), os.path.join(pki, "admin.key"))
        url = urllib.parse.urlsplit(server)
        self.conn = http.client.HTTPSConnection(url.hostname, url.port, context=ctx)

    def request(self, method, path, body=None, content_type=None):
        headers = {"Accept": "application/json"}
        if content_type:
            headers["Content-Type"] = content_type
        self.conn.request(method, path, body=body, headers=headers)
        resp = self.conn.getresponse()
        data = resp.read()
        if resp.status not in (200, 201):
            sys.exit(f"{method} {path}: {resp.status} {data[:500]!r}")
        return json.loads(data)


def server_of(kubectl):
    return run([kubectl, "config", "view", "--minify", "-o", "jsonpath={.clusters[0].cluster.server}"]).stdout.strip()


def populate(kubectl, out, expect):
    start = time.perf_counter()
    run([kubectl, "create", "-f", os.path.join(out, "namespaces.json")])
    procs = [subprocess.Popen([kubectl, "create", "-f", os.path.join(out, name)], stdout=subprocess.DEVNULL,
                              stderr=subprocess.PIPE, text=True)
             for name in sorted(os.listdir(out)) if name.startswith("batch-")]
    for p in procs:
        _, err = p.communicate()
        if p.returncode != 0:
            sys.exit(f"kubectl create failed: {err[:2000]}")
    t_created = time.perf_counter() - start
    deadline = time.time() + 900
    last = None
    while True:
        rows = run([kubectl, "get", "pods", "-A", "--no-headers"]).stdout.splitlines()
        running = sum(1 for r in rows if r.split()[3] == "Running")
        if (len(rows), running) != last:
            print(f"  {time.perf_counter() - start:5.0f} s: {len(rows)} pods, {running} running", file=sys.stderr)
            last = (len(rows), running)
        if len(rows) >= expect["pods"] and running == len(rows):
            break
        if time.time() > deadline:
            sys.exit(f"pods never all ran: {len(rows)} pods, {running} running (expected {expect['pods']})")
        time.sleep(5)
    t_running = time.perf_counter() - start
    # An ephemeral container (as `kubectl debug` adds one) in one running pod of a benign Deployment.
    target = expect["ephemeral"]
    pods = json.loads(run([kubectl, "get", "pods", "-n", target["namespace"], "-l", f"app={target['deployment']}",
                           "-o", "json"]).stdout)["items"]
    pod = sorted(p["metadata"]["name"] for p in pods)[0]
    raw = Raw(os.environ["KIR_TESTBED_STATE"], server_of(kubectl))
    patch = {"spec": {"ephemeralContainers": [{"name": "debugger-x7k", "image": REF, "targetContainerName":
                                              pods[0]["spec"]["containers"][0]["name"],
                                              "command": ["sh"], "stdin": True, "tty": True}]}}
    raw.request("PATCH", f"/api/v1/namespaces/{target['namespace']}/pods/{pod}/ephemeralcontainers",
                json.dumps(patch), "application/strategic-merge-patch+json")
    print(f"populated: created {t_created:.0f} s, all {len(rows)} pods running {t_running:.0f} s; "
          f"ephemeral container added to {target['namespace']}/{pod}", file=sys.stderr)
    return {"created_s": t_created, "running_s": t_running, "pods": len(rows),
            "ephemeral_pod": f"{target['namespace']}/{pod}"}


# --- the truth and the check -------------------------------------------------------------------

KINDS = ["deployments", "replicasets", "statefulsets", "daemonsets", "jobs", "cronjobs", "replicationcontrollers"]
KIND_NAMES = {"deployments": "Deployment", "replicasets": "ReplicaSet", "statefulsets": "StatefulSet",
              "daemonsets": "DaemonSet", "jobs": "Job", "cronjobs": "CronJob",
              "replicationcontrollers": "ReplicationController"}


def parse_ref(image):
    """(registry, repository, tag) of a reference, exactly (Docker Hub's defaults applied)."""
    name, _, _digest = image.partition("@")
    tag = None
    if name.rfind(":") > name.rfind("/"):
        name, tag = name.rsplit(":", 1)
    first, sep, rest = name.partition("/")
    if sep and ("." in first or ":" in first or first == "localhost"):
        registry, repository = first.lower(), rest
    else:
        registry, repository = "docker.io", name if "/" in name else "library/" + name
    if registry == "index.docker.io":
        registry = "docker.io"
    return registry, repository, tag


def is_ref(image):
    return parse_ref(image) == REF_PARSED


def spec_containers(spec):
    for kind, key in (("container", "containers"), ("init", "initContainers"), ("ephemeral", "ephemeralContainers")):
        for c in spec.get(key) or []:
            yield kind, c["name"], c.get("image", "")


def truth(kubectl):
    pods = json.loads(run([kubectl, "get", "pods", "-A", "-o", "json"]).stdout)["items"]
    controllers = json.loads(run([kubectl, "get", ",".join(KINDS), "-A", "-o", "json"]).stdout)["items"]
    t_pods, t_templates, owners = {}, {}, {}
    for o in controllers:
        m = o["metadata"]
        owners[m["uid"]] = (o["kind"], m["namespace"], m["name"], m.get("ownerReferences") or [])
        spec = (o["spec"]["jobTemplate"]["spec"]["template"]["spec"] if o["kind"] == "CronJob"
                else o["spec"]["template"]["spec"])
        hits = sorted((k, n, i) for k, n, i in spec_containers(spec) if is_ref(i))
        if hits:
            t_templates[(o["kind"], m["namespace"], m["name"])] = hits
    for p in pods:
        m = p["metadata"]
        hits = sorted((k, n, i) for k, n, i in spec_containers(p["spec"]) if is_ref(i))
        if hits:
            t_pods[(m["namespace"], m["name"])] = {"hits": hits, "owners": m.get("ownerReferences") or []}
    return {"pods": t_pods, "templates": t_templates, "owners": owners, "all_pods": pods,
            "controllers": len(controllers)}


def jq_filters():
    seed = (f'.items[] | select(.spec.containers[].image | contains("{REF}")) '
            f'| .metadata.namespace + "/" + .metadata.name')
    careful = (f'.items[] | select(any((.spec.containers[], .spec.initContainers[]?, .spec.ephemeralContainers[]?)'
               f'.image; contains("{REF}"))) | .metadata.namespace + "/" + .metadata.name')
    return {"seed": seed, "careful": careful}


def jq_command(kubectl, filt, sink=">/dev/null"):
    return f"{kubectl} get pods -A -o json | jq '{filt}' {sink}"


def check(kir, kubectl):
    done = subprocess.run([kir, "image", "find", REF, "-A", "-o", "json"], capture_output=True, text=True)
    report = json.loads(done.stdout)
    t = truth(kubectl)
    failures = []
    if done.returncode != 0:
        failures.append(f"kir exited {done.returncode}: {done.stderr[:500]}")
    kir_pods = {(p["namespace"], p["name"]): sorted((c["kind"], c["name"], c["image"]) for c in p["containers"])
                for p in report["pods"]}
    kir_templates = {(tp["kind"], tp["namespace"], tp["name"]): sorted((c["kind"], c["name"], c["image"])
                                                                      for c in tp["containers"])
                     for tp in report["templates"]}
    truth_pods = {k: v["hits"] for k, v in t["pods"].items()}
    for what, mine, want in (("pod", kir_pods, truth_pods), ("template", kir_templates, t["templates"])):
        for key in sorted(set(want) - set(mine), key=str):
            failures.append(f"kir misses {what} {'/'.join(key)}: {want[key]}")
        for key in sorted(set(mine) - set(want), key=str):
            failures.append(f"kir reports {what} {'/'.join(key)} which does not use {REF}: {mine[key]}")
        for key in sorted(set(mine) & set(want), key=str):
            if mine[key] != want[key]:
                failures.append(f"kir's containers of {what} {'/'.join(key)}: {mine[key]}, truth: {want[key]}")
    if report["searched"]["pods"] != len(t["all_pods"]):
        failures.append(f"kir searched {report['searched']['pods']} pods, the cluster has {len(t['all_pods'])}")
    if report.get("unread"):
        failures.append(f"kir could not read: {report['unread']}")

    # What each jq variant prints, against the truth.
    by_key = {(p["metadata"]["namespace"], p["metadata"]["name"]): p for p in t["all_pods"]}
    variants = {}
    for label, filt in jq_filters().items():
        out = subprocess.run(["sh", "-c", jq_command(kubectl, filt, "")], capture_output=True, text=True, check=True)
        lines = [json.loads(l) for l in out.stdout.splitlines() if l.strip()]
        found = {tuple(l.split("/", 1)) for l in lines}
        missed = set(truth_pods) - found
        false = found - set(truth_pods)
        reasons = {}
        for key in missed:
            kinds = "+".join(sorted({h[0] for h in truth_pods[key]}))
            reasons[kinds] = reasons.get(kinds, 0) + 1
        false_images = {}
        for key in false:
            for _, _, image in spec_containers(by_key[key]["spec"]):
                if REF in image and not is_ref(image):
                    false_images[image] = false_images.get(image, 0) + 1
        # Controllers a user could still reach by hand from the pods jq found (ownerReferences).
        reached = set()
        for key in found & set(truth_pods):
            refs = list(t["pods"][key]["owners"])
            for _ in range(8):
                nxt = []
                for r in refs:
                    o = t["owners"].get(r["uid"])
                    if o:
                        reached.add(o[:3])
                        nxt += o[3]
                refs = nxt
        variants[label] = {
            "lines": len(lines), "distinct": len(found), "duplicates": len(lines) - len(found),
            "true": len(found & set(truth_pods)), "missed": len(missed), "missed_by_kind": reasons,
            "false": len(false), "false_images": false_images,
            "templates_reported": 0, "templates_unreachable": len(set(t["templates"]) - reached),
            "unreachable": sorted("/".join(k) for k in set(t["templates"]) - reached),
        }
    kinds_found = {}
    for key in t["templates"]:
        kinds_found[key[0]] = kinds_found.get(key[0], 0) + 1
    return {"failures": failures, "truth_pods": len(truth_pods), "truth_templates": len(t["templates"]),
            "truth_template_kinds": kinds_found, "kir_pods": len(kir_pods), "kir_templates": len(kir_templates),
            "variants": variants, "searched": report["searched"], "pattern": report["pattern"],
            "pods_total": len(t["all_pods"]), "controllers_total": t["controllers"],
            "json_bytes": len(done.stdout), "pod_kinds": pod_kinds(truth_pods),
            "templates": sorted(f"{k[0]} {k[1]}/{k[2]}" for k in t["templates"]),
            "pod_bytes": statistics.mean(len(json.dumps(p)) for p in t["all_pods"])}


def pod_kinds(truth_pods):
    out = {}
    for hits in truth_pods.values():
        k = "+".join(sorted({h[0] for h in hits})) + (" (2 containers)" if len(hits) > 1 else "")
        out[k] = out.get(k, 0) + 1
    return out


# --- timing ------------------------------------------------------------------------------------

def hyperfine(commands, runs, warmup):
    with tempfile.NamedTemporaryFile(suffix=".json", delete=False) as f:
        path = f.name
    args = ["hyperfine", "--warmup", str(warmup), "--runs", str(runs), "--export-json", path, "--style", "basic",
            "--shell", "sh"]
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
        done = subprocess.run(["/usr/bin/time", "-v", *command], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                              text=True)
        if done.returncode != 0:
            sys.exit(f"failed: {' '.join(command)}\n{done.stderr}")
        peaks.append(int(re.search(r"Maximum resident set size \(kbytes\): (\d+)", done.stderr).group(1)))
    return peaks


def rel(cmd):
    cmd = cmd.replace(os.path.join(ROOT, "target/release/kir"), "kir")
    return re.sub(r"/[^\s'$()]*/bin/kubectl", "kubectl", cmd)


def cell(text):
    """A table cell: a `|` would end it, even inside a code span."""
    return text.replace("|", "\\|")


def ms(r):
    return f"{r['median'] * 1000:.0f} ms"


def measure(a, expect, populated, checked):
    k = a.kubectl
    kir_cmd = f"{a.kir} image find {REF} -A -o json >/dev/null"
    filters = jq_filters()
    seed_cmd = jq_command(k, filters["seed"])
    careful_cmd = jq_command(k, filters["careful"])
    uptime = run(["uptime"]).stdout.strip()
    load_before = open("/proc/loadavg").read().split()[:3]
    kir_r, seed_r, careful_r = hyperfine([kir_cmd, seed_cmd, careful_cmd], a.runs, a.warmup)
    kir_rss = max_rss_kb([a.kir, "image", "find", REF, "-A", "-o", "json"])
    kubectl_rss = max_rss_kb([k, "get", "pods", "-A", "-o", "json"])
    with tempfile.NamedTemporaryFile(suffix=".json", delete=False) as f:
        pods_json = f.name
        f.write(run([k, "get", "pods", "-A", "-o", "json"]).stdout.encode())
    pods_json_bytes = os.path.getsize(pods_json)
    jq_rss = max_rss_kb(["jq", filters["seed"], pods_json], runs=3)
    os.unlink(pods_json)
    load_after = open("/proc/loadavg").read().split()[:3]
    summary = subprocess.run([a.kir, "image", "find", REF, "-A"], capture_output=True, text=True).stdout.strip()
    summary = summary.splitlines()[-1] if summary else ""
    versions = {
        "kir": run([a.kir, "--version"]).stdout.strip(),
        "commit": run(["git", "-C", ROOT, "rev-parse", "--short", "HEAD"]).stdout.strip(),
        "kubectl": json.loads(run([k, "version", "--client", "-o", "json"]).stdout)["clientVersion"]["gitVersion"],
        "jq": run(["jq", "--version"]).stdout.strip(),
        "hyperfine": run(["hyperfine", "--version"]).stdout.strip(),
    }
    cpu = next((l.split(":", 1)[1].strip() for l in open("/proc/cpuinfo") if l.startswith("model name")), "unknown CPU")
    mem = next(l.split()[1] for l in open("/proc/meminfo") if l.startswith("MemTotal"))
    ratio_seed = seed_r["median"] / kir_r["median"]
    ratio_careful = careful_r["median"] / kir_r["median"]
    t_time = "**met**" if ratio_seed >= 5 else "**missed**"
    t_rss = "**met**" if max(kir_rss) < 100 * 1024 else "**missed**"
    c = checked
    lines = [
        f"## `kir image find` against `kubectl get pods -A -o json | jq` ({time.strftime('%Y-%m-%d')})",
        "",
        f"Machine: {os.cpu_count()} cores ({cpu}), {int(mem) // 1024 // 1024} GiB RAM, shared with another developer's "
        f"builds and tests; `uptime` before timing: `{uptime}`; load {' '.join(load_after)} after. The testbed's control "
        f"plane (etcd, kube-apiserver {versions['kubectl']}, controller-manager, scheduler, kwok with "
        f"{expect['nodes']} fake nodes) runs on the same machine. {versions['kir']} (release build, commit "
        f"{versions['commit']}), kubectl {versions['kubectl']}, {versions['jq']}, {versions['hyperfine']}.",
        "",
        f"Scene (`bench.py generate`, seed {SEED}): {len(NAMESPACES)} namespaces; {DEPLOYMENTS} Deployments "
        f"({expect['replicas']['deployments']:,} replicas, most 10), {STATEFULSETS} StatefulSets "
        f"({expect['replicas']['statefulsets']} replicas), {DAEMONSETS} DaemonSets ({expect['replicas']['daemonsets']} pods), "
        f"{CRONJOBS} CronJobs and {JOBS} Jobs (all suspended): {DEPLOYMENTS + STATEFULSETS + DAEMONSETS + CRONJOBS + JOBS} "
        f"controllers, plus the Deployments' ReplicaSets; {BARE_PODS} bare pods. Pod templates have 1 to 3 containers "
        f"(some init containers), env, resources, probes, labels and annotations.",
    ]
    if c:
        lines.append(f"In the cluster: {c['pods_total']:,} pods, {c['controllers_total']} objects with a pod template; "
                     f"a pod is {c['pod_bytes'] / 1024:.1f} KiB of JSON on average (status and managed fields "
                     f"included), `kubectl get pods -A -o json` {pods_json_bytes / 1024 / 1024:.1f} MiB.")
    lines += [
        "",
        f"`{REF}` is planted in: a sidecar of one Deployment, the main container of one (spelled "
        f"`{REF}@sha256:<64 hex>`), both containers of one (both spellings), the init container of one, "
        f"a suspended CronJob, a StatefulSet scaled to 0, 2 bare pods (one of each spelling), and an ephemeral "
        f"container added to one running pod of a benign Deployment (PATCH `pods/ephemeralcontainers`"
        + (f": `{populated['ephemeral_pod']}`" if populated else "") + "). Look-alikes that must not match: "
        f"`{LOOKALIKES[0]}` (one Deployment) and `{LOOKALIKES[1]}` (one Deployment, one suspended Job); "
        f"`registry.evil.example/cache:3.0` is among the benign images.",
    ]
    if populated:
        lines.append(f"Populating: 4 parallel `kubectl create -f` of Lists, namespaces first, took "
                     f"{populated['created_s']:.0f} s; all {populated['pods']:,} pods ran "
                     f"{populated['running_s']:.0f} s after the start.")
    lines += [
        "",
        f"Timed with hyperfine (through `sh -c`, output to /dev/null), {a.warmup} warm-up runs and {a.runs} runs of "
        f"each, on the warm testbed; the median decides. The first jq variant is the seed playbook's line exactly "
        f"as a user types it (the filter form `.items[] | select(.spec.containers[].image | contains(...)) | "
        f".metadata.namespace + \"/\" + .metadata.name`, with the substring `{REF}`); the second is what a careful "
        f"user would type: every container kind of the pod, each pod once, still pods only.",
        "",
        "| command | median | mean ± σ | min … max | CPU user + sys (mean) |",
        "| --- | --- | --- | --- | --- |",
    ]
    for label, cmd, r in (("kir", kir_cmd, kir_r), ("jq, seed", seed_cmd, seed_r), ("jq, careful", careful_cmd, careful_r)):
        lines.append(f"| {label}: `{cell(rel(cmd))}` | **{ms(r)}** | {r['mean'] * 1000:.0f} ± {r['stddev'] * 1000:.0f} ms | "
                     f"{r['min'] * 1000:.0f} … {r['max'] * 1000:.0f} ms | {r['user'] * 1000:.0f} + "
                     f"{r['system'] * 1000:.0f} ms |")
    lines += [
        "",
        "| measure | result | target |",
        "| --- | --- | --- |",
        f"| the seed's line over kir | **{ratio_seed:.2f}x** ({ms(seed_r)} vs {ms(kir_r)}) | kir at least 5x faster: {t_time} |",
        f"| the careful jq over kir | {ratio_careful:.2f}x ({ms(careful_r)} vs {ms(kir_r)}) | |",
        f"| the same ratios of means (hyperfine's summary) | seed {seed_r['mean'] / kir_r['mean']:.2f}x, careful "
        f"{careful_r['mean'] / kir_r['mean']:.2f}x | |",
        f"| kir's max RSS (`/usr/bin/time -v`, {len(kir_rss)} runs) | **{max(kir_rss) / 1024:.1f} MB** (runs: "
        f"{', '.join(f'{x / 1024:.1f}' for x in kir_rss)}) | under 100 MB: {t_rss} |",
        f"| `kubectl get pods -A -o json`'s max RSS ({len(kubectl_rss)} runs) | {max(kubectl_rss) / 1024:.1f} MB (runs: "
        f"{', '.join(f'{x / 1024:.1f}' for x in kubectl_rss)}) | |",
        f"| jq's max RSS (the seed's filter over the saved list, {len(jq_rss)} runs) | {max(jq_rss) / 1024:.1f} MB | |",
    ]
    if c:
        lines.append(f"| kir's answer | {c['kir_pods']} pods, {c['kir_templates']} templates, "
                     f"{c['json_bytes'] / 1024:.1f} KiB of JSON; searched {c['searched']['pods']:,} pods, "
                     f"{c['searched']['containers']:,} containers, {c['searched']['templates']} templates | |")
    if summary:
        lines += ["", f"kir's table output ends with: `{summary}`"]
    if c:
        lines += [
            "",
            f"### What each finds (`bench.py check`)",
            "",
            f"The truth, from the raw objects (`kubectl get pods` and `{','.join(KINDS)}` as JSON, every container, "
            f"init container and ephemeral container, each reference parsed exactly and compared with "
            f"`{'/'.join(REF_PARSED[:2])}` tag `{REF_PARSED[2]}`): **{c['truth_pods']} pods** ("
            + ", ".join(f"{n} by {k}" for k, n in sorted(c['pod_kinds'].items())) + f") and **{c['truth_templates']} "
            f"controller templates** (" + ", ".join(f"{n} {k}" for k, n in sorted(c['truth_template_kinds'].items()))
            + f"): {', '.join(c['templates'])}.",
            "",
            ("kir's pods and templates equal the truth, container by container (kind, name, image); it searched every pod."
             if not c["failures"] else "**kir disagrees with the truth:** " + "; ".join(c["failures"])),
            "",
            "| | kir | jq, seed | jq, careful |",
            "| --- | --- | --- | --- |",
        ]
        s, f = c["variants"]["seed"], c["variants"]["careful"]
        def missed(v):
            by = ", ".join(f"{n} {k}" for k, n in sorted(v["missed_by_kind"].items()))
            return f"{v['missed']}" + (f" ({by})" if by else "")
        def false(v):
            by = ", ".join(f"{n} `{i}`" for i, n in sorted(v["false_images"].items()))
            return f"{v['false']}" + (f" ({by})" if by else "")
        kir_ok = not c["failures"]
        lines += [
            f"| lines printed | {c['kir_pods']} pods + {c['kir_templates']} templates | {s['lines']} | {f['lines']} |",
            f"| true pods found (of {c['truth_pods']}) | {c['kir_pods'] if kir_ok else '?'} | {s['true']} | {f['true']} |",
            f"| pods missed | {0 if kir_ok else '?'} | {missed(s)} | {missed(f)} |",
            f"| false positives (pods) | {0 if kir_ok else '?'} | {false(s)} | {false(f)} |",
            f"| duplicate lines (a pod printed once per matching container) | 0 | {s['duplicates']} | {f['duplicates']} |",
            f"| controller templates reported (of {c['truth_templates']}) | {c['kir_templates']} | 0 | 0 |",
            f"| controllers not reachable even by following the found pods' ownerReferences by hand | 0 | "
            f"{s['templates_unreachable']} | {f['templates_unreachable']} |",
            "",
            f"Unreachable from the seed's pods: {', '.join(s['unreachable'])}. From the careful variant's: "
            f"{', '.join(f['unreachable'])}. `{LOOKALIKES[0]}` does not contain the substring `{REF}`, so neither "
            f"jq variant reports it; `{LOOKALIKES[1]}` does, and both report its pods.",
        ]
    lines += [
        "",
        f"kir's own CPU is {kir_r['user'] * 1000:.0f} + {kir_r['system'] * 1000:.0f} ms of its {ms(kir_r)}: most of its "
        f"wall time it waits for the API server, which reads and encodes every pod on the same {os.cpu_count()} cores "
        f"(the jq pipelines spend {seed_r['user'] + seed_r['system']:.1f} s of CPU, most of it in kubectl decoding and "
        f"printing {pods_json_bytes / 1024 / 1024:.0f} MiB of JSON, and in jq parsing it). On a machine shared with "
        f"other work, read the ratio with the load above: σ is {kir_r['stddev'] * 1000:.0f} ms for kir and "
        f"{seed_r['stddev'] * 1000:.0f} ms for the seed's line.",
        "",
        f"Targets: kir at least 5x faster than the seed's line: {t_time} ({ratio_seed:.2f}x); kir's max RSS under "
        f"100 MB: {t_rss} ({max(kir_rss) / 1024:.1f} MB).",
    ]
    return "\n".join(lines) + "\n"


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("step", choices=["generate", "populate", "check", "time", "all"])
    p.add_argument("--kir", default=os.path.join(ROOT, "target/release/kir"))
    p.add_argument("--kubectl", required=True)
    p.add_argument("--dir", default=os.path.join(tempfile.gettempdir(), "kir-bench-image-objects"))
    p.add_argument("--nodes", type=int, default=int(os.environ.get("KIR_TESTBED_NODES", "2")))
    p.add_argument("--runs", type=int, default=15)
    p.add_argument("--warmup", type=int, default=3)
    p.add_argument("--out")
    a = p.parse_args()
    steps = ["generate", "populate", "check", "time"] if a.step == "all" else [a.step]

    expect = generate(a.dir, a.nodes) if "generate" in steps else json.load(open(os.path.join(a.dir, "expect.json")))
    populated = populate(a.kubectl, a.dir, expect) if "populate" in steps else None
    checked = None
    if "check" in steps:
        checked = check(a.kir, a.kubectl)
        for f in checked["failures"]:
            print(f"WRONG: {f}", file=sys.stderr)
        for label, v in checked["variants"].items():
            print(f"check: jq {label}: {v['lines']} lines, {v['true']} of {checked['truth_pods']} pods, missed "
                  f"{v['missed']} {v['missed_by_kind']}, false {v['false']} {v['false_images']}, duplicates "
                  f"{v['duplicates']}, controllers unreachable {v['templates_unreachable']} of "
                  f"{checked['truth_templates']}", file=sys.stderr)
        print(f"check: truth {checked['truth_pods']} pods, {checked['truth_templates']} templates; kir "
              f"{checked['kir_pods']} pods, {checked['kir_templates']} templates", file=sys.stderr)
    if "time" in steps:
        report = measure(a, expect, populated, checked)
        print(report)
        if a.out:
            with open(a.out, "w") as f:
                f.write(report)
    if checked and checked["failures"]:
        sys.exit("kir's answer differs from the truth (see WRONG above)")


if __name__ == "__main__":
    main()

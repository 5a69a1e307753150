#!/usr/bin/env python3
"""Generate a realistic Kubernetes audit log (audit.k8s.io/v1 Events, one per line).

The mix follows what API servers of busy clusters write: most events are control-plane and
node traffic (leases, watches, status updates) at Metadata level; kubectl users, CI and
workload service accounts add reads and writes; pods, workloads and RBAC objects are logged
with request and response bodies (RequestResponse), which makes a few events several KB large.
A handful of attack steps are mixed in so detection has something to find.

Usage: gen-audit-log.py SIZE_MB OUT_FILE [--seed N]
The user named by SEARCH_USER below appears only in user.username, so `grep -F` on it counts
the same lines as `jq 'select(.user.username == ...)'`.
"""
import json
import random
import sys
import uuid

SEARCH_USER = "dana.search@example.com"

NAMESPACES = ["default", "prod", "staging", "payments", "monitoring", "ingress-nginx", "kube-system", "ci", "data", "web"]
NODES = [f"ip-10-0-{i // 250}-{i % 250}.ec2.internal" for i in range(120)]
CONTROLLERS = [
    "replicaset-controller", "deployment-controller", "endpointslice-controller", "node-controller",
    "namespace-controller", "generic-garbage-collector", "job-controller", "daemon-set-controller",
    "horizontal-pod-autoscaler", "resourcequota-controller", "statefulset-controller", "cronjob-controller",
]
HUMANS = ["alice@example.com", "bob@example.com", "carol@example.com", "erin@example.com", SEARCH_USER]
CI = "system:serviceaccount:ci:deployer"
WORKLOAD_SAS = [f"system:serviceaccount:{ns}:{app}" for ns in ("prod", "payments", "data", "web") for app in ("api", "worker", "operator")]
AGENTS = {
    "kubectl": "kubectl/v1.33.2 (linux/amd64) kubernetes/a57b6f7",
    "kcm": "kube-controller-manager/v1.33.2 (linux/amd64) kubernetes/a57b6f7/system:serviceaccount:kube-system:{}",
    "kubelet": "kubelet/v1.33.2 (linux/amd64) kubernetes/a57b6f7",
    "scheduler": "kube-scheduler/v1.33.2 (linux/amd64) kubernetes/a57b6f7/scheduler",
    "client-go": "{}/v0.0.0 (linux/amd64) kubernetes/$Format",
    "helm": "Helm/3.15.2",
    "argocd": "argocd-application-controller/v2.11.3 (linux/amd64) kubernetes/$Format",
}
RESOURCES = [
    # (resource, group, namespaced, weight)
    ("pods", "", True, 20), ("leases", "coordination.k8s.io", True, 22), ("configmaps", "", True, 8),
    ("secrets", "", True, 5), ("endpointslices", "discovery.k8s.io", True, 7), ("nodes", "", False, 8),
    ("deployments", "apps", True, 5), ("replicasets", "apps", True, 4), ("services", "", True, 4),
    ("events", "", True, 6), ("serviceaccounts", "", True, 2), ("namespaces", "", False, 1),
    ("rolebindings", "rbac.authorization.k8s.io", True, 1), ("clusterroles", "rbac.authorization.k8s.io", False, 1),
    ("jobs", "batch", True, 1), ("ingresses", "networking.k8s.io", True, 1),
]
BODY_RESOURCES = {"pods", "deployments", "replicasets", "rolebindings", "clusterroles", "jobs"}

rnd = random.Random(1)


def ts(i, base):
    t = base + i * 0.004 + rnd.random() * 0.003
    secs = int(t)
    day, rest = divmod(secs, 86400)
    h, rest = divmod(rest, 3600)
    m, s = divmod(rest, 60)
    micro = int((t - secs) * 1e6)
    return f"2026-11-{20 + day % 7:02d}T{h:02d}:{m:02d}:{s:02d}.{micro:06d}Z"


def pod_body(ns, name, image, privileged=False):
    containers = [{
        "name": "app", "image": image,
        "ports": [{"containerPort": 8080, "protocol": "TCP"}],
        "env": [{"name": f"SETTING_{k}", "value": "x" * rnd.randint(4, 40)} for k in range(rnd.randint(2, 12))],
        "resources": {"limits": {"cpu": "500m", "memory": "512Mi"}, "requests": {"cpu": "100m", "memory": "128Mi"}},
        "volumeMounts": [{"name": "kube-api-access", "mountPath": "/var/run/secrets/kubernetes.io/serviceaccount", "readOnly": True}],
        "securityContext": {"privileged": True} if privileged else {"runAsNonRoot": True, "allowPrivilegeEscalation": False},
    }]
    return {
        "kind": "Pod", "apiVersion": "v1",
        "metadata": {"name": name, "namespace": ns, "labels": {"app": name.split("-")[0], "pod-template-hash": "5d8f7c9b6"},
                     "ownerReferences": [{"apiVersion": "apps/v1", "kind": "ReplicaSet", "name": name.rsplit("-", 1)[0], "uid": str(uuid.UUID(int=rnd.getrandbits(128))), "controller": True}]},
        "spec": {"containers": containers, "serviceAccountName": "default", "restartPolicy": "Always",
                 "volumes": [{"name": "kube-api-access", "projected": {"sources": [{"serviceAccountToken": {"expirationSeconds": 3607, "path": "token"}}]}}]},
        "status": {"phase": "Pending", "qosClass": "Burstable"},
    }


def event(i, base):
    r = rnd.random()
    extra_user = {}
    impersonated = None
    if r < 0.30:
        user, groups, agent = f"system:node:{rnd.choice(NODES)}", ["system:nodes", "system:authenticated"], AGENTS["kubelet"]
        kind = "node"
    elif r < 0.62:
        c = rnd.choice(CONTROLLERS)
        user, groups, agent = f"system:serviceaccount:kube-system:{c}", ["system:serviceaccounts", "system:serviceaccounts:kube-system", "system:authenticated"], AGENTS["kcm"].format(c)
        kind = "controller"
    elif r < 0.70:
        user, groups, agent = "system:kube-scheduler", ["system:authenticated"], AGENTS["scheduler"]
        kind = "scheduler"
    elif r < 0.84:
        user = rnd.choice(WORKLOAD_SAS)
        groups = ["system:serviceaccounts", f"system:serviceaccounts:{user.split(':')[2]}", "system:authenticated"]
        agent = AGENTS["client-go"].format(user.split(":")[3])
        extra_user = {"authentication.kubernetes.io/credential-id": [f"JTI={uuid.UUID(int=rnd.getrandbits(128))}"],
                      "authentication.kubernetes.io/pod-name": [f"{user.split(':')[3]}-7d9c5-x2k4p"]}
        kind = "workload"
    elif r < 0.90:
        user, groups, agent = CI, ["system:serviceaccounts", "system:serviceaccounts:ci", "system:authenticated"], rnd.choice([AGENTS["helm"], AGENTS["argocd"]])
        kind = "ci"
    else:
        user = rnd.choice(HUMANS)
        groups = ["developers", "system:authenticated"]
        agent = AGENTS["kubectl"]
        kind = "human"
    resource, group, namespaced, _ = rnd.choices(RESOURCES, weights=[w for *_, w in RESOURCES])[0]
    if kind == "node" and rnd.random() < 0.6:
        resource, group, namespaced = "leases", "coordination.k8s.io", True
    if kind in ("node", "controller", "scheduler"):
        verb = rnd.choices(["get", "list", "watch", "update", "patch", "create"], weights=[30, 8, 12, 30, 15, 5])[0]
    elif kind == "human":
        verb = rnd.choices(["get", "list", "watch", "create", "patch", "delete"], weights=[40, 35, 5, 8, 8, 4])[0]
    else:
        verb = rnd.choices(["get", "list", "watch", "create", "update", "patch", "delete"], weights=[35, 25, 10, 10, 8, 8, 4])[0]
    ns = rnd.choice(NAMESPACES) if namespaced else None
    if kind == "node" and resource == "leases":
        ns = "kube-node-lease"
    # People and workloads keep to application namespaces (a workload to its own); only the
    # control plane works in kube-system. Events expire on their own and are not deleted.
    if ns == "kube-system" and kind not in ("node", "controller", "scheduler"):
        ns = rnd.choice([n for n in NAMESPACES if n != "kube-system"])
    if kind == "workload" and namespaced:
        ns = user.split(":")[2]
    if resource == "events" and verb == "delete":
        verb = "get"
    if resource == "serviceaccounts" and verb == "create" and kind != "controller":
        ns = ns if ns != "kube-system" else "default"
    name = None if verb in ("list", "watch") or (verb == "create" and resource == "pods") else f"{resource[:-1]}-{rnd.randint(0, 999)}"
    api = f"/apis/{group}/v1" if group else "/api/v1"
    uri = api + (f"/namespaces/{ns}" if ns else "") + f"/{resource}" + (f"/{name}" if name else "")
    if verb in ("list", "watch"):
        uri += "?limit=500\u0026resourceVersion=0" if verb == "list" else "?allowWatchBookmarks=true\u0026timeout=8m39s\u0026watch=true"
    code = 200 if verb != "create" else 201
    if rnd.random() < 0.01:
        code = rnd.choice([403, 404, 409])
    level = "RequestResponse" if resource in BODY_RESOURCES and verb in ("create", "update", "patch") else ("Request" if resource not in ("secrets", "configmaps") and rnd.random() < 0.2 else "Metadata")
    e = {
        "kind": "Event", "apiVersion": "audit.k8s.io/v1", "level": level, "auditID": str(uuid.UUID(int=rnd.getrandbits(128))),
        "stage": "ResponseComplete", "requestURI": uri, "verb": verb,
        "user": {"username": user, "uid": str(uuid.UUID(int=rnd.getrandbits(128))), "groups": groups, **({"extra": extra_user} if extra_user else {})},
        "sourceIPs": [f"10.0.{rnd.randint(0, 3)}.{rnd.randint(1, 250)}" if kind != "human" else f"192.0.2.{rnd.randint(1, 60)}"],
        "userAgent": agent,
        "objectRef": {k: v for k, v in (("resource", resource), ("namespace", ns), ("name", name), ("apiGroup", group or None), ("apiVersion", "v1")) if v},
        "responseStatus": {"metadata": {}, "code": code, **({"status": "Failure", "reason": "Forbidden", "message": f"{resource} is forbidden: User \"{user}\" cannot {verb} resource \"{resource}\""} if code == 403 else {})},
        "requestReceivedTimestamp": ts(i, base), "stageTimestamp": ts(i, base),
        "annotations": {"authorization.k8s.io/decision": "allow" if code != 403 else "forbid",
                        "authorization.k8s.io/reason": f"RBAC: allowed by ClusterRoleBinding \"system:controller:{resource}\" of ClusterRole \"system:controller:{resource}\" to ServiceAccount \"x/kube-system\""},
    }
    if level == "RequestResponse" and resource == "pods":
        pod_name = name or f"{rnd.choice(['api', 'worker', 'web'])}-5d8f7c9b6-{rnd.randint(10000, 99999)}"
        image = f"registry.k8s.io/{rnd.choice(['coredns/coredns:v1.11.1', 'kube-proxy:v1.33.2', 'metrics-server/metrics-server:v0.7.1'])}" if ns == "kube-system" else f"registry.example.com/team/{rnd.choice(['api', 'worker', 'web'])}:1.{rnd.randint(0, 40)}"
        body = pod_body(ns or "default", pod_name, image)
        e["requestObject"] = body
        e["responseObject"] = {**body, "metadata": {**body["metadata"], "uid": str(uuid.UUID(int=rnd.getrandbits(128))), "resourceVersion": str(rnd.randint(10**6, 10**8)), "creationTimestamp": ts(i, base)[:19] + "Z"}}
    elif level == "RequestResponse":
        e["requestObject"] = {"kind": resource.title()[:-1], "apiVersion": f"{group}/v1" if group else "v1", "metadata": {"name": name or "x", "namespace": ns, "annotations": {"meta.helm.sh/release-name": "app"}}, "spec": {"replicas": 3, "template": {"spec": {"containers": [{"name": "app", "image": "registry.example.com/team/app:2.1"}]}}} if resource in ("deployments", "replicasets", "jobs") else {}, **({"rules": [{"apiGroups": [""], "resources": ["configmaps"], "verbs": ["get", "list"]}]} if resource == "clusterroles" else {}), **({"roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": "view"}, "subjects": [{"kind": "User", "name": "bob@example.com"}]} if resource == "rolebindings" else {})}
        e["responseObject"] = {**e["requestObject"], "status": {}}
    elif level == "Request" and verb in ("update", "patch"):
        e["requestObject"] = {"status": {"conditions": [{"type": "Ready", "status": "True", "lastHeartbeatTime": ts(i, base)[:19] + "Z"} for _ in range(rnd.randint(1, 6))]}}
    return e


def attack(i, base):
    """One attack step: the same shape as real ones, so rules have something to find."""
    e = event(i, base)
    step = rnd.randint(0, 3)
    e["user"] = {"username": "mallory@evil.example", "groups": ["system:authenticated"]}
    e["sourceIPs"] = ["203.0.113.66"]
    e["annotations"]["authorization.k8s.io/decision"] = "allow"
    e["responseStatus"] = {"metadata": {}, "code": 201}
    if step == 0:
        e.update(verb="create", requestURI="/apis/rbac.authorization.k8s.io/v1/clusterrolebindings", level="RequestResponse",
                 objectRef={"resource": "clusterrolebindings", "name": "pwn", "apiGroup": "rbac.authorization.k8s.io", "apiVersion": "v1"},
                 requestObject={"roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": "cluster-admin"}, "subjects": [{"kind": "ServiceAccount", "name": "pwn", "namespace": "default"}]})
    elif step == 1:
        e.update(verb="create", requestURI="/api/v1/namespaces/prod/pods/api-0/exec?command=sh", objectRef={"resource": "pods", "subresource": "exec", "namespace": "prod", "name": "api-0", "apiVersion": "v1"})
    elif step == 2:
        e.update(verb="list", requestURI="/api/v1/secrets", objectRef={"resource": "secrets", "apiVersion": "v1"})
    else:
        e.update(verb="create", requestURI="/api/v1/namespaces/prod/pods", level="RequestResponse", objectRef={"resource": "pods", "namespace": "prod", "apiVersion": "v1"},
                 requestObject=pod_body("prod", "miner-1", "docker.io/evil/miner:latest", privileged=True))
    e.pop("responseObject", None)
    return e


def main():
    if len(sys.argv) < 3:
        sys.exit(__doc__)
    target = int(float(sys.argv[1]) * (1 << 20))
    if "--seed" in sys.argv:
        rnd.seed(int(sys.argv[sys.argv.index("--seed") + 1]))
    base = 3600.0 * 6
    written = 0
    i = 0
    with open(sys.argv[2], "w") as out:
        while written < target:
            e = attack(i, base) if rnd.random() < 0.00005 else event(i, base)
            # Go's encoder (the API server's) escapes <, > and & inside strings.
            line = json.dumps(e, separators=(",", ":")).replace("&", "\\u0026").replace("<", "\\u003c").replace(">", "\\u003e") + "\n"
            out.write(line)
            written += len(line)
            i += 1
    print(f"{sys.argv[2]}: {i} events, {written / (1 << 20):.0f} MiB; search user: {SEARCH_USER}", file=sys.stderr)


if __name__ == "__main__":
    main()

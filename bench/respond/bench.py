#!/usr/bin/env python3
"""Time kir's compromised-pod response against the seed playbook's kubectl steps, on the same
testbed, in the same run.

  kir respond compromised-pod POD --yes --replace
     vs  kubectl get pod -o yaml; kubectl logs; kubectl annotate; kubectl exec tar; kubectl delete
  kir isolate pod POD --yes (process start to isolation in place)
     vs  kubectl annotate + kubectl apply of a deny-all NetworkPolicy

Each measurement uses a fresh Running pod of a Deployment; the two sides alternate so that
drift in the machine's load hits both. Prints a Markdown report (also written to --out).
"""
import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))


def sh(args, **kwargs):
    return subprocess.run(args, check=True, capture_output=True, text=True, **kwargs)


def timed(args, **kwargs):
    start = time.perf_counter()
    done = subprocess.run(args, capture_output=True, text=True, **kwargs)
    elapsed = (time.perf_counter() - start) * 1000
    if done.returncode != 0:
        sys.exit(f"failed ({done.returncode}): {' '.join(args)}\n{done.stderr}")
    return elapsed, done


def timed_shell(script):
    start = time.perf_counter()
    done = subprocess.run(["bash", "-c", script], capture_output=True, text=True)
    elapsed = (time.perf_counter() - start) * 1000
    if done.returncode != 0:
        sys.exit(f"seed steps failed: {done.stderr}")
    return elapsed


class Cluster:
    def __init__(self, kubectl, namespace):
        self.kubectl = kubectl
        self.ns = namespace

    def k(self, *args):
        return sh([self.kubectl, "-n", self.ns, *args]).stdout

    def fresh_pod(self, used):
        """A Running pod of the Deployment that no measurement touched yet."""
        deadline = time.time() + 120
        while time.time() < deadline:
            pods = json.loads(self.k("get", "pods", "-l", "app=web", "-o", "json"))["items"]
            for pod in pods:
                name = pod["metadata"]["name"]
                running = pod.get("status", {}).get("phase") == "Running"
                if running and "deletionTimestamp" not in pod["metadata"] and name not in used:
                    used.add(name)
                    return name
            time.sleep(0.2)
        sys.exit("no fresh Running pod within 120 s")


def median(values):
    return statistics.median(values) if values else float("nan")


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--kir", default=os.path.join(ROOT, "target/release/kir"))
    parser.add_argument("--kubectl", required=True)
    parser.add_argument("--runs", type=int, default=30)
    parser.add_argument("--warmup", type=int, default=1,
                        help="rounds run first and not counted (a fresh testbed's first requests are slower on both sides)")
    parser.add_argument("--out")
    args = parser.parse_args()

    ns = f"bench-respond-{os.getpid()}"
    cluster = Cluster(args.kubectl, ns)
    sh([args.kubectl, "create", "namespace", ns])
    sh([args.kubectl, "-n", ns, "create", "deployment", "web", "--image=nginx:1.27", f"--replicas={2 * (args.runs + args.warmup) + 4}"])
    sh([args.kubectl, "-n", ns, "expose", "deployment", "web", "--port", "80"])
    # Measure a settled cluster: until every replica runs, the controllers, the scheduler and
    # kwok are still busy starting them, and the first rounds would time that work, not kir's
    # or kubectl's.
    sh([args.kubectl, "-n", ns, "rollout", "status", "deployment/web", "--timeout=180s"])
    time.sleep(2)
    work = tempfile.mkdtemp(prefix="kir-bench-respond-")
    policy = os.path.join(work, "deny.yaml")
    used = set()

    respond_ms, contained_ms, seed_ms = [], [], []
    kir_artifacts, seed_files = [], []
    isolate_ms, isolate_contained_ms, annotate_apply_ms = [], [], []
    for run in range(-args.warmup, args.runs):
        pod = cluster.fresh_pod(used)
        case = os.path.join(work, f"case-{run}")
        elapsed, done = timed([args.kir, "-n", ns, "--new-case", "--case", case, "respond", "compromised-pod", pod, "--yes", "--replace", "-o", "json"])
        report = json.loads(done.stdout)
        respond_ms.append(elapsed)
        contained_ms.append(report["isolatedAfterMs"])
        kir_artifacts.append(len(report["capture"]["artifacts"]) + len(report["snapshot"]["artifacts"]))

        pod = cluster.fresh_pod(used)
        seed_dir = os.path.join(work, f"seed-{run}")
        os.makedirs(seed_dir)
        k = f"{args.kubectl} -n {ns}"
        seed_ms.append(timed_shell(
            f"set -e; {k} get pod {pod} -o yaml > {seed_dir}/pod.yaml; {k} logs {pod} > {seed_dir}/logs.txt; "
            f"{k} annotate pod {pod} incident=compromised > /dev/null; "
            f"{k} exec {pod} -- tar czf - -C / etc > {seed_dir}/etc.tgz 2>/dev/null || true; "
            f"{k} delete pod {pod} > /dev/null"))
        seed_files.append(len(os.listdir(seed_dir)))

        pod = cluster.fresh_pod(used)
        case = os.path.join(work, f"isolate-{run}")
        elapsed, done = timed([args.kir, "-n", ns, "--new-case", "--case", case, "isolate", "pod", pod, "--yes", "--no-orphan", "-o", "json"])
        isolate_ms.append(elapsed)
        isolate_contained_ms.append(json.loads(done.stdout)["isolatedAfterMs"])

        pod = cluster.fresh_pod(used)
        with open(policy, "w") as f:
            f.write(f"""apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {{name: quarantine-{pod}, namespace: {ns}}}
spec:
  podSelector: {{matchLabels: {{quarantine: "{pod}"}}}}
  policyTypes: [Ingress, Egress]
""")
        start = time.perf_counter()
        sh([args.kubectl, "-n", ns, "label", "pod", pod, f"quarantine={pod}"])
        sh([args.kubectl, "apply", "-f", policy])
        annotate_apply_ms.append((time.perf_counter() - start) * 1000)
        if run < 0:
            for series in (respond_ms, contained_ms, seed_ms, kir_artifacts, seed_files,
                           isolate_ms, isolate_contained_ms, annotate_apply_ms):
                series.pop()
            print(f"warm-up round {run + args.warmup + 1}/{args.warmup} done (not counted)", file=sys.stderr)
            continue
        print(f"run {run + 1}/{args.runs}: respond {respond_ms[-1]:.0f} ms (contained {contained_ms[-1]} ms), "
              f"seed {seed_ms[-1]:.0f} ms, isolate {isolate_ms[-1]:.0f} ms, kubectl label+apply {annotate_apply_ms[-1]:.0f} ms",
              file=sys.stderr)

    sh([args.kubectl, "delete", "namespace", ns, "--wait=false"])
    shutil.rmtree(work, ignore_errors=True)

    m = {name: median(v) for name, v in {
        "respond": respond_ms, "contained": contained_ms, "seed": seed_ms, "isolate": isolate_ms,
        "isolate_contained": isolate_contained_ms, "kubectl_isolate": annotate_apply_ms}.items()}
    cpu = next((l.split(":", 1)[1].strip() for l in open("/proc/cpuinfo") if l.startswith("model name")), "unknown CPU")
    report = f"""## Compromised-pod response on the testbed ({time.strftime('%Y-%m-%d')}, {args.runs} runs after {args.warmup} warm-up, medians)

Machine: {os.cpu_count()} cores, {cpu}. Release build of kir; testbed control plane on the same machine.

| what | kir | baseline | ratio |
| --- | --- | --- | --- |
| whole response: `kir respond compromised-pod --yes --replace` vs the seed's kubectl steps (get -o yaml, logs, annotate, exec tar, delete) | {m['respond']:.0f} ms | {m['seed']:.0f} ms | {m['seed'] / m['respond']:.2f}x faster |
| evidence collected (files) | {median(kir_artifacts):.0f} hashed artifacts | {median(seed_files):.0f} unhashed files | |
| time to contain, respond (kir's start to the quarantine label and a deny policy confirmed by the API server; evidence first) | {m['contained']:.0f} ms | | target < 300 ms |
| `kir isolate pod --yes --no-orphan` (whole command: plan, journal, apply, read back) vs `kubectl label` + `kubectl apply` of a deny-all policy | {m['isolate']:.0f} ms | {m['kubectl_isolate']:.0f} ms | {m['kubectl_isolate'] / m['isolate']:.2f}x faster |
| time to contain, isolate (kir's start to the quarantine label and a deny policy confirmed by the API server) | {m['isolate_contained']:.0f} ms | | target < 300 ms |

Per-run milliseconds: respond {[round(x) for x in respond_ms]}; seed {[round(x) for x in seed_ms]};
isolate {[round(x) for x in isolate_ms]}; kubectl label+apply {[round(x) for x in annotate_apply_ms]}.
"""
    print(report)
    if args.out:
        with open(args.out, "w") as f:
            f.write(report)


if __name__ == "__main__":
    main()

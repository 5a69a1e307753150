#!/usr/bin/env python3
"""Time node-side collection of a 256 MB process against the kubelet's checkpoint alone, and
`kir checkpoint inspect --grep` against `grep -a -c` over the same archive, on the testbed's real
node, in the same run.

  kir snapshot pod POD --from node --checkpoint   vs  POST .../proxy/checkpoint/NS/POD/CONTAINER
                                                       (kubectl create --raw: the kubelet's
                                                       checkpoint alone, nothing brought back)
  kir snapshot pod POD --from node --memory       (the same process's memory, frozen while read)
  kir checkpoint inspect ARCHIVE --grep S         vs  grep -a -c S ARCHIVE
                                                      (the kubelet's archive, a plain tar)
  kir checkpoint inspect CASE --grep S            vs  zstd -dc ARTIFACT | grep -a -c S
                                                      (the artifact in the case, hash checked)

The two sides alternate, so that drift in the machine's load hits both. The peak memory (max
RSS) of every kir run is measured by the kernel (wait4). Prints a Markdown report (also written
to --out).
"""
import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))


def run(args):
    """Run `args`; (milliseconds, stdout)."""
    start = time.perf_counter()
    child = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    stdout, stderr = child.communicate()
    elapsed = (time.perf_counter() - start) * 1000
    if child.returncode != 0:
        sys.exit(f"failed ({child.returncode}): {' '.join(args)}\n{stderr.decode(errors='replace')}")
    return elapsed, stdout


def run_measured(args):
    """Run `args` with its own peak RSS: (milliseconds, stdout, MiB)."""
    start = time.perf_counter()
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        child = subprocess.Popen(args, stdout=out, stderr=err)
        _, status, usage = os.wait4(child.pid, 0)
        elapsed = (time.perf_counter() - start) * 1000
        child.returncode = os.waitstatus_to_exitcode(status)
        out.seek(0)
        err.seek(0)
        if child.returncode != 0:
            sys.exit(f"failed ({child.returncode}): {' '.join(args)}\n{err.read().decode(errors='replace')}")
        return elapsed, out.read(), usage.ru_maxrss / 1024


def median(values):
    return statistics.median(values) if values else float("nan")


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--kir", default=os.path.join(ROOT, "target/release/kir"))
    parser.add_argument("--kubectl", required=True)
    parser.add_argument("--node", required=True)
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--heap-mb", type=int, default=256)
    parser.add_argument("--out")
    args = parser.parse_args()

    ns = f"bench-node-{os.getpid()}"
    secret = f"bench-{os.getpid()}-canary"
    reversed_secret = secret[::-1]
    k = [args.kubectl, "-n", ns]
    subprocess.run([args.kubectl, "create", "namespace", ns], check=True, capture_output=True)
    pod = {
        "apiVersion": "v1", "kind": "Pod", "metadata": {"name": "canary", "namespace": ns},
        "spec": {
            "nodeSelector": {"kubernetes.io/hostname": args.node},
            "tolerations": [{"key": "kir.dev/real-node", "operator": "Exists"}],
            "containers": [{
                "name": "canary", "image": "kir-testbed/canary:1",
                "env": [{"name": "CANARY", "value": secret}, {"name": "CANARY_HEAP_MB", "value": str(args.heap_mb)}],
            }],
        },
    }
    subprocess.run(k + ["apply", "-f", "-"], input=json.dumps(pod).encode(), check=True, capture_output=True)
    subprocess.run(k + ["wait", "--for=condition=Ready", "pod/canary", "--timeout=120s"], check=True, capture_output=True)
    # The heap is touched after start: wait until the canary says it holds it.
    deadline = time.time() + 120
    while "MB of heap" not in subprocess.run(k + ["logs", "canary"], capture_output=True, text=True).stdout:
        if time.time() > deadline:
            sys.exit("the canary did not fill its heap")
        time.sleep(0.5)

    work = tempfile.mkdtemp(prefix="kir-bench-node-")
    kubelet_ms, checkpoint_ms, memory_ms = [], [], []
    rss = []
    checkpoint_bytes = memory_bytes = 0
    raw = f"/api/v1/nodes/{args.node}/proxy/checkpoint/{ns}/canary/canary"
    for index in range(args.runs):
        elapsed, _ = run([args.kubectl, "create", "--raw", raw, "-f", "/dev/null"])
        kubelet_ms.append(elapsed)

        case = os.path.join(work, f"checkpoint-{index}")
        elapsed, stdout, peak = run_measured([
            args.kir, "--new-case", "--case", case, "-o", "json", "snapshot", "pod", f"{ns}/canary",
            "--from", "node", "--helper-image", "kir-testbed/kir:dev", "--checkpoint"])
        checkpoint_ms.append(elapsed)
        rss.append(("snapshot --checkpoint", peak))
        report = json.loads(stdout)
        checkpoint_bytes = next(a["size"] for a in report["node"]["collected"]["artifacts"] if a["path"].endswith("checkpoint.tar.zst"))

        case = os.path.join(work, f"memory-{index}")
        elapsed, stdout, peak = run_measured([
            args.kir, "--new-case", "--case", case, "-o", "json", "snapshot", "pod", f"{ns}/canary",
            "--from", "node", "--helper-image", "kir-testbed/kir:dev", "--memory"])
        memory_ms.append(elapsed)
        rss.append(("snapshot --memory", peak))
        report = json.loads(stdout)
        memory_bytes = next(a["size"] for a in report["node"]["collected"]["artifacts"] if a["path"].endswith("memory.kirmem.zst"))
        assert report["node"]["suspectUntouched"], report

    # The same archive for both sides of the search: the last checkpoint, decompressed.
    archive = os.path.join(work, "checkpoint.tar")
    stored = next(
        os.path.join(root, name)
        for root, _, names in os.walk(os.path.join(work, f"checkpoint-{args.runs - 1}"))
        for name in names if name == "checkpoint.tar.zst")
    subprocess.run(["zstd", "-q", "-d", "-f", stored, "-o", archive], check=True)
    case = os.path.join(work, f"checkpoint-{args.runs - 1}")
    inspect_ms, grep_ms, case_ms, pipe_ms = [], [], [], []
    kir_hits = grep_hits = case_hits = pipe_hits = None
    for _ in range(args.runs):
        elapsed, stdout, peak = run_measured([args.kir, "-o", "json", "checkpoint", "inspect", archive, "--grep", reversed_secret])
        inspect_ms.append(elapsed)
        rss.append(("checkpoint inspect --grep", peak))
        kir_hits = json.loads(stdout)[0]["grep"]["total"]
        # stdout is a pipe: GNU grep stops at the first match when it writes to /dev/null.
        elapsed, stdout = run(["grep", "-a", "-c", reversed_secret, archive])
        grep_ms.append(elapsed)
        grep_hits = int(stdout)
        elapsed, stdout, peak = run_measured([args.kir, "-o", "json", "checkpoint", "inspect", case, "--grep", reversed_secret])
        case_ms.append(elapsed)
        rss.append(("checkpoint inspect CASE --grep", peak))
        case_hits = json.loads(stdout)[0]["grep"]["total"]
        elapsed, stdout = run(["sh", "-c", 'zstd -q -dc "$1" | grep -a -c "$2"', "sh", stored, reversed_secret])
        pipe_ms.append(elapsed)
        pipe_hits = int(stdout)
    subprocess.run([args.kubectl, "delete", "namespace", ns, "--wait=false"], capture_output=True)

    ratio = median(checkpoint_ms) / median(kubelet_ms)
    search_ratio = median(inspect_ms) / median(grep_ms)
    case_ratio = median(case_ms) / median(pipe_ms)
    peak = max(rss, key=lambda r: r[1])
    lines = [
        "# bench/node: node-side collection of a 256 MB process",
        "",
        f"{time.strftime('%Y-%m-%d')}, testbed real node ({args.node}: kubelet, containerd, runc, CRIU 4.1.1), "
        f"canary with {args.heap_mb} MB of touched heap, {args.runs} runs each, medians; kir release build.",
        "",
        "| measurement | median ms | runs |",
        "| --- | ---: | --- |",
        f"| kubelet checkpoint alone (`kubectl create --raw .../proxy/checkpoint/...`) | {median(kubelet_ms):.0f} | {', '.join(f'{v:.0f}' for v in kubelet_ms)} |",
        f"| `kir snapshot pod --from node --checkpoint` (helper pod, processes, changes, checkpoint into the case) | {median(checkpoint_ms):.0f} | {', '.join(f'{v:.0f}' for v in checkpoint_ms)} |",
        f"| `kir snapshot pod --from node --memory` | {median(memory_ms):.0f} | {', '.join(f'{v:.0f}' for v in memory_ms)} |",
        f"| `grep -a -c` over the decompressed checkpoint | {median(grep_ms):.0f} | {', '.join(f'{v:.0f}' for v in grep_ms)} |",
        f"| `kir checkpoint inspect --grep` over the same archive | {median(inspect_ms):.0f} | {', '.join(f'{v:.0f}' for v in inspect_ms)} |",
        f"| `zstd -dc ARTIFACT \\| grep -a -c` over the case's artifact | {median(pipe_ms):.0f} | {', '.join(f'{v:.0f}' for v in pipe_ms)} |",
        f"| `kir checkpoint inspect CASE --grep` (the same artifact, its hash checked) | {median(case_ms):.0f} | {', '.join(f'{v:.0f}' for v in case_ms)} |",
        "",
        f"- kir with the checkpoint brought into the case / the kubelet's checkpoint alone: **{ratio:.2f}x** (target: at most 1.5x)",
        f"- `kir checkpoint inspect --grep` / `grep -a -c`: **{search_ratio:.2f}x** (target: no slower); "
        f"hits: kir {kir_hits} occurrences, grep {grep_hits} lines",
        f"- `kir checkpoint inspect CASE --grep` / `zstd -dc | grep -a -c`: **{case_ratio:.2f}x**; "
        f"hits: kir {case_hits} occurrences, grep {pipe_hits} lines",
        f"- checkpoint artifact {checkpoint_bytes / 2**20:.1f} MiB (zstd), memory artifact {memory_bytes / 2**20:.1f} MiB",
        f"- peak memory of kir (max RSS, any run): **{peak[1]:.0f} MiB** ({peak[0]}; target: under 100 MB)",
    ]
    report = "\n".join(lines) + "\n"
    print(report)
    if args.out:
        with open(args.out, "w") as f:
            f.write(report)


if __name__ == "__main__":
    main()

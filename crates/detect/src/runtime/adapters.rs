//! One adapter per sensor format; each turns one JSON object into a [`RuntimeEvent`].

use serde::Serialize;
use serde_json::Value;

use super::{Alert, Connection, Process, RuntimeEvent};

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Source {
    #[default]
    Falco,
    Tracee,
    Tetragon,
}

impl Source {
    pub fn name(self) -> &'static str {
        match self {
            Source::Falco => "falco",
            Source::Tracee => "tracee",
            Source::Tetragon => "tetragon",
        }
    }
}

/// Recognise the sensor by the event's shape and normalise it; `None` for an unknown shape.
pub fn normalise(value: &Value) -> Option<RuntimeEvent> {
    let object = value.as_object()?;
    if object.contains_key("rule") && object.contains_key("priority") {
        return Some(falco(value));
    }
    if let Some((kind, event)) = object.iter().find(|(k, v)| k.starts_with("process_") && v.is_object()) {
        return Some(tetragon(kind, event, value));
    }
    if object.contains_key("eventName") {
        return Some(tracee_legacy(value));
    }
    if object.contains_key("name") && (object.contains_key("workload") || object.contains_key("context")) {
        return Some(tracee_current(value));
    }
    None
}

fn text(value: &Value, path: &[&str]) -> String {
    let mut current = value;
    for key in path {
        match current.get(key) {
            Some(next) => current = next,
            None => return String::new(),
        }
    }
    scalar_text(current)
}

/// A scalar as text; for the wrapped values of newer Tracee output (`{"str": "x"}`,
/// `{"value": 5}`) the first scalar inside.
fn scalar_text(value: &Value) -> String {
    match value {
        Value::String(s) => s.clone(),
        Value::Number(n) => n.to_string(),
        Value::Bool(b) => b.to_string(),
        Value::Object(map) => map.values().map(scalar_text).find(|s| !s.is_empty()).unwrap_or_default(),
        _ => String::new(),
    }
}

fn number(value: &Value, path: &[&str]) -> Option<i64> {
    let t = text(value, path);
    t.parse().ok()
}

fn base_name(path: &str) -> String {
    path.rsplit('/').next().unwrap_or(path).to_string()
}

/// Split a command line whose first word is the program: (program, arguments).
fn split_command(cmdline: &str) -> (String, String) {
    match cmdline.split_once(' ') {
        Some((program, args)) => (program.to_string(), args.to_string()),
        None => (cmdline.to_string(), String::new()),
    }
}

fn nanos_to_time(nanos: i64) -> String {
    jiff::Timestamp::from_nanosecond(nanos as i128).map(|t| t.to_string()).unwrap_or_default()
}

fn falco(value: &Value) -> RuntimeEvent {
    let fields = value.get("output_fields").cloned().unwrap_or(Value::Null);
    let field = |name: &str| fields.get(name).map(scalar_text).unwrap_or_default();
    let cmdline = field("proc.cmdline");
    let (program, args) = split_command(&cmdline);
    let exe = [field("proc.exepath"), field("proc.exe")]
        .into_iter()
        .find(|s| s.starts_with('/'))
        .unwrap_or_default();
    let name = [field("proc.name"), base_name(&exe), base_name(&program)]
        .into_iter()
        .find(|s| !s.is_empty())
        .unwrap_or_default();
    let args = if args.is_empty() { field("proc.args") } else { args };
    let remote_ip =
        [field("fd.sip"), field("fd.rip")].into_iter().find(|s| !s.is_empty()).unwrap_or_default();
    let remote_port = [field("fd.sport"), field("fd.rport")].into_iter().find_map(|s| s.parse().ok());
    let connection = (!remote_ip.is_empty()).then(|| Connection {
        dst_ip: remote_ip,
        dst_port: remote_port,
        dst_name: field("fd.sip.name"),
        src_ip: field("fd.cip"),
        src_port: field("fd.cport").parse().ok(),
        protocol: field("fd.l4proto"),
    });
    let container_id = field("container.id");
    let parent_cmdline = field("proc.pcmdline");
    let parent = (!field("proc.pname").is_empty()).then(|| Process {
        name: field("proc.pname"),
        exe: field("proc.pexepath"),
        args: split_command(&parent_cmdline).1,
        pid: field("proc.ppid").parse().ok(),
    });
    let priority = text(value, &["priority"]);
    RuntimeEvent {
        source: Source::Falco,
        kind: "alert".to_string(),
        time: text(value, &["time"]),
        node: text(value, &["hostname"]),
        namespace: field("k8s.ns.name"),
        pod: field("k8s.pod.name"),
        container: field("container.name"),
        container_id: if container_id == "host" { String::new() } else { container_id },
        image: field("container.image.repository"),
        process: Process { name, exe, args, pid: field("proc.pid").parse().ok() },
        parent,
        connection,
        file: if field("fd.type") == "file" { field("fd.name") } else { String::new() },
        alert: Some(Alert {
            rule: text(value, &["rule"]),
            severity: falco_severity(&priority).to_string(),
            tags: value
                .get("tags")
                .and_then(Value::as_array)
                .map(|t| t.iter().filter_map(|v| v.as_str().map(str::to_string)).collect())
                .unwrap_or_default(),
            output: text(value, &["output"]),
        }),
    }
}

fn falco_severity(priority: &str) -> &'static str {
    match priority.to_ascii_lowercase().as_str() {
        "emergency" | "alert" | "critical" => "critical",
        "error" => "high",
        "warning" => "medium",
        "notice" => "low",
        _ => "info",
    }
}

fn tetragon_process(process: &Value) -> Process {
    let exe = text(process, &["binary"]);
    Process {
        name: base_name(&exe),
        exe,
        args: text(process, &["arguments"]),
        pid: number(process, &["pid"]),
    }
}

fn tetragon(kind: &str, event: &Value, whole: &Value) -> RuntimeEvent {
    let process = event.get("process").cloned().unwrap_or(Value::Null);
    let pod = process.get("pod").cloned().unwrap_or(Value::Null);
    let container_id = [text(&pod, &["container", "id"]), text(&process, &["docker"])]
        .into_iter()
        .find(|s| !s.is_empty())
        .unwrap_or_default();
    let mut kind = kind.trim_start_matches("process_").to_string();
    let mut connection = None;
    let mut file = String::new();
    if !text(event, &["destination_ip"]).is_empty() {
        connection = Some(Connection {
            dst_ip: text(event, &["destination_ip"]),
            dst_port: number(event, &["destination_port"]),
            dst_name: String::new(),
            src_ip: text(event, &["source_ip"]),
            src_port: number(event, &["source_port"]),
            protocol: text(event, &["protocol"]),
        });
    }
    if let Some(args) = event.get("args").and_then(Value::as_array) {
        for arg in args {
            if let Some(sock) = arg.get("sock_arg") {
                connection = Some(Connection {
                    dst_ip: text(sock, &["daddr"]),
                    dst_port: number(sock, &["dport"]),
                    dst_name: String::new(),
                    src_ip: text(sock, &["saddr"]),
                    src_port: number(sock, &["sport"]),
                    protocol: text(sock, &["protocol"]),
                });
                if text(event, &["function_name"]).contains("connect") {
                    kind = "connect".to_string();
                }
            }
            if file.is_empty() {
                file = text(arg, &["file_arg", "path"]);
            }
        }
    }
    RuntimeEvent {
        source: Source::Tetragon,
        kind,
        time: text(whole, &["time"]),
        node: text(whole, &["node_name"]),
        namespace: text(&pod, &["namespace"]),
        pod: text(&pod, &["name"]),
        container: text(&pod, &["container", "name"]),
        container_id,
        image: text(&pod, &["container", "image", "name"]),
        process: tetragon_process(&process),
        parent: event.get("parent").filter(|p| p.is_object()).map(tetragon_process),
        connection,
        file,
        alert: None,
    }
}

/// Tracee arguments: `[{"name": "pathname", "value": ...}]` (legacy) or `data` of the same
/// shape (newer), or an `event_data` map.
fn tracee_arg(value: &Value, list_key: &str, name: &str) -> Option<Value> {
    if let Some(list) = value.get(list_key).and_then(Value::as_array) {
        return list
            .iter()
            .find(|a| a.get("name").and_then(Value::as_str) == Some(name))
            .and_then(|a| a.get("value").cloned());
    }
    value.get("event_data").and_then(|m| m.get(name)).cloned()
}

fn argv_text(argv: &Value) -> Vec<String> {
    match argv {
        Value::Array(items) => items.iter().map(scalar_text).collect(),
        // Older Tracee printed argv as a Python-like list string: "['/bin/ls', '-l']".
        Value::String(s) => s
            .trim_matches(|c| c == '[' || c == ']')
            .split(", ")
            .map(|p| p.trim_matches('\'').to_string())
            .filter(|p| !p.is_empty())
            .collect(),
        Value::Object(map) => map.values().next().map(argv_text).unwrap_or_default(),
        _ => Vec::new(),
    }
}

fn tracee_kind(event_name: &str, is_signature: bool) -> &'static str {
    if is_signature {
        return "alert";
    }
    match event_name {
        "execve" | "execveat" | "sched_process_exec" => "exec",
        "connect" | "security_socket_connect" => "connect",
        "security_file_open" | "openat" | "open" | "magic_write" => "file",
        name if name.starts_with("net_") => "network",
        _ => "other",
    }
}

fn tracee_network(args_key: &str, value: &Value) -> Option<Connection> {
    if let Some(remote) = tracee_arg(value, args_key, "remote_addr") {
        let ip = [text(&remote, &["sin_addr"]), text(&remote, &["sin6_addr"])]
            .into_iter()
            .find(|s| !s.is_empty())?;
        let port = [text(&remote, &["sin_port"]), text(&remote, &["sin6_port"])]
            .into_iter()
            .find_map(|s| s.parse().ok());
        return Some(Connection { dst_ip: ip, dst_port: port, ..Connection::default() });
    }
    let dst = tracee_arg(value, args_key, "dst").map(|v| scalar_text(&v))?;
    Some(Connection {
        dst_ip: dst,
        dst_port: tracee_arg(value, args_key, "dst_port").and_then(|v| scalar_text(&v).parse().ok()),
        src_ip: tracee_arg(value, args_key, "src").map(|v| scalar_text(&v)).unwrap_or_default(),
        src_port: tracee_arg(value, args_key, "src_port").and_then(|v| scalar_text(&v).parse().ok()),
        ..Connection::default()
    })
}

fn tracee_legacy(value: &Value) -> RuntimeEvent {
    let event_name = text(value, &["eventName"]);
    let properties = value.get("metadata").and_then(|m| m.get("Properties"));
    let signature = properties.map(|p| text(p, &["signatureName"])).filter(|s| !s.is_empty());
    let first = |candidates: [String; 2]| candidates.into_iter().find(|s| !s.is_empty()).unwrap_or_default();
    let pathname = tracee_arg(value, "args", "pathname").map(|v| scalar_text(&v)).unwrap_or_default();
    let kind = tracee_kind(&event_name, signature.is_some());
    let (exe, args) = if kind == "exec" {
        let argv = tracee_arg(value, "args", "argv").map(|v| argv_text(&v)).unwrap_or_default();
        (pathname.clone(), argv.iter().skip(1).cloned().collect::<Vec<_>>().join(" "))
    } else {
        (text(value, &["executable", "path"]), String::new())
    };
    let name =
        if kind == "exec" && !exe.is_empty() { base_name(&exe) } else { text(value, &["processName"]) };
    let timestamp = value.get("timestamp").and_then(Value::as_i64).map(nanos_to_time).unwrap_or_default();
    RuntimeEvent {
        source: Source::Tracee,
        kind: kind.to_string(),
        time: timestamp,
        node: text(value, &["hostName"]),
        namespace: first([text(value, &["podNamespace"]), text(value, &["kubernetes", "podNamespace"])]),
        pod: first([text(value, &["podName"]), text(value, &["kubernetes", "podName"])]),
        container: first([text(value, &["containerName"]), text(value, &["container", "name"])]),
        container_id: first([text(value, &["containerId"]), text(value, &["container", "id"])]),
        image: first([text(value, &["containerImage"]), text(value, &["container", "image"])]),
        process: Process { name, exe, args, pid: number(value, &["processId"]) },
        parent: None,
        connection: if matches!(kind, "connect" | "network") { tracee_network("args", value) } else { None },
        file: if kind == "file" { pathname } else { String::new() },
        alert: signature.map(|rule| Alert {
            rule,
            severity: tracee_severity(
                properties.map(|p| text(p, &["Severity"])).unwrap_or_default().as_str(),
            )
            .to_string(),
            tags: properties
                .map(|p| text(p, &["MITRE ATT&CK"]))
                .filter(|s| !s.is_empty())
                .into_iter()
                .collect(),
            output: text(value, &["metadata", "Description"]),
        }),
    }
}

/// Tracee signature severities run 0 (info) to 3 (critical).
fn tracee_severity(level: &str) -> &'static str {
    match level.parse::<i64>().ok() {
        Some(3..) => "critical",
        Some(2) => "high",
        Some(1) => "medium",
        Some(0) => "low",
        _ => "info",
    }
}

fn tracee_current(value: &Value) -> RuntimeEvent {
    let workload = value.get("workload").or_else(|| value.get("context")).cloned().unwrap_or(Value::Null);
    let process = workload.get("process").cloned().unwrap_or(Value::Null);
    let event_name = text(value, &["name"]);
    let threat = value.get("threat").filter(|t| t.is_object());
    let kind = tracee_kind(&event_name, threat.is_some());
    let args_key = if value.get("data").is_some() { "data" } else { "args" };
    let exe_arg = tracee_arg(value, args_key, "pathname").map(|v| scalar_text(&v)).unwrap_or_default();
    let exe = if kind == "exec" && !exe_arg.is_empty() {
        exe_arg.clone()
    } else {
        text(&process, &["executable", "path"])
    };
    let args = if kind == "exec" {
        tracee_arg(value, args_key, "argv")
            .map(|v| argv_text(&v))
            .unwrap_or_default()
            .into_iter()
            .skip(1)
            .collect::<Vec<_>>()
            .join(" ")
    } else {
        String::new()
    };
    let name = if exe.is_empty() { text(&process, &["thread", "name"]) } else { base_name(&exe) };
    let time = match value.get("timestamp") {
        Some(Value::Number(n)) => n.as_i64().map(nanos_to_time).unwrap_or_default(),
        Some(Value::Object(t)) => {
            let seconds = t.get("seconds").and_then(|s| scalar_text(s).parse::<i64>().ok()).unwrap_or(0);
            let nanos = t.get("nanos").and_then(|s| scalar_text(s).parse::<i64>().ok()).unwrap_or(0);
            nanos_to_time(seconds * 1_000_000_000 + nanos)
        }
        Some(other) => scalar_text(other),
        None => String::new(),
    };
    let parent = process.get("ancestors").and_then(Value::as_array).and_then(|a| a.first()).map(|p| {
        let exe = text(p, &["executable", "path"]);
        Process {
            name: if exe.is_empty() { text(p, &["thread", "name"]) } else { base_name(&exe) },
            exe,
            args: String::new(),
            pid: number(p, &["pid"]),
        }
    });
    RuntimeEvent {
        source: Source::Tracee,
        kind: kind.to_string(),
        time,
        node: text(value, &["node", "name"]),
        namespace: text(&workload, &["k8s", "namespace", "name"]),
        pod: text(&workload, &["k8s", "pod", "name"]),
        container: text(&workload, &["container", "name"]),
        container_id: text(&workload, &["container", "id"]),
        image: text(&workload, &["container", "image", "name"]),
        process: Process { name, exe, args, pid: number(&process, &["pid"]) },
        parent,
        connection: if matches!(kind, "connect" | "network") {
            tracee_network(args_key, value)
        } else {
            None
        },
        file: if kind == "file" { exe_arg } else { String::new() },
        alert: threat.map(|t| Alert {
            rule: text(t, &["name"]),
            severity: text(t, &["severity"]).to_ascii_lowercase(),
            tags: [text(t, &["mitre", "technique", "id"])].into_iter().filter(|s| !s.is_empty()).collect(),
            output: text(t, &["description"]),
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn falco_alerts_are_normalised() {
        let alert = json!({
            "time": "2026-11-27T10:00:00.123456789Z", "rule": "Terminal shell in container", "priority": "Notice",
            "source": "syscall", "hostname": "node-1", "tags": ["T1059", "container", "shell"],
            "output": "A shell was spawned", "output_fields": {
                "container.id": "0123456789abcdef", "container.name": "web", "k8s.ns.name": "prod",
                "k8s.pod.name": "web-1", "proc.name": "bash", "proc.cmdline": "bash -i", "proc.exepath": "/bin/bash",
                "proc.pname": "runc", "fd.sip": null
            }
        });
        let e = normalise(&alert).unwrap();
        assert_eq!((e.source, e.kind.as_str(), e.node.as_str()), (Source::Falco, "alert", "node-1"));
        assert_eq!(e.pod_ref().as_deref(), Some("prod/web-1"));
        assert_eq!(
            (e.process.name.as_str(), e.process.exe.as_str(), e.process.args.as_str()),
            ("bash", "/bin/bash", "-i")
        );
        assert_eq!(e.alert.as_ref().unwrap().severity, "low");
        assert!(e.connection.is_none());
    }

    #[test]
    fn tracee_current_schema_is_normalised() {
        let event = json!({
            "timestamp": "2026-11-27T10:00:00Z", "name": "sched_process_exec",
            "workload": {
                "process": {"executable": {"path": "/usr/bin/xmrig"}, "pid": {"value": 42}, "ancestors": [{"executable": {"path": "/bin/sh"}}]},
                "container": {"id": "abc", "name": "app", "image": {"name": "evil:1"}},
                "k8s": {"pod": {"name": "web-2"}, "namespace": {"name": "prod"}}
            },
            "data": [{"name": "pathname", "value": {"str": "/usr/bin/xmrig"}}, {"name": "argv", "value": {"strArray": {"value": ["xmrig", "-o", "stratum+tcp://pool:3333"]}}}]
        });
        let e = normalise(&event).unwrap();
        assert_eq!((e.kind.as_str(), e.process.name.as_str()), ("exec", "xmrig"));
        assert_eq!(e.process.args, "-o stratum+tcp://pool:3333");
        assert_eq!(e.pod_ref().as_deref(), Some("prod/web-2"));
        assert_eq!(e.parent.unwrap().name, "sh");
    }

    #[test]
    fn unknown_shapes_are_not_guessed() {
        assert!(normalise(&json!({"hello": "world"})).is_none());
        assert!(normalise(&json!([1, 2])).is_none());
    }
}

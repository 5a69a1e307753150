//! Runtime-sensor events (Falco alerts, Tracee events, Tetragon events), normalised to one
//! shape (pod, namespace, container, process, connection), and the rules over them.

mod adapters;
mod engine;

use serde::Serialize;

pub use adapters::{Source, normalise};
pub use engine::{RuntimeDetector, RuntimeFields, RuntimeRecord, read_events};

/// One runtime event, whatever sensor saw it.
#[derive(Debug, Clone, Default, Serialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct RuntimeEvent {
    pub source: Source,
    /// exec, exit, connect, close, listen, kprobe, file, network, alert, other.
    pub kind: String,
    pub time: String,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub node: String,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub namespace: String,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub pod: String,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub container: String,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub container_id: String,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub image: String,
    pub process: Process,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub parent: Option<Process>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub connection: Option<Connection>,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub file: String,
    /// The sensor's own detection (a Falco alert, a Tracee signature).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub alert: Option<Alert>,
}

#[derive(Debug, Clone, Default, Serialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct Process {
    /// The executable's file name (`bash`), as rules match it.
    pub name: String,
    /// The full path of the executable, when known.
    #[serde(skip_serializing_if = "String::is_empty")]
    pub exe: String,
    /// The arguments without the program name, joined by spaces.
    pub args: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub pid: Option<i64>,
}

#[derive(Debug, Clone, Default, Serialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct Connection {
    pub dst_ip: String,
    pub dst_port: Option<i64>,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub dst_name: String,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub src_ip: String,
    pub src_port: Option<i64>,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub protocol: String,
}

#[derive(Debug, Clone, Default, Serialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct Alert {
    pub rule: String,
    /// info, low, medium, high, critical (from the sensor's priority).
    pub severity: String,
    pub tags: Vec<String>,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub output: String,
}

impl RuntimeEvent {
    /// `NS/POD` when the pod is known.
    pub fn pod_ref(&self) -> Option<String> {
        (!self.pod.is_empty()).then(|| format!("{}/{}", self.namespace, self.pod))
    }

    /// Who a finding is about: the pod, else the container, else the node.
    pub fn subject(&self) -> String {
        if let Some(pod) = self.pod_ref() {
            pod
        } else if !self.container_id.is_empty() {
            let short: String = self.container_id.chars().take(12).collect();
            format!("container {short}")
        } else if !self.node.is_empty() {
            format!("node {}", self.node)
        } else {
            "host".to_string()
        }
    }

    /// A one-line description for the finding's evidence.
    pub fn describe(&self) -> String {
        let mut text = format!("{} {}", self.kind, self.process.exe_or_name());
        if !self.process.args.is_empty() {
            text.push(' ');
            text.push_str(&self.process.args);
        }
        if let Some(c) = &self.connection {
            let port = c.dst_port.map(|p| format!(":{p}")).unwrap_or_default();
            let name = if c.dst_name.is_empty() { String::new() } else { format!(" ({})", c.dst_name) };
            text.push_str(&format!(" -> {}{port}{name}", c.dst_ip));
        }
        if let Some(alert) = &self.alert {
            text = format!("{} alert \"{}\": {}", self.source.name(), alert.rule, text);
        }
        text
    }
}

impl Process {
    fn exe_or_name(&self) -> &str {
        if self.exe.is_empty() { &self.name } else { &self.exe }
    }
}

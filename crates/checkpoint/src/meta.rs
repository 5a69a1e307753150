//! The container, from the runtime's `config.dump` (checkpointctl's `ContainerConfig`: id,
//! name, image, runtime, times) and `spec.dump` (the OCI runtime spec, whose annotations name
//! the pod). Fields that are missing or of another type are read as absent.

use serde::Serialize;
use serde_json::Value;

use crate::text::lossy;

/// Arguments kept of the spec's command line.
const MAX_COMMAND_ARGS: usize = 256;

/// What the runtime recorded of the checkpointed container.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Container {
    /// `containerd`, `CRI-O` or `Podman`, from the spec's annotations.
    pub engine: Option<String>,
    pub id: Option<String>,
    pub name: Option<String>,
    pub pod: Option<String>,
    pub namespace: Option<String>,
    /// The image as the pod asked for it.
    pub image: Option<String>,
    /// The image the runtime resolved it to (`name@sha256:…`).
    pub image_ref: Option<String>,
    /// The OCI runtime (e.g. `io.containerd.runc.v2`).
    pub runtime: Option<String>,
    pub created: Option<String>,
    pub checkpointed_at: Option<String>,
    /// The container's command line, from the spec (`process.args`).
    pub command: Vec<String>,
}

fn text_at(value: &Value, pointer: &str, max_text: usize) -> Option<String> {
    value.pointer(pointer)?.as_str().map(|text| lossy(text.as_bytes(), max_text))
}

/// Fills in what `config.dump` says; `Err` says why it is not JSON.
pub(crate) fn read_config(container: &mut Container, json: &[u8], max_text: usize) -> Result<(), String> {
    let config: Value = serde_json::from_slice(json).map_err(|error| error.to_string())?;
    let text = |key: &str| text_at(&config, &format!("/{key}"), max_text);
    container.id = text("id").or(container.id.take());
    container.image = text("rootfsImageName").or(container.image.take());
    container.image_ref = text("rootfsImageRef").or(container.image_ref.take());
    container.runtime = text("runtime");
    container.created = text("createdTime").or(container.created.take());
    // containerd writes `checkpointedTime`, CRI-O `checkpointedAt`.
    container.checkpointed_at = text("checkpointedTime").or_else(|| text("checkpointedAt"));
    // containerd's config name is its own (often the pod's and container's names joined); the
    // annotations' container name, when there is one, is the Kubernetes one.
    if container.name.is_none() {
        container.name = text("name");
    }
    Ok(())
}

/// Fills in what `spec.dump` says; `Err` says why it is not JSON.
pub(crate) fn read_spec(container: &mut Container, json: &[u8], max_text: usize) -> Result<(), String> {
    let spec: Value = serde_json::from_slice(json).map_err(|error| error.to_string())?;
    let annotation = |key: &str| {
        let key = key.replace('~', "~0").replace('/', "~1");
        text_at(&spec, &format!("/annotations/{key}"), max_text)
    };
    let manager = annotation("io.container.manager");
    let (engine, name, pod, namespace, image, created) = match manager.as_deref() {
        Some("cri-o") => (
            "CRI-O",
            annotation("io.kubernetes.container.name"),
            annotation("io.kubernetes.pod.name"),
            annotation("io.kubernetes.pod.namespace"),
            annotation("io.kubernetes.cri-o.ImageName"),
            annotation("io.kubernetes.cri-o.Created"),
        ),
        Some("libpod") => ("Podman", None, None, None, None, None),
        _ => (
            "containerd",
            annotation("io.kubernetes.cri.container-name"),
            annotation("io.kubernetes.cri.sandbox-name"),
            annotation("io.kubernetes.cri.sandbox-namespace"),
            annotation("io.kubernetes.cri.image-name"),
            None,
        ),
    };
    container.engine = Some(engine.to_string());
    container.name = name.or(container.name.take());
    container.pod = pod;
    container.namespace = namespace;
    container.image = container.image.take().or(image);
    container.created = container.created.take().or(created);
    if let Some(args) = spec.pointer("/process/args").and_then(Value::as_array) {
        container.command = args
            .iter()
            .take(MAX_COMMAND_ARGS)
            .map(|arg| arg.as_str().map(|arg| lossy(arg.as_bytes(), max_text)).unwrap_or_default())
            .collect();
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn containerd_dumps_give_the_pod_and_image_whatever_their_order() {
        let config = br#"{"id":"abc","name":"web","rootfsImageName":"nginx:1.27","rootfsImageRef":"docker.io/library/nginx@sha256:00","runtime":"io.containerd.runc.v2","createdTime":"2026-12-07T00:00:00Z","checkpointedAt":"2026-12-07T01:00:00Z"}"#;
        let spec = br#"{"process":{"args":["nginx","-g","daemon off;"]},"annotations":{"io.kubernetes.cri.container-name":"nginx","io.kubernetes.cri.sandbox-name":"web-0","io.kubernetes.cri.sandbox-namespace":"shop"}}"#;
        let mut first = Container::default();
        read_config(&mut first, config, 64).unwrap();
        read_spec(&mut first, spec, 64).unwrap();
        let mut second = Container::default();
        read_spec(&mut second, spec, 64).unwrap();
        read_config(&mut second, config, 64).unwrap();
        assert_eq!(first, second);
        assert_eq!(first.name.as_deref(), Some("nginx"));
        assert_eq!(first.pod.as_deref(), Some("web-0"));
        assert_eq!(first.namespace.as_deref(), Some("shop"));
        assert_eq!(first.image.as_deref(), Some("nginx:1.27"));
        assert_eq!(first.engine.as_deref(), Some("containerd"));
        assert_eq!(first.command, vec!["nginx", "-g", "daemon off;"]);
    }

    #[test]
    fn cri_o_annotations_and_missing_or_odd_fields_are_tolerated() {
        let mut container = Container::default();
        let spec = br#"{"process":{"args":[1,"x"]},"annotations":{"io.container.manager":"cri-o","io.kubernetes.pod.name":"p","io.kubernetes.container.name":7}}"#;
        read_spec(&mut container, spec, 64).unwrap();
        read_config(&mut container, br#"{"id":["not","text"]}"#, 64).unwrap();
        assert_eq!(container.engine.as_deref(), Some("CRI-O"));
        assert_eq!(container.pod.as_deref(), Some("p"));
        assert_eq!(container.name, None);
        assert_eq!(container.id, None);
        assert_eq!(container.command, vec!["", "x"]);
        assert!(read_spec(&mut container, b"{", 64).is_err());
    }

    #[test]
    fn containerd_and_cri_o_name_the_checkpoint_time_differently() {
        for key in ["checkpointedTime", "checkpointedAt"] {
            let config = format!(r#"{{"id":"abc","{key}":"2026-12-07T01:41:51Z"}}"#);
            let mut container = Container::default();
            read_config(&mut container, config.as_bytes(), 64).unwrap();
            assert_eq!(container.checkpointed_at.as_deref(), Some("2026-12-07T01:41:51Z"), "{key}");
        }
    }
}

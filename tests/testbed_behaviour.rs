//! What the commands of later issues rely on the testbed for, checked through kube-rs.

use std::time::Duration;

use futures::{StreamExt, TryStreamExt};
use k8s_openapi::api::core::v1::{ConfigMap, Pod};
use kube::{
    api::{Api, AttachParams, DeleteParams, LogParams, ObjectMeta, PostParams},
    runtime::{WatchStreamExt, watcher},
};
use tokio::io::AsyncReadExt;

use crate::{
    scene::{bare_pod, container, create_deployment, deployment, running_pods},
    testbed::testbed,
};

#[tokio::test]
async fn deployment_pods_run_serve_logs_and_exec_and_are_replaced() {
    let tb = testbed();
    let client = tb.client().await;
    let ns = tb.namespace("testbed-pods").await;
    create_deployment(&client, &ns, &deployment("web", 2, vec![container("web", "nginx:1.27")])).await;
    let pods = running_pods(&client, &ns, "app=web", 2).await;
    let pod_api: Api<Pod> = Api::namespaced(client.clone(), &ns);
    let name = pods[0].metadata.name.clone().unwrap();

    let logs = pod_api.logs(&name, &LogParams { timestamps: true, ..Default::default() }).await.unwrap();
    assert!(logs.contains("starting web server"), "{logs}");
    assert!(logs.starts_with("2026-"), "timestamps requested: {logs}");
    let previous = pod_api.logs(&name, &LogParams { previous: true, ..Default::default() }).await.unwrap();
    assert!(previous.contains("panic: runtime error"), "{previous}");

    let mut process = pod_api
        .exec(
            &name,
            ["sh", "-c", "echo exec-works; echo to-stderr >&2"],
            &AttachParams::default().stderr(true),
        )
        .await
        .unwrap();
    let mut stdout = process.stdout().unwrap();
    let mut stderr = process.stderr().unwrap();
    let (mut out, mut err) = (String::new(), String::new());
    let (a, b) = tokio::join!(stdout.read_to_string(&mut out), stderr.read_to_string(&mut err));
    a.unwrap();
    b.unwrap();
    let status = process.take_status().unwrap().await.unwrap();
    assert_eq!(status.status.as_deref(), Some("Success"), "{status:?}");
    assert_eq!(out.trim(), "exec-works");
    assert_eq!(err.trim(), "to-stderr");

    let uid = pods[0].metadata.uid.clone().unwrap();
    pod_api.delete(&name, &DeleteParams::default()).await.unwrap();
    let replaced = running_pods(&client, &ns, "app=web", 2).await;
    assert!(
        replaced.iter().all(|p| p.metadata.uid.as_deref() != Some(&uid)),
        "the ReplicaSet replaced the pod"
    );
}

#[tokio::test]
async fn pods_become_running_as_a_watch_sees_them() {
    let tb = testbed();
    let client = tb.client().await;
    let ns = tb.namespace("testbed-watch").await;
    let pod_api: Api<Pod> = Api::namespaced(client.clone(), &ns);
    let pod = bare_pod("single", vec![container("c", "busybox:1.36")]);
    pod_api.create(&PostParams::default(), &pod).await.unwrap();
    let mut stream =
        watcher(pod_api, watcher::Config::default().fields("metadata.name=single")).applied_objects().boxed();
    let running = tokio::time::timeout(Duration::from_secs(30), async {
        while let Some(p) = stream.try_next().await.unwrap() {
            if p.status.as_ref().and_then(|s| s.phase.as_deref()) == Some("Running") {
                return p;
            }
        }
        panic!("watch ended");
    })
    .await
    .expect("pod runs within 30 s");
    assert!(running.spec.unwrap().node_name.unwrap().starts_with("kwok-node-"), "the scheduler bound it");
}

#[tokio::test]
async fn the_audit_log_records_this_tests_requests() {
    let tb = testbed();
    let client = tb.client().await;
    let ns = tb.namespace("testbed-audit").await;
    let name = format!("audit-marker-{}", std::process::id());
    let cm = ConfigMap {
        metadata: ObjectMeta { name: Some(name.clone()), ..Default::default() },
        data: Some([("planted".to_string(), "value-that-must-not-be-logged".to_string())].into()),
        ..Default::default()
    };
    Api::<ConfigMap>::namespaced(client, &ns).create(&PostParams::default(), &cm).await.unwrap();

    let events = tb.audit_events();
    let event = events
        .iter()
        .find(|e| e["objectRef"]["name"] == name.as_str() && e["verb"] == "create")
        .expect("the create is in the audit log");
    assert_eq!(event["user"]["username"], "testbed-admin");
    assert_eq!(event["objectRef"]["namespace"], ns.as_str());
    assert_eq!(event["level"], "Metadata", "ConfigMaps are logged without their values");
    let text = std::fs::read_to_string(&tb.audit_log).unwrap();
    assert!(!text.contains("value-that-must-not-be-logged"));
}

/// The real node (kubelet, containerd, runc, CRIU) of a testbed of this test's own: pods there
/// run, serve logs and exec, get pod IPs of their own, are checkpointed through the API server;
/// then `testbed/down` leaves no process, cgroup, veth, mount or state behind. The checks are
/// the testbed's own smoke script.
#[test]
fn the_real_node_serves_logs_exec_and_checkpoints_and_down_leaves_nothing() {
    let own = crate::testbed::OwnTestbed::start("real-node-smoke");
    let output = std::process::Command::new(crate::testbed::repo_root().join("testbed/real-node/smoke"))
        .env("KIR_TESTBED_STATE", own.state())
        .output()
        .expect("testbed/real-node/smoke can be run");
    let said = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "{said}");
    for check in ["testbed/down left nothing", "all checks passed"] {
        assert!(said.contains(check), "{check}: {said}");
    }
}

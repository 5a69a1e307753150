//! Running a command in a container and taking its output as hostile input: capped in size
//! and time, streamed into the caller's sink, never interpreted here.

use std::{io::Write, time::Duration};

use k8s_openapi::api::core::v1::Pod;
use kube::api::{Api, AttachParams};
use serde::Serialize;
use tokio::io::AsyncReadExt;

use crate::{Cluster, Error, Result};

/// Bounds on what one exec may produce.
#[derive(Debug, Clone, Copy)]
pub struct ExecLimits {
    /// Bytes of stdout passed to the sink; the command is stopped beyond it.
    pub max_stdout: u64,
    /// Bytes of stderr kept (for the "why" of a failure).
    pub max_stderr: usize,
    /// The whole session, from connect to exit.
    pub timeout: Duration,
}

/// How an exec ended.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ExecOutcome {
    pub stdout_bytes: u64,
    /// Stdout went beyond `max_stdout`: the rest was not read and the command was stopped.
    pub truncated: bool,
    pub timed_out: bool,
    /// The command's exit: `Some(0)` success, other codes as reported; `None` when kir
    /// stopped it (time or size limit).
    pub exit_code: Option<i32>,
    /// What the runtime or the command said on failure (capped stderr, status message).
    pub message: String,
}

impl ExecOutcome {
    pub fn succeeded(&self) -> bool {
        self.exit_code == Some(0) && !self.truncated && !self.timed_out
    }
}

impl Cluster {
    /// Run `argv` in `container` of `namespace/pod`, writing stdout into `sink`.
    /// Fails when the command could not be started (no exec permission, container gone) or the
    /// session broke before the command's status arrived (then `sink` may hold part of the
    /// output); how a command that ran ended is described by the outcome.
    pub async fn exec_into<W: Write + Send>(
        &self,
        namespace: &str,
        pod: &str,
        container: &str,
        argv: &[String],
        sink: &mut W,
        limits: ExecLimits,
    ) -> Result<ExecOutcome> {
        let mut source = format!("POST /api/v1/namespaces/{namespace}/pods/{pod}/exec?container={container}");
        for arg in argv {
            source.push_str("&command=");
            source.push_str(&arg.chars().take(60).collect::<String>());
        }
        let api: Api<Pod> = Api::namespaced(self.client().clone(), namespace);
        // kube's pipes hold 1 KiB by default: a 2 MB tar would take 2000 hand-overs between tasks.
        let params = AttachParams::default()
            .container(container)
            .stdin(false)
            .stdout(true)
            .stderr(true)
            .max_stdout_buf_size(256 * 1024)
            .max_stderr_buf_size(16 * 1024);
        let mut process = match self.call(source.clone(), api.exec(pod, argv.to_vec(), &params)).await {
            Ok(process) => process,
            // The session is a WebSocket upgrade, a GET: the API server authorizes it as `get
            // pods/exec` and also as `create pods/exec`, and its denial names whichever it
            // checked first. The responder needs both.
            Err(Error::Forbidden { what, message, .. }) => {
                let permission = Some(format!("get and create pods/exec in {namespace}"));
                return Err(Error::Forbidden { what, message, permission });
            }
            Err(error) => return Err(error),
        };
        let mut stdout = process
            .stdout()
            .ok_or_else(|| Error::Other { what: source.clone(), detail: "no stdout stream".into() })?;
        let mut stderr = process
            .stderr()
            .ok_or_else(|| Error::Other { what: source.clone(), detail: "no stderr stream".into() })?;
        let status = process.take_status();

        let mut outcome = ExecOutcome {
            stdout_bytes: 0,
            truncated: false,
            timed_out: false,
            exit_code: None,
            message: String::new(),
        };
        let mut errors = Vec::new();
        // A stopped command's pipes never reach end-of-file (kube's halves of a split pipe do not
        // see the other half dropped), so the stdout side tells the stderr side to stop.
        let stopped = tokio::sync::Notify::new();
        // stdout and stderr are drained together: a full stderr pipe would stall the command.
        let session = async {
            let copy_stdout = async {
                let mut buffer = vec![0u8; 64 * 1024];
                loop {
                    // A read fails when the session breaks (the server went away): `true`.
                    let n = stdout.read(&mut buffer).await.map_err(|e| (true, e.to_string()))?;
                    if n == 0 {
                        return Ok::<_, (bool, String)>(false);
                    }
                    let room = limits.max_stdout.saturating_sub(outcome.stdout_bytes);
                    let take = (n as u64).min(room) as usize;
                    sink.write_all(&buffer[..take])
                        .map_err(|e| (false, format!("writing the output: {e}")))?;
                    outcome.stdout_bytes += take as u64;
                    if take < n {
                        // Stop the command now: left running, it would fill the pipe and hold
                        // the session (and stderr) open until the time limit.
                        process.abort();
                        stopped.notify_one();
                        return Ok(true);
                    }
                }
            };
            let copy_stderr = async {
                let mut buffer = vec![0u8; 8 * 1024];
                loop {
                    let read = tokio::select! {
                        read = stderr.read(&mut buffer) => read,
                        () = stopped.notified() => break,
                    };
                    match read {
                        Ok(0) | Err(_) => break,
                        Ok(n) => {
                            let room = limits.max_stderr.saturating_sub(errors.len());
                            errors.extend_from_slice(&buffer[..n.min(room)]);
                        }
                    }
                }
            };
            let (stdout_result, ()) = tokio::join!(copy_stdout, copy_stderr);
            stdout_result
        };
        match tokio::time::timeout(limits.timeout, session).await {
            Err(_) => outcome.timed_out = true,
            Ok(Err((true, detail))) => {
                return Err(Error::Unreachable {
                    target: Box::new(self.target().clone()),
                    failure: crate::ConnectFailure::Other,
                    detail: format!("{source}: the session broke: {detail}"),
                });
            }
            Ok(Err((false, detail))) => return Err(Error::Other { what: source, detail }),
            Ok(Ok(truncated)) => outcome.truncated = truncated,
        }
        if outcome.timed_out || outcome.truncated {
            process.abort();
        } else if let Some(status) = status {
            match tokio::time::timeout(Duration::from_secs(5), status).await.ok().flatten() {
                Some(status) if status.status.as_deref() == Some("Success") => outcome.exit_code = Some(0),
                Some(status) => {
                    outcome.exit_code = exit_code(&status);
                    outcome.message = status.message.clone().unwrap_or_default();
                }
                // The runtime always ends a session with the command's status: a stream that
                // stops without one was cut (the API server or the node went away), and what
                // arrived may be any prefix of the output.
                None => {
                    return Err(Error::Unreachable {
                        target: Box::new(self.target().clone()),
                        failure: crate::ConnectFailure::Other,
                        detail: format!(
                            "{source}: the session ended without the command's exit status after {} bytes",
                            outcome.stdout_bytes
                        ),
                    });
                }
            }
        }
        let stderr_text = String::from_utf8_lossy(&errors).trim().to_string();
        if !stderr_text.is_empty() {
            outcome.message = if outcome.message.is_empty() {
                stderr_text
            } else {
                format!("{}; stderr: {stderr_text}", outcome.message)
            };
        }
        Ok(outcome)
    }
}

/// A non-zero exit comes back as a Failure status whose cause `ExitCode` holds the code.
fn exit_code(status: &k8s_openapi::apimachinery::pkg::apis::meta::v1::Status) -> Option<i32> {
    status
        .details
        .as_ref()?
        .causes
        .iter()
        .flatten()
        .find(|c| c.reason.as_deref() == Some("ExitCode"))
        .and_then(|c| c.message.as_deref()?.parse().ok())
}

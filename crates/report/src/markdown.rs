//! The report as Markdown. Every text from the case goes through [`escape::markdown`]; only
//! hashes that are hex are shown as code.

use std::fmt::Write;

use crate::{Report, RiskLevel, escape, model::human};

fn text(value: &str) -> String {
    escape::markdown(value)
}

fn optional(value: Option<&str>) -> String {
    value.filter(|v| !v.is_empty()).map_or_else(|| "unknown".to_string(), text)
}

fn hash(value: &str) -> String {
    if escape::is_sha256(value) { format!("`{value}`") } else { text(value) }
}

/// The report as Markdown; its first line warns when the case does not verify.
pub fn render(report: &Report) -> String {
    let mut out = String::new();
    // Writing into a String does not fail.
    let _ = write_report(&mut out, report);
    out
}

fn write_report(out: &mut String, report: &Report) -> std::fmt::Result {
    if let Some(warning) = report.verification.warning() {
        writeln!(out, "**{}**", text(&warning))?;
        writeln!(out)?;
    }
    let s = &report.summary;
    writeln!(out, "# Post-incident report: {}", text(&s.title))?;
    writeln!(out)?;
    writeln!(out, "| | |")?;
    writeln!(out, "| --- | --- |")?;
    writeln!(out, "| case | {} |", text(&s.case_id))?;
    writeln!(out, "| title | {} |", text(&s.title))?;
    writeln!(out, "| cluster | {} |", optional(s.cluster.as_deref()))?;
    writeln!(out, "| context | {} |", optional(s.context.as_deref()))?;
    writeln!(out, "| responder | {} |", optional(s.responder.as_deref()))?;
    writeln!(out, "| created | {} |", s.created.map_or_else(|| "unknown".to_string(), |t| t.to_string()))?;
    writeln!(out, "| kir version | {} |", optional(s.kir_version.as_deref()))?;
    writeln!(out, "| case folder | {} |", text(&s.location))?;
    writeln!(
        out,
        "| integrity | {} |",
        if report.verification.verifies { "verifies" } else { "DOES NOT VERIFY" }
    )?;
    writeln!(out, "| report made | {} |", report.generated)?;
    writeln!(out)?;
    writeln!(out, "Containment: {}.", text(&report.containment.note))?;
    writeln!(out)?;
    if !report.containment.changes.is_empty() {
        writeln!(out, "| kir's change (as undo reverses it) | now | detail |")?;
        writeln!(out, "| --- | --- | --- |")?;
        for change in &report.containment.changes {
            writeln!(
                out,
                "| {} | {} | {} |",
                text(&change.change),
                change.state.text(),
                text(&change.detail)
            )?;
        }
        writeln!(out)?;
    }

    if !report.verification.problems.is_empty() {
        writeln!(out, "## Integrity problems")?;
        writeln!(out)?;
        for problem in &report.verification.problems {
            writeln!(out, "- {}", text(problem))?;
        }
        writeln!(out)?;
    }

    writeln!(out, "## Timeline")?;
    writeln!(out)?;
    writeln!(out, "| time (UTC) | kind | seq | actor | action | target | result |")?;
    writeln!(out, "| --- | --- | --- | --- | --- | --- | --- |")?;
    for item in &report.timeline {
        writeln!(
            out,
            "| {} | {} | {} | {} | {} | {} | {} |",
            item.time,
            serde_json::to_value(item.kind)
                .ok()
                .and_then(|v| v.as_str().map(str::to_string))
                .unwrap_or_default(),
            item.seq.map(|s| s.to_string()).unwrap_or_default(),
            text(&item.actor),
            text(&item.action),
            text(&item.target),
            text(&item.result),
        )?;
    }
    if report.timeline_left_out > 0 {
        writeln!(out)?;
        writeln!(
            out,
            "{} more item(s) left out (the timeline lists at most 5000).",
            report.timeline_left_out
        )?;
    }
    writeln!(out)?;

    writeln!(out, "## Evidence index")?;
    writeln!(out)?;
    writeln!(out, "| path | sha256 | size | collected | by | source |")?;
    writeln!(out, "| --- | --- | --- | --- | --- | --- |")?;
    for item in &report.evidence {
        let size = if item.truncated { format!("{} (truncated)", item.size) } else { item.size.to_string() };
        writeln!(
            out,
            "| {} | {} | {} | {} | {} | {} |",
            text(&item.path),
            hash(&item.sha256),
            size,
            item.collected,
            text(&item.by),
            text(&item.source)
        )?;
    }
    writeln!(out)?;
    if !report.not_collected.is_empty() {
        writeln!(out, "Not collected:")?;
        writeln!(out)?;
        for gap in &report.not_collected {
            writeln!(out, "- {}: {} ({})", text(&gap.path), text(&gap.reason), text(&gap.source))?;
        }
        writeln!(out)?;
    }
    if !report.verification.unread.is_empty() {
        writeln!(out, "Evidence the report did not use:")?;
        writeln!(out)?;
        for unread in &report.verification.unread {
            writeln!(out, "- {}", text(unread))?;
        }
        writeln!(out)?;
    }

    writeln!(out, "## Residual risks")?;
    writeln!(out)?;
    for risk in &report.residual_risks {
        let level = match risk.level {
            RiskLevel::Risk => "risk",
            RiskLevel::Check => "check",
            RiskLevel::Unknown => "unknown",
        };
        writeln!(out, "- **{level}**: {}", text(&risk.text))?;
    }
    writeln!(out)?;

    writeln!(out, "## ATT&CK techniques")?;
    writeln!(out)?;
    if report.techniques.is_empty() {
        writeln!(out, "None: the case records no detection that maps to a technique.")?;
    }
    for technique in &report.techniques {
        let detections: Vec<String> = technique.detections.iter().map(|d| text(d)).collect();
        writeln!(out, "- {}: {}", text(&technique.id), detections.join(", "))?;
    }
    writeln!(out)?;

    let pm = &report.post_mortem;
    writeln!(out, "## Post-mortem")?;
    writeln!(out)?;
    writeln!(out, "### Measured from the case")?;
    writeln!(out)?;
    writeln!(out, "- time to detect: {}", text(&pm.time_to_detect.text))?;
    writeln!(out, "- time to contain: {}", text(&pm.time_to_contain.text))?;
    writeln!(out, "- time to recover: {}", text(&pm.time_to_recover.text))?;
    writeln!(out)?;
    writeln!(out, "### Impact")?;
    writeln!(out)?;
    for line in &pm.impact {
        writeln!(out, "- {}", text(line))?;
    }
    writeln!(out)?;
    writeln!(out, "### Actions taken")?;
    writeln!(out)?;
    for (action, count) in &pm.actions {
        writeln!(out, "- {} x{count}", text(action))?;
    }
    writeln!(out)?;
    writeln!(out, "### Root cause")?;
    writeln!(out)?;
    writeln!(out, "_To be written by the responders._")?;
    writeln!(out)?;
    writeln!(out, "### Lessons learned")?;
    writeln!(out)?;
    for lesson in &pm.lessons {
        writeln!(out, "- {}", text(lesson))?;
    }
    if let Some(millis) = pm.time_to_contain.milliseconds {
        writeln!(out, "- Containment took {}: what would make it faster?", human(millis))?;
    }
    Ok(())
}

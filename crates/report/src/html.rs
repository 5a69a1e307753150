//! The report as one self-contained HTML file: inline CSS, an inline SVG drawing of the
//! timeline, no script, no external URL, and a Content-Security-Policy that forbids every fetch
//! should anything slip through. Every text from the case goes through [`escape::html`].

use std::fmt::Write;

use jiff::Timestamp;

use crate::{Report, RiskLevel, TimelineKind, escape};

const STYLE: &str = "body{font-family:system-ui,sans-serif;margin:2em;color:#1d1d1f;max-width:1200px}\
h1{font-size:1.6em}h2{margin-top:1.6em;border-bottom:1px solid #ccc}\
table{border-collapse:collapse;width:100%;font-size:.85em}td,th{border:1px solid #ddd;padding:3px 6px;\
vertical-align:top;text-align:left;overflow-wrap:anywhere}th{background:#f3f3f3}\
.warning{background:#b00020;color:#fff;padding:.8em;font-weight:bold}\
.detection td{background:#fff1f0}.event td{color:#555}\
.risk{color:#b00020;font-weight:bold}.check{color:#a15c00;font-weight:bold}.unknown{color:#555;font-weight:bold}\
#timeline th,#timeline td:nth-child(-n+5){white-space:nowrap}#timeline td:nth-child(6){min-width:18em}code{font-size:.9em}svg{width:100%;height:auto;border:1px solid #ddd}";

const WIDTH: f64 = 1000.0;
const MARGIN: f64 = 20.0;

fn text(value: &str) -> String {
    escape::html(value)
}

fn kind_name(kind: TimelineKind) -> &'static str {
    match kind {
        TimelineKind::Action => "action",
        TimelineKind::Detection => "detection",
        TimelineKind::Event => "event",
    }
}

/// The report as a complete HTML document.
pub fn render(report: &Report) -> String {
    let mut out = String::new();
    // Writing into a String does not fail.
    let _ = write_report(&mut out, report);
    out
}

fn write_report(out: &mut String, report: &Report) -> std::fmt::Result {
    let s = &report.summary;
    out.push_str("<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n");
    out.push_str("<meta http-equiv=\"Content-Security-Policy\" content=\"default-src 'none'; style-src 'unsafe-inline'\">\n");
    writeln!(out, "<title>Post-incident report: {}</title>", text(&s.title))?;
    writeln!(out, "<style>{STYLE}</style>\n</head>\n<body>")?;
    if let Some(warning) = report.verification.warning() {
        writeln!(out, "<p class=\"warning\" id=\"integrity-warning\">{}</p>", text(&warning))?;
    }
    writeln!(out, "<h1>Post-incident report: {}</h1>", text(&s.title))?;
    out.push_str("<table id=\"summary\">\n");
    let optional =
        |value: Option<&str>| value.filter(|v| !v.is_empty()).map_or_else(|| "unknown".to_string(), text);
    let rows = [
        ("case", text(&s.case_id)),
        ("title", text(&s.title)),
        ("cluster", optional(s.cluster.as_deref())),
        ("context", optional(s.context.as_deref())),
        ("responder", optional(s.responder.as_deref())),
        ("created", s.created.map_or_else(|| "unknown".to_string(), |t| t.to_string())),
        ("kir version", optional(s.kir_version.as_deref())),
        ("case folder", text(&s.location)),
        (
            "integrity",
            if report.verification.verifies { "verifies".into() } else { "DOES NOT VERIFY".into() },
        ),
        ("report made", report.generated.to_string()),
    ];
    for (key, value) in rows {
        writeln!(out, "<tr><th>{key}</th><td>{value}</td></tr>")?;
    }
    out.push_str("</table>\n");
    writeln!(out, "<p>Containment: {}.</p>", text(&report.containment.note))?;
    if !report.containment.changes.is_empty() {
        out.push_str(
            "<table id=\"containment\">\n<tr><th>kir's change (as undo reverses it)</th><th>now</th><th>detail</th></tr>\n",
        );
        for change in &report.containment.changes {
            writeln!(
                out,
                "<tr><td>{}</td><td>{}</td><td>{}</td></tr>",
                text(&change.change),
                change.state.text(),
                text(&change.detail)
            )?;
        }
        out.push_str("</table>\n");
    }

    if !report.verification.problems.is_empty() {
        out.push_str("<h2>Integrity problems</h2>\n<ul>\n");
        for problem in &report.verification.problems {
            writeln!(out, "<li>{}</li>", text(problem))?;
        }
        out.push_str("</ul>\n");
    }

    out.push_str("<h2>Timeline</h2>\n");
    timeline_drawing(out, report)?;
    out.push_str("<table id=\"timeline\">\n<tr><th>time (UTC)</th><th>kind</th><th>seq</th><th>actor</th><th>action</th><th>target</th><th>result</th></tr>\n");
    for item in &report.timeline {
        let kind = kind_name(item.kind);
        let seq = item.seq.map(|s| s.to_string()).unwrap_or_default();
        writeln!(
            out,
            "<tr class=\"{kind}\" data-seq=\"{seq}\"><td>{}</td><td>{kind}</td><td>{seq}</td><td>{}</td><td class=\"action-name\">{}</td><td>{}</td><td>{}</td></tr>",
            item.time,
            text(&item.actor),
            text(&item.action),
            text(&item.target),
            text(&item.result)
        )?;
    }
    out.push_str("</table>\n");
    if report.timeline_left_out > 0 {
        writeln!(
            out,
            "<p>{} more item(s) left out (the timeline lists at most 5000).</p>",
            report.timeline_left_out
        )?;
    }

    out.push_str("<h2>Evidence index</h2>\n<table id=\"evidence\">\n<tr><th>path</th><th>sha256</th><th>size</th><th>collected</th><th>by</th><th>source</th></tr>\n");
    for item in &report.evidence {
        let size = if item.truncated { format!("{} (truncated)", item.size) } else { item.size.to_string() };
        writeln!(
            out,
            "<tr><td>{}</td><td><code>{}</code></td><td>{size}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
            text(&item.path),
            text(&item.sha256),
            item.collected,
            text(&item.by),
            text(&item.source)
        )?;
    }
    out.push_str("</table>\n");
    if !report.not_collected.is_empty() {
        out.push_str("<p>Not collected:</p>\n<ul>\n");
        for gap in &report.not_collected {
            writeln!(out, "<li>{}: {} ({})</li>", text(&gap.path), text(&gap.reason), text(&gap.source))?;
        }
        out.push_str("</ul>\n");
    }
    if !report.verification.unread.is_empty() {
        out.push_str("<p>Evidence the report did not use:</p>\n<ul>\n");
        for unread in &report.verification.unread {
            writeln!(out, "<li>{}</li>", text(unread))?;
        }
        out.push_str("</ul>\n");
    }

    out.push_str("<h2>Residual risks</h2>\n<ul id=\"risks\">\n");
    for risk in &report.residual_risks {
        let level = match risk.level {
            RiskLevel::Risk => "risk",
            RiskLevel::Check => "check",
            RiskLevel::Unknown => "unknown",
        };
        writeln!(out, "<li><span class=\"{level}\">{level}</span>: {}</li>", text(&risk.text))?;
    }
    out.push_str("</ul>\n<h2>ATT&amp;CK techniques</h2>\n");
    if report.techniques.is_empty() {
        out.push_str("<p>None: the case records no detection that maps to a technique.</p>\n");
    } else {
        out.push_str("<ul id=\"techniques\">\n");
        for technique in &report.techniques {
            let detections: Vec<String> = technique.detections.iter().map(|d| text(d)).collect();
            writeln!(out, "<li>{}: {}</li>", text(&technique.id), detections.join(", "))?;
        }
        out.push_str("</ul>\n");
    }

    let pm = &report.post_mortem;
    out.push_str("<h2>Post-mortem</h2>\n<h3>Measured from the case</h3>\n<ul id=\"measured\">\n");
    writeln!(out, "<li>time to detect: {}</li>", text(&pm.time_to_detect.text))?;
    writeln!(out, "<li>time to contain: {}</li>", text(&pm.time_to_contain.text))?;
    writeln!(out, "<li>time to recover: {}</li>", text(&pm.time_to_recover.text))?;
    out.push_str("</ul>\n<h3>Impact</h3>\n<ul>\n");
    for line in &pm.impact {
        writeln!(out, "<li>{}</li>", text(line))?;
    }
    out.push_str("</ul>\n<h3>Actions taken</h3>\n<ul>\n");
    for (action, count) in &pm.actions {
        writeln!(out, "<li>{} x{count}</li>", text(action))?;
    }
    out.push_str("</ul>\n<h3>Root cause</h3>\n<p><em>To be written by the responders.</em></p>\n<h3>Lessons learned</h3>\n<ul>\n");
    for lesson in &pm.lessons {
        writeln!(out, "<li>{}</li>", text(lesson))?;
    }
    out.push_str("</ul>\n</body>\n</html>\n");
    Ok(())
}

/// The timeline drawn on one time axis: a circle per journal action, a diamond per detection,
/// a tick per Kubernetes event; each tells what it is in its tooltip.
fn timeline_drawing(out: &mut String, report: &Report) -> std::fmt::Result {
    let times: Vec<Timestamp> = report.timeline.iter().map(|item| item.time).collect();
    let (Some(first), Some(last)) = (times.iter().min(), times.iter().max()) else {
        out.push_str("<p>The case records nothing to draw.</p>\n");
        return Ok(());
    };
    let span = last.duration_since(*first).as_secs_f64().max(1.0);
    let x = |time: Timestamp| {
        MARGIN + (time.duration_since(*first).as_secs_f64() / span) * (WIDTH - 2.0 * MARGIN)
    };
    writeln!(
        out,
        "<svg id=\"timeline-drawing\" viewBox=\"0 0 {WIDTH} 130\" role=\"img\" aria-label=\"timeline from {first} to {last}\">"
    )?;
    writeln!(out, "<line x1=\"{MARGIN}\" y1=\"65\" x2=\"{}\" y2=\"65\" stroke=\"#888\"/>", WIDTH - MARGIN)?;
    writeln!(out, "<text x=\"{MARGIN}\" y=\"120\" font-size=\"10\">{first}</text>")?;
    writeln!(
        out,
        "<text x=\"{}\" y=\"120\" font-size=\"10\" text-anchor=\"end\">{last}</text>",
        WIDTH - MARGIN
    )?;
    for item in &report.timeline {
        let at = x(item.time);
        let tooltip = format!(
            "{} {} {}: {} {} {}",
            item.time,
            kind_name(item.kind),
            item.seq.map(|s| format!("#{s}")).unwrap_or_default(),
            text(&item.action),
            text(&item.target),
            text(&item.result)
        );
        match item.kind {
            TimelineKind::Action => writeln!(
                out,
                "<circle class=\"mark action\" data-seq=\"{}\" cx=\"{at:.1}\" cy=\"65\" r=\"5\" fill=\"#1f6feb\" fill-opacity=\"0.7\"><title>{tooltip}</title></circle>",
                item.seq.unwrap_or_default()
            )?,
            TimelineKind::Detection => writeln!(
                out,
                "<rect class=\"mark detection\" x=\"{:.1}\" y=\"30\" width=\"9\" height=\"9\" transform=\"rotate(45 {at:.1} 34.5)\" fill=\"#b00020\"><title>{tooltip}</title></rect>",
                at - 4.5
            )?,
            TimelineKind::Event => writeln!(
                out,
                "<line class=\"mark event\" x1=\"{at:.1}\" y1=\"85\" x2=\"{at:.1}\" y2=\"100\" stroke=\"#666\"><title>{tooltip}</title></line>"
            )?,
        }
    }
    out.push_str("</svg>\n");
    Ok(())
}

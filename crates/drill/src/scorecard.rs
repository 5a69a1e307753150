//! The drill's result: per scenario, the times a responder would be measured on, the evidence
//! kept, and every check with why it failed. Saved as JSON and Markdown.

use std::fmt::Write;

use serde::Serialize;

/// One drill run: every scenario it ran.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Scorecard {
    /// The drill's id: in its namespaces' names and its objects' `ir.kir.dev/drill` label.
    pub drill: String,
    /// When it started (RFC 3339, UTC).
    pub started: String,
    /// The API server it ran against.
    pub cluster: String,
    pub kir_version: String,
    pub scenarios: Vec<ScenarioScore>,
}

impl Scorecard {
    /// Every check of every scenario passed.
    pub fn passed(&self) -> bool {
        !self.scenarios.is_empty() && self.scenarios.iter().all(ScenarioScore::passed)
    }

    /// The scorecard as a Markdown document. Details come from the cluster and from kir's
    /// output: they are escaped so that none can break the table or the list.
    pub fn markdown(&self) -> String {
        let mut out = String::new();
        let passed = self.scenarios.iter().filter(|s| s.passed()).count();
        let verdict = if self.passed() { "PASSED" } else { "FAILED" };
        let _ = writeln!(
            out,
            "# kir drill {}: {verdict} ({passed}/{} scenarios)\n",
            inline(&self.drill),
            self.scenarios.len()
        );
        let _ = writeln!(
            out,
            "Cluster {} · started {} · kir {}\n",
            inline(&self.cluster),
            inline(&self.started),
            inline(&self.kir_version)
        );
        out.push_str("| scenario | result | time to detect | time to contain | time to recover | evidence items | case |\n");
        out.push_str("| --- | --- | --- | --- | --- | --- | --- |\n");
        for score in &self.scenarios {
            let _ = writeln!(
                out,
                "| {} | {} | {} | {} | {} | {} | {} |",
                inline(&score.scenario),
                if score.passed() { "passed" } else { "**failed**" },
                duration(score.time_to_detect_ms),
                duration(score.time_to_contain_ms),
                duration(score.time_to_recover_ms),
                score.evidence_items.map_or("–".to_string(), |n| n.to_string()),
                score.case.as_deref().map_or("–".to_string(), inline),
            );
        }
        out.push_str(
            "\nTimes run from the end of the staged attack: to the finding that names the attacker, \
             to containment proved by reading the cluster back, to the workload running clean again.\n",
        );
        for score in &self.scenarios {
            let _ = writeln!(out, "\n## {}\n", inline(&score.scenario));
            for check in &score.checks {
                let mark = if check.passed { "x" } else { " " };
                let _ = writeln!(out, "- [{mark}] {}: {}", inline(&check.name), inline(&check.detail));
            }
        }
        out
    }
}

/// One scenario's outcome.
#[derive(Debug, Clone, Default, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ScenarioScore {
    pub scenario: String,
    pub namespace: String,
    pub time_to_detect_ms: Option<u64>,
    pub time_to_contain_ms: Option<u64>,
    pub time_to_recover_ms: Option<u64>,
    /// Artifacts in the case, as `kir case verify` counts them.
    pub evidence_items: Option<u64>,
    /// The case folder the response recorded into.
    pub case: Option<String>,
    pub checks: Vec<Check>,
}

impl ScenarioScore {
    pub fn passed(&self) -> bool {
        !self.checks.is_empty() && self.checks.iter().all(|c| c.passed)
    }

    pub fn check(&mut self, name: &str, passed: bool, detail: impl Into<String>) -> bool {
        self.checks.push(Check { name: name.to_string(), passed, detail: detail.into() });
        passed
    }

    /// The names of the checks that failed.
    pub fn failures(&self) -> Vec<&str> {
        self.checks.iter().filter(|c| !c.passed).map(|c| c.name.as_str()).collect()
    }
}

/// One thing the drill verified, and what it saw.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Check {
    pub name: String,
    pub passed: bool,
    pub detail: String,
}

fn duration(ms: Option<u64>) -> String {
    match ms {
        None => "not measured".to_string(),
        Some(ms) if ms < 10_000 => format!("{:.1} s", ms as f64 / 1000.0),
        Some(ms) => format!("{} s", ms / 1000),
    }
}

/// Text on one line of Markdown (a list item or a table cell): no line breaks, no HTML, no
/// code spans, links or cell ends opened.
fn inline(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars().take(2000) {
        match c {
            '\n' | '\r' | '\t' => out.push(' '),
            c if c.is_control() => out.push('\u{FFFD}'),
            '\\' | '`' | '*' | '_' | '[' | ']' | '<' | '>' | '|' | '#' | '!' => {
                out.push('\\');
                out.push(c);
            }
            c => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn score(name: &str, passed: bool) -> ScenarioScore {
        let mut score = ScenarioScore {
            scenario: name.to_string(),
            namespace: format!("kir-drill-ab12-{name}"),
            time_to_detect_ms: Some(1234),
            time_to_contain_ms: Some(2500),
            time_to_recover_ms: None,
            evidence_items: Some(17),
            case: Some(format!("drills/ab12/cases/{name}")),
            checks: Vec::new(),
        };
        score.check("detected", true, "kir-audit-exec-suspicious-command names the intruder");
        score.check(
            "contained",
            passed,
            if passed { "policy in place" } else { "no policy | see `kubectl`\n# not a heading" },
        );
        score
    }

    #[test]
    fn the_markdown_scorecard_says_what_failed_and_cannot_be_broken_by_a_detail() {
        let card = Scorecard {
            drill: "ab12".into(),
            started: "2026-12-06T23:00:00Z".into(),
            cluster: "https://127.0.0.1:6443".into(),
            kir_version: "0.1.0".into(),
            scenarios: vec![score("compromised-pod", true), score("stolen-credentials", false)],
        };
        assert!(!card.passed());
        assert_eq!(card.scenarios[1].failures(), ["contained"]);
        insta::assert_snapshot!(card.markdown());
    }

    #[test]
    fn a_drill_with_no_scenario_or_no_check_has_not_passed() {
        let card = Scorecard {
            drill: "x".into(),
            started: String::new(),
            cluster: String::new(),
            kir_version: String::new(),
            scenarios: Vec::new(),
        };
        assert!(!card.passed());
        assert!(!ScenarioScore::default().passed());
    }
}

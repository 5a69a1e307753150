//! Findings: what a rule found, grouped so a responder reads one line per rule and identity
//! (or per rule and pod).
//!
//! Hits are grouped as they arrive, so memory grows with the number of (rule, subject) pairs,
//! not with the number of matching events: a week of 403s from one enumeration is one group
//! holding counts, first and last time, capped lists, and for threshold rules a window of the
//! last seconds per source address.

use std::collections::{BTreeSet, HashMap, HashSet, VecDeque};

use serde::Serialize;

use crate::rule::{Denied, Distinct, Fill, RuleMeta, Severity, Threshold, fill_response};

/// A finding lists at most this many audit IDs; `auditIDsLeftOut` counts its other events.
pub const MAX_AUDIT_IDS: usize = 10_000;

/// A finding lists at most this many source addresses, forwarded-for addresses, objects and
/// evidence lines each; `truncated` names the lists that had more.
pub const MAX_LISTED: usize = 1_000;

/// Beyond [`MAX_AUDIT_IDS`], an event logged at several stages is recognised as one when its
/// stages are among this many consecutive events of the finding (stages of one request are
/// logged moments apart).
const RECENT_IDS: usize = 4_096;

/// What the requests of an audit finding came to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Outcome {
    /// The API server carried them out (or, for rules that look for denials, denied them).
    Done,
    /// They were denied or failed: someone tried, and nothing changed.
    Attempt,
}

impl Outcome {
    pub fn label(self) -> &'static str {
        match self {
            Outcome::Done => "done",
            Outcome::Attempt => "attempt",
        }
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct RuleRef {
    pub id: String,
    pub title: String,
}

#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Finding {
    pub rule: RuleRef,
    /// Every request of the finding is one a case's journal accounts for as kir's own
    /// (`--case`): the responder at work, reported apart.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub responder: bool,
    /// The rule's severity; one lower for attempts.
    pub severity: Severity,
    /// Audit findings: `done`, or `attempt` when every request was denied or failed.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub outcome: Option<Outcome>,
    /// Attempts: the answers the requests got (403, 404, ...).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub response_codes: Vec<i64>,
    /// ATT&CK technique ids.
    pub attack: Vec<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub user: Option<String>,
    /// The addresses the API server saw the requests come from (the last of `sourceIPs`).
    #[serde(rename = "sourceIPs", skip_serializing_if = "Vec::is_empty")]
    pub source_ips: Vec<String>,
    /// The addresses clients claimed in `X-Forwarded-For` or `X-Real-Ip` (the other
    /// `sourceIPs`): a proxy's word, or a forgery.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub forwarded_for: Vec<String>,
    /// `namespace/name` of the objects involved (pods for runtime findings).
    pub objects: Vec<String>,
    /// The audit events the finding rests on, once each, the first [`MAX_AUDIT_IDS`] of them.
    #[serde(rename = "auditIDs", skip_serializing_if = "Vec::is_empty")]
    pub audit_ids: Vec<String>,
    /// Events of the finding with an audit ID not listed in `auditIDs`.
    #[serde(rename = "auditIDsLeftOut", skip_serializing_if = "is_zero")]
    pub audit_ids_left_out: usize,
    /// What happened inside the workload (runtime findings): processes and connections.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub evidence: Vec<String>,
    /// The lists cut at [`MAX_LISTED`] values: `sourceIPs`, `forwardedFor`, `objects`, `evidence`.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub truncated: Vec<&'static str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub node: Option<String>,
    pub first: String,
    pub last: String,
    pub count: usize,
    pub suggested_response: String,
    pub description: String,
}

fn is_zero(n: &usize) -> bool {
    *n == 0
}

/// One event a rule matched, reduced to what a finding reports.
#[derive(Debug, Clone)]
pub struct Hit {
    pub rule: usize,
    /// What groups hits into one finding besides the rule (identity, or pod).
    pub subject: String,
    /// As the API server lists them: forwarded-for claims first, the peer last.
    pub source_ips: Vec<String>,
    pub namespace: String,
    pub name: String,
    /// The audit ID; empty for runtime events, which are all counted.
    pub id: String,
    pub time: String,
    pub evidence: Option<String>,
    pub node: Option<String>,
    /// Whether the request was denied or failed (an answer of 400 or more, or the
    /// authorization decision `forbid`).
    pub attempt: bool,
    /// The answer's status code, when the event has one.
    pub code: Option<i64>,
    /// A case's journal accounts for the request as kir's own (see [`kir_audit::footprint`]).
    pub responder: bool,
}

/// How the hits of one rule are grouped.
#[derive(Debug, Clone, Copy, Default)]
pub struct Grouped {
    pub threshold: Option<Threshold>,
    pub denied: Denied,
}

/// Hits grouped into findings as they arrive: one finding per (rule, subject, outcome): the
/// requests that were carried out apart from those denied or failed; for threshold
/// rules only the hits of bursts, where `count` hits from one peer address fall within the
/// window.
///
/// Threshold rules read hits as a stream, as audit logs are written: a burst is found among
/// hits in time order, with small disorder tolerated; a hit more than the window before the
/// newest hit of its source starts a new stretch (the next rotated file, say), so a burst
/// whose events are spread over several inputs of the same time (the logs of several API
/// servers) is not found unless the inputs are merged in time order.
pub struct Grouping {
    rules: Vec<Grouped>,
    subject_is_user: bool,
    /// The audit logs read, for the suggested responses that read them again.
    logs: Vec<String>,
    /// Per rule, per outcome (done, attempt; then the same for kir's own requests), per subject.
    groups: Vec<[HashMap<String, Group>; 4]>,
}

impl Grouping {
    /// `rules[i]` says how rule `i` groups (rules past its end: no threshold, denials are
    /// attempts); audit findings name their subject as the user and say their outcome.
    pub fn new(rules: Vec<Grouped>, subject_is_user: bool) -> Grouping {
        Grouping { rules, subject_is_user, logs: Vec::new(), groups: Vec::new() }
    }

    /// Name `logs` (as the command line gave them) in the responses that read the logs again.
    pub fn with_logs(mut self, logs: Vec<String>) -> Grouping {
        self.logs = logs;
        self
    }

    pub fn add(&mut self, hit: Hit) {
        if self.groups.len() <= hit.rule {
            self.groups.resize_with(hit.rule + 1, Default::default);
        }
        let rule = self.rules.get(hit.rule).copied().unwrap_or_default();
        let attempt = hit.attempt && rule.denied == Denied::Attempt;
        let by_subject = &mut self.groups[hit.rule][usize::from(attempt) + 2 * usize::from(hit.responder)];
        let group = match by_subject.get_mut(hit.subject.as_str()) {
            Some(group) => group,
            None => by_subject.entry(hit.subject.clone()).or_default(),
        };
        match rule.threshold {
            None => group.add(hit),
            Some(threshold) => group.add_counted(hit, threshold),
        }
    }

    /// The findings, sorted by severity, then time; `rules[i]` describes rule `i`.
    pub fn findings(self, rules: &[&RuleMeta]) -> Vec<Finding> {
        let mut found: Vec<(String, Finding)> = Vec::new();
        for (rule, outcomes) in self.groups.into_iter().enumerate() {
            for (index, by_subject) in outcomes.into_iter().enumerate() {
                let outcome = self.subject_is_user.then_some([Outcome::Done, Outcome::Attempt][index % 2]);
                for (subject, group) in by_subject {
                    if let Some(mut finding) = group.finding(rules[rule], &subject, outcome, &self.logs) {
                        finding.responder = index >= 2;
                        found.push((subject, finding));
                    }
                }
            }
        }
        found.sort_by(|(a_subject, a), (b_subject, b)| {
            b.severity
                .cmp(&a.severity)
                .then_with(|| a.first.cmp(&b.first))
                .then_with(|| a.rule.id.cmp(&b.rule.id))
                .then_with(|| a_subject.cmp(b_subject))
        });
        found.into_iter().map(|(_, finding)| finding).collect()
    }
}

/// What one finding keeps of its hits.
#[derive(Default)]
struct Group {
    /// The namespace, name and node of the first hit: what the suggested response names.
    example: Option<(String, String, Option<String>)>,
    count: usize,
    audit_ids: Vec<String>,
    listed_ids: HashSet<String>,
    ids_left_out: usize,
    /// The audit IDs of the latest events past [`MAX_AUDIT_IDS`], oldest first.
    recent_ids: VecDeque<String>,
    recent_set: HashSet<String>,
    source_ips: Listed,
    forwarded_for: Listed,
    objects: Listed,
    evidence: Listed,
    /// The answers of attempts.
    codes: BTreeSet<i64>,
    first: String,
    last: String,
    /// Threshold rules: the window of each peer address.
    windows: HashMap<String, Window>,
    /// Prune windows gone quiet when there are this many.
    prune_at: usize,
}

/// Windows are pruned once there are this many (and then at twice what survived).
const PRUNE_AT_LEAST: usize = 1_024;

impl Group {
    fn add(&mut self, hit: Hit) {
        if self.is_new_event(&hit.id) {
            self.count += 1;
        }
        let mut addresses = hit.source_ips.into_iter().rev();
        if let Some(peer) = addresses.next() {
            self.source_ips.insert(peer);
        }
        for claimed in addresses {
            self.forwarded_for.insert(claimed);
        }
        if !hit.name.is_empty() || !hit.namespace.is_empty() {
            self.objects.insert(if hit.namespace.is_empty() {
                hit.name.clone()
            } else {
                format!("{}/{}", hit.namespace, hit.name)
            });
        }
        if let Some(evidence) = hit.evidence {
            self.evidence.insert(evidence);
        }
        if hit.attempt
            && let Some(code) = hit.code
        {
            self.codes.insert(code);
        }
        if !hit.time.is_empty() {
            if self.first.is_empty() || hit.time < self.first {
                self.first = hit.time.clone();
            }
            if hit.time > self.last {
                self.last = hit.time;
            }
        }
        if self.example.is_none() {
            self.example = Some((hit.namespace, hit.name, hit.node));
        }
    }

    /// Whether `id` is an event not counted yet: the same request is logged at several stages
    /// and is one event for the finding. Events without an ID (runtime) all count.
    fn is_new_event(&mut self, id: &str) -> bool {
        if id.is_empty() {
            return true;
        }
        if self.listed_ids.contains(id) || self.recent_set.contains(id) {
            return false;
        }
        if self.audit_ids.len() < MAX_AUDIT_IDS {
            self.audit_ids.push(id.to_string());
            self.listed_ids.insert(id.to_string());
            return true;
        }
        if self.recent_ids.len() == RECENT_IDS
            && let Some(oldest) = self.recent_ids.pop_front()
        {
            self.recent_set.remove(&oldest);
        }
        self.recent_ids.push_back(id.to_string());
        self.recent_set.insert(id.to_string());
        self.ids_left_out += 1;
        true
    }

    /// A hit of a threshold rule: it joins the finding once it is part of a burst from its
    /// peer address. Hits without a readable time cannot be placed in a window.
    fn add_counted(&mut self, hit: Hit, threshold: Threshold) {
        let Ok(time) = hit.time.parse::<jiff::Timestamp>() else { return };
        let second = time.as_second();
        let peer = hit.source_ips.last().map_or("", String::as_str);
        let window = match self.windows.get_mut(peer) {
            Some(window) => window,
            None => self.windows.entry(peer.to_string()).or_default(),
        };
        for hit in window.push(second, hit, threshold) {
            self.add(hit);
        }
        if self.windows.len() >= self.prune_at.max(PRUNE_AT_LEAST) {
            // Windows of addresses quiet for longer than the window hold no burst to come.
            self.windows.retain(|_, window| window.is_near(second, threshold));
            self.prune_at = self.windows.len() * 2;
        }
    }

    /// The finding of the group; `outcome` is `None` for runtime findings.
    fn finding(
        self,
        meta: &RuleMeta,
        subject: &str,
        outcome: Option<Outcome>,
        logs: &[String],
    ) -> Option<Finding> {
        let (namespace, name, node) = self.example?;
        let truncated = [
            ("sourceIPs", &self.source_ips),
            ("forwardedFor", &self.forwarded_for),
            ("objects", &self.objects),
            ("evidence", &self.evidence),
        ]
        .into_iter()
        .filter(|(_, list)| list.truncated)
        .map(|(name, _)| name)
        .collect();
        let attempt = outcome == Some(Outcome::Attempt);
        Some(Finding {
            rule: RuleRef { id: meta.id.clone(), title: meta.title.clone() },
            responder: false,
            severity: if attempt { meta.severity.lower() } else { meta.severity },
            outcome,
            response_codes: self.codes.into_iter().collect(),
            attack: meta.attack.clone(),
            user: outcome.map(|_| subject.to_string()),
            source_ips: self.source_ips.values.into_iter().collect(),
            forwarded_for: self.forwarded_for.values.into_iter().collect(),
            objects: self.objects.values.into_iter().collect(),
            audit_ids: self.audit_ids,
            audit_ids_left_out: self.ids_left_out,
            evidence: self.evidence.values.into_iter().collect(),
            truncated,
            node,
            first: self.first,
            last: self.last,
            count: self.count,
            suggested_response: fill_response(
                &meta.response,
                &Fill { user: subject, namespace: &namespace, name: &name, logs },
            ),
            description: meta.description.clone(),
        })
    }
}

/// Distinct values, up to [`MAX_LISTED`].
#[derive(Default)]
struct Listed {
    values: BTreeSet<String>,
    truncated: bool,
}

impl Listed {
    fn insert(&mut self, value: String) {
        if self.values.len() < MAX_LISTED {
            self.values.insert(value);
        } else if !self.values.contains(&value) {
            self.truncated = true;
        }
    }
}

/// The recent hits of one peer address for a threshold rule: counts per second over the last
/// `window_seconds` before the newest hit, and the hits not yet part of a burst (fewer than
/// `count`, or they would be).
#[derive(Default)]
struct Window {
    seconds: VecDeque<(i64, usize)>,
    total: usize,
    pending: Vec<(i64, Hit)>,
    /// Thresholds on distinct objects: each object of the window and the last second it was hit.
    objects: HashMap<String, i64>,
}

/// A window of a distinct threshold holds at most this many objects (or twice the count):
/// beyond it, objects are forgotten at random, which keeps a reached threshold reached.
const MAX_WINDOW_OBJECTS: usize = 4_096;

impl Window {
    /// Add a hit at `second`; returns the hits that are now part of a burst.
    fn push(&mut self, second: i64, hit: Hit, threshold: Threshold) -> Vec<Hit> {
        if let Some(&(newest, _)) = self.seconds.back()
            && second < newest - threshold.window_seconds
        {
            // Far before the newest hit: a new stretch of the log (the next input, say).
            *self = Window::default();
        }
        match self.seconds.binary_search_by_key(&second, |&(s, _)| s) {
            Ok(at) => self.seconds[at].1 += 1,
            Err(at) => self.seconds.insert(at, (second, 1)),
        }
        self.total += 1;
        let newest = self.seconds.back().map_or(second, |&(s, _)| s);
        let start = newest - threshold.window_seconds;
        let mut aged = false;
        while let Some(&(oldest, n)) = self.seconds.front()
            && oldest < start
        {
            self.seconds.pop_front();
            self.total -= n;
            aged = true;
        }
        let reached = match threshold.distinct {
            None => self.total >= threshold.count,
            Some(Distinct::Objects) => {
                let last = self.objects.entry(format!("{}/{}", hit.namespace, hit.name)).or_insert(second);
                *last = (*last).max(second);
                if aged {
                    self.objects.retain(|_, last| *last >= start);
                }
                let cap = MAX_WINDOW_OBJECTS.max(2 * threshold.count);
                if self.objects.len() > cap {
                    let forget: Vec<String> = self.objects.keys().take(cap / 2).cloned().collect();
                    for object in &forget {
                        self.objects.remove(object);
                    }
                }
                self.objects.len() >= threshold.count
            }
        };
        // Hits that fell out of the window without a burst never join the finding.
        self.pending.retain(|(s, _)| *s >= start);
        self.pending.push((second, hit));
        if reached { self.pending.drain(..).map(|(_, hit)| hit).collect() } else { Vec::new() }
    }

    /// Whether a hit at `second` could still share a window with this one's hits.
    fn is_near(&self, second: i64, threshold: Threshold) -> bool {
        self.seconds.back().is_some_and(|&(newest, _)| (newest - second).abs() <= threshold.window_seconds)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rule::Origin;

    fn meta() -> RuleMeta {
        RuleMeta {
            id: "r".into(),
            title: "t".into(),
            description: "d".into(),
            severity: Severity::High,
            attack: vec!["T1".into()],
            response: "kir audit timeline {logs} --user {user}".into(),
            denied: Denied::Attempt,
            origin: Origin::Builtin,
        }
    }

    fn hit(id: &str, user: &str, ip: &str, time: &str) -> Hit {
        Hit {
            responder: false,
            rule: 0,
            subject: user.into(),
            source_ips: vec![ip.into()],
            namespace: "ns".into(),
            name: "n".into(),
            id: id.into(),
            time: time.into(),
            evidence: None,
            node: None,
            attempt: false,
            code: Some(200),
        }
    }

    impl Hit {
        fn named(self, name: String) -> Hit {
            Hit { name, ..self }
        }
    }

    fn grouped(threshold: Option<Threshold>) -> Grouped {
        Grouped { threshold, denied: Denied::Attempt }
    }

    fn findings(threshold: Option<Threshold>, hits: impl IntoIterator<Item = Hit>) -> Vec<Finding> {
        let mut grouping = Grouping::new(vec![grouped(threshold)], true);
        for hit in hits {
            grouping.add(hit);
        }
        grouping.findings(&[&meta()])
    }

    /// `2026-01-01T00:00:00Z` plus `seconds`.
    fn at(seconds: i64) -> String {
        jiff::Timestamp::from_second(1_767_225_600 + seconds).unwrap().to_string()
    }

    const BURST: Option<Threshold> = Some(Threshold { count: 10, window_seconds: 60, distinct: None });

    #[test]
    fn hits_group_per_rule_and_user_without_duplicate_stages() {
        let hits = vec![
            hit("a", "eve", "1.1.1.1", "2026-01-01T00:00:02Z"),
            hit("a", "eve", "1.1.1.1", "2026-01-01T00:00:02Z"),
            hit("b", "eve", "2.2.2.2", "2026-01-01T00:00:01Z"),
            hit("c", "bob", "1.1.1.1", "2026-01-01T00:00:03Z"),
        ];
        let found = findings(None, hits);
        assert_eq!(found.len(), 2);
        let eve = found.iter().find(|f| f.user.as_deref() == Some("eve")).unwrap();
        assert_eq!(eve.audit_ids, ["a", "b"]);
        assert_eq!(eve.count, 2);
        assert_eq!(eve.source_ips, ["1.1.1.1", "2.2.2.2"]);
        assert_eq!((eve.first.as_str(), eve.last.as_str()), ("2026-01-01T00:00:01Z", "2026-01-01T00:00:02Z"));
        assert_eq!(eve.suggested_response, "kir audit timeline AUDIT-LOG --user eve");
        assert_eq!(found[0].user.as_deref(), Some("eve"), "the earlier finding first");
    }

    #[test]
    fn thresholds_need_enough_hits_inside_the_window() {
        let threshold = Some(Threshold { count: 3, window_seconds: 60, distinct: None });
        let spread: Vec<Hit> =
            (0..5).map(|i| hit(&format!("s{i}"), "eve", "1.1.1.1", &at(i * 60 + 1))).collect();
        assert!(findings(threshold, spread.clone()).is_empty(), "one a minute is no burst");
        let mut burst = spread;
        burst.extend((0..3).map(|i| hit(&format!("b{i}"), "eve", "1.1.1.1", &at(420 + i))));
        let found = findings(threshold, burst);
        assert_eq!(found.len(), 1);
        assert_eq!(found[0].audit_ids, ["b0", "b1", "b2"]);
    }

    /// The client chooses `X-Forwarded-For`, which the API server lists first: a burst from one
    /// peer is one burst however the client varies its claims, and claims alone make none.
    #[test]
    fn a_burst_is_counted_by_the_peer_whatever_the_forwarded_for_claims() {
        let forged = |i: i64, claimed: String, peer: &str| Hit {
            source_ips: vec![claimed, peer.to_string()],
            ..hit(&format!("d{i}"), "eve", peer, &at(i))
        };
        let found = findings(BURST, (0..20).map(|i| forged(i, format!("198.51.100.{i}"), "10.0.0.9")));
        assert_eq!(found.len(), 1, "randomised claims do not hide the burst");
        assert_eq!(found[0].count, 20);
        assert_eq!(found[0].source_ips, ["10.0.0.9"]);
        assert_eq!(found[0].forwarded_for.len(), 20);

        let claimed = (0..20).map(|i| forged(i, "203.0.113.7".into(), &format!("10.0.{i}.1")));
        assert!(findings(BURST, claimed).is_empty(), "one claimed address is no one peer");
    }

    #[test]
    fn bursts_are_found_in_slightly_disordered_input_and_in_files_read_newest_first() {
        // Stage times of concurrent requests are logged a little out of order.
        let jittered = (0..10).map(|i| hit(&format!("j{i}"), "eve", "10.0.0.9", &at(100 + (i * 7) % 10)));
        assert_eq!(findings(BURST, jittered)[0].count, 10);
        // audit.log (today) before audit-yesterday.log: the window starts again at the jump back.
        let today = (0..10).map(|i| hit(&format!("t{i}"), "eve", "10.0.0.9", &at(86_400 + i)));
        let yesterday = (0..10).map(|i| hit(&format!("y{i}"), "eve", "10.0.0.9", &at(i)));
        let found = findings(BURST, today.chain(yesterday));
        assert_eq!(found[0].count, 20);
        assert_eq!((found[0].first.as_str(), found[0].last.as_str()), (at(0).as_str(), at(86_409).as_str()));
    }

    /// A flood of matching events is kept as counts and capped lists: the state stays the size
    /// of the caps, and the finding says what it left out.
    #[test]
    fn many_hits_are_counted_in_bounded_memory() {
        const EVENTS: usize = 3 * MAX_AUDIT_IDS;
        let mut grouping = Grouping::new(vec![grouped(None), grouped(BURST)], true);
        for i in 0..EVENTS {
            // Every request logged at two stages, and every one from its own address.
            for _ in 0..2 {
                let mut flood = hit(
                    &format!("e{i}"),
                    "eve",
                    &format!("10.{}.{}.{}", i >> 16, (i >> 8) & 255, i & 255),
                    &at(i as i64 / 10),
                );
                flood.name = format!("pod-{i}");
                grouping.add(flood.clone());
                // The threshold rule: ten denials a second from one peer, for an hour.
                grouping.add(Hit { rule: 1, source_ips: vec!["10.0.0.9".into()], ..flood });
            }
        }
        let group = &grouping.groups[0][0]["eve"];
        assert!(group.listed_ids.len() <= MAX_AUDIT_IDS && group.recent_ids.len() <= RECENT_IDS);
        assert!(group.objects.values.len() <= MAX_LISTED && group.source_ips.values.len() <= MAX_LISTED);
        let burst = &grouping.groups[1][0]["eve"];
        let window = &burst.windows["10.0.0.9"];
        assert!(window.seconds.len() <= 61 && window.pending.len() < 10, "a window holds a minute");
        let found = grouping.findings(&[&meta(), &meta()]);
        let plain = &found[0];
        assert_eq!(plain.count, EVENTS, "each request once, though logged twice");
        assert_eq!(plain.audit_ids.len(), MAX_AUDIT_IDS);
        assert_eq!(plain.audit_ids_left_out, EVENTS - MAX_AUDIT_IDS);
        assert_eq!(plain.truncated, ["sourceIPs", "objects"]);
        assert_eq!(found[1].count, EVENTS, "every denial of the hour is in the burst");
    }

    #[test]
    fn windows_of_quiet_addresses_are_dropped() {
        let mut grouping = Grouping::new(vec![grouped(BURST)], true);
        // One denial each from 20,000 addresses, ten a second: no burst, and no address is
        // remembered for longer than the window.
        for i in 0..20_000 {
            grouping.add(hit(&format!("q{i}"), "eve", &format!("fd00::{i:x}"), &at(i / 10)));
        }
        assert!(grouping.groups[0][0]["eve"].windows.len() <= 2 * PRUNE_AT_LEAST);
        assert!(grouping.findings(&[&meta()]).is_empty());
    }

    #[test]
    fn events_without_an_id_all_count() {
        let runtime = |i: i64| Hit {
            source_ips: Vec::new(),
            evidence: Some(format!("exec /bin/sh #{i}")),
            code: None,
            ..hit("", "ns/pod", "", &at(i))
        };
        let found = findings(None, (0..3).map(runtime));
        assert_eq!((found[0].count, found[0].evidence.len()), (3, 3));
        assert!(found[0].audit_ids.is_empty() && found[0].audit_ids_left_out == 0);
    }

    /// Denied or failed requests are reported apart from those that were carried out, one
    /// severity lower and labelled as attempts, with the answers they got; a rule that looks
    /// for denials reports them as found.
    #[test]
    fn denied_requests_are_attempts_unless_the_rule_looks_for_denials() {
        let denied = |id: &str, code: i64| Hit {
            attempt: true,
            code: Some(code),
            ..hit(id, "eve", "10.0.0.9", &at(1))
        };
        let hits = vec![hit("ok", "eve", "10.0.0.9", &at(0)), denied("no", 403), denied("gone", 404)];
        let found = findings(None, hits.clone());
        assert_eq!(found.len(), 2, "{found:#?}");
        let done = found.iter().find(|f| f.outcome == Some(Outcome::Done)).unwrap();
        let attempt = found.iter().find(|f| f.outcome == Some(Outcome::Attempt)).unwrap();
        assert_eq!(
            (done.severity, done.audit_ids.as_slice()),
            (Severity::High, ["ok".to_string()].as_slice())
        );
        assert_eq!(attempt.severity, Severity::Medium);
        assert_eq!(attempt.audit_ids, ["no", "gone"]);
        assert_eq!(attempt.response_codes, [403, 404]);
        let json = serde_json::to_value(attempt).unwrap();
        assert_eq!(
            (json["outcome"].as_str(), json["responseCodes"][0].as_i64()),
            (Some("attempt"), Some(403))
        );

        let mut grouping = Grouping::new(vec![Grouped { threshold: None, denied: Denied::Signal }], true);
        hits.into_iter().for_each(|h| grouping.add(h));
        let found = grouping.findings(&[&meta()]);
        assert_eq!(found.len(), 1);
        assert_eq!(
            (found[0].outcome, found[0].severity, found[0].count),
            (Some(Outcome::Done), Severity::High, 3)
        );
    }

    /// A distinct threshold counts objects, not events: one secret read twenty times is no
    /// burst, ten secrets read once each are.
    #[test]
    fn distinct_thresholds_count_objects() {
        let threshold = Some(Threshold { count: 10, window_seconds: 600, distinct: Some(Distinct::Objects) });
        let read = |i: i64, name: String| {
            Hit { ..hit(&format!("{name}@{i}"), "eve", "10.0.0.9", &at(i)) }.named(name)
        };
        assert!(findings(threshold, (0..20).map(|i| read(i, "db".into()))).is_empty());
        let found = findings(threshold, (0..10).map(|i| read(i, format!("s{i}"))));
        assert_eq!((found.len(), found[0].count, found[0].objects.len()), (1, 10, 10));
        let spread = (0..10).map(|i| read(i * 700, format!("s{i}")));
        assert!(findings(threshold, spread).is_empty(), "one secret every ten minutes is no burst");
        // Millions of distinct names cannot grow a window without bound.
        let mut grouping = Grouping::new(vec![grouped(threshold)], true);
        (0..50_000).for_each(|i| grouping.add(read(i / 100, format!("n{i}"))));
        let window = &grouping.groups[0][0]["eve"].windows["10.0.0.9"];
        assert!(window.objects.len() <= MAX_WINDOW_OBJECTS, "{}", window.objects.len());
        assert_eq!(grouping.findings(&[&meta()])[0].count, 50_000);
    }
}

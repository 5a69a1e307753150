//! Baselines: what is normal per identity (source networks, user agents, active hours),
//! learned from past audit logs, and the calls that depart from it.

use std::collections::{BTreeMap, BTreeSet};

use kir_audit::{Event, Format, Processor, stats::utc_hour};
use serde::{Deserialize, Serialize};

use crate::{
    lists::is_system_identity,
    rule::{Denied, Origin, RuleMeta, Severity},
};

/// Below this many events the hours an identity works are not known well enough to call
/// any hour unusual.
pub const MIN_EVENTS_FOR_HOURS: u64 = 50;

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Baseline {
    /// Format version of this file.
    pub version: u32,
    pub events: u64,
    pub first: Option<String>,
    pub last: Option<String>,
    pub users: BTreeMap<String, Profile>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Profile {
    pub events: u64,
    /// IPv4 /24 and IPv6 /64 networks of the peers the identity called from (the last of
    /// `sourceIPs`, the address the API server saw): forwarded-for claims are the client's to
    /// choose, so learning them would let anyone add a network, and checking them would let
    /// anyone raise findings at will.
    pub networks: BTreeSet<String>,
    /// User-agent products (the part before the first `/`).
    pub user_agents: BTreeSet<String>,
    /// Events per UTC hour of day.
    pub hours: Vec<u64>,
}

pub const VERSION: u32 = 1;

/// The network an address belongs to, as baselines record it.
pub fn network_of(ip: &str) -> String {
    match ip.parse::<std::net::IpAddr>() {
        Ok(std::net::IpAddr::V4(v4)) => {
            let [a, b, c, _] = v4.octets();
            format!("{a}.{b}.{c}.0/24")
        }
        Ok(std::net::IpAddr::V6(v6)) => {
            let s = v6.segments();
            format!("{:x}:{:x}:{:x}:{:x}::/64", s[0], s[1], s[2], s[3])
        }
        Err(_) => ip.to_string(),
    }
}

/// `kubectl/v1.33.1 (linux/amd64) kubernetes/abc` → `kubectl`: versions change with every
/// upgrade and should not look new.
pub fn agent_product(user_agent: &str) -> String {
    user_agent.split(['/', ' ']).next().unwrap_or_default().to_string()
}

impl Baseline {
    pub fn add(&mut self, event: &Event<'_>) {
        self.events += 1;
        let time = event.time_text();
        // Only real timestamps span the baseline: its first and last are printed as they are.
        if time.parse::<jiff::Timestamp>().is_ok() {
            if self.first.as_deref().is_none_or(|f| time < f) {
                self.first = Some(time.to_string());
            }
            if self.last.as_deref().is_none_or(|l| time > l) {
                self.last = Some(time.to_string());
            }
        }
        let user = event.effective_user();
        let profile = match self.users.get_mut(user) {
            Some(p) => p,
            None => self.users.entry(user.to_string()).or_default(),
        };
        profile.events += 1;
        let peer = event.peer();
        if !peer.is_empty() {
            let network = network_of(peer);
            if !profile.networks.contains(&network) {
                profile.networks.insert(network);
            }
        }
        let product = agent_product(&event.user_agent);
        if !profile.user_agents.contains(&product) {
            profile.user_agents.insert(product);
        }
        if let Some(hour) = utc_hour(time) {
            profile.hours.resize(24, 0);
            profile.hours[hour] += 1;
        }
    }

    pub fn merge(&mut self, other: Baseline) {
        self.events += other.events;
        for t in other.first.iter().chain(other.last.iter()) {
            if self.first.as_deref().is_none_or(|f| t.as_str() < f) {
                self.first = Some(t.clone());
            }
            if self.last.as_deref().is_none_or(|l| t.as_str() > l) {
                self.last = Some(t.clone());
            }
        }
        for (user, theirs) in other.users {
            let ours = self.users.entry(user).or_default();
            ours.events += theirs.events;
            ours.networks.extend(theirs.networks);
            ours.user_agents.extend(theirs.user_agents);
            ours.hours.resize(24, 0);
            for (h, n) in theirs.hours.iter().enumerate().take(24) {
                ours.hours[h] += n;
            }
        }
    }

    /// How `event` departs from the baseline, as indexes into [`baseline_rules`].
    pub fn departures(&self, event: &Event<'_>) -> Vec<usize> {
        let mut out = Vec::new();
        let Some(profile) = self.users.get(event.effective_user()) else {
            out.push(NEW_IDENTITY);
            return out;
        };
        let peer = event.peer();
        if !peer.is_empty() && !profile.networks.contains(&network_of(peer)) {
            // The control plane, nodes and system service accounts call from a few fixed
            // places: elsewhere, their credential has been taken.
            out.push(if is_system_identity(event.effective_user()) {
                SYSTEM_NEW_NETWORK
            } else {
                NEW_NETWORK
            });
        }
        if !profile.user_agents.contains(&agent_product(&event.user_agent)) {
            out.push(NEW_AGENT);
        }
        if profile.events >= MIN_EVENTS_FOR_HOURS
            && let Some(hour) = utc_hour(event.time_text())
            && profile.hours.get(hour).copied().unwrap_or(0) == 0
        {
            out.push(UNUSUAL_HOUR);
        }
        out
    }
}

const NEW_NETWORK: usize = 0;
const UNUSUAL_HOUR: usize = 1;
const NEW_AGENT: usize = 2;
const NEW_IDENTITY: usize = 3;
const SYSTEM_NEW_NETWORK: usize = 4;

/// The checks `--baseline` adds, as rules.
pub fn baseline_rules() -> Vec<RuleMeta> {
    let rule = |id: &str, title: &str, description: &str, severity, attack: &[&str]| RuleMeta {
        id: id.to_string(),
        title: title.to_string(),
        description: description.to_string(),
        severity,
        attack: attack.iter().map(|s| s.to_string()).collect(),
        response: "kir audit timeline {logs} --user {user}".to_string(),
        // A denied call still used the credential from there.
        denied: Denied::Signal,
        origin: Origin::Baseline,
    };
    vec![
        rule(
            "kir-baseline-new-source-network",
            "Identity called from a network it never used",
            "The identity made API calls from an address outside every network (/24, /64) seen in the baseline: a stolen credential used from elsewhere.",
            Severity::High,
            &["T1078", "T1550.001"],
        ),
        rule(
            "kir-baseline-unusual-hour",
            "Identity active at an unusual hour",
            "The identity made API calls at an hour of day (UTC) at which the baseline never saw it, and the baseline saw it often enough to know its hours.",
            Severity::Medium,
            &["T1078"],
        ),
        rule(
            "kir-baseline-new-user-agent",
            "Identity used a new client",
            "The identity called the API with a user agent (client program) the baseline never saw it use.",
            Severity::Medium,
            &["T1078", "T1550.001"],
        ),
        rule(
            "kir-baseline-new-identity",
            "Identity absent from the baseline",
            "An identity the baseline never saw made API calls: a new user, service account or node, or a credential minted by an attacker.",
            Severity::Low,
            &["T1078", "T1136"],
        ),
        rule(
            "kir-baseline-system-identity-new-source",
            "Control-plane, node or system identity called from a new network",
            "An identity of the control plane, a node, or a service account of a system namespace (kube-system, kube-node-lease, the cloud provider's) made API calls from a network the baseline never saw it use: these credentials are used from a few fixed places, so elsewhere means taken.",
            Severity::Critical,
            &["T1078.001", "T1550.001", "T1528"],
        ),
    ]
}

/// `kir baseline learn`: a baseline per block, merged in order.
pub struct Learner;

impl Processor for Learner {
    type Output = Baseline;
    fn output(&self) -> Baseline {
        Baseline { version: VERSION, ..Baseline::default() }
    }
    fn event(&self, event: &Event<'_>, _raw: Option<&str>, _format: Format, out: &mut Baseline) {
        out.add(event);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn event(user: &str, ip: &str, agent: &str, time: &str) -> String {
        format!(
            r#"{{"auditID":"x","verb":"get","user":{{"username":"{user}"}},"sourceIPs":["{ip}"],"userAgent":"{agent}","stageTimestamp":"{time}"}}"#
        )
    }

    #[test]
    fn departures_from_a_learned_baseline() {
        let mut baseline = Baseline::default();
        for i in 0..60 {
            let e = event(
                "alice",
                &format!("10.0.0.{i}"),
                "kubectl/v1.33.0 (linux)",
                &format!("2026-11-2{}T09:{:02}:00Z", i % 5, i),
            );
            baseline.add(&serde_json::from_str(&e).unwrap());
        }
        let check =
            |json: String| -> Vec<usize> { baseline.departures(&serde_json::from_str(&json).unwrap()) };
        assert!(check(event("alice", "10.0.0.200", "kubectl/v1.34.0", "2026-11-27T09:30:00Z")).is_empty());
        assert_eq!(
            check(event("alice", "203.0.113.9", "kubectl/v1.34", "2026-11-27T09:30:00Z")),
            [NEW_NETWORK]
        );
        assert_eq!(check(event("alice", "10.0.0.1", "kubectl/v1", "2026-11-27T03:00:00Z")), [UNUSUAL_HOUR]);
        assert_eq!(
            check(event("alice", "10.0.0.1", "python-requests/2.31", "2026-11-27T09:00:00Z")),
            [NEW_AGENT]
        );
        assert_eq!(check(event("mallory", "10.0.0.1", "kubectl", "2026-11-27T09:00:00Z")), [NEW_IDENTITY]);
    }

    /// A controller's or a node's credential from a new network is its own, critical finding.
    #[test]
    fn system_identities_from_a_new_network() {
        let mut baseline = Baseline::default();
        for user in [
            "system:kube-controller-manager",
            "system:serviceaccount:kube-system:coredns",
            "system:node:n1",
            "alice",
        ] {
            baseline.add(
                &serde_json::from_str(&event(user, "10.0.0.5", "kube", "2026-11-27T09:00:00Z")).unwrap(),
            );
        }
        let check = |user: &str, ip: &str| {
            baseline
                .departures(&serde_json::from_str(&event(user, ip, "kube", "2026-11-27T09:00:00Z")).unwrap())
        };
        for user in
            ["system:kube-controller-manager", "system:serviceaccount:kube-system:coredns", "system:node:n1"]
        {
            assert_eq!(check(user, "203.0.113.9"), [SYSTEM_NEW_NETWORK], "{user}");
            assert!(check(user, "10.0.0.6").is_empty(), "{user}: its own network");
        }
        assert_eq!(check("alice", "203.0.113.9"), [NEW_NETWORK]);
        let rules = baseline_rules();
        assert_eq!(rules[SYSTEM_NEW_NETWORK].severity, Severity::Critical);
        assert!(rules.iter().all(|r| !r.attack.is_empty()));
    }

    #[test]
    fn baselines_learn_and_check_the_peer_not_the_forwarded_for_claims() {
        let with_sources = |sources: &str, time: &str| {
            format!(
                r#"{{"auditID":"x","verb":"get","user":{{"username":"alice"}},"sourceIPs":[{sources}],"userAgent":"kubectl","stageTimestamp":"{time}"}}"#
            )
        };
        let mut baseline = Baseline::default();
        let learned = with_sources(r#""203.0.113.7","10.0.0.9""#, "2026-11-27T09:00:00Z");
        baseline.add(&serde_json::from_str(&learned).unwrap());
        assert_eq!(baseline.users["alice"].networks.iter().collect::<Vec<_>>(), ["10.0.0.0/24"]);
        let check = |json: String| baseline.departures(&serde_json::from_str(&json).unwrap());
        // A claimed address from anywhere changes nothing; a new peer is a new network, whatever
        // the client claims.
        assert!(check(with_sources(r#""198.51.100.1","10.0.0.9""#, "2026-11-27T09:00:00Z")).is_empty());
        assert_eq!(check(with_sources(r#""10.0.0.9","203.0.113.7""#, "2026-11-27T09:00:00Z")), [NEW_NETWORK]);

        let odd = with_sources(r#""10.0.0.9""#, "\\u001b[2Jnot a time");
        baseline.add(&serde_json::from_str(&odd).unwrap());
        assert_eq!(baseline.first.as_deref(), Some("2026-11-27T09:00:00Z"), "a non-time never spans it");
    }

    #[test]
    fn baselines_merge_and_round_trip() {
        let mut a = Baseline::default();
        let mut b = Baseline::default();
        a.add(&serde_json::from_str(&event("u", "10.0.0.1", "kubectl", "2026-11-27T01:00:00Z")).unwrap());
        b.add(&serde_json::from_str(&event("u", "fd00::1", "helm/3", "2026-11-27T02:00:00Z")).unwrap());
        a.merge(b);
        let profile = &a.users["u"];
        assert_eq!(profile.networks.iter().collect::<Vec<_>>(), ["10.0.0.0/24", "fd00:0:0:0::/64"]);
        assert_eq!(profile.user_agents.len(), 2);
        assert_eq!((profile.hours[1], profile.hours[2]), (1, 1));
        let text = serde_json::to_string(&a).unwrap();
        assert_eq!(serde_json::from_str::<Baseline>(&text).unwrap(), a);
    }
}

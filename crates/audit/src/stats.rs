//! `kir audit stats`: who called the API, from where, with what, and when.

use std::collections::{BTreeMap, HashMap};

use serde::Serialize;

use crate::{
    credential::{TokenMarker, has_marker},
    event::Event,
};

/// Per-identity and per-address summaries. Built per block and merged, so it works in
/// parallel; memory grows with the number of distinct users, addresses and agents only.
#[derive(Debug, Default, Clone, Serialize)]
pub struct Stats {
    pub users: HashMap<String, UserStats>,
    pub ips: HashMap<String, IpStats>,
}

#[derive(Debug, Default, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct UserStats {
    pub events: u64,
    /// Peer addresses (see [`Event::peer`]): forwarded-for claims are the client's to choose.
    pub source_ips: BTreeMap<String, u64>,
    pub user_agents: BTreeMap<String, u64>,
    pub verbs: BTreeMap<String, u64>,
    pub first: Option<String>,
    pub last: Option<String>,
    /// Events per hour of day, UTC.
    pub hours: [u64; 24],
    /// Responses 401 and 403.
    pub denied: u64,
    /// Events whose service-account token the API server marked stale: used past the time it
    /// would have expired, had admission not extended it.
    pub stale_tokens: u64,
    /// Events that used a legacy Secret-based token, which never expires.
    pub legacy_tokens: u64,
}

#[derive(Debug, Default, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct IpStats {
    pub events: u64,
    /// Events from this peer that carried a forwarded-for chain (`X-Forwarded-For`,
    /// `X-Real-Ip`): a proxy, or a client claiming other addresses.
    pub forwarded: u64,
    pub users: BTreeMap<String, u64>,
    pub first: Option<String>,
    pub last: Option<String>,
}

/// The hour of day of an RFC 3339 UTC time, read straight from the text (`...T14:...Z`); other
/// offsets are converted.
pub fn utc_hour(time: &str) -> Option<usize> {
    let bytes = time.as_bytes();
    if time.ends_with('Z') && bytes.len() > 13 && bytes[10] == b'T' {
        let hour = (bytes[11].wrapping_sub(b'0') as usize) * 10 + bytes[12].wrapping_sub(b'0') as usize;
        return (hour < 24).then_some(hour);
    }
    let timestamp: jiff::Timestamp = time.parse().ok()?;
    Some(timestamp.to_zoned(jiff::tz::TimeZone::UTC).hour() as usize)
}

fn widen(first: &mut Option<String>, last: &mut Option<String>, time: &str) {
    if time.is_empty() {
        return;
    }
    // RFC 3339 UTC timestamps with the same precision sort as text; audit logs use one format.
    if first.as_deref().is_none_or(|f| time < f) {
        *first = Some(time.to_string());
    }
    if last.as_deref().is_none_or(|l| time > l) {
        *last = Some(time.to_string());
    }
}

fn bump(map: &mut BTreeMap<String, u64>, key: &str, by: u64) {
    match map.get_mut(key) {
        Some(count) => *count += by,
        None => {
            map.insert(key.to_string(), by);
        }
    }
}

impl Stats {
    pub fn add(&mut self, event: &Event<'_>) {
        let user_name = event.effective_user();
        let time = event.time_text();
        let user = match self.users.get_mut(user_name) {
            Some(user) => user,
            None => self.users.entry(user_name.to_string()).or_default(),
        };
        user.events += 1;
        let peer = event.peer();
        if !peer.is_empty() {
            bump(&mut user.source_ips, peer, 1);
        }
        bump(&mut user.user_agents, &event.user_agent, 1);
        bump(&mut user.verbs, &event.verb, 1);
        widen(&mut user.first, &mut user.last, time);
        if let Some(hour) = utc_hour(time) {
            user.hours[hour] += 1;
        }
        if matches!(event.code(), Some(401 | 403)) {
            user.denied += 1;
        }
        user.stale_tokens += u64::from(has_marker(event, TokenMarker::StaleToken));
        user.legacy_tokens += u64::from(has_marker(event, TokenMarker::LegacyToken));
        if !peer.is_empty() {
            let stats = match self.ips.get_mut(peer) {
                Some(stats) => stats,
                None => self.ips.entry(peer.to_string()).or_default(),
            };
            stats.events += 1;
            stats.forwarded += u64::from(event.source_ips.len() > 1);
            bump(&mut stats.users, user_name, 1);
            widen(&mut stats.first, &mut stats.last, time);
        }
    }

    pub fn merge(&mut self, other: Stats) {
        for (name, theirs) in other.users {
            let ours = self.users.entry(name).or_default();
            ours.events += theirs.events;
            for (k, v) in theirs.source_ips {
                bump(&mut ours.source_ips, &k, v);
            }
            for (k, v) in theirs.user_agents {
                bump(&mut ours.user_agents, &k, v);
            }
            for (k, v) in theirs.verbs {
                bump(&mut ours.verbs, &k, v);
            }
            for time in theirs.first.iter().chain(theirs.last.iter()) {
                widen(&mut ours.first, &mut ours.last, time);
            }
            for (hour, count) in theirs.hours.iter().enumerate() {
                ours.hours[hour] += count;
            }
            ours.denied += theirs.denied;
            ours.stale_tokens += theirs.stale_tokens;
            ours.legacy_tokens += theirs.legacy_tokens;
        }
        for (ip, theirs) in other.ips {
            let ours = self.ips.entry(ip).or_default();
            ours.events += theirs.events;
            ours.forwarded += theirs.forwarded;
            for (k, v) in theirs.users {
                bump(&mut ours.users, &k, v);
            }
            for time in theirs.first.iter().chain(theirs.last.iter()) {
                widen(&mut ours.first, &mut ours.last, time);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stats_count_per_user_and_address_and_merge() {
        let lines = [
            r#"{"auditID":"1","verb":"get","user":{"username":"alice"},"sourceIPs":["10.0.0.1"],"userAgent":"kubectl","stageTimestamp":"2026-11-27T03:10:00Z","responseStatus":{"code":403}}"#,
            r#"{"auditID":"2","verb":"list","user":{"username":"alice"},"sourceIPs":["10.0.0.2"],"userAgent":"kubectl","stageTimestamp":"2026-11-27T14:00:00Z"}"#,
            r#"{"auditID":"3","verb":"get","user":{"username":"bob"},"sourceIPs":["10.0.0.1"],"stageTimestamp":"2026-11-26T23:59:00+01:00"}"#,
            r#"{"auditID":"4","verb":"get","user":{"username":"bob"},"sourceIPs":["198.51.100.9","10.0.0.1"],"stageTimestamp":"2026-11-27T00:00:00Z"}"#,
        ];
        let mut a = Stats::default();
        let mut b = Stats::default();
        a.add(&serde_json::from_str(lines[0]).unwrap());
        b.add(&serde_json::from_str(lines[1]).unwrap());
        b.add(&serde_json::from_str(lines[2]).unwrap());
        b.add(&serde_json::from_str(lines[3]).unwrap());
        a.merge(b);
        let alice = &a.users["alice"];
        assert_eq!(alice.events, 2);
        assert_eq!(alice.source_ips.len(), 2);
        assert_eq!(alice.verbs["get"], 1);
        assert_eq!(alice.first.as_deref(), Some("2026-11-27T03:10:00Z"));
        assert_eq!(alice.last.as_deref(), Some("2026-11-27T14:00:00Z"));
        assert_eq!((alice.hours[3], alice.hours[14], alice.denied), (1, 1, 1));
        assert_eq!(a.users["bob"].hours[22], 1, "offset times are converted to UTC");
        assert_eq!(a.ips["10.0.0.1"].users.len(), 2);
        // Counted by the peer: the address the client claims in X-Forwarded-For is not one.
        assert_eq!(a.users["bob"].source_ips.keys().collect::<Vec<_>>(), ["10.0.0.1"]);
        assert!(!a.ips.contains_key("198.51.100.9"));
        assert_eq!((a.ips["10.0.0.1"].events, a.ips["10.0.0.1"].forwarded), (3, 1));
    }

    #[test]
    fn stale_and_legacy_token_uses_are_counted_per_user_once_per_event() {
        let lines = [
            r#"{"auditID":"1","verb":"get","user":{"username":"system:serviceaccount:ci:old"},"annotations":{"authentication.k8s.io/legacy-token":"system:serviceaccount:ci:old","authentication.k8s.io/legacy-token-manual-secret":"old-token"}}"#,
            r#"{"auditID":"2","verb":"get","user":{"username":"system:serviceaccount:ci:old"},"annotations":{"authentication.k8s.io/legacy-token":"system:serviceaccount:ci:old"}}"#,
            r#"{"auditID":"3","verb":"get","user":{"username":"system:serviceaccount:prod:web"},"annotations":{"authentication.k8s.io/stale-token":"subject: system:serviceaccount:prod:web, seconds after warning threshold: 61"}}"#,
            r#"{"auditID":"4","verb":"get","user":{"username":"system:serviceaccount:prod:web"}}"#,
        ];
        let mut a = Stats::default();
        let mut b = Stats::default();
        a.add(&serde_json::from_str(lines[0]).unwrap());
        a.add(&serde_json::from_str(lines[2]).unwrap());
        b.add(&serde_json::from_str(lines[1]).unwrap());
        b.add(&serde_json::from_str(lines[3]).unwrap());
        a.merge(b);
        let old = &a.users["system:serviceaccount:ci:old"];
        assert_eq!((old.events, old.legacy_tokens, old.stale_tokens), (2, 2, 0));
        let web = &a.users["system:serviceaccount:prod:web"];
        assert_eq!((web.events, web.legacy_tokens, web.stale_tokens), (2, 0, 1));
        let json = serde_json::to_value(web).unwrap();
        assert_eq!((json["staleTokens"].as_u64(), json["legacyTokens"].as_u64()), (Some(1), Some(0)));
    }
}

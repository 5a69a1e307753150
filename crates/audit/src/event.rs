//! The audit event: the fields kir reads, borrowed from the input line where possible.
//!
//! Only what search, statistics and detection need is decoded; `requestObject` and
//! `responseObject` stay raw JSON text and are parsed only by the rules that look inside them.
//! Unknown fields are ignored, so events from any Kubernetes version decode.

use std::fmt;

use serde::{Deserialize, Deserializer, Serialize, de};
use serde_json::value::RawValue;

use crate::{credential::CREDENTIAL_ID_KEY, text::Text};

/// One `audit.k8s.io/v1` Event.
#[derive(Debug, Default, Deserialize, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Event<'a> {
    #[serde(borrow, default, skip_serializing_if = "str::is_empty")]
    pub level: Text<'a>,
    #[serde(rename = "auditID", borrow, default)]
    pub audit_id: Text<'a>,
    #[serde(borrow, default, skip_serializing_if = "str::is_empty")]
    pub stage: Text<'a>,
    #[serde(rename = "requestURI", borrow, default)]
    pub request_uri: Text<'a>,
    #[serde(borrow, default)]
    pub verb: Text<'a>,
    #[serde(borrow, default)]
    pub user: UserInfo<'a>,
    #[serde(borrow, default, skip_serializing_if = "Option::is_none")]
    pub impersonated_user: Option<UserInfo<'a>>,
    #[serde(rename = "sourceIPs", borrow, default)]
    pub source_ips: Vec<Text<'a>>,
    #[serde(borrow, default, skip_serializing_if = "str::is_empty")]
    pub user_agent: Text<'a>,
    #[serde(borrow, default, skip_serializing_if = "Option::is_none")]
    pub object_ref: Option<ObjectRef<'a>>,
    #[serde(borrow, default, skip_serializing_if = "Option::is_none")]
    pub response_status: Option<ResponseStatus<'a>>,
    #[serde(borrow, default, skip_serializing_if = "Option::is_none")]
    pub request_object: Option<&'a RawValue>,
    #[serde(borrow, default, skip_serializing_if = "Option::is_none")]
    pub response_object: Option<&'a RawValue>,
    #[serde(borrow, default, skip_serializing_if = "str::is_empty")]
    pub request_received_timestamp: Text<'a>,
    #[serde(borrow, default, skip_serializing_if = "str::is_empty")]
    pub stage_timestamp: Text<'a>,
    #[serde(borrow, default, skip_serializing_if = "Pairs::is_empty")]
    pub annotations: Pairs<'a, Text<'a>>,

    /// Envelope fields: present when the line is not an Event itself but wraps one (or many).
    /// Decoded in the same pass so that the common case, a plain Event, is parsed only once.
    #[serde(borrow, default, skip_serializing)]
    pub(crate) kind: Text<'a>,
    #[serde(borrow, default, skip_serializing)]
    pub(crate) items: Option<&'a RawValue>,
    #[serde(rename = "protoPayload", borrow, default, skip_serializing)]
    pub(crate) proto_payload: Option<&'a RawValue>,
    #[serde(borrow, default, skip_serializing)]
    pub(crate) properties: Option<&'a RawValue>,
    #[serde(rename = "logEvents", borrow, default, skip_serializing)]
    pub(crate) log_events: Option<&'a RawValue>,
    #[serde(borrow, default, skip_serializing)]
    pub(crate) message: Option<&'a RawValue>,
    #[serde(rename = "@message", borrow, default, skip_serializing)]
    pub(crate) at_message: Option<&'a RawValue>,
}

#[derive(Debug, Default, Deserialize, Serialize)]
pub struct UserInfo<'a> {
    #[serde(borrow, default)]
    pub username: Text<'a>,
    #[serde(borrow, default, skip_serializing_if = "str::is_empty")]
    pub uid: Text<'a>,
    #[serde(borrow, default, skip_serializing_if = "Vec::is_empty")]
    pub groups: Vec<Text<'a>>,
    /// Lists of strings; read leniently (see [`lenient_extra`]).
    #[serde(borrow, default, deserialize_with = "lenient_extra", skip_serializing_if = "Pairs::is_empty")]
    pub extra: Pairs<'a, Vec<Text<'a>>>,
}

#[derive(Debug, Default, Deserialize, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ObjectRef<'a> {
    #[serde(borrow, default, skip_serializing_if = "str::is_empty")]
    pub resource: Text<'a>,
    #[serde(borrow, default, skip_serializing_if = "str::is_empty")]
    pub namespace: Text<'a>,
    #[serde(borrow, default, skip_serializing_if = "str::is_empty")]
    pub name: Text<'a>,
    #[serde(borrow, default, skip_serializing_if = "str::is_empty")]
    pub uid: Text<'a>,
    #[serde(borrow, default)]
    pub api_group: Text<'a>,
    #[serde(borrow, default, skip_serializing_if = "str::is_empty")]
    pub api_version: Text<'a>,
    #[serde(borrow, default, skip_serializing_if = "str::is_empty")]
    pub subresource: Text<'a>,
}

#[derive(Debug, Default, Deserialize, Serialize)]
pub struct ResponseStatus<'a> {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub code: Option<i64>,
    #[serde(borrow, default, skip_serializing_if = "str::is_empty")]
    pub reason: Text<'a>,
    #[serde(borrow, default, skip_serializing_if = "str::is_empty")]
    pub status: Text<'a>,
}

impl<'a> Event<'a> {
    /// The identity the request acted as: the impersonated user when there was one.
    pub fn effective_user(&self) -> &str {
        match &self.impersonated_user {
            Some(user) if !user.username.is_empty() => &user.username,
            _ => &self.user.username,
        }
    }

    /// The time the event was recorded: the stage time, else the time the request arrived.
    pub fn time_text(&self) -> &str {
        if !self.stage_timestamp.is_empty() {
            &self.stage_timestamp
        } else {
            &self.request_received_timestamp
        }
    }

    pub fn time(&self) -> Option<jiff::Timestamp> {
        self.time_text().parse().ok()
    }

    /// When the request arrived: `requestReceivedTimestamp`, else the stage time. What
    /// `--since`/`--until` compare, so that every stage of one request falls on the same side.
    pub fn received(&self) -> Option<jiff::Timestamp> {
        let text = if self.request_received_timestamp.is_empty() {
            &self.stage_timestamp
        } else {
            &self.request_received_timestamp
        };
        text.parse().ok()
    }

    pub fn resource(&self) -> &str {
        self.object_ref.as_ref().map_or("", |o| &o.resource)
    }

    pub fn subresource(&self) -> &str {
        self.object_ref.as_ref().map_or("", |o| &o.subresource)
    }

    pub fn namespace(&self) -> &str {
        self.object_ref.as_ref().map_or("", |o| &o.namespace)
    }

    pub fn name(&self) -> &str {
        self.object_ref.as_ref().map_or("", |o| &o.name)
    }

    pub fn api_group(&self) -> &str {
        self.object_ref.as_ref().map_or("", |o| &o.api_group)
    }

    pub fn code(&self) -> Option<i64> {
        self.response_status.as_ref().and_then(|s| s.code)
    }

    pub fn annotation(&self, key: &str) -> Option<&str> {
        self.annotations.get(key).map(|v| v.as_str())
    }

    /// `resource` or `resource/subresource`, as kubectl names it.
    pub fn resource_path(&self) -> String {
        match (self.resource(), self.subresource()) {
            ("", _) => String::new(),
            (r, "") => r.to_string(),
            (r, s) => format!("{r}/{s}"),
        }
    }

    /// `namespace/name`, `name`, or empty.
    pub fn object_display(&self) -> String {
        match (self.namespace(), self.name()) {
            ("", n) => n.to_string(),
            (ns, "") => format!("{ns}/"),
            (ns, n) => format!("{ns}/{n}"),
        }
    }

    /// The address the API server saw the request come from: the last of `sourceIPs`. The
    /// API server lists the client's `X-Forwarded-For` and `X-Real-Ip` claims first and the
    /// peer of the connection last; all but the last can be set by the client at will.
    pub fn peer(&self) -> &str {
        self.source_ips.last().map_or("", |ip| ip.as_str())
    }

    /// The credential ids of `user.extra` (see [`crate::credential`]): one, when the API server
    /// recorded it.
    pub fn credential_ids(&self) -> impl Iterator<Item = &str> {
        self.user.extra.get(CREDENTIAL_ID_KEY).into_iter().flatten().map(|t| t.as_str())
    }

    /// Whether this decoded as an Event rather than as some other JSON object.
    pub(crate) fn looks_like_event(&self) -> bool {
        !self.audit_id.is_empty() || (!self.verb.is_empty() && !self.request_uri.is_empty())
    }
}

/// `sourceIPs` for a table cell: the peer the API server saw, then the forwarded-for chain
/// the client claimed, if any: `10.0.0.9 (xff 203.0.113.7, 198.51.100.2)`. A forged chain
/// can be long; the cell shows its first three addresses.
pub fn sources_display<S: AsRef<str>>(source_ips: &[S]) -> String {
    const SHOWN: usize = 3;
    match source_ips {
        [] => String::new(),
        [peer] => peer.as_ref().to_string(),
        [claimed @ .., peer] => {
            let mut shown: Vec<String> =
                claimed.iter().take(SHOWN).map(|ip| ip.as_ref().to_string()).collect();
            if claimed.len() > SHOWN {
                shown.push(format!("{} more", claimed.len() - SHOWN));
            }
            format!("{} (xff {})", peer.as_ref(), shown.join(", "))
        }
    }
}

/// A JSON object kept as its key/value pairs in input order. Audit maps (annotations,
/// `user.extra`) have a handful of entries: a vector beats a hash map here.
#[derive(Clone, PartialEq, Eq)]
pub struct Pairs<'a, V>(pub Vec<(Text<'a>, V)>);

impl<V> Default for Pairs<'_, V> {
    fn default() -> Self {
        Pairs(Vec::new())
    }
}

impl<'a, V> Pairs<'a, V> {
    pub fn get(&self, key: &str) -> Option<&V> {
        self.0.iter().find(|(k, _)| k.as_str() == key).map(|(_, v)| v)
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl<V: fmt::Debug> fmt::Debug for Pairs<'_, V> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_map().entries(self.0.iter().map(|(k, v)| (k, v))).finish()
    }
}

impl<V: Serialize> Serialize for Pairs<'_, V> {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeMap;
        let mut map = serializer.serialize_map(Some(self.0.len()))?;
        for (k, v) in &self.0 {
            map.serialize_entry(k, v)?;
        }
        map.end()
    }
}

impl<'de: 'a, 'a, V: Deserialize<'de>> Deserialize<'de> for Pairs<'a, V> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct Visitor<'a, V>(std::marker::PhantomData<(&'a (), V)>);
        impl<'de: 'a, 'a, V: Deserialize<'de>> de::Visitor<'de> for Visitor<'a, V> {
            type Value = Pairs<'a, V>;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("an object")
            }
            fn visit_map<M: de::MapAccess<'de>>(self, mut map: M) -> Result<Self::Value, M::Error> {
                let mut pairs = Vec::with_capacity(map.size_hint().unwrap_or(2));
                while let Some((k, v)) = map.next_entry::<Text<'a>, V>()? {
                    pairs.push((k, v));
                }
                Ok(Pairs(pairs))
            }
            fn visit_unit<E: de::Error>(self) -> Result<Self::Value, E> {
                Ok(Pairs(Vec::new()))
            }
        }
        deserializer.deserialize_any(Visitor(std::marker::PhantomData))
    }
}

/// `user.extra` as authenticators write it, an object of string lists, read without failing
/// the event when it is not: a lone string is one value, other values (numbers, objects, nested
/// lists) and an `extra` that is no object hold none. The event's other fields still count.
fn lenient_extra<'de: 'a, 'a, D: Deserializer<'de>>(
    deserializer: D,
) -> Result<Pairs<'a, Vec<Text<'a>>>, D::Error> {
    struct ExtraVisitor<'a>(std::marker::PhantomData<&'a ()>);
    impl<'de: 'a, 'a> de::Visitor<'de> for ExtraVisitor<'a> {
        type Value = Pairs<'a, Vec<Text<'a>>>;
        fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.write_str("an object of string lists")
        }
        fn visit_map<M: de::MapAccess<'de>>(self, mut map: M) -> Result<Self::Value, M::Error> {
            let mut pairs = Vec::with_capacity(map.size_hint().unwrap_or(2));
            while let Some(key) = map.next_key::<Text<'a>>()? {
                pairs.push((key, map.next_value_seed(Strings { in_list: false })?));
            }
            Ok(Pairs(pairs))
        }
        fn visit_seq<S: de::SeqAccess<'de>>(self, mut seq: S) -> Result<Self::Value, S::Error> {
            while seq.next_element::<de::IgnoredAny>()?.is_some() {}
            Ok(Pairs::default())
        }
        fn visit_str<E: de::Error>(self, _: &str) -> Result<Self::Value, E> {
            Ok(Pairs::default())
        }
        fn visit_bool<E: de::Error>(self, _: bool) -> Result<Self::Value, E> {
            Ok(Pairs::default())
        }
        fn visit_i64<E: de::Error>(self, _: i64) -> Result<Self::Value, E> {
            Ok(Pairs::default())
        }
        fn visit_u64<E: de::Error>(self, _: u64) -> Result<Self::Value, E> {
            Ok(Pairs::default())
        }
        fn visit_f64<E: de::Error>(self, _: f64) -> Result<Self::Value, E> {
            Ok(Pairs::default())
        }
        fn visit_unit<E: de::Error>(self) -> Result<Self::Value, E> {
            Ok(Pairs::default())
        }
    }
    deserializer.deserialize_any(ExtraVisitor(std::marker::PhantomData))
}

/// The strings of one `user.extra` value: the value itself when it is a string, the string
/// elements of a list (`in_list` is false), nothing else.
struct Strings {
    in_list: bool,
}

impl<'de> de::DeserializeSeed<'de> for Strings {
    type Value = Vec<Text<'de>>;
    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<Self::Value, D::Error> {
        deserializer.deserialize_any(self)
    }
}

impl<'de> de::Visitor<'de> for Strings {
    type Value = Vec<Text<'de>>;
    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a list of strings")
    }
    fn visit_borrowed_str<E: de::Error>(self, v: &'de str) -> Result<Self::Value, E> {
        Ok(vec![Text::borrowed(v)])
    }
    fn visit_str<E: de::Error>(self, v: &str) -> Result<Self::Value, E> {
        Ok(vec![Text::owned(v.to_string())])
    }
    fn visit_seq<S: de::SeqAccess<'de>>(self, mut seq: S) -> Result<Self::Value, S::Error> {
        let mut strings = Vec::new();
        if self.in_list {
            while seq.next_element::<de::IgnoredAny>()?.is_some() {}
        } else {
            while let Some(mut more) = seq.next_element_seed(Strings { in_list: true })? {
                strings.append(&mut more);
            }
        }
        Ok(strings)
    }
    fn visit_map<M: de::MapAccess<'de>>(self, mut map: M) -> Result<Self::Value, M::Error> {
        while map.next_entry::<de::IgnoredAny, de::IgnoredAny>()?.is_some() {}
        Ok(Vec::new())
    }
    fn visit_bool<E: de::Error>(self, _: bool) -> Result<Self::Value, E> {
        Ok(Vec::new())
    }
    fn visit_i64<E: de::Error>(self, _: i64) -> Result<Self::Value, E> {
        Ok(Vec::new())
    }
    fn visit_u64<E: de::Error>(self, _: u64) -> Result<Self::Value, E> {
        Ok(Vec::new())
    }
    fn visit_f64<E: de::Error>(self, _: f64) -> Result<Self::Value, E> {
        Ok(Vec::new())
    }
    fn visit_unit<E: de::Error>(self) -> Result<Self::Value, E> {
        Ok(Vec::new())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_peer_is_the_last_source_and_the_claimed_chain_is_marked() {
        let event: Event<'_> =
            serde_json::from_str(r#"{"sourceIPs":["203.0.113.7","198.51.100.2","10.0.0.9"]}"#).unwrap();
        assert_eq!(event.peer(), "10.0.0.9");
        assert_eq!(sources_display(&event.source_ips), "10.0.0.9 (xff 203.0.113.7, 198.51.100.2)");
        assert_eq!(sources_display(&["10.0.0.9"]), "10.0.0.9");
        assert_eq!(sources_display::<&str>(&[]), "");
        let forged: Vec<String> = (0..10).map(|i| format!("1.1.1.{i}")).chain(["10.0.0.9".into()]).collect();
        assert_eq!(sources_display(&forged), "10.0.0.9 (xff 1.1.1.0, 1.1.1.1, 1.1.1.2, 7 more)");
    }

    fn extra_of(extra: &str) -> Vec<String> {
        let line = format!(r#"{{"auditID":"1","verb":"get","user":{{"username":"alice","extra":{extra}}}}}"#);
        let event: Event<'_> = serde_json::from_str(&line).unwrap_or_else(|e| panic!("{extra}: {e}"));
        assert_eq!(event.user.username.as_str(), "alice", "{extra}: the rest of the event is read");
        event.credential_ids().map(str::to_string).collect()
    }

    #[test]
    fn extra_that_is_no_list_of_strings_costs_the_event_nothing() {
        let key = CREDENTIAL_ID_KEY;
        assert_eq!(extra_of(&format!(r#"{{"{key}":["JTI=a"]}}"#)), ["JTI=a"]);
        assert_eq!(extra_of(&format!(r#"{{"{key}":"JTI=a"}}"#)), ["JTI=a"], "a lone string is one value");
        assert_eq!(
            extra_of(&format!(r#"{{"{key}":["JTI=a",7,{{"x":["JTI=b"]}},["JTI=c"],null,"JTI=\u0064"]}}"#)),
            ["JTI=a", "JTI=d"],
            "only the strings of the list"
        );
        for odd in ["7", "null", "true", r#"{"JTI":"x"}"#, "[]"] {
            assert!(extra_of(&format!(r#"{{"{key}":{odd}}}"#)).is_empty(), "{odd}");
        }
        for odd in ["7", "null", r#""JTI=a""#, r#"["JTI=a"]"#, "[[1,[2]],{}]"] {
            assert!(extra_of(odd).is_empty(), "extra {odd}");
        }
        let huge = format!("JTI={}", "a".repeat(1 << 20));
        assert_eq!(extra_of(&format!(r#"{{"{key}":["{huge}"]}}"#)), [huge]);
        assert_eq!(extra_of(&format!(r#"{{"{key}":["JTI=\u001b]0;x\u0007"]}}"#)), ["JTI=\u{1b}]0;x\u{7}"]);
    }
}

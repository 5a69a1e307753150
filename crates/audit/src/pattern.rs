//! Small matchers shared by search filters and detection rules: globs and CIDR ranges.

use std::{fmt, net::IpAddr, str::FromStr};

/// A shell-style glob (`*` any run, `?` one character, `\` escapes), or an exact string.
#[derive(Clone, PartialEq, Eq)]
pub struct Glob {
    text: String,
    tokens: Vec<Token>,
    case_insensitive: bool,
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Token {
    Literal(String),
    Any,
    One,
}

impl Glob {
    pub fn new(text: &str) -> Glob {
        Glob::build(text, false)
    }

    pub fn case_insensitive(text: &str) -> Glob {
        Glob::build(text, true)
    }

    fn build(text: &str, case_insensitive: bool) -> Glob {
        let mut tokens = Vec::new();
        let mut literal = String::new();
        let mut chars = text.chars();
        while let Some(c) = chars.next() {
            match c {
                '\\' => literal.push(chars.next().unwrap_or('\\')),
                '*' | '?' => {
                    if !literal.is_empty() {
                        tokens.push(Token::Literal(std::mem::take(&mut literal)));
                    }
                    let token = if c == '*' { Token::Any } else { Token::One };
                    if !(token == Token::Any && tokens.last() == Some(&Token::Any)) {
                        tokens.push(token);
                    }
                }
                c => literal.push(c),
            }
        }
        if !literal.is_empty() {
            tokens.push(Token::Literal(literal));
        }
        if case_insensitive {
            for token in &mut tokens {
                if let Token::Literal(l) = token {
                    *l = l.to_lowercase();
                }
            }
        }
        Glob { text: text.to_string(), tokens, case_insensitive }
    }

    /// The longest wildcard-free piece: every match contains it.
    pub fn longest_literal(&self) -> &str {
        self.tokens
            .iter()
            .filter_map(|t| match t {
                Token::Literal(l) => Some(l.as_str()),
                _ => None,
            })
            .max_by_key(|l| l.len())
            .unwrap_or("")
    }

    pub fn matches(&self, text: &str) -> bool {
        if self.case_insensitive && text.chars().any(char::is_uppercase) {
            return match_tokens(&self.tokens, &text.to_lowercase());
        }
        match_tokens(&self.tokens, text)
    }
}

impl fmt::Debug for Glob {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Glob({:?})", self.text)
    }
}

/// Glob matching with single-star backtracking: linear in practice, no recursion.
fn match_tokens(tokens: &[Token], text: &str) -> bool {
    let (mut t, mut s) = (0usize, 0usize);
    let mut star: Option<(usize, usize)> = None;
    loop {
        if t < tokens.len() {
            match &tokens[t] {
                Token::Literal(lit) if text[s..].starts_with(lit.as_str()) => {
                    t += 1;
                    s += lit.len();
                    continue;
                }
                Token::One if s < text.len() => {
                    t += 1;
                    s += text[s..].chars().next().map_or(1, char::len_utf8);
                    continue;
                }
                Token::Any => {
                    star = Some((t, s));
                    t += 1;
                    continue;
                }
                _ => {}
            }
        } else if s == text.len() {
            return true;
        }
        match star {
            Some((star_t, star_s)) if star_s < text.len() => {
                let next = star_s + text[star_s..].chars().next().map_or(1, char::len_utf8);
                star = Some((star_t, next));
                t = star_t + 1;
                s = next;
            }
            _ => return false,
        }
    }
}

/// An address range: `10.0.0.0/8`, `2001:db8::/32`, or a single address.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Cidr {
    network: IpAddr,
    prefix: u8,
}

impl Cidr {
    pub fn contains(&self, addr: IpAddr) -> bool {
        match (self.network, addr) {
            (IpAddr::V4(net), IpAddr::V4(a)) => {
                prefix_eq(u32::from(net) as u128, u32::from(a) as u128, self.prefix, 32)
            }
            (IpAddr::V6(net), IpAddr::V6(a)) => prefix_eq(u128::from(net), u128::from(a), self.prefix, 128),
            (IpAddr::V6(net), IpAddr::V4(a)) => net.to_ipv4_mapped() == Some(a) && self.prefix == 128,
            (IpAddr::V4(net), IpAddr::V6(a)) => a
                .to_ipv4_mapped()
                .is_some_and(|m| prefix_eq(u32::from(net) as u128, u32::from(m) as u128, self.prefix, 32)),
        }
    }

    pub fn contains_text(&self, addr: &str) -> bool {
        addr.parse().is_ok_and(|a| self.contains(a))
    }

    /// A text prefix every address in the range starts with, when the range falls on whole
    /// IPv4 octets (`10.1.0.0/16` → `10.1.`): lets a scan skip lines without it.
    pub fn text_prefix(&self) -> Option<String> {
        match self.network {
            IpAddr::V4(net) if self.prefix == 32 => Some(net.to_string()),
            IpAddr::V4(net) if self.prefix >= 8 && self.prefix.is_multiple_of(8) => {
                let octets = net.octets();
                let kept: Vec<String> =
                    octets[..(self.prefix / 8) as usize].iter().map(u8::to_string).collect();
                Some(format!("{}.", kept.join(".")))
            }
            IpAddr::V6(net) if self.prefix == 128 => Some(net.to_string()),
            _ => None,
        }
    }
}

fn prefix_eq(a: u128, b: u128, prefix: u8, bits: u8) -> bool {
    if prefix == 0 {
        return true;
    }
    let shift = bits - prefix.min(bits);
    (a >> shift) == (b >> shift)
}

impl FromStr for Cidr {
    type Err = String;
    fn from_str(text: &str) -> Result<Cidr, String> {
        let (addr, prefix) = match text.split_once('/') {
            Some((a, p)) => (a, Some(p)),
            None => (text, None),
        };
        let network: IpAddr = addr
            .parse()
            .map_err(|_| format!("{addr:?} is not an IP address (examples: 10.0.0.7, 10.0.0.0/8)"))?;
        let max = if network.is_ipv4() { 32 } else { 128 };
        let prefix = match prefix {
            None => max,
            Some(p) => p
                .parse::<u8>()
                .ok()
                .filter(|p| *p <= max)
                .ok_or_else(|| format!("prefix length {p:?} must be a number from 0 to {max}"))?,
        };
        Ok(Cidr { network, prefix })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn globs_match_like_a_shell() {
        assert!(Glob::new("system:serviceaccount:*").matches("system:serviceaccount:ns:sa"));
        assert!(!Glob::new("system:serviceaccount:*").matches("system:node:n1"));
        assert!(Glob::new("a*b*c").matches("aXXbYYc"));
        assert!(!Glob::new("a*b*c").matches("aXXbYY"));
        assert!(Glob::new("?at").matches("cat"));
        assert!(Glob::new("lit\\*").matches("lit*"));
        assert!(!Glob::new("lit\\*").matches("litX"));
        assert!(Glob::new("*").matches(""));
        assert!(Glob::case_insensitive("KubeCtl*").matches("kubectl/v1.30"));
        assert_eq!(Glob::new("system:*:sa").longest_literal(), "system:");
    }

    #[test]
    fn cidrs_contain_their_addresses() {
        let net: Cidr = "10.1.0.0/16".parse().unwrap();
        assert!(net.contains_text("10.1.200.3"));
        assert!(!net.contains_text("10.2.0.1"));
        assert!(!net.contains_text("not-an-ip"));
        assert_eq!(net.text_prefix().as_deref(), Some("10.1."));
        let one: Cidr = "192.168.1.5".parse().unwrap();
        assert!(one.contains_text("192.168.1.5") && !one.contains_text("192.168.1.6"));
        let v6: Cidr = "2001:db8::/32".parse().unwrap();
        assert!(v6.contains_text("2001:db8::1") && !v6.contains_text("2001:db9::1"));
        assert!("0.0.0.0/0".parse::<Cidr>().unwrap().contains_text("8.8.8.8"));
        assert!("10.0.0.0/33".parse::<Cidr>().unwrap_err().contains("0 to 32"));
        assert!("ten".parse::<Cidr>().unwrap_err().contains("not an IP"));
    }
}

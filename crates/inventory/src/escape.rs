//! Cluster strings made inert for each format kir writes them into.

/// Characters that move the cursor, reorder text or end a line: never written raw.
fn control(c: char) -> bool {
    c.is_control() || matches!(c, '\u{200e}' | '\u{200f}' | '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}')
}

/// What Markdown (GitHub's included: autolinks, math, strikethrough) or HTML reads inside a
/// line. `.` and `:` break `www.` and `https://` autolinks.
const MARKDOWN_SPECIAL: &str = "\\`*_{}[]()<>#+!|~&:.$";

/// `text` as literal Markdown inline text (a table cell too): the characters Markdown or HTML
/// could read are backslash-escaped, and control characters are written as `U+XXXX`, so a name
/// cannot start a link, an image, HTML, a new row or a new line.
pub fn markdown_text(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        if control(c) {
            out.push_str(&format!("U+{:04X}", c as u32));
        } else if MARKDOWN_SPECIAL.contains(c) {
            out.push('\\');
            out.push(c);
        } else {
            out.push(c);
        }
    }
    out
}

/// `text` as the inside of a DOT double-quoted string: quotes and backslashes escaped (so `\N`
/// and friends stay literal), control characters written as `U+XXXX` (a newline would end the
/// line, not the string, but nothing hostile needs to be kept raw).
pub fn dot_string(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            c if control(c) => out.push_str(&format!("U+{:04X}", c as u32)),
            c => out.push(c),
        }
    }
    out
}

/// `text` as XML character data or an attribute value: the five special characters as entities,
/// and characters XML 1.0 does not allow (or that are controls) written as `U+XXXX`.
pub fn xml_text(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&apos;"),
            c if control(c) || matches!(c, '\u{fffe}' | '\u{ffff}') => {
                out.push_str(&format!("U+{:04X}", c as u32))
            }
            c => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    /// Where a DOT string that starts at `text[0] == '"'` ends, honouring backslash escapes; and
    /// whether a raw newline came before.
    fn dot_string_end(text: &str) -> Option<usize> {
        let mut escaped = false;
        for (i, c) in text.char_indices().skip(1) {
            match c {
                '\n' | '\r' => return None,
                _ if escaped => escaped = false,
                '\\' => escaped = true,
                '"' => return Some(i),
                _ => {}
            }
        }
        None
    }

    #[test]
    fn examples() {
        assert_eq!(markdown_text("a|b [x](y) <img>"), "a\\|b \\[x\\]\\(y\\) \\<img\\>");
        assert_eq!(markdown_text("a\nb"), "aU+000Ab");
        assert_eq!(dot_string("a\"b\\N\n"), "a\\\"b\\\\NU+000A");
        assert_eq!(xml_text("<a href='x'>&</a>\u{1b}"), "&lt;a href=&apos;x&apos;&gt;&amp;&lt;/a&gt;U+001B");
    }

    proptest! {
        #[test]
        fn a_hostile_name_never_leaves_its_dot_string(name in any::<String>()) {
            let line = format!("\"{}\" -> x;", dot_string(&name));
            let end = dot_string_end(&line);
            prop_assert_eq!(end, Some(line.len() - " -> x;".len() - 1), "{:?}", line);
        }

        #[test]
        fn a_hostile_name_never_leaves_its_xml_text(name in any::<String>()) {
            let text = xml_text(&name);
            prop_assert!(!text.contains('<') && !text.contains('>') && !text.contains('"') && !text.contains('\''));
            for (i, _) in text.match_indices('&') {
                let rest = &text[i..];
                prop_assert!(
                    ["&amp;", "&lt;", "&gt;", "&quot;", "&apos;"].iter().any(|e| rest.starts_with(e)),
                    "{:?}", text
                );
            }
            prop_assert!(!text.chars().any(|c| c.is_control()));
        }

        #[test]
        fn a_hostile_name_is_one_markdown_cell(name in any::<String>()) {
            let text = markdown_text(&name);
            let unescaped_pipe = text.match_indices('|').any(|(i, _)| !text[..i].ends_with('\\'));
            prop_assert!(!unescaped_pipe && !text.contains('\n'), "{:?}", text);
        }
    }
}

//! Text from a case, made safe for the format it lands in. A case is hostile input: a pod name,
//! an event message or a journal field may hold markup, control characters or text-reordering
//! Unicode, and none of it may act as anything but text.

/// The longest text from the case a report shows in one place.
pub const MAX_TEXT: usize = 1000;

/// Characters that would act on a terminal or reorder text on screen: C0, DEL, C1 (newlines
/// and tabs too, so one field stays on one line) and the bidirectional controls.
fn acts(c: char) -> bool {
    c.is_control() || matches!(c, '\u{200e}' | '\u{200f}' | '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}')
}

/// `text` cut to [`MAX_TEXT`] characters (an ellipsis says so), each control character written
/// as a visible escape (`\u{1b}`).
pub fn visible(text: &str) -> String {
    let mut shown = String::with_capacity(text.len().min(MAX_TEXT * 4));
    for (count, c) in text.chars().enumerate() {
        if count == MAX_TEXT {
            shown.push('…');
            break;
        }
        if acts(c) {
            shown.push_str(&c.escape_unicode().to_string());
        } else {
            shown.push(c);
        }
    }
    shown
}

/// `text` as HTML text or attribute value content: [`visible`], with `& < > " '` as entities.
pub fn html(text: &str) -> String {
    let shown = visible(text);
    let mut escaped = String::with_capacity(shown.len() + 16);
    for c in shown.chars() {
        match c {
            '&' => escaped.push_str("&amp;"),
            '<' => escaped.push_str("&lt;"),
            '>' => escaped.push_str("&gt;"),
            '"' => escaped.push_str("&quot;"),
            '\'' => escaped.push_str("&#39;"),
            c => escaped.push(c),
        }
    }
    escaped
}

/// `text` as Markdown inline text, also inside a table cell: [`visible`] (so on one line), with
/// every character that could start markup, a link, raw HTML, an entity or a cell border
/// escaped by a backslash (CommonMark lets any ASCII punctuation be escaped so).
pub fn markdown(text: &str) -> String {
    let shown = visible(text);
    let mut escaped = String::with_capacity(shown.len() + 16);
    for c in shown.chars() {
        if matches!(c, '\\' | '`' | '*' | '_' | '[' | ']' | '<' | '>' | '&' | '|' | '~' | '#' | '!') {
            escaped.push('\\');
        }
        escaped.push(c);
    }
    escaped
}

/// `text` fit for one YAML comment line: [`visible`], so no newline can end the comment.
pub fn yaml_comment(text: &str) -> String {
    visible(text)
}

/// Whether `text` is a SHA-256 in lower-case hex (safe to show as code).
pub fn is_sha256(text: &str) -> bool {
    text.len() == 64 && text.bytes().all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
}

#[cfg(test)]
mod tests {
    use super::*;

    const HOSTILE: &str =
        "<script>alert('x')</script> & \"q\" | `code` [link](javascript:x) \u{1b}]0;t\u{7}\nnext\u{202e}";

    #[test]
    fn html_text_has_no_markup_left() {
        let escaped = html(HOSTILE);
        for raw in ['<', '>', '"', '\'', '\n', '\u{1b}', '\u{202e}'] {
            assert!(!escaped.contains(raw), "{raw:?} in {escaped}");
        }
        assert!(
            escaped.starts_with("&lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt; &amp; &quot;q&quot;"),
            "{escaped}"
        );
        assert!(escaped.contains("\\u{1b}") && escaped.contains("\\u{202e}"), "{escaped}");
    }

    #[test]
    fn markdown_text_stays_in_its_cell_and_makes_no_markup() {
        let escaped = markdown(HOSTILE);
        assert!(!escaped.contains('\n'), "{escaped}");
        assert!(escaped.contains("\\| \\`code\\` \\[link\\](javascript:x)"), "{escaped}");
        assert!(escaped.starts_with("\\<script\\>"), "{escaped}");
        // Every pipe is escaped: none ends a table cell.
        let unescaped_pipes =
            escaped.match_indices('|').filter(|(i, _)| !escaped[..*i].ends_with('\\')).count();
        assert_eq!(unescaped_pipes, 0, "{escaped}");
    }

    #[test]
    fn long_text_is_cut() {
        let long = "a".repeat(MAX_TEXT * 3);
        let shown = visible(&long);
        assert_eq!(shown.chars().count(), MAX_TEXT + 1);
        assert!(shown.ends_with('…'));
    }

    #[test]
    fn yaml_comments_stay_on_one_line() {
        assert_eq!(yaml_comment("a\nkind: Secret"), "a\\u{a}kind: Secret");
    }
}

//! Rendering results: tables for people, JSON and YAML for scripts.

use std::io::Write;

use std::{borrow::Cow, sync::OnceLock};

use comfy_table::{Cell, ContentArrangement, Table, presets::NOTHING};
use serde::Serialize;

/// Write `value` as pretty JSON to stdout. Characters a terminal would act on are written as
/// `\uXXXX` escapes inside the strings (see [`sanitize_json`]): the JSON says the same, and a
/// `cat` of it is harmless.
pub fn print_json<T: Serialize>(value: &T) -> anyhow::Result<()> {
    let text = serde_json::to_string_pretty(value)?;
    let mut out = std::io::stdout().lock();
    writeln!(out, "{}", sanitize_json(&text))?;
    Ok(())
}

/// Write `value` as YAML to stdout, every string (keys too) passed through [`sanitize`].
pub fn print_yaml<T: Serialize>(value: &T) -> anyhow::Result<()> {
    let text = serde_saphyr::to_string(&sanitized_value(serde_json::to_value(value)?))?;
    let mut out = std::io::stdout().lock();
    out.write_all(text.as_bytes())?;
    if !text.ends_with('\n') {
        writeln!(out)?;
    }
    Ok(())
}

/// The width tables are fitted to: `None` prints them whole (`-o wide`, or stdout is not a
/// terminal and COLUMNS is not set).
static TABLE_WIDTH: OnceLock<Option<u16>> = OnceLock::new();

/// Decide once, before anything is printed, how wide tables may be: `COLUMNS` when set (as `ls`
/// reads it), else the terminal's width when stdout is one; never with `-o wide`.
pub fn fit_tables(wide: bool) {
    let columns =
        std::env::var("COLUMNS").ok().and_then(|c| c.trim().parse::<u16>().ok()).filter(|&c| c >= 20);
    let terminal = || terminal_size::terminal_size_of(std::io::stdout()).map(|(width, _)| width.0);
    let _ = TABLE_WIDTH.set(if wide { None } else { columns.or_else(terminal) });
}

/// A borderless table in kubectl's style: upper-case headers, columns separated by spaces,
/// long cells wrapped to fit the width [`fit_tables`] chose.
pub fn table(headers: &[&str]) -> Table {
    let mut table = Table::new();
    table.load_style(NOTHING);
    match TABLE_WIDTH.get().copied().flatten() {
        Some(width) => table.set_content_arrangement(ContentArrangement::Dynamic).set_width(width),
        None => table.set_content_arrangement(ContentArrangement::Disabled),
    };
    table.set_header(headers.iter().map(|h| Cell::new(h.to_uppercase())));
    for column in table.column_iter_mut() {
        column.set_padding((0, 2));
    }
    table
}

/// Aligned `key  value` lines, without a header row.
pub fn print_key_values(rows: &[(&str, String)]) -> anyhow::Result<()> {
    let mut table = Table::new();
    table.load_style(NOTHING).set_content_arrangement(ContentArrangement::Disabled);
    for (key, value) in rows {
        table.add_row(vec![Cell::new(key), Cell::new(value)]);
    }
    for column in table.column_iter_mut() {
        column.set_padding((0, 2));
    }
    print_table(&table)
}

/// Print a table, with trailing spaces removed and control characters escaped (cells hold
/// what hostile sources wrote: object names, user agents, command lines).
pub fn print_table(table: &Table) -> anyhow::Result<()> {
    let mut out = std::io::stdout().lock();
    for line in table.lines() {
        writeln!(out, "{}", sanitize(line.trim_end()))?;
    }
    Ok(())
}

/// Control characters (C0, DEL, C1) and the Unicode controls that reorder text on screen.
fn unsafe_char(c: char) -> bool {
    c.is_control() || matches!(c, '\u{200e}' | '\u{200f}' | '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}')
}

/// `text` fit for a terminal: control characters (C0, DEL, C1; newlines kept) and the Unicode
/// controls that reorder text on screen are shown escaped (`\u{1b}`), so nothing in the text
/// can move the cursor, retitle the window, reach the clipboard or hide a line.
pub fn sanitize(text: &str) -> Cow<'_, str> {
    let unsafe_char = |c: char| unsafe_char(c) && c != '\n';
    if !text.chars().any(unsafe_char) {
        return Cow::Borrowed(text);
    }
    let mut safe = String::with_capacity(text.len() + 16);
    for c in text.chars() {
        if unsafe_char(c) {
            safe.push_str(&c.escape_unicode().to_string());
        } else {
            safe.push(c);
        }
    }
    Cow::Owned(safe)
}

/// A JSON value with every string and key passed through [`sanitize`].
fn sanitized_value(value: serde_json::Value) -> serde_json::Value {
    use serde_json::Value;
    match value {
        Value::String(text) => Value::String(sanitize(&text).into_owned()),
        Value::Array(items) => Value::Array(items.into_iter().map(sanitized_value).collect()),
        Value::Object(map) => Value::Object(
            map.into_iter().map(|(k, v)| (sanitize(&k).into_owned(), sanitized_value(v))).collect(),
        ),
        other => other,
    }
}

/// JSON text fit for a terminal and still the same JSON: what [`sanitize`] escapes is written
/// as a JSON escape (`\u009b`), which reads back as the same string. In valid JSON those
/// characters stand only inside strings (elsewhere they would make it invalid), so nothing else
/// changes; the whitespace between values (tab, newline, carriage return) is kept.
pub fn sanitize_json(text: &str) -> Cow<'_, str> {
    let unsafe_char = |c: char| !matches!(c, '\t' | '\n' | '\r') && unsafe_char(c);
    // Every such character is below 0x20, DEL, or starts with byte 0xc2 (C1) or 0xe2 (the
    // bidirectional controls) in UTF-8: most lines are passed over at byte speed.
    let suspect = |b: &u8| *b < 0x20 || matches!(*b, 0x7f | 0xc2 | 0xe2);
    if !text.as_bytes().iter().any(suspect) || !text.chars().any(unsafe_char) {
        return Cow::Borrowed(text);
    }
    let mut safe = String::with_capacity(text.len() + 16);
    for c in text.chars() {
        if unsafe_char(c) {
            safe.push_str(&format!("\\u{:04x}", u32::from(c)));
        } else {
            safe.push(c);
        }
    }
    Cow::Owned(safe)
}

/// A yes/no cell.
pub fn yes_no(value: bool) -> Cell {
    Cell::new(if value { "yes" } else { "no" })
}

#[cfg(test)]
mod tests {
    use super::{sanitize, sanitize_json};

    #[test]
    fn json_strings_carry_no_raw_terminal_controls_and_read_back_the_same() {
        let hostile = serde_json::json!({
            "pod\u{1b}]0;x\u{7}": ["evil\u{202e}txt.exe", "c1\u{9b}31m", "del\u{7f}", "plain é 😀", "nl\nq\"b\\"],
        });
        let text = sanitize_json(&serde_json::to_string_pretty(&hostile).unwrap()).into_owned();
        assert!(
            !text
                .chars()
                .any(|c| (c.is_control() && c != '\n' && c != ' ') || ('\u{202a}'..='\u{202e}').contains(&c)),
            "{text:?}"
        );
        assert!(text.contains("\\u202e") && text.contains("\\u009b") && text.contains("😀"), "{text}");
        assert_eq!(serde_json::from_str::<serde_json::Value>(&text).unwrap(), hostile);
    }

    #[test]
    fn raw_json_lines_keep_their_values_and_lose_their_controls() {
        let value =
            serde_json::json!({"user": "evil\u{9b}31m\u{202e}txt\u{7f}", "plain": "web-7d9f", "n": 1});
        let text = serde_json::to_string_pretty(&value).unwrap();
        assert!(text.contains('\u{9b}'), "serde_json writes them raw");
        let safe = sanitize_json(&text);
        assert!(!safe.chars().any(|c| c.is_control() && c != '\n' || c == '\u{202e}'), "{safe}");
        assert!(safe.contains("evil\\u009b31m\\u202etxt\\u007f"), "{safe}");
        assert_eq!(serde_json::from_str::<serde_json::Value>(&safe).unwrap(), value, "the same JSON");
        let line = r#"{"a":"b",	"c":"d"}"#;
        assert_eq!(sanitize_json(line), line, "whitespace between values stays");
    }

    #[test]
    fn control_characters_are_escaped_and_newlines_kept() {
        assert_eq!(sanitize("web-7d9f"), "web-7d9f");
        assert_eq!(sanitize("x\u{1b}]0;pwn\u{7}"), "x\\u{1b}]0;pwn\\u{7}");
        assert_eq!(sanitize("a\u{9b}b\u{7f}"), "a\\u{9b}b\\u{7f}");
        assert_eq!(sanitize("evil\u{202e}txt.exe"), "evil\\u{202e}txt.exe");
        assert_eq!(sanitize("line one\nline two"), "line one\nline two");
        assert_eq!(sanitize("tab\there"), "tab\\u{9}here");
    }
}

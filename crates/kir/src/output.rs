//! Rendering results: tables for people, JSON and YAML for scripts.

use std::io::Write;

use std::borrow::Cow;

use comfy_table::{Cell, ContentArrangement, Table, presets::NOTHING};
use serde::Serialize;

/// Write `value` as pretty JSON to stdout.
pub fn print_json<T: Serialize>(value: &T) -> anyhow::Result<()> {
    let mut out = std::io::stdout().lock();
    serde_json::to_writer_pretty(&mut out, value)?;
    writeln!(out)?;
    Ok(())
}

/// Write `value` as YAML to stdout.
pub fn print_yaml<T: Serialize>(value: &T) -> anyhow::Result<()> {
    let text = serde_saphyr::to_string(value)?;
    let mut out = std::io::stdout().lock();
    out.write_all(text.as_bytes())?;
    if !text.ends_with('\n') {
        writeln!(out)?;
    }
    Ok(())
}

/// A borderless table in kubectl's style: upper-case headers, columns separated by spaces.
pub fn table(headers: &[&str]) -> Table {
    let mut table = Table::new();
    table.load_style(NOTHING).set_content_arrangement(ContentArrangement::Disabled);
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

/// `text` fit for a terminal: control characters (C0, DEL, C1; newlines kept) and the Unicode
/// controls that reorder text on screen are shown escaped (`\u{1b}`), so nothing in the text
/// can move the cursor, retitle the window, reach the clipboard or hide a line.
pub fn sanitize(text: &str) -> Cow<'_, str> {
    let unsafe_char = |c: char| {
        (c.is_control() && c != '\n')
            || matches!(c, '\u{200e}' | '\u{200f}' | '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}')
    };
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

/// A yes/no cell.
pub fn yes_no(value: bool) -> Cell {
    Cell::new(if value { "yes" } else { "no" })
}

#[cfg(test)]
mod tests {
    use super::sanitize;

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

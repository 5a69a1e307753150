//! Rendering results: tables for people, JSON and YAML for scripts.

use std::io::Write;

use comfy_table::{Cell, Color, ContentArrangement, Table, presets::NOTHING};
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

/// Print a table followed by a blank line, with trailing spaces removed.
pub fn print_table(table: &Table) -> anyhow::Result<()> {
    let mut out = std::io::stdout().lock();
    for line in table.lines() {
        writeln!(out, "{}", line.trim_end())?;
    }
    Ok(())
}

/// A yes/no cell, green or red when colour is on.
pub fn yes_no(value: bool, color: bool) -> Cell {
    let cell = Cell::new(if value { "yes" } else { "no" });
    match (color, value) {
        (false, _) => cell,
        (true, true) => cell.fg(Color::Green),
        (true, false) => cell.fg(Color::Red),
    }
}

//! Dotted key paths (`prune.final_sparsity`) in a TOML table: where `--set`, sweeps and live
//! edits write, and how a value is read back as TOML writes it.

/// Sets `key` (dotted) in a preset's table to `raw`, read as a TOML value (`0.5`, `"bap"`,
/// `[0.1, 0.2]`, `true`) or, when it is not one, as a bare string (`bap`).
pub fn set_in(table: &mut toml::Table, key: &str, raw: &str) -> Result<(), String> {
    let key = key.trim();
    if key.is_empty() {
        return Err("empty key".into());
    }
    let raw = raw.trim();
    let value = format!("v = {raw}")
        .parse::<toml::Table>()
        .ok()
        .and_then(|mut t| t.remove("v"))
        .unwrap_or_else(|| toml::Value::String(raw.to_string()));
    let parts: Vec<&str> = key.split('.').collect();
    let mut cur = table;
    for part in &parts[..parts.len() - 1] {
        let entry = cur
            .entry(part.to_string())
            .or_insert_with(|| toml::Value::Table(toml::Table::new()));
        cur = entry
            .as_table_mut()
            .ok_or_else(|| format!("`{part}` is not a section"))?;
    }
    cur.insert(parts[parts.len() - 1].to_string(), value);
    Ok(())
}

/// A `key=value` assignment (`--set`, a sweep override) applied to a preset's table.
pub fn apply_set(table: &mut toml::Table, assignment: &str) -> Result<(), String> {
    let (key, raw) = assignment
        .split_once('=')
        .ok_or_else(|| "expected key=value".to_string())?;
    set_in(table, key, raw)
}

/// The value at a dotted key of a table, as TOML writes it (`0.5`, `"bap"`).
pub fn lookup(table: &toml::Table, key: &str) -> Option<String> {
    let mut cur = table;
    let parts: Vec<&str> = key.split('.').collect();
    for p in &parts[..parts.len() - 1] {
        cur = cur.get(*p)?.as_table()?;
    }
    cur.get(parts[parts.len() - 1]).map(render)
}

/// A value as TOML writes it, except that very large and very small floats use an exponent
/// (`1e30`, not thirty-one digits; `1e-5`, not `0.00001`), which TOML reads back the same.
pub fn render(v: &toml::Value) -> String {
    match v {
        toml::Value::Float(f) if f.is_finite() && *f != 0.0 && !(1e-3..1e6).contains(&f.abs()) => {
            format!("{f:e}")
        }
        other => other.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn floats_far_from_one_use_an_exponent_and_read_back_the_same() {
        for (v, shown) in [
            (1e30, "1e30"),
            (1e-5, "1e-5"),
            (0.003, "0.003"),
            (0.5, "0.5"),
            (1.0, "1.0"),
            (250_000.0, "250000.0"),
            (2.5e6, "2.5e6"),
        ] {
            let text = render(&toml::Value::Float(v));
            assert_eq!(text, shown);
            let back: toml::Table = format!("v = {text}").parse().unwrap();
            assert_eq!(back["v"].as_float(), Some(v));
        }
    }
}

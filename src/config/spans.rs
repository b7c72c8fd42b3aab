//! Where a key is written in a TOML file, from the parser's own spans: a problem names the
//! line it is about, whatever the file's layout (`[section]` tables, dotted keys, inline
//! tables, comments that mention the key).
use toml::de::{DeTable, DeValue};

/// 1-based line of the character at byte `offset` of `text`.
pub fn line_at(text: &str, offset: usize) -> usize {
    text[..offset.min(text.len())].matches('\n').count() + 1
}

/// The 1-based line where the dotted `key` (`prune.final_sparsity`) is written, if it is.
pub fn line_of_key(text: &str, key: &str) -> Option<usize> {
    let doc = DeTable::parse(text).ok()?;
    let mut table = doc.get_ref();
    let mut parts = key.split('.').peekable();
    while let Some(part) = parts.next() {
        let (k, v) = table.iter().find(|(k, _)| k.get_ref().as_ref() == part)?;
        if parts.peek().is_none() {
            return Some(line_at(text, k.span().start));
        }
        match v.get_ref() {
            DeValue::Table(t) => table = t,
            _ => return None,
        }
    }
    None
}

/// The dotted key whose key or value holds byte `offset`: what an error at that place is
/// about. The innermost key wins.
pub fn key_at(text: &str, offset: usize) -> Option<String> {
    let doc = DeTable::parse(text).ok()?;
    let path = find(doc.get_ref(), offset)?;
    Some(path.join("."))
}

/// The path to the entry holding `offset`. A `[section]` table's span is its header only, so
/// tables are searched by their entries.
fn find(table: &DeTable, offset: usize) -> Option<Vec<String>> {
    for (k, v) in table.iter() {
        let name = k.get_ref().to_string();
        if let DeValue::Table(t) = v.get_ref() {
            if let Some(mut rest) = find(t, offset) {
                rest.insert(0, name);
                return Some(rest);
            }
        }
        if k.span().contains(&offset) || v.span().contains(&offset) {
            return Some(vec![name]);
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    const TEXT: &str = "\
schema_version = 1 # prune.final_sparsity is set below
name = \"x\"

[prune]
# final_sparsity = 0.5 (commented out)
power = 3.0
final_sparsity = 0.9

[adv]
rho = \"high\"
eval = { every = 2 }
";

    #[test]
    fn lines_come_from_the_parser_not_from_text_that_looks_alike() {
        assert_eq!(line_of_key(TEXT, "prune.final_sparsity"), Some(7));
        assert_eq!(line_of_key(TEXT, "schema_version"), Some(1));
        assert_eq!(line_of_key(TEXT, "adv.eval.every"), Some(11));
        assert_eq!(line_of_key(TEXT, "prune.frequency"), None);
        assert_eq!(line_of_key(TEXT, "train.lr"), None);
    }

    #[test]
    fn an_offset_names_the_innermost_key_holding_it() {
        let at = TEXT.find("\"high\"").unwrap() + 2;
        assert_eq!(key_at(TEXT, at).as_deref(), Some("adv.rho"));
        let at = TEXT.find("every =").unwrap();
        assert_eq!(key_at(TEXT, at).as_deref(), Some("adv.eval.every"));
        assert_eq!(key_at(TEXT, 0).as_deref(), Some("schema_version"));
    }
}

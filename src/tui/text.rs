//! Text for cells and legends: compact numbers, cutting to a width with a mark, and word
//! wrapping that agrees with ratatui's when sizing a legend before it is drawn.
use ratatui::text::Line;

/// Compact number for axes and values: `0.812`, `12.3k`, `1.2e-4`.
pub fn fmt_num(v: f64) -> String {
    let a = v.abs();
    if !v.is_finite() {
        "—".into()
    } else if a == 0.0 {
        "0".into()
    } else if a >= 1e6 {
        format!("{:.1}M", v / 1e6)
    } else if a >= 1e4 {
        format!("{:.1}k", v / 1e3)
    } else if a >= 100.0 {
        format!("{v:.0}")
    } else if a >= 0.01 {
        let s = format!("{v:.3}");
        s.trim_end_matches('0').trim_end_matches('.').to_string()
    } else {
        format!("{v:.1e}")
    }
}

/// Like [`fmt_num`] without the leading zero of a fraction (`.073`), for tight rows.
pub fn fmt_short(v: f64) -> String {
    let s = fmt_num(v);
    if let Some(rest) = s.strip_prefix("0.") {
        format!(".{rest}")
    } else if let Some(rest) = s.strip_prefix("-0.") {
        format!("-.{rest}")
    } else {
        s
    }
}

/// Cuts `text` to `width` characters, marking the cut.
pub fn clip(text: &str, width: usize) -> String {
    if text.chars().count() <= width {
        text.to_string()
    } else if width == 0 {
        String::new()
    } else {
        let mut s: String = text.chars().take(width - 1).collect();
        s.push('…');
        s
    }
}

/// Rows `line` takes when word-wrapped to `width` (no-break spaces join words), for sizing
/// legends before they are drawn.
pub fn wrapped_rows(line: &Line, width: u16) -> u16 {
    let text: String = line.spans.iter().map(|s| s.content.as_ref()).collect();
    let width = width.max(1) as usize;
    let (mut rows, mut used) = (1u16, 0usize);
    // Split on single spaces so runs of spaces count as the wrapper counts them.
    for word in text.split(' ') {
        let w = word.chars().count();
        let need = if used == 0 { w } else { used + 1 + w };
        if used > 0 && w > 0 && need > width {
            rows += 1;
            used = w;
        } else {
            used = need;
        }
    }
    rows
}

/// Greedy word wrap into at most `max_lines` lines of `width` characters.
pub fn wrap(text: &str, width: usize, max_lines: usize) -> Vec<String> {
    let mut lines: Vec<String> = Vec::new();
    let mut cur = String::new();
    for word in text.split_whitespace() {
        let len = cur.chars().count();
        if len > 0 && len + 1 + word.chars().count() > width {
            lines.push(std::mem::take(&mut cur));
        }
        if !cur.is_empty() {
            cur.push(' ');
        }
        cur.push_str(word);
    }
    if !cur.is_empty() {
        lines.push(cur);
    }
    if lines.len() > max_lines {
        lines.truncate(max_lines);
        if let Some(last) = lines.last_mut() {
            let kept: String = last.chars().take(width.saturating_sub(1)).collect();
            *last = format!("{}…", kept.trim_end());
        }
    }
    lines.into_iter().map(|l| clip(&l, width)).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_are_compact() {
        assert_eq!(fmt_num(0.0), "0");
        assert_eq!(fmt_num(0.8), "0.8");
        assert_eq!(fmt_num(0.8126), "0.813");
        assert_eq!(fmt_num(12345.0), "12.3k");
        assert_eq!(fmt_num(0.0001), "1.0e-4");
        assert_eq!(fmt_num(f64::NAN), "—");
        assert_eq!(fmt_short(0.073), ".073");
        assert_eq!(fmt_short(-0.5), "-.5");
        assert_eq!(fmt_short(12.0), "12");
    }

    #[test]
    fn wrapping_respects_width_and_lines() {
        assert_eq!(
            wrap("end step 10 is not after begin step 20", 16, 3),
            ["end step 10 is", "not after begin", "step 20"]
        );
        assert_eq!(wrap("a b c d", 3, 1), ["a…"]);
        assert_eq!(wrap("ab cd ef", 6, 1), ["ab cd…"]);
        assert_eq!(clip("abcdef", 4), "abc…");
        let legend = Line::from("━\u{a0}target  ━\u{a0}measured\u{a0}0.8");
        assert_eq!(wrapped_rows(&legend, 40), 1);
        assert_eq!(wrapped_rows(&legend, 16), 2);
        // Two spaces between items count as two.
        assert_eq!(wrapped_rows(&Line::from("aaaa  bbbb"), 10), 1);
        assert_eq!(wrapped_rows(&Line::from("aaaa  bbbbb"), 10), 2);
    }
}

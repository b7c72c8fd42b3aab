//! Text for cells and legends: compact numbers, cutting to a width with a mark, and word
//! wrapping that agrees with ratatui's when sizing a legend before it is drawn.
use ratatui::text::{Line, Span};

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

/// Whether `word` reads as a number (`0.912`, `-3`, `1e-4`, `12.3k`, `45%`): cutting one
/// would show another number, so such a word is dropped whole instead.
pub fn is_number(word: &str) -> bool {
    let w = word.trim_matches(|c: char| "()[],;:·".contains(c));
    let w = w.trim_end_matches(['%', 'k', 'M', 's']);
    !w.is_empty() && w.parse::<f64>().is_ok()
        || (w.starts_with('.') && w[1..].parse::<f64>().is_ok())
}

/// `text` in `width` characters: whole, or cut after the last word that fits with `…` after it.
/// A first word that does not fit is cut inside only when it is not a number (a path, a name);
/// a number is never cut into another number.
pub fn fit_words(text: &str, width: usize) -> String {
    if text.chars().count() <= width {
        return text.to_string();
    }
    if width == 0 {
        return String::new();
    }
    let chars: Vec<char> = text.chars().collect();
    // The last space at or before `width - 1` (the `…` takes one column).
    let cut = (1..width)
        .rev()
        .find(|&i| chars[i] == ' ' && chars[i - 1] != ' ');
    match cut {
        Some(i) => {
            let kept: String = chars[..i].iter().collect();
            format!("{}…", kept.trim_end())
        }
        None => {
            let first: String = chars.iter().take_while(|c| **c != ' ').collect();
            if is_number(&first) {
                "…".to_string()
            } else {
                clip(text, width)
            }
        }
    }
}

/// A styled line in `width` columns, cut after a word with `…` (as [`fit_words`]); each
/// kept character keeps its span's style.
pub fn fit_line<'a>(line: &Line<'a>, width: usize) -> Line<'a> {
    let text: String = line.spans.iter().map(|s| s.content.as_ref()).collect();
    if text.chars().count() <= width {
        return line.clone();
    }
    let fitted = fit_words(&text, width);
    let keep = fitted.chars().count().saturating_sub(1);
    let mut out: Vec<Span<'a>> = Vec::new();
    let mut left = keep;
    let mut last_style = line.style;
    for span in &line.spans {
        if left == 0 {
            break;
        }
        let n = span.content.chars().count();
        let take: String = span.content.chars().take(left).collect();
        left -= n.min(left);
        last_style = span.style;
        out.push(Span::styled(take, span.style));
    }
    out.push(Span::styled("…", last_style));
    Line::from(out).style(line.style)
}

/// Which of some items (pieces of a line, columns of a table) of `lens` columns each, with
/// `sep` columns between kept ones, stay in `width`: the least important (lowest
/// `priority`, the later of equals) go whole first.
pub fn keep_by_priority(lens: &[usize], priority: &[u8], sep: usize, width: usize) -> Vec<bool> {
    let mut keep: Vec<bool> = vec![true; lens.len()];
    let len = |keep: &[bool]| {
        let n = keep.iter().filter(|k| **k).count();
        let sum: usize = lens
            .iter()
            .zip(keep)
            .filter(|(_, k)| **k)
            .map(|(l, _)| l)
            .sum();
        sum + sep * n.saturating_sub(1)
    };
    while len(&keep) > width {
        let lowest = (0..lens.len())
            .filter(|i| keep[*i])
            .min_by_key(|i| (priority[*i], usize::MAX - i));
        match lowest {
            Some(i) => keep[i] = false,
            None => break,
        }
    }
    keep
}

/// Pieces of one line (`step 59`, `δ 0.096`, ...) joined by `sep`, dropping the least
/// important (lowest `priority`) whole until they fit in `width`. Pieces keep their order.
pub fn fit_pieces(pieces: &[(u8, String)], sep: &str, width: usize) -> String {
    let lens: Vec<usize> = pieces.iter().map(|p| p.1.chars().count()).collect();
    let priority: Vec<u8> = pieces.iter().map(|p| p.0).collect();
    let keep = keep_by_priority(&lens, &priority, sep.chars().count(), width);
    let joined = pieces
        .iter()
        .zip(&keep)
        .filter(|(_, k)| **k)
        .map(|(p, _)| p.1.as_str())
        .collect::<Vec<_>>()
        .join(sep);
    fit_words(&joined, width)
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

    #[test]
    fn fitting_cuts_after_whole_words_and_never_inside_a_number() {
        let msg = "exported Schedule to /home/me/runs/smoke-20261203-101617/export";
        assert_eq!(fit_words(msg, 30), "exported Schedule to…");
        assert_eq!(
            fit_words("starting a run needs a run of this window", 28),
            "starting a run needs a run…"
        );
        assert_eq!(fit_words("short", 10), "short");
        assert_eq!(fit_words("0.0007", 3), "…");
        assert_eq!(fit_words("/a/very/long/path", 8), "/a/very…");
        for n in ["0.912", "-3", "1e-4", "12.3k", "45%", ".073", "(0.5)"] {
            assert!(is_number(n), "{n}");
        }
        for w in ["flips", "δ", "step", "…"] {
            assert!(!is_number(w), "{w}");
        }
        let pieces = [
            (9, "step 59".to_string()),
            (3, "δ 0.096 (batch mean)".to_string()),
            (5, "ρ 1".to_string()),
            (8, "flips 58%".to_string()),
        ];
        assert_eq!(
            fit_pieces(&pieces, " · ", 80),
            "step 59 · δ 0.096 (batch mean) · ρ 1 · flips 58%"
        );
        assert_eq!(fit_pieces(&pieces, " · ", 30), "step 59 · ρ 1 · flips 58%");
        assert_eq!(fit_pieces(&pieces, " · ", 20), "step 59 · flips 58%");
        let line = Line::from(vec![
            Span::raw("step 5  "),
            Span::raw("error: loss became NaN"),
        ]);
        let fitted = fit_line(&line, 20);
        let text: String = fitted.spans.iter().map(|s| s.content.as_ref()).collect();
        assert_eq!(text, "step 5  error: loss…");
    }
}

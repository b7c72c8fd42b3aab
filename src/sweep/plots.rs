//! The report's SVG plots: accuracy against budget at each sparsity, and AUC against sparsity,
//! one panel per attack and per worst case, one line per method.
use std::path::{Path, PathBuf};

use anyhow::Result;
use plotters::prelude::*;

use super::report::Report;
use super::spec::num;
use crate::export::plot_err;

/// Colour of the i-th method; the same method keeps its colour in every plot.
fn colour(i: usize) -> RGBColor {
    const C: [RGBColor; 8] = [
        RGBColor(31, 119, 180),
        RGBColor(214, 39, 40),
        RGBColor(44, 160, 44),
        RGBColor(255, 127, 14),
        RGBColor(148, 103, 189),
        RGBColor(140, 86, 75),
        RGBColor(227, 119, 194),
        RGBColor(127, 127, 127),
    ];
    C[i % C.len()]
}

fn methods(r: &Report) -> Vec<String> {
    r.overall.iter().map(|o| o.method.clone()).collect()
}

/// One line per method in each attack's panel; `line(method, attack)` gives its points.
fn panels(
    path: &Path,
    title: &str,
    r: &Report,
    x_range: impl Fn(&str) -> (f64, f64),
    x_desc: impl Fn(&str) -> String,
    line: impl Fn(&str, &str) -> Vec<(f64, f64)>,
) -> Result<()> {
    let ids: Vec<&String> = r.attacks.iter().chain(&r.worst).collect();
    let n = ids.len().max(1);
    let root = SVGBackend::new(path, (380 * n as u32, 420)).into_drawing_area();
    root.fill(&WHITE).map_err(plot_err)?;
    let root = root.titled(title, ("sans-serif", 18)).map_err(plot_err)?;
    let areas = root.split_evenly((1, n));
    for (area, attack) in areas.iter().zip(ids) {
        let (lo, hi) = x_range(attack);
        let mut ch = ChartBuilder::on(area)
            .caption(attack_name(attack), ("sans-serif", 15))
            .margin(8)
            .x_label_area_size(32)
            .y_label_area_size(40)
            .build_cartesian_2d(lo..hi.max(lo + 1e-9), 0.0..1.0)
            .map_err(plot_err)?;
        ch.configure_mesh()
            .x_desc(x_desc(attack))
            .y_desc("accuracy")
            .draw()
            .map_err(plot_err)?;
        for (i, m) in methods(r).iter().enumerate() {
            let pts = line(m, attack);
            if pts.is_empty() {
                continue;
            }
            let c = colour(i);
            ch.draw_series(LineSeries::new(pts.clone(), c.stroke_width(2)))
                .map_err(plot_err)?
                .label(m.as_str())
                .legend(move |(x, y)| PathElement::new([(x, y), (x + 16, y)], c.stroke_width(2)));
            ch.draw_series(pts.iter().map(|&p| Circle::new(p, 3, c.filled())))
                .map_err(plot_err)?;
        }
        ch.configure_series_labels()
            .background_style(WHITE.mix(0.8))
            .border_style(BLACK)
            .position(SeriesLabelPosition::UpperRight)
            .draw()
            .map_err(plot_err)?;
    }
    root.present().map_err(plot_err)?;
    Ok(())
}

fn attack_name(a: &str) -> String {
    match a {
        "fgsm" => "FGSM (L-inf)".into(),
        "pgd" => "PGD (L-inf)".into(),
        "apgd" => "APGD-CE + APGD-T (L-inf)".into(),
        "deepfool" => "DeepFool-cut (RMS L2)".into(),
        "apgd-l2" => "APGD-L2 (RMS L2)".into(),
        "worst-linf" => "worst case (L-inf)".into(),
        "worst-l2" => "worst case (RMS L2)".into(),
        other => other.into(),
    }
}

/// `auc-vs-sparsity.svg` and one `robustness-s<sparsity>.svg` per sparsity.
pub fn write(r: &Report, out: &Path) -> Result<Vec<PathBuf>> {
    let mut written = Vec::new();
    if r.cells.is_empty() {
        return Ok(written);
    }
    let sparsities = r.sparsities();
    let p = out.join("auc-vs-sparsity.svg");
    let (smin, smax) = (sparsities[0], sparsities[sparsities.len() - 1]);
    let pad = ((smax - smin) * 0.05).max(0.01);
    panels(
        &p,
        "AUC of each robust-accuracy curve against final sparsity",
        r,
        |_| (smin - pad, smax + pad),
        |_| "final sparsity".into(),
        |m, a| {
            r.cells
                .iter()
                .filter(|c| c.method == m)
                .filter_map(|c| c.auc.get(a).map(|v| (c.sparsity, *v)))
                .collect()
        },
    )?;
    written.push(p);
    for s in sparsities {
        let p = out.join(format!("robustness-s{}.svg", num(s)));
        let grid_max = |a: &str| {
            r.cells
                .iter()
                .filter(|c| c.sparsity == s)
                .filter_map(|c| c.curves.get(a))
                .flat_map(|(g, _)| g.iter().copied())
                .fold(0.0, f64::max)
        };
        panels(
            &p,
            &format!("accuracy against attack budget at sparsity {}", num(s)),
            r,
            |a| (0.0, grid_max(a)),
            |a| {
                if crate::eval::is_l2(a) {
                    "δ (RMS L2)".into()
                } else {
                    "ε (L-inf)".into()
                }
            },
            |m, a| {
                r.cells
                    .iter()
                    .find(|c| c.sparsity == s && c.method == m)
                    .and_then(|c| c.curves.get(a))
                    .map(|(g, acc)| g.iter().copied().zip(acc.iter().copied()).collect())
                    .unwrap_or_default()
            },
        )?;
        written.push(p);
    }
    Ok(written)
}

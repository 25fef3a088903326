//! Charts drawn on the server as SVG (no script, no CDN): stacked bars of daily counts, one
//! bar per day, one colour per series (a class the stylesheet colours, since the CSP allows
//! no inline style). Every bar segment has a `<title>` for the pointer and for screen readers,
//! and the whole chart an accessible name. Every text that reaches the SVG is escaped here.

use std::fmt::Write;

use crate::sso::saml::metadata::escape;

/// One stacked series: its label, the stylesheet class that colours it, a count per day.
pub(super) struct Series {
    pub label: String,
    pub class: &'static str,
    pub values: Vec<u64>,
}

const WIDTH: u32 = 600;
const HEIGHT: u32 = 140;
/// Room under the bars for the first and last day's labels.
const AXIS: u32 = 16;

/// Stacked daily bars named `title`, over `days` (their labels, oldest first).
pub(super) fn stacked_bars(title: &str, days: &[String], series: &[Series]) -> String {
    let totals: Vec<u64> = (0..days.len())
        .map(|d| {
            series
                .iter()
                .map(|s| s.values.get(d).copied().unwrap_or(0))
                .sum()
        })
        .collect();
    let max = totals.iter().copied().max().unwrap_or(0).max(1);
    let plot = f64::from(HEIGHT - AXIS);
    let slot = f64::from(WIDTH) / days.len().max(1) as f64;
    let bar = (slot * 0.8).max(1.0);
    let mut svg = String::new();
    let _ = write!(
        svg,
        "<svg xmlns=\"http://www.w3.org/2000/svg\" class=\"chart\" viewBox=\"0 0 {WIDTH} {HEIGHT}\" \
         role=\"img\" aria-label=\"{}\"><title>{}</title>",
        escape(title),
        escape(title)
    );
    let _ = write!(
        svg,
        "<line class=\"axis\" x1=\"0\" y1=\"{plot}\" x2=\"{WIDTH}\" y2=\"{plot}\"/>"
    );
    for (d, day) in days.iter().enumerate() {
        let x = slot * d as f64 + (slot - bar) / 2.0;
        let mut top = plot;
        for s in series {
            let value = s.values.get(d).copied().unwrap_or(0);
            if value == 0 {
                continue;
            }
            let h = plot * value as f64 / max as f64;
            top -= h;
            let _ = write!(
                svg,
                "<rect class=\"{}\" x=\"{x:.1}\" y=\"{top:.1}\" width=\"{bar:.1}\" height=\"{h:.1}\">\
                 <title>{}: {value} {}</title></rect>",
                s.class,
                escape(day),
                escape(&s.label)
            );
        }
    }
    if let (Some(first), Some(last)) = (days.first(), days.last()) {
        let y = HEIGHT - 3;
        let _ = write!(
            svg,
            "<text x=\"0\" y=\"{y}\">{}</text><text x=\"{WIDTH}\" y=\"{y}\" text-anchor=\"end\">{}</text>",
            escape(first),
            escape(last)
        );
    }
    let _ = write!(
        svg,
        "<text x=\"0\" y=\"10\">{}</text></svg>",
        if totals.iter().all(|t| *t == 0) {
            "none".to_string()
        } else {
            format!("max {max}/day")
        }
    );
    svg
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bars_stack_to_scale_and_text_is_escaped() {
        let days = vec!["11-01".to_string(), "11-02".to_string()];
        let svg = stacked_bars(
            "Sign-ins <30 days>",
            &days,
            &[
                Series {
                    label: "ok".into(),
                    class: "s0",
                    values: vec![2, 0],
                },
                Series {
                    label: "<script>".into(),
                    class: "s1",
                    values: vec![2, 1],
                },
            ],
        );
        assert!(svg.contains("aria-label=\"Sign-ins &lt;30 days&gt;\""));
        assert!(!svg.contains("<script>"));
        assert!(svg.contains("&lt;script&gt;"));
        // The tallest day (4) fills the plot (124 px): two segments of 62 px.
        assert_eq!(svg.matches("height=\"62.0\"").count(), 2);
        // The second day's one count is a quarter of the plot.
        assert!(svg.contains("height=\"31.0\""));
        assert!(svg.contains("max 4/day"));
    }

    #[test]
    fn an_empty_chart_still_renders() {
        let svg = stacked_bars("nothing", &["d".to_string()], &[]);
        assert!(svg.starts_with("<svg") && svg.ends_with("</svg>"));
        assert!(!svg.contains("<rect"));
    }
}

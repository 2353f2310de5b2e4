//! The figures of a benchmark run, as a terminal table and as `docs/benchmarks.md`.

use std::fmt::Write as _;

/// One measured figure and, where there is one, its target.
#[derive(Debug, Clone)]
pub struct Figure {
    pub scenario: String,
    pub measure: String,
    pub value: String,
    pub target: Option<String>,
    /// Whether the target was met; `None` when there is no target.
    pub met: Option<bool>,
}

/// Everything one `sync1688 bench` run measured.
#[derive(Debug, Clone, Default)]
pub struct Report {
    pub figures: Vec<Figure>,
    /// Facts about the machine and the run: (name, value).
    pub setting: Vec<(String, String)>,
}

impl Report {
    pub fn add(&mut self, scenario: &str, measure: &str, value: impl Into<String>) {
        self.figures.push(Figure {
            scenario: scenario.into(),
            measure: measure.into(),
            value: value.into(),
            target: None,
            met: None,
        });
    }

    pub fn add_target(
        &mut self,
        scenario: &str,
        measure: &str,
        value: impl Into<String>,
        target: impl Into<String>,
        met: bool,
    ) {
        self.figures.push(Figure {
            scenario: scenario.into(),
            measure: measure.into(),
            value: value.into(),
            target: Some(target.into()),
            met: Some(met),
        });
    }

    pub fn targets_missed(&self) -> usize {
        self.figures.iter().filter(|f| f.met == Some(false)).count()
    }

    /// Fixed-width columns for a terminal.
    pub fn table(&self) -> String {
        let rows: Vec<[String; 5]> = self
            .figures
            .iter()
            .map(|f| {
                [
                    f.scenario.clone(),
                    f.measure.clone(),
                    f.value.clone(),
                    f.target.clone().unwrap_or_default(),
                    verdict(f.met).to_owned(),
                ]
            })
            .collect();
        let header = ["scenario", "measure", "value", "target", "met"].map(String::from);
        let mut widths = [0usize; 5];
        for row in std::iter::once(&header).chain(&rows) {
            for (w, cell) in widths.iter_mut().zip(row) {
                *w = (*w).max(cell.chars().count());
            }
        }
        let mut out = String::new();
        for row in std::iter::once(&header).chain(&rows) {
            let cells: Vec<String> = row
                .iter()
                .zip(widths)
                .map(|(cell, w)| format!("{cell:<w$}"))
                .collect();
            let _ = writeln!(out, "{}", cells.join("  ").trim_end());
        }
        out
    }

    /// `docs/benchmarks.md`: how to reproduce, the machine, the figures.
    pub fn markdown(&self, command: &str) -> String {
        let mut out = String::new();
        let _ = writeln!(out, "# Benchmarks\n");
        let _ = writeln!(
            out,
            "Written by `sync1688 bench --write docs/benchmarks.md`; run it again to \
             measure your own machine:\n\n```sh\n{command}\n```\n"
        );
        let _ = writeln!(
            out,
            "Each scenario runs the sandbox as a process of its own, against fresh \
             databases, and measures in the same run the baseline it is compared with. \
             Wall times include process start-up, OAuth and migrations.\n"
        );
        let _ = writeln!(
            out,
            "What the figures mean, where the time goes and what stands between them and \
             their targets: [performance.md](performance.md).\n"
        );
        let _ = writeln!(out, "## Setting\n");
        for (name, value) in &self.setting {
            let _ = writeln!(out, "- {name}: {value}");
        }
        let _ = writeln!(out, "\n## Figures\n");
        let _ = writeln!(out, "| scenario | measure | value | target | met |");
        let _ = writeln!(out, "|---|---|---|---|---|");
        for f in &self.figures {
            let _ = writeln!(
                out,
                "| {} | {} | {} | {} | {} |",
                f.scenario,
                f.measure,
                f.value.replace('|', "\\|"),
                f.target.as_deref().unwrap_or(""),
                verdict(f.met)
            );
        }
        out
    }
}

fn verdict(met: Option<bool>) -> &'static str {
    match met {
        Some(true) => "yes",
        Some(false) => "NO",
        None => "",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_table_and_the_markdown_show_every_figure_and_its_verdict() {
        let mut report = Report::default();
        report.add("cold sync", "orders", "50,000");
        report.add_target("cold sync", "÷ COPY", "0.72", "≥ 0.60", true);
        report.add_target("re-sync", "rows written", "3", "0", false);
        assert_eq!(report.targets_missed(), 1);
        let table = report.table();
        assert_eq!(table.lines().count(), 4);
        assert!(table.lines().nth(2).unwrap().ends_with("≥ 0.60  yes"));
        let md = report.markdown("cargo run --release -- bench");
        assert!(
            md.contains("| re-sync | rows written | 3 | 0 | NO |"),
            "{md}"
        );
        assert!(md.contains("cargo run --release -- bench"));
    }
}

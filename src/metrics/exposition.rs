//! The Prometheus text exposition format (version 0.0.4), written by hand: `# HELP` and
//! `# TYPE` once per family, then its samples, label values escaped. Pure: values in,
//! text out.

use std::fmt::Write as _;

/// The `Content-Type` of a scrape answer.
pub const CONTENT_TYPE: &str = "text/plain; version=0.0.4; charset=utf-8";

/// A metrics page being written.
#[derive(Debug, Default)]
pub struct Page {
    text: String,
}

/// A family's type.
#[derive(Clone, Copy, Debug)]
pub enum Kind {
    /// Only goes up (resets at restart).
    Counter,
    /// Goes up and down.
    Gauge,
    /// Buckets, sum and count.
    Histogram,
}

impl Page {
    /// Starts a family: its help line and type. Samples follow.
    pub fn family(&mut self, name: &str, kind: Kind, help: &str) -> &mut Self {
        let kind = match kind {
            Kind::Counter => "counter",
            Kind::Gauge => "gauge",
            Kind::Histogram => "histogram",
        };
        let help = help.replace('\\', "\\\\").replace('\n', "\\n");
        let _ = writeln!(self.text, "# HELP {name} {help}\n# TYPE {name} {kind}");
        self
    }

    /// One sample line: `name{labels} value`.
    pub fn sample(&mut self, name: &str, labels: &[(&str, &str)], value: f64) -> &mut Self {
        self.text.push_str(name);
        if !labels.is_empty() {
            self.text.push('{');
            for (i, (key, val)) in labels.iter().enumerate() {
                if i > 0 {
                    self.text.push(',');
                }
                let val = val
                    .replace('\\', "\\\\")
                    .replace('"', "\\\"")
                    .replace('\n', "\\n");
                let _ = write!(self.text, "{key}=\"{val}\"");
            }
            self.text.push('}');
        }
        if value.is_finite() && value.fract() == 0.0 && value.abs() < 1e15 {
            let _ = writeln!(self.text, " {}", value as i64);
        } else {
            let _ = writeln!(self.text, " {value}");
        }
        self
    }

    /// A family with a single unlabelled sample.
    pub fn single(&mut self, name: &str, kind: Kind, help: &str, value: f64) -> &mut Self {
        self.family(name, kind, help).sample(name, &[], value)
    }

    /// A histogram's samples for one label set: `counts` per bucket (not cumulative; one
    /// more than `bounds`, the last above every bound) and the sum of observations.
    pub fn histogram(
        &mut self,
        name: &str,
        labels: &[(&str, &str)],
        bounds: &[f64],
        counts: &[u64],
        sum: f64,
    ) -> &mut Self {
        let bucket = format!("{name}_bucket");
        let mut cumulative = 0u64;
        for (i, count) in counts.iter().enumerate() {
            cumulative += count;
            let le = bounds.get(i).map_or("+Inf".to_string(), |b| b.to_string());
            let mut with_le: Vec<(&str, &str)> = labels.to_vec();
            with_le.push(("le", &le));
            self.sample(&bucket, &with_le, cumulative as f64);
        }
        self.sample(&format!("{name}_sum"), labels, sum);
        self.sample(&format!("{name}_count"), labels, cumulative as f64)
    }

    /// The finished text.
    pub fn finish(self) -> String {
        self.text
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn families_samples_and_escaped_labels() {
        let mut p = Page::default();
        p.single("a_total", Kind::Counter, "An \\ a.\nb", 3.0);
        p.family("b", Kind::Gauge, "B.")
            .sample("b", &[("x", "q\"\\\n")], 0.5);
        assert_eq!(
            p.finish(),
            "# HELP a_total An \\\\ a.\\nb\n# TYPE a_total counter\na_total 3\n\
             # HELP b B.\n# TYPE b gauge\nb{x=\"q\\\"\\\\\\n\"} 0.5\n"
        );
    }

    #[test]
    fn histogram_buckets_are_cumulative_and_end_at_inf() {
        let mut p = Page::default();
        p.histogram("h", &[("e", "m")], &[0.1, 1.0], &[1, 2, 3], 9.5);
        let text = p.finish();
        assert!(text.contains("h_bucket{e=\"m\",le=\"0.1\"} 1\n"), "{text}");
        assert!(text.contains("h_bucket{e=\"m\",le=\"1\"} 3\n"), "{text}");
        assert!(text.contains("h_bucket{e=\"m\",le=\"+Inf\"} 6\n"), "{text}");
        assert!(
            text.contains("h_sum{e=\"m\"} 9.5\nh_count{e=\"m\"} 6\n"),
            "{text}"
        );
    }
}

//! Relevance judgments and the retrieval metrics scry is measured with (MRR@k, Recall@k),
//! for the evaluation harness (`scripts/eval-scry`, `examples/eval_scry.rs`). Depends on
//! nothing but std. Pure functions: parsing a judgment file and scoring a ranked list.
//!
//! A judgment file is tab-separated text (`eval/scry/*.tsv`): `#` lines are comments, except
//! `# corpus<TAB>name<TAB>version-or-path`, which names a corpus the harness must provide;
//! every other non-empty line is `id<TAB>kind<TAB>query<TAB>relevant`, where `relevant` is
//! space-separated `path:first-last` (a 1-based inclusive line range: a hit is relevant when
//! its path is equal and its line lies in the range) or bare `path` (any line of that file).
//!
//! Metrics follow the usual IR definitions (Manning, Raghavan & Schütze, *Introduction to
//! Information Retrieval*, ch. 8): the reciprocal rank of a query is `1/r` for the rank `r`
//! (1-based) of its first relevant hit among the first `k`, else 0, and MRR@k is its mean
//! over queries; the recall of a query is the share of its relevant items hit by at least
//! one of the first `k` results, and Recall@k is its mean over queries.

/// A corpus named by a `# corpus` line: its name and its version (a registry crate) or path.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Corpus {
    /// Crate name, or the corpus's short name.
    pub name: String,
    /// Crate version, or a path.
    pub source: String,
}

/// One relevant item of a query.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Relevant {
    /// Lines `first..=last` (1-based) of `path`.
    Lines {
        /// Path relative to the corpus root, `/`-separated.
        path: String,
        /// First line of the range.
        first: u64,
        /// Last line of the range (inclusive).
        last: u64,
    },
    /// Any line of `path`.
    File {
        /// Path relative to the corpus root, `/`-separated.
        path: String,
    },
}

impl Relevant {
    /// Whether a hit at `path`, `line` is this item.
    pub fn matches(&self, hit_path: &str, line: u64) -> bool {
        match self {
            Relevant::Lines { path, first, last } => {
                path == hit_path && (*first..=*last).contains(&line)
            }
            Relevant::File { path } => path == hit_path,
        }
    }

    /// The item's file.
    pub fn path(&self) -> &str {
        match self {
            Relevant::Lines { path, .. } | Relevant::File { path } => path,
        }
    }
}

/// One query with its relevant items.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Judgment {
    /// Short id (`s01`), unique in its file.
    pub id: String,
    /// `symbol`, `behaviour`, `config`, `note`, …: the group it is reported in.
    pub kind: String,
    /// The query text, as a user would type it.
    pub query: String,
    /// At least one.
    pub relevant: Vec<Relevant>,
}

/// Parses a judgment file (format: module docs). Errors: one line naming the line number
/// and what is wrong.
pub fn parse(text: &str) -> Result<(Vec<Corpus>, Vec<Judgment>), String> {
    let mut corpora = Vec::new();
    let mut judgments: Vec<Judgment> = Vec::new();
    for (i, line) in text.lines().enumerate() {
        let n = i + 1;
        if let Some(rest) = line.strip_prefix("# corpus\t") {
            let (name, source) = rest
                .split_once('\t')
                .ok_or(format!("line {n}: `# corpus` needs a name and a source"))?;
            corpora.push(Corpus {
                name: name.trim().to_string(),
                source: source.trim().to_string(),
            });
            continue;
        }
        if line.starts_with('#') || line.trim().is_empty() {
            continue;
        }
        let fields: Vec<&str> = line.split('\t').collect();
        let [id, kind, query, relevant] = fields[..] else {
            return Err(format!(
                "line {n}: expected 4 tab-separated fields, found {}",
                fields.len()
            ));
        };
        let relevant = relevant
            .split_whitespace()
            .map(|r| parse_relevant(r).ok_or(format!("line {n}: bad relevant item {r:?}")))
            .collect::<Result<Vec<_>, _>>()?;
        if relevant.is_empty() || query.trim().is_empty() {
            return Err(format!("line {n}: a query and a relevant item are needed"));
        }
        if judgments.iter().any(|j| j.id == id) {
            return Err(format!("line {n}: duplicate id {id}"));
        }
        judgments.push(Judgment {
            id: id.to_string(),
            kind: kind.to_string(),
            query: query.to_string(),
            relevant,
        });
    }
    Ok((corpora, judgments))
}

fn parse_relevant(item: &str) -> Option<Relevant> {
    let Some((path, range)) = item.rsplit_once(':') else {
        return Some(Relevant::File {
            path: item.to_string(),
        });
    };
    let (first, last) = range.split_once('-')?;
    let (first, last) = (first.parse().ok()?, last.parse().ok()?);
    (first >= 1 && first <= last).then(|| Relevant::Lines {
        path: path.to_string(),
        first,
        last,
    })
}

/// Reciprocal rank and recall of one ranked list (`(path, line)`, best first) for one
/// judgment, looking at the first `k` results.
pub fn score(judgment: &Judgment, ranked: &[(String, u64)], k: usize) -> (f64, f64) {
    let top = &ranked[..ranked.len().min(k)];
    let rr = top
        .iter()
        .position(|(p, l)| judgment.relevant.iter().any(|r| r.matches(p, *l)))
        .map_or(0.0, |i| 1.0 / (i + 1) as f64);
    let found = judgment
        .relevant
        .iter()
        .filter(|r| top.iter().any(|(p, l)| r.matches(p, *l)))
        .count();
    (rr, found as f64 / judgment.relevant.len() as f64)
}

/// MRR@k and Recall@k of a group of queries: the means of [`score`]'s two values.
/// `(0, 0)` for no queries.
pub fn mean(scores: &[(f64, f64)]) -> (f64, f64) {
    if scores.is_empty() {
        return (0.0, 0.0);
    }
    let n = scores.len() as f64;
    let (rr, rec) = scores
        .iter()
        .fold((0.0, 0.0), |(a, b), (r, c)| (a + r, b + c));
    (rr / n, rec / n)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hits(list: &[(&str, u64)]) -> Vec<(String, u64)> {
        list.iter().map(|(p, l)| (p.to_string(), *l)).collect()
    }

    #[test]
    fn mrr_and_recall_on_a_toy_example() {
        let text = "# comment\n# corpus\tdemo\t1.0\n\
                    q1\tsymbol\tfn a\ta.rs:10-20 b.rs:5-5\n\
                    q2\tnote\tnotes\tn.md\n\
                    q3\tnote\tnothing\tz.md\n";
        let (corpora, j) = parse(text).unwrap();
        assert_eq!(
            corpora,
            vec![Corpus {
                name: "demo".into(),
                source: "1.0".into()
            }]
        );
        assert_eq!(j.len(), 3);
        // q1: rank 1 is the right file at the wrong line, rank 2 is inside a.rs:10-20, and
        // b.rs:5 comes at rank 4: RR 1/2, both items found.
        let r1 = score(
            &j[0],
            &hits(&[("a.rs", 9), ("a.rs", 10), ("c.rs", 1), ("b.rs", 5)]),
            10,
        );
        assert_eq!(r1, (0.5, 1.0));
        // With k = 3, b.rs:5 is out of reach: recall 1/2, RR unchanged.
        assert_eq!(
            score(
                &j[0],
                &hits(&[("a.rs", 9), ("a.rs", 10), ("c.rs", 1), ("b.rs", 5)]),
                3
            ),
            (0.5, 0.5)
        );
        // q2: a bare path matches any line; found at rank 3.
        let r2 = score(&j[1], &hits(&[("x.md", 1), ("y.md", 1), ("n.md", 40)]), 10);
        assert!((r2.0 - 1.0 / 3.0).abs() < 1e-12 && r2.1 == 1.0);
        // q3: never found.
        let r3 = score(&j[2], &hits(&[("x.md", 1)]), 10);
        assert_eq!(r3, (0.0, 0.0));
        let (mrr, recall) = mean(&[r1, r2, r3]);
        assert!((mrr - (0.5 + 1.0 / 3.0) / 3.0).abs() < 1e-12, "{mrr}");
        assert!((recall - 2.0 / 3.0).abs() < 1e-12, "{recall}");
        assert_eq!(mean(&[]), (0.0, 0.0));
    }

    #[test]
    fn bad_lines_are_errors_naming_the_line() {
        assert!(parse("q\tsymbol\tx\n").unwrap_err().starts_with("line 1:"));
        assert!(parse("q\ts\tx\ta.rs:9-3\n").unwrap_err().contains("line 1"));
        assert!(
            parse("q\ts\tx\ta.rs\nq\ts\ty\tb.rs\n")
                .unwrap_err()
                .contains("duplicate")
        );
    }
}

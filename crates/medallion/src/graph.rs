//! The dependency graph drawn for people: Mermaid or Graphviz DOT, each
//! node with its kind (and, when known, its version and last commit), each
//! edge marked when it is a streaming read.

use std::fmt::Write;

use crate::definition::DatasetKind;
use crate::pipeline::Pipeline;
use crate::query::InputSource;

/// A node's label extras: version and age, by dataset name.
pub type Freshness = std::collections::BTreeMap<String, String>;

fn id(name: &str) -> String {
    name.chars()
        .map(|c| if c.is_alphanumeric() { c } else { '_' })
        .collect()
}

fn edges(p: &Pipeline) -> Vec<(String, String, bool)> {
    let mut out = Vec::new();
    for f in &p.flows {
        for i in &f.query().inputs {
            let from = match &i.source {
                InputSource::Dataset(d) => p.qualify(d).to_string(),
                other => other.to_string(),
            };
            out.push((from, f.target.to_string(), i.streaming));
        }
    }
    for (name, q) in &p.views {
        for i in &q.inputs {
            let from = match &i.source {
                InputSource::Dataset(d) => p.qualify(d).to_string(),
                other => other.to_string(),
            };
            out.push((from, name.to_string(), i.streaming));
        }
    }
    out.sort();
    out.dedup();
    out
}

fn kind(p: &Pipeline, name: &str) -> &'static str {
    p.datasets
        .iter()
        .find(|(n, _)| n.to_string() == name)
        .map_or("source", |(_, d)| match d.kind {
            DatasetKind::StreamingTable => "streaming table",
            DatasetKind::MaterializedView => "materialized view",
            DatasetKind::TemporaryView => "view",
        })
}

fn label(p: &Pipeline, name: &str, fresh: &Freshness) -> String {
    let mut l = format!("{name}\\n{}", kind(p, name));
    if let Some(f) = fresh.get(name) {
        l.push_str("\\n");
        l.push_str(f);
    }
    l.replace('"', "'")
}

fn nodes(p: &Pipeline) -> Vec<String> {
    let mut out: Vec<String> = p.order.iter().map(|d| d.to_string()).collect();
    for (from, _, _) in edges(p) {
        if !out.contains(&from) {
            out.insert(0, from);
        }
    }
    out
}

/// Mermaid flowchart text.
pub fn mermaid(p: &Pipeline, fresh: &Freshness) -> String {
    let mut s = String::from("flowchart LR\n");
    for n in nodes(p) {
        let l = label(p, &n, fresh).replace("\\n", "<br/>");
        let shape = match kind(p, &n) {
            "materialized view" => format!("[(\"{l}\")]"),
            "view" => format!("{{{{\"{l}\"}}}}"),
            "source" => format!("[/\"{l}\"/]"),
            _ => format!("[\"{l}\"]"),
        };
        let _ = writeln!(s, "  {}{shape}", id(&n));
    }
    for (a, b, streaming) in edges(p) {
        let arrow = if streaming { "-- stream -->" } else { "-->" };
        let _ = writeln!(s, "  {} {arrow} {}", id(&a), id(&b));
    }
    s
}

/// Graphviz DOT text.
pub fn dot(p: &Pipeline, fresh: &Freshness) -> String {
    let mut s = format!(
        "digraph \"{}\" {{\n  rankdir=LR;\n  node [fontname=\"Helvetica\"];\n",
        p.name
    );
    for n in nodes(p) {
        let shape = match kind(p, &n) {
            "materialized view" => "cylinder",
            "view" => "hexagon",
            "source" => "folder",
            _ => "box",
        };
        let _ = writeln!(
            s,
            "  {} [label=\"{}\", shape={shape}];",
            id(&n),
            label(p, &n, fresh)
        );
    }
    for (a, b, streaming) in edges(p) {
        let style = if streaming {
            " [style=bold, label=\"stream\"]"
        } else {
            ""
        };
        let _ = writeln!(s, "  {} -> {}{style};", id(&a), id(&b));
    }
    s.push_str("}\n");
    s
}

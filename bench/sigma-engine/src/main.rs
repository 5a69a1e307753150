//! Evaluate the same Sigma rules over the same audit events with kir's engine and with rsigma,
//! single-threaded, and report events per second and matches per rule for each.
//!
//! Usage: sigma-engine-bench RULES_DIR AUDIT_LOG [MAX_EVENTS]

use std::time::Instant;

use kir_detect::{
    audit::{AuditFields, AuditRecord},
    rule::{SigmaLoad, load_sigma},
};

fn main() {
    let args: Vec<String> = std::env::args().collect();
    if args.len() < 3 {
        eprintln!("usage: {} RULES_DIR AUDIT_LOG [MAX_EVENTS]", args[0]);
        std::process::exit(2);
    }
    let max: usize = args.get(3).and_then(|n| n.parse().ok()).unwrap_or(usize::MAX);
    let text = std::fs::read_to_string(&args[2]).expect("the audit log is readable UTF-8");
    let lines: Vec<&str> = text.lines().take(max).collect();
    let bytes: usize = lines.iter().map(|l| l.len() + 1).sum();

    let mut files: Vec<_> = std::fs::read_dir(&args[1]).unwrap().map(|e| e.unwrap().path()).collect();
    files.sort();
    let mut kir_rules = Vec::new();
    let mut rsigma = rsigma_eval::Engine::new();
    let mut titles = Vec::new();
    for file in &files {
        if file.extension().is_none_or(|e| e != "yml") {
            continue;
        }
        let yaml = std::fs::read_to_string(file).unwrap();
        let kir = match load_sigma(&yaml, file, &AuditFields) {
            Ok(SigmaLoad::Rule(rule)) => rule,
            _ => continue,
        };
        // Only rules both engines accept are compared.
        let collection = match rsigma_parser::parse_sigma_yaml(&yaml) {
            Ok(c) => c,
            Err(e) => {
                eprintln!("rsigma cannot parse {}: {e}", file.display());
                continue;
            }
        };
        let mut one = rsigma_eval::Engine::new();
        if let Err(e) = one.add_collection(&collection) {
            eprintln!("rsigma cannot compile {}: {e}", file.display());
            continue;
        }
        rsigma.add_collection(&collection).unwrap();
        titles.push(kir.meta.title.clone());
        kir_rules.push(*kir);
    }
    println!("{} rules both engines load; {} events, {:.1} MiB", kir_rules.len(), lines.len(), bytes as f64 / 1048576.0);

    let mut kir_counts = vec![0u64; kir_rules.len()];
    let started = Instant::now();
    for line in &lines {
        let _ = kir_audit::decode(line, &mut |event, raw, _| {
            let record = AuditRecord::new(event, raw);
            for (i, rule) in kir_rules.iter().enumerate() {
                if rule.detection.matches(&record) {
                    kir_counts[i] += 1;
                }
            }
        });
    }
    let kir_time = started.elapsed().as_secs_f64();

    let mut rsigma_counts = std::collections::HashMap::<String, u64>::new();
    let started = Instant::now();
    for line in &lines {
        let Ok(value) = serde_json::from_str::<serde_json::Value>(line) else { continue };
        let event = rsigma_eval::JsonEvent::borrow(&value);
        for m in rsigma.evaluate(&event) {
            *rsigma_counts.entry(m.header.rule_title.clone()).or_default() += 1;
        }
    }
    let rsigma_time = started.elapsed().as_secs_f64();

    let rate = |t: f64| (lines.len() as f64 / t, bytes as f64 / t / 1048576.0);
    let (kir_eps, kir_mbs) = rate(kir_time);
    let (rs_eps, rs_mbs) = rate(rsigma_time);
    println!("kir    : {kir_time:.2} s, {kir_eps:.0} events/s, {kir_mbs:.0} MiB/s (one core)");
    println!("rsigma : {rsigma_time:.2} s, {rs_eps:.0} events/s, {rs_mbs:.0} MiB/s (one core)");
    println!("{:<55} {:>10} {:>10}", "rule", "kir", "rsigma");
    for (i, title) in titles.iter().enumerate() {
        println!("{:<55} {:>10} {:>10}", title, kir_counts[i], rsigma_counts.get(title).copied().unwrap_or(0));
    }
}

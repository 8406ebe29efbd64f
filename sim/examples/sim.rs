//! `make sim`: build simulated rings of 100, 1000 and 10000 nodes, let them
//! stabilize, and print lookup hops, correctness and upkeep traffic.
//!
//! Usage: `cargo run --release -p dhtr-sim --example sim [N...] [--seed S]`

use std::time::Duration;

use dhtr_sim::chord::{Sim, SimConfig};

fn main() {
    let mut sizes = Vec::new();
    let mut seed = 7u64;
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        if a == "--seed" {
            seed = args.next().and_then(|s| s.parse().ok()).unwrap_or(seed);
        } else if let Ok(n) = a.parse::<usize>() {
            sizes.push(n);
        } else {
            eprintln!("usage: sim [N...] [--seed S]");
            std::process::exit(2);
        }
    }
    if sizes.is_empty() {
        sizes = vec![100, 1000, 10000];
    }
    println!(
        "{:>6} {:>6} {:>9} {:>8} {:>11} {:>9} {:>13} {:>10}",
        "N", "seed", "hops mean", "hops p99", "correct", "ring ok", "msgs/node/s", "wall s"
    );
    for n in sizes {
        let started = std::time::Instant::now();
        let mut cfg = SimConfig::new(n, seed);
        // Keep the build phase to ~60 virtual seconds whatever the size.
        cfg.join_spacing = Duration::from_micros((60_000_000 / n as u64).max(1));
        let mut sim = Sim::new(cfg);
        let joined = sim.build_ring(Duration::from_secs(600));
        eprintln!("N={n}: all joined at {:?} virtual, {:.1} s wall", sim.now(), started.elapsed().as_secs_f64());
        let converged = sim.run_until_consistent(Duration::from_secs(600));
        eprintln!("N={n}: ring consistent {converged:?} later, {:.1} s wall", started.elapsed().as_secs_f64());
        sim.run_for(Duration::from_secs(30));
        // Upkeep traffic over a quiet minute.
        let before = sim.stats().messages;
        let quiet = Duration::from_secs(60);
        sim.run_for(quiet);
        let per_node_s = (sim.stats().messages - before) as f64 / n as f64 / quiet.as_secs_f64();
        let ring = sim.ring_consistency();
        let check = sim.check_lookups(2000.min(n * 2));
        println!(
            "{:>6} {:>6} {:>9.2} {:>8} {:>10.2}% {:>8.1}% {:>13.1} {:>10.1}{}",
            n,
            seed,
            check.mean_hops(),
            check.p99_hops(),
            100.0 * check.correctness(),
            100.0 * ring,
            per_node_s,
            started.elapsed().as_secs_f64(),
            if joined { "" } else { "  (not all joined)" }
        );
    }
}

//! Seeded simulations of the unchanged Chord core (run by `make test`).
//!
//! A 1000-node ring must answer every sampled lookup exactly as the oracle
//! does once stabilized; after 10% of the nodes crash at once, lookups must
//! be at least 99% correct within a bounded number of stabilization rounds
//! and 100% correct after that. `DHTR_SIM_SEEDS=1,2,3` overrides the seeds.

use std::time::Duration;

use dhtr_protocol::sim::{Sim, SimConfig};
use rand::SeedableRng;
use rand::seq::index::sample;

fn seeds() -> Vec<u64> {
    std::env::var("DHTR_SIM_SEEDS")
        .ok()
        .map(|s| s.split(',').filter_map(|x| x.trim().parse().ok()).collect())
        .unwrap_or_else(|| vec![11, 23, 42])
}

fn stabilized(n: usize, seed: u64, loss: f64) -> Sim {
    let mut cfg = SimConfig::new(n, seed);
    cfg.loss = loss;
    let mut sim = Sim::new(cfg);
    assert!(sim.build_ring(Duration::from_secs(300)), "seed {seed}: every node joined");
    let took = sim.run_until_consistent(Duration::from_secs(600));
    println!("seed {seed}: N={n} loss {loss}: consistent {took:?} after the last join");
    // Successor lists fill one position per round, fingers one per tick.
    sim.run_for(Duration::from_secs(30));
    sim
}

#[test]
fn thousand_nodes_answer_every_lookup_like_the_oracle() {
    for seed in seeds() {
        let mut sim = stabilized(1000, seed, 0.0);
        assert_eq!(sim.ring_consistency(), 1.0, "seed {seed}: ring consistent");
        let check = sim.check_lookups(1000);
        println!(
            "seed {seed}: N=1000 lookups {}/{} correct, hops mean {:.2} p99 {}",
            check.correct,
            check.total,
            check.mean_hops(),
            check.p99_hops()
        );
        assert_eq!(check.correct, check.total, "seed {seed}: {} failed", check.failed);
        // Chord §6: about ½·log2(N) ≈ 5 hops; anything near N would be a bug.
        assert!(check.mean_hops() < 10.0, "seed {seed}: mean hops {}", check.mean_hops());
    }
}

#[test]
fn ring_repairs_after_ten_percent_crash_at_once() {
    let stabilize = dhtr_protocol::Config::default().stabilize_interval;
    for seed in seeds() {
        let mut sim = stabilized(1000, seed, 0.0);
        let mut rng = rand::rngs::StdRng::seed_from_u64(seed ^ 0xdead);
        for i in sample(&mut rng, 1000, 100) {
            sim.kill(i);
        }
        // Bounded repair: at least 99% correct within 30 stabilization rounds
        // (lookups themselves take virtual time, which counts).
        let crashed_at = sim.now();
        let rounds = |sim: &Sim| ((sim.now() - crashed_at).as_secs_f64() / stabilize.as_secs_f64()).round() as u32;
        let mut check = sim.check_lookups(500);
        println!(
            "seed {seed}: right after the crash (round {}): {:.2}% correct",
            rounds(&sim),
            100.0 * check.correctness()
        );
        while check.correctness() < 0.99 && rounds(&sim) < 30 {
            sim.run_for(stabilize);
            check = sim.check_lookups(500);
        }
        println!("seed {seed}: {} rounds after the crash: {:.2}% correct", rounds(&sim), 100.0 * check.correctness());
        assert!(check.correctness() >= 0.99, "seed {seed}: {check:?} after {} rounds", rounds(&sim));
        // And fully repaired after 60 more.
        sim.run_for(stabilize * 60);
        assert_eq!(sim.ring_consistency(), 1.0, "seed {seed}: ring consistent again");
        let check = sim.check_lookups(1000);
        assert_eq!(check.correct, check.total, "seed {seed}: {check:?}");
    }
}

#[test]
fn lossy_network_still_converges() {
    for seed in seeds() {
        // 1% of all messages lost: retries and stabilization absorb it.
        let mut sim = stabilized(300, seed, 0.01);
        let check = sim.check_lookups(500);
        println!(
            "seed {seed}: N=300 loss 1% → {:.2}% correct, ring {:.3}",
            100.0 * check.correctness(),
            sim.ring_consistency()
        );
        assert!(check.correctness() >= 0.99, "seed {seed}: {check:?}");
    }
}

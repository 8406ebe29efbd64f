//! Seeded simulations of the unchanged Chord core (run by `make test`).
//!
//! A 1000-node ring must answer every sampled lookup exactly as the oracle
//! does once stabilized; after 10% of the nodes crash at once, lookups must
//! be at least 99% correct within a bounded number of stabilization rounds
//! and 100% correct after that. `DHTR_SIM_SEEDS=1,2,3` overrides the seeds.
//! Small rings (fixed seeds) must converge, hand over on a graceful leave
//! and forget crashed nodes.

use std::time::Duration;

use dhtr_sim::chord::{Sim, SimConfig};
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
            "seed {seed}: N=1000 lookups {}/{} correct, hops mean {:.2} p99 {}, requests mean {:.2} ({} disjoint paths)",
            check.correct,
            check.total,
            check.mean_hops(),
            check.p99_hops(),
            check.mean_messages(),
            dhtr_protocol::Config::default().lookup_paths
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

#[test]
fn small_rings_converge_and_answer_correctly() {
    for (n, seed) in [(2, 1), (3, 2), (5, 3), (16, 4), (40, 5)] {
        let mut sim = Sim::new(SimConfig::new(n, seed));
        assert!(sim.build_ring(Duration::from_secs(120)), "n={n}: all joined");
        let took = sim.run_until_consistent(Duration::from_secs(120));
        assert!(took.is_some(), "n={n}: ring never consistent: {}", sim.describe());
        // Successor lists fill one position per stabilization round.
        sim.run_for(Duration::from_secs(10));
        let check = sim.check_lookups(50);
        assert_eq!(check.correct, check.total, "n={n}: {check:?}");
    }
}

#[test]
fn graceful_leave_hands_over_neighbours() {
    let mut sim = Sim::new(SimConfig::new(12, 9));
    assert!(sim.build_ring(Duration::from_secs(60)));
    assert!(sim.run_until_consistent(Duration::from_secs(120)).is_some());
    sim.leave(3);
    // Far less than the failure-detection time: the handover does the work.
    sim.run_for(Duration::from_millis(300));
    assert_eq!(sim.ring_consistency(), 1.0);
}

#[test]
fn small_rings_forget_crashed_nodes() {
    // With fewer nodes than the successor list length, lists wrap around
    // the ring; a crashed node must not keep circulating through them.
    for (n, seed) in [(4, 21), (6, 22), (8, 23)] {
        let mut sim = Sim::new(SimConfig::new(n, seed));
        assert!(sim.build_ring(Duration::from_secs(60)));
        assert!(sim.run_until_consistent(Duration::from_secs(60)).is_some());
        sim.run_for(Duration::from_secs(10));
        sim.kill(1);
        if n > 4 {
            sim.kill(3);
        }
        let took = sim.run_until_consistent(Duration::from_secs(60));
        assert!(took.is_some(), "n={n}: ring not repaired: {}", sim.describe());
        sim.run_for(Duration::from_secs(10));
        let check = sim.check_lookups(50);
        assert_eq!(check.correct, check.total, "n={n}: {:?}", check.mismatches);
    }
}

#[test]
fn a_seed_replays_the_same_run() {
    // Everything — ids, latencies, losses, crashes, lookups — follows from
    // the seed: two runs are indistinguishable.
    let run = |seed| {
        let mut cfg = SimConfig::new(60, seed);
        cfg.loss = 0.02;
        let mut sim = Sim::new(cfg);
        sim.build_ring(Duration::from_secs(60));
        sim.run_for(Duration::from_secs(20));
        sim.kill(7);
        sim.kill(30);
        sim.run_for(Duration::from_secs(5));
        let check = sim.check_lookups(100);
        (sim.stats(), sim.describe(), check.hops, check.correct, sim.now())
    };
    assert_eq!(run(5), run(5));
    assert_ne!(run(5).1, run(6).1);
}

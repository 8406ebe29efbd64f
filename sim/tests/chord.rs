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

/// Colluding lookup liars on the ring (issue 9, part 4): a fraction of the
/// nodes, at the random positions their work gave them, answer every
/// lookup with the colluders closest after the key and confirm each other
/// to everyone but their real predecessors. Honest nodes' lookups are
/// compared with the oracle's committee (the first four successors).
fn collusion(n: usize, fraction: f64, seed: u64, paths: usize, from_birth: bool) -> dhtr_sim::chord::LookupCheck {
    let mut cfg = SimConfig::new(n, seed);
    cfg.chord.lookup_paths = paths;
    cfg.chord.upkeep_paths = paths;
    let mut rng = rand::rngs::StdRng::seed_from_u64(seed ^ 0xc011);
    cfg.colluders = sample(&mut rng, n, (n as f64 * fraction) as usize).into_vec();
    let colluders = cfg.colluders.clone();
    let mut sim = Sim::new(cfg);
    if from_birth {
        sim.start_colluding();
    }
    let joined = sim.build_ring(Duration::from_secs(300));
    let unjoined = sim.unjoined();
    let honest_unjoined = unjoined.iter().filter(|i| !colluders.contains(i)).count();
    if !joined {
        println!("seed {seed}: {} nodes never joined, {honest_unjoined} of them honest", unjoined.len());
    }
    let took = sim.run_until_consistent(Duration::from_secs(600));
    sim.run_for(Duration::from_secs(30));
    if !from_birth {
        sim.start_colluding();
        // Long enough for every finger to be refreshed under attack.
        sim.run_for(Duration::from_secs(300));
    }
    println!("seed {seed}: consistent after {took:?}, consistency now {:.3}", sim.ring_consistency());
    sim.take_refusals();
    let check = sim.check_lookups(1000);
    println!("refused during the checked lookups: {:?}", sim.take_refusals());
    let c = check.captured;
    println!(
        "N={n} colluders {:.0}% (from birth: {from_birth}) paths {paths} seed {seed}: committees correct {}/{} ({} failed), requests mean {:.1}; \
         committees with ≥f+1 colluders {} (chance {}), ≥2f+1 {} (chance {})",
        fraction * 100.0,
        check.committee_correct,
        check.total,
        check.failed,
        check.mean_messages(),
        c.stalled,
        c.stalled_by_chance,
        c.owned,
        c.owned_by_chance
    );
    check
}

/// Report only: issue 9's bar is not met yet (`make test` runs one small
/// row, `make soak` the table). Measured 2026-12-03, N = 1000, seed 11,
/// colluding from once the ring is consistent, 300 s before 1000 lookups
/// by honest nodes (committee = the first four successors; "chance" is how
/// many of the true committees hold that many colluders):
///
/// | colluders | paths | committees correct | failed | ≥f+1 (chance) | ≥2f+1 (chance) | requests |
/// |---|---|---|---|---|---|---|
/// | 10% | 1 | 555 | 192 | 274 (47) | 251 (1) | 4.2 |
/// | 10% | 3 | 760 | 113 | 153 (41) | 121 (1) | 13.7 |
/// | 20% | 1 | 288 | 70 | 677 (192) | 645 (27) | 3.5 |
/// | 20% | 3 | 359 | 69 | 622 (202) | 575 (29) | 11.1 |
///
/// (Before the density test and the second successor's vouching, the same
/// rows read 526/431, 716/219, 277/710 and 373/600: correct/≥2f+1.)
///
/// Three disjoint paths and the cross-check halve the captures at 10%, but
/// colluders that answer every lookup, upkeep included, end up in the
/// honest nodes' fingers, so most paths start at one. An earlier density
/// test (refuse a confirmed list whose mean gap exceeds 3× the reader's
/// own list's) brought captures to chance at 10% but failed 15–22% of
/// lookups and 2% of honest ones. The one shipped
/// (`protocol/src/chord/density.rs`) compares with the densest list a
/// lookup saw and allows 10 + 10/len: it refuses identities spread over
/// the ring, not these colluders (5–10× sparser than the ring at 10–20%):
/// captures at 10% fell from 219 to 121, failures rose from 65 to 113.
/// Colluding from the ring's birth, the ring never forms (consistency
/// 0.05): joins through colluders take their lists.
#[test]
fn colluding_lookup_liars_table() {
    let soak = std::env::var_os("DHTR_SOAK").is_some();
    let rows: &[(usize, f64, usize)] =
        if soak { &[(1000, 0.1, 1), (1000, 0.1, 3), (1000, 0.2, 1), (1000, 0.2, 3)] } else { &[(300, 0.1, 3)] };
    for &(n, fraction, paths) in rows {
        let check = collusion(n, fraction, 11, paths, false);
        assert!(check.total > 0);
    }
}

//! Unit tests of the kit: determinism, the network's rates, partitions and
//! the adversary hook.

use std::time::Duration;

use rand::Rng;

use super::*;

fn ms(n: u64) -> Duration {
    Duration::from_millis(n)
}

/// A gossip model over the kit: every delivered message makes its receiver
/// send one on to a random node, until `until`. Returns every delivery.
fn trace(seed: u64, cfg: NetConfig, nodes: usize, until: Duration) -> (Vec<(Duration, Envelope<u32>)>, NetStats) {
    let mut kit: Kit<Envelope<u32>> = Kit::new(seed);
    let mut net = Net::new(cfg);
    for i in 0..nodes {
        let to = kit.rng.random_range(0..nodes);
        kit.send(&mut net, &mut Passthrough, Envelope::new(i, to, 0), |e| e);
    }
    let mut out = Vec::new();
    while let Some(env) = kit.next(until) {
        out.push((kit.now(), env.clone()));
        let to = kit.rng.random_range(0..nodes);
        kit.send(&mut net, &mut Passthrough, Envelope::new(env.to, to, env.msg + 1), |e| e);
    }
    kit.finish(until);
    assert_eq!(kit.now(), until);
    (out, net.stats)
}

fn faulty() -> NetConfig {
    NetConfig { loss: 0.05, duplicate: 0.05, reorder: 0.1, reorder_delay: ms(200), ..NetConfig::latency(ms(1), ms(50)) }
}

#[test]
fn same_seed_same_trace_other_seed_other_trace() {
    let (a, sa) = trace(7, faulty(), 20, Duration::from_secs(5));
    let (b, sb) = trace(7, faulty(), 20, Duration::from_secs(5));
    let (c, _) = trace(8, faulty(), 20, Duration::from_secs(5));
    assert!(a.len() > 100, "the model made traffic: {}", a.len());
    assert_eq!(a, b);
    assert_eq!(sa, sb);
    assert_ne!(a, c);
    // Deliveries come out in time order.
    assert!(a.windows(2).all(|w| w[0].0 <= w[1].0));
}

#[test]
fn events_at_one_instant_come_out_in_schedule_order() {
    let mut kit: Kit<u32> = Kit::new(1);
    for k in 0..100 {
        kit.schedule(ms(10 - (k % 3) as u64), k);
    }
    let got: Vec<u32> = std::iter::from_fn(|| kit.next(ms(10))).collect();
    let mut want: Vec<u32> = (0..100).collect();
    want.sort_by_key(|k| (10 - (k % 3), *k));
    assert_eq!(got, want);
    assert_eq!(kit.now(), ms(10));
    assert!(kit.next(Duration::from_secs(1)).is_none());
}

#[test]
fn a_probability_of_zero_draws_nothing() {
    // Turning a fault on at zero must not change what a seed does.
    let lossless = NetConfig::latency(ms(1), ms(50));
    let (a, _) = trace(3, lossless.clone(), 10, Duration::from_secs(2));
    let zero = NetConfig { loss: 0.0, duplicate: 0.0, reorder: 0.0, reorder_delay: ms(100), ..lossless };
    let (b, _) = trace(3, zero, 10, Duration::from_secs(2));
    assert_eq!(a, b);
}

#[test]
fn loss_and_duplication_rates_are_as_configured() {
    let cfg = NetConfig { loss: 0.2, duplicate: 0.1, ..NetConfig::latency(ms(1), ms(10)) };
    let mut kit: Kit<Envelope<u32>> = Kit::new(11);
    let mut net = Net::new(cfg);
    let n = 20_000;
    for k in 0..n {
        kit.send(&mut net, &mut Passthrough, Envelope::new(k as usize % 5, 5, k), |e| e);
    }
    let s = net.stats;
    assert_eq!(s.sent, n as u64);
    let lost = s.dropped as f64 / n as f64;
    let dup = s.duplicated as f64 / (n as u64 - s.dropped) as f64;
    assert!((0.18..0.22).contains(&lost), "loss rate {lost}");
    assert!((0.085..0.115).contains(&dup), "duplication rate {dup}");
    assert_eq!(s.delivered, n as u64 - s.dropped + s.duplicated);
    let arrived = std::iter::from_fn(|| kit.next(Duration::from_secs(1))).count() as u64;
    assert_eq!(arrived, s.delivered);
}

#[test]
fn latency_stays_in_range_and_reordering_adds_delay() {
    let mut kit: Kit<Envelope<u32>> = Kit::new(5);
    let mut net = Net::new(NetConfig::latency(ms(5), ms(9)));
    for k in 0..500 {
        kit.send(&mut net, &mut Passthrough, Envelope::new(0, 1, k), |e| e);
    }
    let mut times = Vec::new();
    while kit.next(Duration::from_secs(1)).is_some() {
        times.push(kit.now());
    }
    assert!(times.iter().all(|t| (ms(5)..=ms(9)).contains(t)));
    net.cfg.reorder = 1.0;
    net.cfg.reorder_delay = ms(100);
    let sent_at = kit.now();
    for k in 0..500 {
        kit.send(&mut net, &mut Passthrough, Envelope::new(0, 1, k), |e| e);
    }
    let mut order = Vec::new();
    while let Some(env) = kit.next(Duration::from_secs(2)) {
        order.push(env.msg);
        assert!(kit.now() - sent_at <= ms(109));
    }
    assert!(order.windows(2).any(|w| w[0] > w[1]), "some messages overtook others");
    assert!(kit.now() - sent_at > ms(9), "some were held back beyond the latency");
}

/// Send one message from every node to every other; who received from whom.
fn exchange(net: &mut Net<u32>, nodes: usize) -> Vec<(usize, usize)> {
    let mut kit: Kit<Envelope<u32>> = Kit::new(1);
    for a in 0..nodes {
        for b in (0..nodes).filter(|&b| b != a) {
            kit.send(net, &mut Passthrough, Envelope::new(a, b, 0), |e| e);
        }
    }
    let mut got: Vec<(usize, usize)> =
        std::iter::from_fn(|| kit.next(Duration::from_secs(1))).map(|e| (e.from, e.to)).collect();
    got.sort_unstable();
    got
}

#[test]
fn partitions_block_delivery_and_heal_restores_it() {
    let mut net: Net<u32> = Net::new(NetConfig::latency(ms(1), ms(5)));
    assert_eq!(exchange(&mut net, 4).len(), 12);

    net.cut(0, 1);
    let got = exchange(&mut net, 4);
    assert!(!got.contains(&(0, 1)) && !got.contains(&(1, 0)), "a cut works both ways");
    assert_eq!(got.len(), 10);

    net.isolate(3);
    let got = exchange(&mut net, 4);
    assert!(got.iter().all(|&(a, b)| a != 3 && b != 3));
    assert_eq!(got, vec![(0, 2), (1, 2), (2, 0), (2, 1)]);

    net.heal();
    net.partition(&[0, 1], 0..4);
    let got = exchange(&mut net, 4);
    assert_eq!(got, vec![(0, 1), (1, 0), (2, 3), (3, 2)]);

    net.set_down(2, true);
    net.heal();
    let got = exchange(&mut net, 4);
    assert_eq!(got.len(), 9, "healing does not revive a node that is down");
    assert!(got.iter().all(|&(_, b)| b != 2));
    net.set_down(2, false);
    assert_eq!(exchange(&mut net, 4).len(), 12);
    assert!(net.stats.dropped > 0);
}

/// Drops what goes to node 1, rewrites what goes to node 2, delays what goes
/// to node 3 by a second, and for every message also injects one from node
/// 3 to node 0 carrying the sum of a random draw and the message.
struct Meddler;

impl Adversary<u32> for Meddler {
    fn on_send(&mut self, env: Envelope<u32>, wire: &mut Wire<'_, u32>) {
        match env.to {
            1 => {}
            2 => wire.send(Envelope { msg: env.msg + 1000, ..env }),
            3 => wire.send(Envelope { delay: Duration::from_secs(1), ..env }),
            _ => wire.send(env),
        }
        let extra = wire.rng().random_range(0..10);
        wire.send(Envelope::new(3, 0, 5000 + extra));
    }
}

#[test]
fn the_adversary_drops_rewrites_delays_and_injects() {
    let mut kit: Kit<Envelope<u32>> = Kit::new(9);
    let mut net = Net::new(NetConfig::latency(ms(1), ms(5)));
    for to in 0..4 {
        kit.send(&mut net, &mut Meddler, Envelope::new(0, to, to as u32), |e| e);
    }
    let mut got = Vec::new();
    while let Some(env) = kit.next(Duration::from_secs(5)) {
        got.push((kit.now(), env));
    }
    let to = |n: usize| got.iter().filter(move |(_, e)| e.to == n && e.from == 0).collect::<Vec<_>>();
    assert_eq!(to(0).len(), 1);
    assert!(to(1).is_empty(), "dropped");
    assert_eq!(to(2).iter().map(|(_, e)| e.msg).collect::<Vec<_>>(), vec![1002], "rewritten");
    assert!(to(3).iter().all(|(t, _)| *t >= Duration::from_secs(1)) && to(3).len() == 1, "delayed");
    let injected: Vec<&Envelope<u32>> = got.iter().map(|(_, e)| e).filter(|e| e.from == 3).collect();
    assert_eq!(injected.len(), 4);
    assert!(injected.iter().all(|e| e.to == 0 && (5000..5010).contains(&e.msg)));
    // Rewrites and injections are messages on the network like any other.
    assert_eq!(net.stats.sent, 7);
}

#[test]
fn only_the_earliest_wake_up_fires() {
    let mut kit: Kit<(usize, u32)> = Kit::new(1);
    let mut timers = Timers::new(2);
    let base = kit.instant();
    kit.wake(&mut timers, 0, Some(base + ms(50)), (0, 1));
    kit.wake(&mut timers, 0, Some(base + ms(80)), (0, 2)); // later: not scheduled
    kit.wake(&mut timers, 0, Some(base + ms(20)), (0, 3)); // earlier: replaces
    kit.wake(&mut timers, 1, None, (1, 4));
    let mut fired = Vec::new();
    while let Some((i, tag)) = kit.next(Duration::from_secs(1)) {
        if timers.fire(i, kit.now()) {
            fired.push(tag);
        }
    }
    assert_eq!(fired, vec![3], "the stale wake-up at 50 ms is ignored");
    // A deadline in the past fires now.
    kit.wake(&mut timers, 1, Some(base), (1, 5));
    assert_eq!(kit.next(Duration::from_secs(2)), Some((1, 5)));
    assert!(timers.fire(1, kit.now()));
}

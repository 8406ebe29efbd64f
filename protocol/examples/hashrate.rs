//! How fast this machine tries identity work (to calibrate the default difficulty).
fn main() {
    let net = dhtr_protocol::NetworkTag([1; 32]);
    let peer = dhtr_protocol::PeerRef(vec![7; 38]);
    let t = std::time::Instant::now();
    let n = 4_000_000u64;
    let found = dhtr_protocol::admission::mint(&net, &peer, 255, 0, n);
    let s = t.elapsed().as_secs_f64();
    println!(
        "{found:?} {:.1} ns per try, {:.2} M tries/s; 2^28 tries = {:.0} s",
        s * 1e9 / n as f64,
        n as f64 / s / 1e6,
        (1u64 << 28) as f64 * s / n as f64
    );
}

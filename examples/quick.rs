use poolscope::pool::*;
use std::time::Instant;
fn main() {
    let n = 200_000;
    for probe in [false, true, false, true] {
        let (p, rx) = ChannelProbe::bounded(1 << 16);
        let drain = std::thread::spawn(move || { let mut c = 0u64; for _ in rx { c += 1; } c });
        let pool = if probe { ThreadPool::builder().workers(2).probe(p.clone()).build() } else { ThreadPool::new(2) };
        let t = Instant::now();
        let fs: Vec<_> = (0..n).map(|i| pool.submit(move || i).unwrap()).collect();
        for f in &fs { f.result(None).unwrap(); }
        let el = t.elapsed();
        drop(fs); drop(pool); drop(p);
        let c = drain.join().unwrap();
        println!("probe={probe} {:.0} tasks/s events={c}", n as f64 / el.as_secs_f64());
    }
}

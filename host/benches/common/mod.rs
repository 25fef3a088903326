//! What the HTTP benches share: a fixed number of calls from concurrent workers, timed one by
//! one, reported as calls per second with p50 and p99 latency.

use std::future::Future;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// How many calls, and from how many workers.
pub struct Load {
    /// Calls made one after another first (connections, caches, compiled plugins), not timed.
    pub warmup: usize,
    /// Calls timed.
    pub runs: usize,
    /// Workers calling at once.
    pub concurrency: usize,
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i]
}

/// Runs `call(i)` for i in `0..warmup` one by one, then for i in `warmup..warmup + runs` from
/// `concurrency` workers, and prints `what`'s rate and latency.
pub async fn measure<F, Fut>(what: &str, load: Load, call: F)
where
    F: Fn(usize) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = ()> + Send,
{
    let Load {
        warmup,
        runs,
        concurrency,
    } = load;
    let call = Arc::new(call);
    for i in 0..warmup {
        call(i).await;
    }
    let next = Arc::new(AtomicUsize::new(warmup));
    let began = Instant::now();
    let mut workers = Vec::new();
    for _ in 0..concurrency {
        let next = next.clone();
        let call = call.clone();
        workers.push(tokio::spawn(async move {
            let mut times = Vec::new();
            loop {
                let i = next.fetch_add(1, Ordering::Relaxed);
                if i >= warmup + runs {
                    return times;
                }
                let started = Instant::now();
                call(i).await;
                times.push(started.elapsed());
            }
        }));
    }
    let mut times = Vec::with_capacity(runs);
    for w in workers {
        times.extend(w.await.unwrap());
    }
    let elapsed = began.elapsed();
    times.sort();
    println!(
        "{what} ({concurrency} concurrent): {:.0}/s over {runs}; latency p50 {:.2} ms, p99 {:.2} ms",
        runs as f64 / elapsed.as_secs_f64(),
        percentile(&times, 0.50).as_secs_f64() * 1e3,
        percentile(&times, 0.99).as_secs_f64() * 1e3,
    );
}

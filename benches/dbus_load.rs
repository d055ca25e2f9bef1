//! Load benchmark of the D-Bus service (not a test): N concurrent clients call `Recognize` on
//! a real `skylark daemon` over a private dbus-daemon. Prints calls/s, p50/p99 latency and the
//! daemon's RSS before and after.
//!
//!     cargo bench --bench dbus_load                  # 4 clients, 100000 calls
//!     SKYLARK_BENCH_CLIENTS=8 SKYLARK_BENCH_CALLS=200000 cargo bench --bench dbus_load
//!
//! Targets (2 cores): >= 2000 calls/s, p99 < 5 ms, RSS growth < 5 MB over 100000 calls.

use std::collections::HashMap;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use zbus::OwnedVariant;

const NAME: &str = "io.skylark.Assistant1";
const PATH: &str = "/io/skylark/Assistant1";
const SENTENCES: &[&str] = &[
    "set the temperature to 22 degrees",
    "turn on the ac",
    "find a charging station nearby",
    "next song",
    "what is the meaning of life",
    "open the driver window halfway",
];

fn env_usize(key: &str, default: usize) -> usize {
    std::env::var(key)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn rss_kib(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    status
        .lines()
        .find(|l| l.starts_with("VmRSS:"))
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|v| v.parse().ok())
        .unwrap_or(0)
}

struct Kill(u32);
impl Drop for Kill {
    fn drop(&mut self) {
        let _ = Command::new("kill").arg(self.0.to_string()).status();
    }
}

/// The daemon: SIGTERM and reaped on drop.
struct Daemon(std::process::Child);
impl Drop for Daemon {
    fn drop(&mut self) {
        let _ = Command::new("kill").arg(self.0.id().to_string()).status();
        let _ = self.0.wait();
    }
}

fn main() {
    // `cargo bench` passes --bench; any other argument is ignored.
    let clients = env_usize("SKYLARK_BENCH_CLIENTS", 4).max(1);
    let calls = env_usize("SKYLARK_BENCH_CALLS", 100_000).max(clients);
    let warmup = env_usize("SKYLARK_BENCH_WARMUP", 2_000);

    let out = Command::new("dbus-daemon")
        .args(["--session", "--print-address=1", "--print-pid=1", "--fork"])
        .output()
        .expect("dbus-daemon (apt-get install dbus-daemon)");
    let text = String::from_utf8_lossy(&out.stdout).to_string();
    let mut lines = text.lines();
    let address = lines.next().expect("bus address").trim().to_string();
    let bus_pid: u32 = lines
        .next()
        .and_then(|l| l.trim().parse().ok())
        .expect("bus pid");
    let _bus = Kill(bus_pid);

    let dir = std::env::temp_dir().join(format!("skylark-bench-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    std::fs::write(dir.join("config.toml"), "[log]\nlevel = \"warn\"\n").expect("config");
    let daemon = Command::new(env!("CARGO_BIN_EXE_skylark"))
        .arg("--config")
        .arg(dir.join("config.toml"))
        .arg("daemon")
        .env("DBUS_SESSION_BUS_ADDRESS", &address)
        .env("SKYLARK_MODELS_DIR", &dir)
        .env("XDG_CONFIG_HOME", &dir)
        .env_remove("SKYLARK_LOG")
        .stdout(Stdio::null())
        .spawn()
        .expect("skylark daemon");
    let daemon_pid = daemon.id();
    let daemon = Daemon(daemon);

    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("runtime");
    rt.block_on(async move {
        let connect = || zbus::connection::Builder::address(address.as_str()).build();
        let probe = connect().await.expect("connect to the private bus");
        let dbus = zbus::fdo::DBusProxy::new(&probe).await.expect("bus proxy");
        let start = Instant::now();
        while !dbus.name_has_owner(NAME.try_into().expect("name")).await.unwrap_or(false) {
            assert!(start.elapsed() < Duration::from_secs(60), "the daemon did not start");
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        let mut conns = Vec::new();
        for _ in 0..clients {
            conns.push(connect().await.expect("client connection"));
        }
        let rss_start = rss_kib(daemon_pid);
        run(&conns, warmup).await;
        let rss_before = rss_kib(daemon_pid);
        let t0 = Instant::now();
        let mut latencies = run(&conns, calls).await;
        let elapsed = t0.elapsed();
        let rss_after = rss_kib(daemon_pid);
        latencies.sort_unstable();
        let pct = |p: f64| latencies[((latencies.len() as f64 - 1.0) * p).round() as usize];
        let us = |d: Duration| d.as_secs_f64() * 1e6;
        println!("skylark D-Bus load: {clients} clients, {calls} Recognize calls ({warmup} warm-up), {} cores", std::thread::available_parallelism().map(|n| n.get()).unwrap_or(0));
        println!("  throughput  {:.0} calls/s", calls as f64 / elapsed.as_secs_f64());
        println!("  latency     p50 {:.0} us   p99 {:.0} us   max {:.0} us", us(pct(0.50)), us(pct(0.99)), us(pct(1.0)));
        println!(
            "  daemon RSS  {} KiB at start, {} KiB after warm-up, {} KiB after {calls} calls (growth {:+} KiB)",
            rss_start,
            rss_before,
            rss_after,
            rss_after as i64 - rss_before as i64
        );
    });
    drop(daemon);
    let _ = std::fs::remove_dir_all(&dir);
}

/// `total` calls spread over the connections, each client calling in a loop; returns every
/// call's latency.
async fn run(conns: &[zbus::Connection], total: usize) -> Vec<Duration> {
    let per = total / conns.len();
    let mut tasks = Vec::new();
    for (i, conn) in conns.iter().enumerate() {
        let conn = conn.clone();
        let n = if i == 0 {
            per + total % conns.len()
        } else {
            per
        };
        tasks.push(tokio::spawn(async move {
            let options: HashMap<String, OwnedVariant> = HashMap::new();
            let mut lat = Vec::with_capacity(n);
            for k in 0..n {
                let text = SENTENCES[(i + k) % SENTENCES.len()];
                let t = Instant::now();
                let reply = conn
                    .call_method(Some(NAME), PATH, Some(NAME), "Recognize", &(text, &options))
                    .await
                    .expect("Recognize");
                let (_intent, _slots, _confidence, _source): (
                    String,
                    HashMap<String, OwnedVariant>,
                    f64,
                    String,
                ) = reply.body().deserialize().expect("reply (sa{sv}ds)");
                lat.push(t.elapsed());
            }
            lat
        }));
    }
    let mut all = Vec::with_capacity(total);
    for t in tasks {
        all.extend(t.await.expect("client task"));
    }
    all
}

//! sv2-bench: a Stratum V2 load generator built only from the SV2 reference crates (as
//! sv2-testclient), for BENCHMARKS.md (scripts/bench-sv2.ts runs it). Modes:
//!
//!   sv2-bench throughput <host:port> <pubkey> <connections> <in-flight> <warmup s> <seconds> [user]
//!     (seconds may be fractional)
//!     one standard channel per connection, each keeping <in-flight> SubmitSharesStandard
//!     with random nonces outstanding; replies per second by verdict. Prints
//!     {"event":"measuring"} and {"event":"measured"} lines at the window's edges (so
//!     ckpool-bench --sv2, which spawns this, samples the pool's CPU over that window).
//!   sv2-bench idle <host:port> <pubkey> <connections> <hold s> [user]
//!     open that many connections with one standard channel each and hold them idle.
//!
//! [user]: the channel's user_identity; `{i}` becomes the connection's index
//! (default bench.{i} / idle.{i}). Connections that fail (handshake, setup, channel
//! refused) are counted with their reason, not fatal.
//!   sv2-bench jobs <host:port> <pubkey> <seconds>
//!     a standard channel (REQUIRES_STANDARD_JOBS), an extended channel, and a connection
//!     with two standard channels in a group; the bytes on the wire of every job message.
//!
//! One JSON summary line on stdout at the end.

use binary_sv2::{Str0255, U256};
use codec_sv2::{Decrypted, Handshake, MessageFrame, NoiseDecoder, NoiseEncoder, TransportDecryptState, TransportEncryptState};
use common_messages_sv2::{Protocol, SetupConnection};
use key_utils::Secp256k1PublicKey;
use mining_sv2::*;
use noise_sv2::{Initiator, INITIATOR_EXPECTED_HANDSHAKE_MESSAGE_SIZE};
use std::collections::BTreeMap;
use std::io::{BufReader, Read, Write};
use std::net::TcpStream;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

struct Conn {
    sock: TcpStream,
    /// reads go through a buffer, so a burst of replies costs one read(2), as
    /// ckpool-bench does for V1
    reader: BufReader<TcpStream>,
    enc: TransportEncryptState,
    dec: Option<TransportDecryptState>,
    encoder: NoiseEncoder,
    decoder: NoiseDecoder,
}

struct Frame {
    msg_type: u8,
    payload: Vec<u8>,
    wire_bytes: usize,
}

impl Conn {
    fn connect(addr: &str, key: [u8; 32]) -> Conn {
        Conn::try_connect(addr, key).unwrap_or_else(|e| panic!("{e}"))
    }

    fn try_connect(addr: &str, key: [u8; 32]) -> Result<Conn, String> {
        let mut sock = TcpStream::connect(addr).map_err(|e| format!("connect: {e}"))?;
        sock.set_nodelay(true).ok();
        let (first, hs) = Handshake::initiator(Initiator::from_raw_k(key).unwrap()).step_0().unwrap();
        let mut encoder = NoiseEncoder::new();
        let first = encoder.encode_handshake(first);
        let first: &[u8] = first.as_ref();
        sock.write_all(first).map_err(|e| format!("handshake write: {e}"))?;
        let mut reply = [0u8; INITIATOR_EXPECTED_HANDSHAKE_MESSAGE_SIZE];
        sock.read_exact(&mut reply).map_err(|_| "handshake: connection closed".to_string())?;
        // the reference initiator checks the server's certificate against the authority key
        let (enc, dec) = hs.step_2(reply).map_err(|e| format!("handshake refused ({e:?})"))?.split();
        let reader = BufReader::with_capacity(64 * 1024, sock.try_clone().unwrap());
        Ok(Conn { sock, reader, enc, dec: Some(dec), encoder, decoder: NoiseDecoder::new() })
    }

    fn send<T: binary_sv2::Serialize + binary_sv2::GetSize>(&mut self, m: T, t: u8, chan: bool) {
        let b = self.frame(m, t, chan);
        self.sock.write_all(&b).unwrap();
    }

    fn frame<T: binary_sv2::Serialize + binary_sv2::GetSize>(&mut self, m: T, t: u8, chan: bool) -> Vec<u8> {
        let f = MessageFrame::from_message(m, t, 0, chan).unwrap();
        let b = self.encoder.encode_transport(f, &mut self.enc).unwrap();
        let s: &[u8] = b.as_ref();
        s.to_vec()
    }

    /// Next frame, or None on close / timeout.
    fn recv(&mut self) -> Option<Frame> {
        let mut wire = 0;
        loop {
            let buf = self.decoder.writable();
            wire += buf.len();
            if self.reader.read_exact(buf).is_err() {
                return None;
            }
            match self.decoder.next_transport_frame(self.dec.take().unwrap()).ok()? {
                Decrypted::Frame(mut f, d) => {
                    self.dec = Some(d);
                    return Some(Frame { msg_type: f.header().msg_type(), payload: f.payload().to_vec(), wire_bytes: wire });
                }
                Decrypted::Incomplete(_, d) => self.dec = Some(d),
            }
        }
    }

    fn setup(&mut self) {
        self.setup_flags(0)
    }

    /// SetupConnection with these flags (1 = REQUIRES_STANDARD_JOBS, as end devices send).
    fn setup_flags(&mut self, flags: u32) {
        let host = "127.0.0.1".to_string();
        let vendor = "sv2-bench".to_string();
        let e = String::new();
        self.send(SetupConnection {
            protocol: Protocol::MiningProtocol, min_version: 2, max_version: 2, flags,
            endpoint_host: Str0255::try_from(&host).unwrap(), endpoint_port: 3336,
            vendor: Str0255::try_from(&vendor).unwrap(), hardware_version: Str0255::try_from(&e).unwrap(),
            firmware: Str0255::try_from(&e).unwrap(), device_id: Str0255::try_from(&e).unwrap(),
        }, common_messages_sv2::MESSAGE_TYPE_SETUP_CONNECTION, false);
        let f = self.recv().expect("SetupConnection: no reply");
        assert_eq!(f.msg_type, common_messages_sv2::MESSAGE_TYPE_SETUP_CONNECTION_SUCCESS, "SetupConnection refused");
    }

    fn open(&mut self, user: &str, extended: bool) -> u32 {
        let user = user.to_string();
        let mt = [0xffu8; 32];
        if extended {
            self.send(OpenExtendedMiningChannel { request_id: 1, user_identity: Str0255::try_from(&user).unwrap(), nominal_hash_rate: 1e12, max_target: U256::new(&mt).unwrap(), min_extranonce_size: 0 }, MESSAGE_TYPE_OPEN_EXTENDED_MINING_CHANNEL, false);
        } else {
            self.send(OpenStandardMiningChannel { request_id: 1, user_identity: Str0255::try_from(&user).unwrap(), nominal_hash_rate: 1e12, max_target: U256::new(&mt).unwrap() }, MESSAGE_TYPE_OPEN_STANDARD_MINING_CHANNEL, false);
        }
        loop {
            let mut f = self.recv().expect("OpenMiningChannel: no reply");
            match f.msg_type {
                MESSAGE_TYPE_OPEN_STANDARD_MINING_CHANNEL_SUCCESS => return binary_sv2::from_bytes::<OpenStandardMiningChannelSuccess>(&mut f.payload).unwrap().channel_id,
                MESSAGE_TYPE_OPEN_EXTENDED_MINING_CHANNEL_SUCCESS => return binary_sv2::from_bytes::<OpenExtendedMiningChannelSuccess>(&mut f.payload).unwrap().channel_id,
                MESSAGE_TYPE_OPEN_MINING_CHANNEL_ERROR => {
                    let m: OpenMiningChannelError = binary_sv2::from_bytes(&mut f.payload).unwrap();
                    panic!("channel refused: {}", String::from_utf8_lossy(m.error_code.as_bytes()))
                }
                _ => {}
            }
        }
    }
}

fn rng(state: &mut u64) -> u32 {
    *state ^= *state << 13;
    *state ^= *state >> 7;
    *state ^= *state << 17;
    *state as u32
}

fn main() {
    let a: Vec<String> = std::env::args().collect();
    let mode = a[1].as_str();
    let addr = a[2].clone();
    let key: Secp256k1PublicKey = a[3].parse().expect("pubkey");
    let key = key.into_bytes();
    match mode {
        "throughput" => throughput(&addr, key, a[4].parse().unwrap(), a[5].parse().unwrap(), a[6].parse().unwrap(), a[7].parse().unwrap(), a.get(8).map_or("bench.{i}", |s| s.as_str())),
        "idle" => idle(&addr, key, a[4].parse().unwrap(), a[5].parse().unwrap(), a.get(6).map_or("idle.{i}", |s| s.as_str())),
        "jobs" => jobs(&addr, key, a[4].parse().unwrap()),
        _ => panic!("mode"),
    }
}

/// A panic's message (the setup steps above panic with the reason).
fn panic_reason(e: Box<dyn std::any::Any + Send>) -> String {
    e.downcast_ref::<String>().cloned().or_else(|| e.downcast_ref::<&str>().map(|s| s.to_string())).unwrap_or_else(|| "failed".into())
}

/// Connect, SetupConnection and open a standard channel; Err(reason) on any failure.
fn open_standard(addr: &str, key: [u8; 32], user: &str) -> Result<(Conn, u32), String> {
    let mut c = Conn::try_connect(addr, key)?;
    std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        c.setup();
        c.open(user, false)
    }))
    .map(|ch| (c, ch))
    .map_err(panic_reason)
}

fn throughput(addr: &str, key: [u8; 32], conns: usize, inflight: u32, warmup: f64, secs: f64, user: &str) {
    // failures are reported as reasons in the summary, not as panic messages on stderr
    std::panic::set_hook(Box::new(|_| {}));
    let counts: Arc<Mutex<BTreeMap<String, u64>>> = Arc::new(Mutex::new(BTreeMap::new()));
    let failures: Arc<Mutex<BTreeMap<String, u64>>> = Arc::new(Mutex::new(BTreeMap::new()));
    let measuring = Arc::new(AtomicU64::new(0));
    let ready = Arc::new(AtomicU64::new(0));
    let disconnects = Arc::new(AtomicU64::new(0));
    let start = Instant::now();
    let t0 = start + Duration::from_secs_f64(warmup);
    let t1 = t0 + Duration::from_secs_f64(secs);
    // the window's edges on stdout, for a caller sampling the pool's CPU
    let marks = std::thread::spawn(move || {
        std::thread::sleep(t0.saturating_duration_since(Instant::now()));
        println!("{{\"event\":\"measuring\"}}");
        std::io::stdout().flush().ok();
        std::thread::sleep(t1.saturating_duration_since(Instant::now()));
        println!("{{\"event\":\"measured\"}}");
        std::io::stdout().flush().ok();
    });
    let mut handles = vec![];
    for i in 0..conns {
        let counts = counts.clone();
        let failures = failures.clone();
        let measuring = measuring.clone();
        let ready = ready.clone();
        let disconnects = disconnects.clone();
        let addr = addr.to_string();
        let user = user.replace("{i}", &i.to_string());
        handles.push(std::thread::spawn(move || {
            let (mut c, ch) = match open_standard(&addr, key, &user) {
                Ok(x) => x,
                Err(e) => { *failures.lock().unwrap().entry(e).or_default() += 1; return; }
            };
            // the active job: a NewMiningJob for the current prevhash (min_ntime set), or a
            // future one that SetNewPrevHash activates (after a block)
            let (mut job, mut ntime, mut version) = (0u32, 0u32, 0x2000_0000u32);
            let mut future: Vec<(u32, u32)> = vec![];
            let mut on_job = |f: &mut Frame, job: &mut u32, ntime: &mut u32, version: &mut u32| match f.msg_type {
                MESSAGE_TYPE_NEW_MINING_JOB => {
                    let m: NewMiningJob = binary_sv2::from_bytes(&mut f.payload).unwrap();
                    match m.min_ntime.into_inner() {
                        Some(t) => { *job = m.job_id; *version = m.version; *ntime = t; }
                        None => future.push((m.job_id, m.version)),
                    }
                }
                // a job for the connection's group channel (this client does not set
                // REQUIRES_STANDARD_JOBS): random nonces need no merkle root, only the job id
                MESSAGE_TYPE_NEW_EXTENDED_MINING_JOB => {
                    let m: NewExtendedMiningJob = binary_sv2::from_bytes(&mut f.payload).unwrap();
                    match m.min_ntime.into_inner() {
                        Some(t) => { *job = m.job_id; *version = m.version; *ntime = t; }
                        None => future.push((m.job_id, m.version)),
                    }
                }
                MESSAGE_TYPE_MINING_SET_NEW_PREV_HASH => {
                    let m: SetNewPrevHash = binary_sv2::from_bytes(&mut f.payload).unwrap();
                    if let Some(&(id, v)) = future.iter().find(|(id, _)| *id == m.job_id) { *job = id; *version = v; }
                    *ntime = m.min_ntime;
                    future.clear();
                }
                _ => {}
            };
            while ntime == 0 {
                let Some(mut f) = c.recv() else {
                    *failures.lock().unwrap().entry("closed before the first job".into()).or_default() += 1;
                    return;
                };
                on_job(&mut f, &mut job, &mut ntime, &mut version);
            }
            ready.fetch_add(1, Ordering::Relaxed);
            // a read timeout would lose the bytes of a half-read frame: end by shutting the socket
            let watchdog = c.sock.try_clone().unwrap();
            std::thread::spawn(move || {
                std::thread::sleep(t1.saturating_duration_since(Instant::now()));
                let _ = watchdog.shutdown(std::net::Shutdown::Both);
            });
            let mut seed = 0x9e37_79b9_7f4a_7c15u64 ^ (i as u64 + 1);
            let mut seq = 0u32;
            let mut out = Vec::new();
            for _ in 0..inflight {
                seq += 1;
                out.extend(c.frame(SubmitSharesStandard { channel_id: ch, sequence_number: seq, job_id: job, nonce: rng(&mut seed), ntime, version }, MESSAGE_TYPE_SUBMIT_SHARES_STANDARD, true));
            }
            c.sock.write_all(&out).unwrap();
            out.clear();
            let mut local: BTreeMap<String, u64> = BTreeMap::new();
            while Instant::now() < t1 {
                let Some(mut f) = c.recv() else {
                    if Instant::now() < t1 { disconnects.fetch_add(1, Ordering::Relaxed); }
                    break;
                };
                let verdict = match f.msg_type {
                    MESSAGE_TYPE_SUBMIT_SHARES_SUCCESS => Some("accepted".to_string()),
                    MESSAGE_TYPE_SUBMIT_SHARES_ERROR => {
                        let m: SubmitSharesError = binary_sv2::from_bytes(&mut f.payload).unwrap();
                        Some(String::from_utf8_lossy(m.error_code.as_bytes()).into_owned())
                    }
                    _ => { on_job(&mut f, &mut job, &mut ntime, &mut version); None }
                };
                if let Some(verdict) = verdict {
                    let now = Instant::now();
                    if now >= t0 && now < t1 {
                        *local.entry(verdict).or_default() += 1;
                        measuring.fetch_add(1, Ordering::Relaxed);
                    }
                    seq += 1;
                    let b = c.frame(SubmitSharesStandard { channel_id: ch, sequence_number: seq, job_id: job, nonce: rng(&mut seed), ntime, version }, MESSAGE_TYPE_SUBMIT_SHARES_STANDARD, true);
                    out.extend(b);
                }
                // everything one read brought in is answered with one write, also when that
                // read ended with a job message (skipping the write then left the submits
                // unsent and both sides waiting)
                if !out.is_empty() && c.reader.buffer().is_empty() {
                    if c.sock.write_all(&out).is_err() { break; }
                    out.clear();
                }
            }
            let mut g = counts.lock().unwrap();
            for (k, v) in local { *g.entry(k).or_default() += v; }
        }));
    }
    for h in handles {
        if h.join().is_err() { *failures.lock().unwrap().entry("client thread failed".into()).or_default() += 1; }
    }
    // the window's end is printed even when every connection failed early
    let _ = marks.join();
    let g = counts.lock().unwrap();
    let total: u64 = g.values().sum();
    let verdicts: Vec<String> = g.iter().map(|(k, v)| format!("\"{k}\":{v}")).collect();
    let f = failures.lock().unwrap();
    let fails: Vec<String> = f.iter().map(|(k, v)| format!("{}:{v}", json_str(k))).collect();
    println!("{{\"mode\":\"throughput\",\"connections\":{conns},\"ready\":{},\"inflight\":{inflight},\"seconds\":{secs},\"replies\":{total},\"repliesPerSec\":{:.0},\"verdicts\":{{{}}},\"failures\":{{{}}},\"disconnects\":{}}}",
        ready.load(Ordering::Relaxed), total as f64 / secs, verdicts.join(","), fails.join(","), disconnects.load(Ordering::Relaxed));
}

/// A JSON string literal (failure reasons can hold quotes).
fn json_str(s: &str) -> String {
    let mut o = String::from("\"");
    for ch in s.chars() {
        match ch {
            '"' => o.push_str("\\\""),
            '\\' => o.push_str("\\\\"),
            c if (c as u32) < 0x20 => o.push_str(&format!("\\u{:04x}", c as u32)),
            c => o.push(c),
        }
    }
    o.push('"');
    o
}

fn idle(addr: &str, key: [u8; 32], conns: usize, hold: u64, user: &str) {
    std::panic::set_hook(Box::new(|_| {}));
    let start = Instant::now();
    let mut keep = Vec::with_capacity(conns);
    let mut failures: BTreeMap<String, u64> = BTreeMap::new();
    for i in 0..conns {
        match open_standard(addr, key, &user.replace("{i}", &i.to_string())) {
            Ok((c, _)) => keep.push(c),
            Err(e) => *failures.entry(e).or_default() += 1,
        }
    }
    let ms = start.elapsed().as_millis();
    let fails: Vec<String> = failures.iter().map(|(k, v)| format!("{}:{v}", json_str(k))).collect();
    println!("{{\"mode\":\"idle\",\"connections\":{conns},\"opened\":{},\"readyMs\":{ms},\"failures\":{{{}}}}}", keep.len(), fails.join(","));
    std::io::stdout().flush().ok();
    std::thread::sleep(Duration::from_secs(hold));
    drop(keep);
}

fn jobs(addr: &str, key: [u8; 32], secs: u64) {
    // an end device (REQUIRES_STANDARD_JOBS): NewMiningJob per channel
    let mut std_c = Conn::connect(addr, key);
    std_c.setup_flags(1);
    std_c.open("jobs.std", false);
    // a proxy-like connection with two standard channels: jobs once for their group channel
    let mut grp_c = Conn::connect(addr, key);
    grp_c.setup();
    grp_c.open("jobs.grp1", false);
    grp_c.open("jobs.grp2", false);
    let mut ext_c = Conn::connect(addr, key);
    ext_c.setup();
    ext_c.open("jobs.ext", true);
    let sizes: Arc<Mutex<Vec<String>>> = Arc::new(Mutex::new(vec![]));
    let end = Instant::now() + Duration::from_secs(secs);
    let mut hs = vec![];
    for (name, mut c) in [("standard", std_c), ("extended", ext_c), ("group of 2 standard", grp_c)] {
        let sizes = sizes.clone();
        hs.push(std::thread::spawn(move || {
            let watchdog = c.sock.try_clone().unwrap();
            std::thread::spawn(move || {
                std::thread::sleep(end.saturating_duration_since(Instant::now()));
                let _ = watchdog.shutdown(std::net::Shutdown::Both);
            });
            while Instant::now() < end {
                let Some(f) = c.recv() else { break };
                let t = match f.msg_type {
                    MESSAGE_TYPE_NEW_MINING_JOB => "NewMiningJob",
                    MESSAGE_TYPE_NEW_EXTENDED_MINING_JOB => "NewExtendedMiningJob",
                    MESSAGE_TYPE_MINING_SET_NEW_PREV_HASH => "SetNewPrevHash",
                    MESSAGE_TYPE_SET_TARGET => "SetTarget",
                    _ => "other",
                };
                sizes.lock().unwrap().push(format!("{{\"channel\":\"{name}\",\"type\":\"{t}\",\"bytes\":{}}}", f.wire_bytes));
            }
        }));
    }
    for h in hs { let _ = h.join(); }
    println!("{{\"mode\":\"jobs\",\"frames\":[{}]}}", sizes.lock().unwrap().join(","));
}

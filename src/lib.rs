//! N-API binding for ckpool-core. Thin by design: bytes in, numbers out, batch calls
//! for the hot path, and every error — including a panic — mapped here, once, to a
//! stable `CKP_ERR_NATIVE_*` code (catalogued in ts/errors.ts).
//!
//! Hashes cross the boundary in internal byte order (the little-endian number
//! sha256d yields); the TypeScript wrapper in ts/native/ converts to display hex.

use std::cell::RefCell;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::rc::Rc;

use ckpool_core::coinbase::{self, CoinbaseParams, Output};
use ckpool_core::error::CoreError;
use ckpool_core::header::{swap_words, HeaderFields};
use ckpool_core::merkle::{self, hashes_from_bytes};
use ckpool_core::share::{self, JobParams};
use ckpool_core::target::{self, U256};
use ckpool_core::hash;
use napi::bindgen_prelude::*;
use napi_derive::napi;

/// Run a core call and map its error, once, to a JS Error whose `code` is the stable
/// CKP_ERR_NATIVE_* string; a panic becomes CKP_ERR_NATIVE_PANIC instead of unwinding
/// into Node (which would abort the process).
///
/// napi-rs only sets `error.code` from its own `Status` enum, so the error is thrown
/// here with `napi_throw_error(code, msg)` and reported to napi-rs as an already
/// pending exception, which it then leaves alone.
fn guard<T>(env: &Env, f: impl FnOnce() -> ckpool_core::Result<T>) -> napi::Result<T> {
    guard_coded(env, "the native core", f)
}

/// An error with one of the stable CKP_ERR_* codes (ts/errors.ts): the core's and the
/// SV2 crate's errors, thrown to JavaScript by `guard_coded` alone.
pub(crate) trait CodedError: std::fmt::Display {
    fn code(&self) -> &'static str;
}
impl CodedError for CoreError {
    fn code(&self) -> &'static str {
        CoreError::code(self)
    }
}

/// Run `f`, turning its error into a JS error with its stable code and a panic (in `what`)
/// into CKP_ERR_NATIVE_PANIC.
pub(crate) fn guard_coded<T, E: CodedError>(env: &Env, what: &str, f: impl FnOnce() -> std::result::Result<T, E>) -> napi::Result<T> {
    let (code, msg) = match catch_unwind(AssertUnwindSafe(f)) {
        Ok(Ok(v)) => return Ok(v),
        Ok(Err(e)) => (e.code(), e.to_string()),
        Err(panic) => {
            let m = panic
                .downcast_ref::<&str>()
                .map(|s| s.to_string())
                .or_else(|| panic.downcast_ref::<String>().cloned())
                .unwrap_or_else(|| "unknown panic".into());
            ("CKP_ERR_NATIVE_PANIC", format!("internal error in {what}: {m}"))
        }
    };
    env.throw_error(&msg, Some(code))?;
    Err(napi::Error::new(Status::PendingException, msg))
}

fn arr32(what: &'static str, b: &[u8]) -> ckpool_core::Result<[u8; 32]> {
    b.try_into().map_err(|_| CoreError::Length { what, expected: "32".into(), got: b.len() })
}

fn u8s(what: &'static str, n: u32, max: u32) -> ckpool_core::Result<usize> {
    if n > max {
        return Err(CoreError::Range { what, detail: format!("must be at most {max}, got {n}") });
    }
    Ok(n as usize)
}

// ---------------------------------------------------------------- hashing

/// Double SHA-256 (returns a new 32-byte Buffer).
#[napi(js_name = "sha256d")]
pub fn sha256d(env: Env, data: &[u8]) -> napi::Result<Buffer> {
    guard(&env, || Ok(hash::sha256d(data).to_vec().into()))
}

/// Double SHA-256 written into `out` (32 bytes, caller-owned): no allocation.
#[napi(js_name = "sha256dInto")]
pub fn sha256d_into(env: Env, data: &[u8], mut out: BufferSlice) -> napi::Result<()> {
    guard(&env, || {
        if out.len() != 32 {
            return Err(CoreError::Length { what: "out", expected: "32".into(), got: out.len() });
        }
        out.copy_from_slice(&hash::sha256d(data));
        Ok(())
    })
}

/// Scan nonces `start`, `start + 1`, … (`count` of them, stopping at 0xffffffff) of an
/// 80-byte header for the first whose sha256d is at most `targetLe` (32 bytes,
/// little-endian). Returns that nonce, or -1. A CPU miner's inner loop (the demo miner).
#[napi(js_name = "scanNonces")]
pub fn scan_nonces(env: Env, header: &[u8], start: u32, count: u32, target_le: &[u8]) -> napi::Result<i64> {
    guard(&env, || Ok(ckpool_core::scan::scan_nonces(header, start, count, target_le)?.map_or(-1, |(n, _)| n as i64)))
}

/// Single SHA-256.
#[napi]
pub fn sha256(env: Env, data: &[u8]) -> napi::Result<Buffer> {
    guard(&env, || Ok(hash::sha256(data).to_vec().into()))
}

/// SHA-256 midstate of the first 64 bytes of a header (8 state words, each little-endian).
#[napi]
pub fn midstate(env: Env, header: &[u8]) -> napi::Result<Buffer> {
    guard(&env, || {
        if header.len() < 64 {
            return Err(CoreError::Length { what: "header", expected: "at least 64".into(), got: header.len() });
        }
        Ok(hash::midstate(header[..64].try_into().unwrap()).to_vec().into())
    })
}

// ---------------------------------------------------------------- merkle

fn join(hashes: &[[u8; 32]]) -> Buffer {
    hashes.concat().into()
}

/// Merkle root of concatenated 32-byte txids (internal order, coinbase first).
#[napi]
pub fn merkle_root(env: Env, txids: &[u8]) -> napi::Result<Buffer> {
    guard(&env, || Ok(merkle::merkle_root(&hashes_from_bytes("txids", txids)?)?.to_vec().into()))
}

/// Coinbase merkle branch (concatenated 32-byte hashes) for the non-coinbase txids.
#[napi]
pub fn merkle_branch(env: Env, txids: &[u8]) -> napi::Result<Buffer> {
    guard(&env, || Ok(join(&merkle::merkle_branch(&hashes_from_bytes("txids", txids)?))))
}

/// Fold a coinbase hash with a branch into the merkle root.
#[napi]
pub fn merkle_root_from_branch(env: Env, coinbase_hash: &[u8], branch: &[u8]) -> napi::Result<Buffer> {
    guard(&env, || {
        let cb = arr32("coinbaseHash", coinbase_hash)?;
        Ok(merkle::root_from_branch(&cb, &hashes_from_bytes("branch", branch)?).to_vec().into())
    })
}

/// BIP141 witness merkle root over the non-coinbase wtxids (coinbase wtxid = zeros).
#[napi]
pub fn witness_root(env: Env, wtxids: &[u8]) -> napi::Result<Buffer> {
    guard(&env, || Ok(merkle::witness_root(&hashes_from_bytes("wtxids", wtxids)?).to_vec().into()))
}

/// Witness commitment hash for the non-coinbase wtxids and a reserved value (default zeros).
#[napi]
pub fn witness_commitment(env: Env, wtxids: &[u8], reserved: Option<&[u8]>) -> napi::Result<Buffer> {
    guard(&env, || {
        let r = match reserved {
            Some(b) => arr32("reserved", b)?,
            None => [0u8; 32],
        };
        Ok(merkle::witness_commitment(&hashes_from_bytes("wtxids", wtxids)?, &r).to_vec().into())
    })
}

// ---------------------------------------------------------------- coinbase

#[napi(object)]
pub struct CoinbaseOutput {
    pub script: Buffer,
    /// Satoshis (an integer ≤ 21e14, exact in a JS number).
    pub value: f64,
}

#[napi(object)]
pub struct CoinbaseInput {
    pub tx_version: Option<u32>,
    pub height: u32,
    pub aux_flags: Option<Buffer>,
    pub timestamp: u32,
    pub nonce: u32,
    pub extranonce1_len: u32,
    pub extranonce2_len: u32,
    pub pool_tag: Buffer,
    pub btcsig: Option<Buffer>,
    pub outputs: Vec<CoinbaseOutput>,
    pub witness_commitment: Option<Buffer>,
}

#[napi(object)]
pub struct CoinbaseParts {
    pub coinb1: Buffer,
    pub coinb2: Buffer,
}

#[napi]
pub fn build_coinbase(env: Env, input: CoinbaseInput) -> napi::Result<CoinbaseParts> {
    guard(&env, || {
        let mut outputs = Vec::with_capacity(input.outputs.len());
        for o in &input.outputs {
            if !(o.value >= 0.0 && o.value.fract() == 0.0 && o.value <= 2.1e15) {
                return Err(CoreError::Range { what: "output value", detail: format!("must be whole satoshis 0..2.1e15, got {}", o.value) });
            }
            outputs.push(Output { script: o.script.to_vec(), value: o.value as u64 });
        }
        let parts = coinbase::build_coinbase(&CoinbaseParams {
            tx_version: input.tx_version.unwrap_or(1),
            height: input.height,
            aux_flags: input.aux_flags.as_deref().unwrap_or(&[]).to_vec(),
            timestamp: input.timestamp,
            nonce: input.nonce,
            extranonce1_len: u8s("extranonce1Len", input.extranonce1_len, 255)?,
            extranonce2_len: u8s("extranonce2Len", input.extranonce2_len, 255)?,
            pool_tag: input.pool_tag.to_vec(),
            btcsig: input.btcsig.as_deref().unwrap_or(&[]).to_vec(),
            outputs,
            witness_commitment: input.witness_commitment.as_deref().map(|b| arr32("witnessCommitment", b)).transpose()?,
        })?;
        Ok(CoinbaseParts { coinb1: parts.coinb1.into(), coinb2: parts.coinb2.into() })
    })
}

/// Legacy-serialised coinbase → segwit serialisation with the zero witness reserved value.
#[napi]
pub fn segwit_coinbase(env: Env, legacy: &[u8]) -> napi::Result<Buffer> {
    guard(&env, || Ok(coinbase::with_witness_reserved(legacy)?.into()))
}

// ---------------------------------------------------------------- header

#[napi(object)]
pub struct HeaderInput {
    pub version: u32,
    pub version_bits: Option<u32>,
    pub version_mask: Option<u32>,
    /// Internal (header) byte order; use `swapWords` on a stratum prevhash.
    pub prevhash: Buffer,
    pub merkle_root: Buffer,
    pub ntime: u32,
    pub nbits: u32,
    pub nonce: u32,
}

#[napi]
pub fn build_header(env: Env, input: HeaderInput) -> napi::Result<Buffer> {
    guard(&env, || {
        let version = match input.version_bits {
            Some(bits) => ckpool_core::header::rolled_version(input.version, bits, input.version_mask.unwrap_or(0)),
            None => input.version,
        };
        Ok(ckpool_core::header::build_header(&HeaderFields {
            version,
            prevhash: arr32("prevhash", &input.prevhash)?,
            merkle_root: arr32("merkleRoot", &input.merkle_root)?,
            ntime: input.ntime,
            nbits: input.nbits,
            nonce: input.nonce,
        })
        .to_vec()
        .into())
    })
}

/// Reverse each 4-byte word: stratum prevhash ↔ header order (its own inverse).
#[napi]
pub fn swap_words32(env: Env, hash: &[u8]) -> napi::Result<Buffer> {
    guard(&env, || Ok(swap_words(&arr32("hash", hash)?).to_vec().into()))
}

// ---------------------------------------------------------------- targets

/// Target (32 bytes, little-endian) for a difficulty, exact floor(diff1 / diff).
#[napi]
pub fn target_from_difficulty(env: Env, diff: f64) -> napi::Result<Buffer> {
    guard(&env, || Ok(target::target_from_difficulty(diff)?.to_le_bytes().to_vec().into()))
}

/// Difficulty of a target or hash given as 32 little-endian bytes (internal order).
#[napi]
pub fn difficulty_from_target(env: Env, target_le: &[u8]) -> napi::Result<f64> {
    guard(&env, || Ok(target::difficulty_from_target(&U256::from_le_bytes(&arr32("target", target_le)?))))
}

#[napi]
pub fn target_from_nbits(env: Env, nbits: u32) -> napi::Result<Buffer> {
    guard(&env, || Ok(target::target_from_nbits(nbits)?.to_le_bytes().to_vec().into()))
}

#[napi]
pub fn nbits_from_target(env: Env, target_le: &[u8]) -> napi::Result<u32> {
    guard(&env, || Ok(target::nbits_from_target(&U256::from_le_bytes(&arr32("target", target_le)?))))
}

#[napi]
pub fn difficulty_from_nbits(env: Env, nbits: u32) -> napi::Result<f64> {
    guard(&env, || target::difficulty_from_nbits(nbits))
}

// ---------------------------------------------------------------- share checks

#[napi(object)]
pub struct JobInput {
    pub coinb1: Buffer,
    pub coinb2: Buffer,
    /// Concatenated 32-byte branch hashes (may be empty).
    pub branch: Buffer,
    pub version: u32,
    pub version_mask: u32,
    /// Internal (header) byte order.
    pub prevhash: Buffer,
    pub nbits: u32,
    pub extranonce1_len: u32,
    pub extranonce2_len: u32,
}

// The core job sits behind `Rc<RefCell<…>>` because the function `checker()` returns
// shares it. Everything runs on the JS thread and nothing here calls back into JS, so
// the `RefCell` borrows never overlap (if they ever did, the panic would be caught by
// `guard` and surface as CKP_ERR_NATIVE_PANIC).
/// A job prepared for share checks. Records layout: see crates/ckpool-core/src/share.rs.
#[napi]
pub struct ShareJob {
    inner: JobCell,
}

#[napi]
impl ShareJob {
    #[napi(constructor)]
    pub fn new(env: Env, input: JobInput) -> napi::Result<Self> {
        guard(&env, || {
            let inner = share::ShareJob::new(JobParams {
                coinb1: input.coinb1.to_vec(),
                coinb2: input.coinb2.to_vec(),
                branch: hashes_from_bytes("branch", &input.branch)?,
                version: input.version,
                version_mask: input.version_mask,
                prevhash: arr32("prevhash", &input.prevhash)?,
                nbits: input.nbits,
                extranonce1_len: u8s("extranonce1Len", input.extranonce1_len, 255)?,
                extranonce2_len: u8s("extranonce2Len", input.extranonce2_len, 255)?,
            })?;
            Ok(ShareJob { inner: Rc::new(RefCell::new(inner)) })
        })
    }

    /// Bytes per record: extranonce1Len + extranonce2Len + 64.
    #[napi(getter)]
    pub fn record_size(&self) -> u32 {
        self.inner.borrow().record_size() as u32
    }

    /// SHA-256 compressions one check costs (for benchmarks).
    #[napi(getter)]
    pub fn compressions_per_check(&self) -> u32 {
        self.inner.borrow().compressions_per_check() as u32
    }

    /// Network target (32 bytes, little-endian).
    #[napi(getter)]
    pub fn network_target(&self) -> Buffer {
        self.inner.borrow().network_target().to_le_bytes().to_vec().into()
    }

    /// Check the single record at the start of `record`; writes its outputs in place
    /// and returns the share difficulty. (The hot single-share path is `checker()`.)
    #[napi]
    pub fn check(&self, env: Env, mut record: BufferSlice) -> napi::Result<f64> {
        guard(&env, || check_one(&mut self.inner.borrow_mut(), &mut record))
    }

    /// Check every record in `records` in place; returns how many were checked.
    #[napi]
    pub fn check_batch(&self, env: Env, mut records: BufferSlice) -> napi::Result<u32> {
        guard(&env, || Ok(self.inner.borrow_mut().check_records(&mut records)? as u32))
    }

    /// The 80-byte header a share describes (extranonce = en1 ‖ en2); `flags` are the
    /// share's check flags (FLAG_VERSION_DELTA picks the delta reading of the bits;
    /// absent = BIP310's reading, as before the flags existed).
    #[napi]
    pub fn header(&self, env: Env, extranonce: &[u8], ntime: u32, nonce: u32, version_bits: u32, flags: Option<u32>) -> napi::Result<Buffer> {
        guard(&env, || Ok(self.inner.borrow_mut().header(extranonce, ntime, nonce, version_bits, flags.unwrap_or(0))?.to_vec().into()))
    }

    // Why a separate function instead of the `check` method: napi-rs 3.16 wraps every
    // `#[napi]` method (and every free function with arguments) in per-call borrow
    // bookkeeping — an `Arc<Mutex<…>>` scope allocated and freed per call, thread-local
    // stack pushes, leases on `self` and on each buffer argument. Measured on the bench
    // machine (BENCHMARKS.md): an empty `&self` method costs ~225 ns, a raw N-API
    // callback ~20 ns, `napi_get_buffer_info` ~25 ns, `napi_get_reference_value` ~20 ns;
    // the Env parameter, the f64 return and `catch_unwind` are each a few ns at most.
    // So the returned function is a plain N-API callback (`check_fn_cb`) whose data
    // pointer is this job: a call is `napi_get_cb_info` + `napi_get_buffer_info` + the
    // check + `napi_create_double`, ~45 ns of N-API in all instead of ~250 ns.
    //
    // Why the record stays an argument rather than being bound once (`bindRecord`):
    // a bound buffer held by `napi_ref` needs `napi_get_reference_value` on every call
    // (caching its raw pointer would dangle once JS transfers or detaches the
    // ArrayBuffer), which measured slower than receiving it as an argument. An argument
    // is alive and attached for the whole call, so nothing is cached, nothing can dangle.
    // A numbers-only signature would still need somewhere to write the 32-byte hash.
    //
    // Memory safety: the function's data is a boxed `Rc` of the core job (not the JS
    // object), released exactly once by the function's finalizer; the core job lives
    // as long as either the `ShareJob` or the function.
    /// A fast single-share checker for this job: a function `(record) => difficulty`
    /// that does what `check(record)` does (checks the record at the start of
    /// `record` in place, returns the share difficulty, throws the same coded errors)
    /// for about a fifth of the call overhead.
    #[napi(ts_return_type = "(record: Buffer) => number")]
    pub fn checker<'env>(&self, env: &'env Env) -> napi::Result<Unknown<'env>> {
        let raw_env = env.raw();
        let data = Box::into_raw(Box::new(self.inner.clone()));
        let mut func = std::ptr::null_mut();
        // SAFETY: N-API calls on the current env. `data` is reclaimed exactly once: by
        // `drop_check_fn` (the function's finalizer) or right here if setup fails.
        unsafe {
            let mut status =
                sys::napi_create_function(raw_env, c"checkShare".as_ptr(), 10, Some(check_fn_cb), data.cast(), &mut func);
            if status == sys::Status::napi_ok {
                status = sys::napi_add_finalizer(raw_env, func, data.cast(), Some(drop_check_fn), std::ptr::null_mut(), std::ptr::null_mut());
            }
            if status != sys::Status::napi_ok {
                drop(Box::from_raw(data));
                return Err(napi::Error::new(Status::GenericFailure, "could not create the share checker function"));
            }
            Ok(Unknown::from_raw_unchecked(raw_env, func))
        }
    }
}

type JobCell = Rc<RefCell<share::ShareJob>>;

/// One record (at the start of `record`) through the core; returns its difficulty.
fn check_one(job: &mut share::ShareJob, record: &mut [u8]) -> ckpool_core::Result<f64> {
    let size = job.record_size();
    if record.len() < size {
        return Err(CoreError::Length { what: "share record", expected: size.to_string(), got: record.len() });
    }
    job.check_records(&mut record[..size])?;
    let en = job.extranonce_len();
    Ok(f64::from_le_bytes(record[en + 52..en + 60].try_into().unwrap()))
}

/// The function `ShareJob::checker` returns. Errors go through `guard` like
/// everywhere else (so a JS error with a CKP_ERR_NATIVE_* code); nothing unwinds out
/// of this `extern "C"` function: `guard` catches panics in the check, and the N-API
/// calls around it cannot panic.
unsafe extern "C" fn check_fn_cb(env: sys::napi_env, info: sys::napi_callback_info) -> sys::napi_value {
    let mut argc = 1usize;
    let mut argv = [std::ptr::null_mut(); 1];
    let mut data = std::ptr::null_mut();
    let mut ptr = std::ptr::null_mut();
    let mut len = 0usize;
    // SAFETY: `data` is the boxed JobCell this function was created with; it lives
    // until the function's finalizer, which cannot run during a call of the function.
    // `napi_get_buffer_info` yields the argument's memory, valid and unaliased by JS
    // for the duration of this call (JS cannot run until we return).
    let (job, is_buffer) = unsafe {
        if sys::napi_get_cb_info(env, info, &mut argc, argv.as_mut_ptr(), std::ptr::null_mut(), &mut data) != sys::Status::napi_ok
            || data.is_null()
        {
            return std::ptr::null_mut();
        }
        let is_buffer = argc >= 1 && sys::napi_get_buffer_info(env, argv[0], &mut ptr, &mut len) == sys::Status::napi_ok;
        (&*(data as *const JobCell), is_buffer)
    };
    let result = guard(&Env::from_raw(env), || {
        if !is_buffer {
            return Err(CoreError::Arg { what: "share record", detail: "must be a Buffer (or another ArrayBufferView)".into() });
        }
        let record: &mut [u8] = if len == 0 || ptr.is_null() { &mut [] } else { unsafe { std::slice::from_raw_parts_mut(ptr.cast(), len) } };
        check_one(&mut job.borrow_mut(), record)
    });
    match result {
        Ok(d) => {
            let mut out = std::ptr::null_mut();
            // SAFETY: plain N-API call; should it fail, JS sees `undefined`.
            unsafe { sys::napi_create_double(env, d, &mut out) };
            out
        }
        Err(_) => std::ptr::null_mut(), // guard has already thrown the coded JS error
    }
}

unsafe extern "C" fn drop_check_fn(_env: sys::napi_env, data: *mut std::ffi::c_void, _hint: *mut std::ffi::c_void) {
    // SAFETY: `data` came from Box::into_raw in `ShareJob::checker`; finalized once.
    drop(unsafe { Box::from_raw(data as *mut JobCell) });
}

// ---------------------------------------------------------------- socket handover (-H)

mod fdpass;

/// Send file descriptor `fd` over the connected unix socket `connFd` (SCM_RIGHTS).
#[napi]
pub fn send_fd(env: Env, conn_fd: i32, fd: i32) -> napi::Result<()> {
    guard(&env, || fdpass::send_fd(conn_fd, fd).map_err(|d| CoreError::Io { what: "sendFd", detail: d }))
}

/// Ask the instance listening on unix socket `path` for a descriptor (ckpool's `getxfd<i>`).
#[napi]
pub fn request_fd(env: Env, path: String, request: String, timeout_ms: u32) -> napi::Result<i32> {
    guard(&env, || fdpass::request_fd(&path, &request, timeout_ms).map_err(|d| CoreError::Io { what: "requestFd", detail: d }))
}

/// Duplicate descriptor `fd` (close-on-exec): the connection hand-off to worker threads.
#[napi]
pub fn dup_fd(env: Env, fd: i32) -> napi::Result<i32> {
    guard(&env, || fdpass::dup_fd(fd).map_err(|d| CoreError::Io { what: "dupFd", detail: d }))
}

/// Close a raw descriptor that no Node handle owns.
#[napi]
pub fn close_fd(env: Env, fd: i32) -> napi::Result<()> {
    guard(&env, || fdpass::close_fd(fd).map_err(|d| CoreError::Io { what: "closeFd", detail: d }))
}

// ---------------------------------------------------------------- batched socket writes

mod netio;

/// One `send(2)` per socket for a whole end-of-tick flush: chunk `i` of `data` (up to
/// `ends[i]`) goes to descriptor `fds[i]`; `result[i]` = bytes taken, or -errno.
#[napi]
pub fn write_batch(env: Env, fds: Int32ArraySlice, data: &[u8], ends: Uint32ArraySlice, mut result: Int32ArraySlice) -> napi::Result<()> {
    // SAFETY: `result` is a JS Int32Array the caller gave for this call only; nothing
    // else reads or writes it while this synchronous call runs.
    let out = unsafe { result.as_mut() };
    guard(&env, || netio::write_batch(&fds, data, &ends, out).map_err(|d| CoreError::Arg { what: "writeBatch", detail: d }))
}

// ---------------------------------------------------------------- block templates

#[napi(object)]
pub struct ParsedTemplate {
    /// The result object without `transactions`, as JSON text.
    pub fields: String,
    /// Where each transaction's `data` hex is in the body: start, end, start, end, …
    pub data: Uint32Array,
    pub count: u32,
    /// 32 bytes per transaction, internal order.
    pub txids: Buffer,
    pub wtxids: Buffer,
}

/// Take apart a getblocktemplate reply body (crates/ckpool-core/src/template.rs); null
/// when it is a reply but not a plain result object (an RPC error: read it normally).
#[napi]
pub fn parse_block_template(env: Env, body: &[u8]) -> napi::Result<Option<ParsedTemplate>> {
    guard(&env, || {
        Ok(ckpool_core::template::parse_reply(body)?.map(|p| ParsedTemplate {
            fields: p.fields,
            data: Uint32Array::new(p.data),
            count: p.count as u32,
            txids: p.txids.into(),
            wtxids: p.wtxids.into(),
        }))
    })
}

// ---------------------------------------------------------------- Stratum V2 transport

mod sv2;

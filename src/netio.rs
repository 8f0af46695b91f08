//! Batched socket writes: the end-of-tick flush of many miners' replies, or one notify
//! fanned out to every miner, as one call that makes one `send(2)` per socket.
//!
//! Node's `socket.write` costs several microseconds of JavaScript per call (the
//! Writable state machine, a WriteWrap, an after-write callback) on top of the kernel's
//! own work; a block change to 10,000 miners pays that 10,000 times on one thread. This
//! is what ckpool's connector does in C: a non-blocking send per client, and whatever
//! the kernel does not take is queued and sent when the socket is writable again. Here
//! the queueing stays with Node: the caller only passes sockets whose Node write queue
//! is empty, and gives any remainder to `socket.write`, so bytes stay in order.

/// Send chunk `i` of `data` (bytes `ends[i-1]..ends[i]`, `ends[-1]` = 0) on descriptor
/// `fds[i]`, for every `i`. `result[i]` becomes the number of bytes the kernel took
/// (possibly fewer than the chunk: its buffer is full) or `-errno` when it took none
/// (`-EAGAIN` for a full buffer). Never blocks and never raises SIGPIPE.
pub fn write_batch(fds: &[i32], data: &[u8], ends: &[u32], result: &mut [i32]) -> Result<(), String> {
    let n = fds.len();
    if ends.len() != n || result.len() != n {
        return Err(format!("fds ({n}), ends ({}) and result ({}) differ in length", ends.len(), result.len()));
    }
    let mut start = 0usize;
    for i in 0..n {
        let end = ends[i] as usize;
        if end < start || end > data.len() {
            return Err(format!("chunk {i} ends at {end}, outside {start}..{}", data.len()));
        }
        result[i] = send_all(fds[i], &data[start..end]);
        start = end;
    }
    Ok(())
}

/// Bytes sent (stopping at the first short send: the socket buffer is full), or -errno.
fn send_all(fd: i32, chunk: &[u8]) -> i32 {
    let mut sent = 0usize;
    while sent < chunk.len() {
        // SAFETY: the pointer and length describe the live slice `chunk[sent..]`.
        let r = unsafe {
            libc::send(fd, chunk[sent..].as_ptr().cast(), chunk.len() - sent, libc::MSG_DONTWAIT | libc::MSG_NOSIGNAL)
        };
        if r < 0 {
            let errno = std::io::Error::last_os_error().raw_os_error().unwrap_or(libc::EIO);
            if errno == libc::EINTR {
                continue;
            }
            return if sent > 0 { sent as i32 } else { -errno };
        }
        let r = r as usize;
        sent += r;
        if r == 0 {
            break;
        }
    }
    sent.min(i32::MAX as usize) as i32
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Read;
    use std::os::fd::AsRawFd;
    use std::os::unix::net::UnixStream;

    #[test]
    fn writes_each_chunk_to_its_socket() {
        let (a, mut a_peer) = UnixStream::pair().unwrap();
        let (b, mut b_peer) = UnixStream::pair().unwrap();
        let mut result = [0i32; 2];
        write_batch(&[a.as_raw_fd(), b.as_raw_fd()], b"hello\nworld!\n", &[6, 13], &mut result).unwrap();
        assert_eq!(result, [6, 7]);
        let mut buf = [0u8; 7];
        a_peer.read_exact(&mut buf[..6]).unwrap();
        assert_eq!(&buf[..6], b"hello\n");
        b_peer.read_exact(&mut buf).unwrap();
        assert_eq!(&buf, b"world!\n");
    }

    #[test]
    fn a_full_socket_takes_part_then_nothing() {
        let (a, _peer) = UnixStream::pair().unwrap();
        a.set_nonblocking(true).unwrap();
        let big = vec![b'x'; 8 << 20];
        let mut result = [0i32; 2];
        let len = big.len() as u32;
        write_batch(&[a.as_raw_fd(), a.as_raw_fd()], &[big.as_slice(), big.as_slice()].concat(), &[len, 2 * len], &mut result).unwrap();
        assert!(result[0] > 0 && (result[0] as u32) < len, "partial: {}", result[0]);
        assert_eq!(result[1], -libc::EAGAIN);
    }

    #[test]
    fn errors_are_negative_errno_and_bad_shapes_are_refused() {
        let mut result = [0i32; 1];
        write_batch(&[-1], b"x", &[1], &mut result).unwrap();
        assert_eq!(result[0], -libc::EBADF);
        assert!(write_batch(&[-1], b"x", &[2], &mut result).is_err());
        assert!(write_batch(&[-1, -1], b"x", &[1], &mut result).is_err());
    }
}

//! Listening-socket handover (ckpool's `-H`): file descriptors passed between two
//! processes over a unix socket with SCM_RIGHTS. Node cannot do this itself.
//!
//! The protocol is ckpool's: the new process connects to the old one's `listener`
//! socket and sends the framed request `getxfd<i>` (4-byte little-endian length, then
//! the text); the old one answers with one byte carrying listening socket i as
//! ancillary data (libckpool.c send_fd / get_fd).

use std::io::{Read, Write};
use std::os::fd::AsRawFd;
use std::os::unix::net::UnixStream;
use std::time::Duration;

fn os_err(what: &str) -> String {
    format!("{what}: {}", std::io::Error::last_os_error())
}

/// A msghdr for one data byte plus room for one descriptor in its control data. The
/// pointers refer into `byte`, `iov` and `cbuf`, which must outlive the call it is used in.
unsafe fn one_fd_msghdr(byte: &mut [u8; 1], iov: &mut libc::iovec, cbuf: &mut Vec<u8>) -> libc::msghdr {
    *iov = libc::iovec { iov_base: byte.as_mut_ptr() as *mut libc::c_void, iov_len: 1 };
    let space = libc::CMSG_SPACE(std::mem::size_of::<i32>() as u32) as usize;
    cbuf.clear();
    cbuf.resize(space, 0);
    let mut msg: libc::msghdr = std::mem::zeroed();
    msg.msg_iov = iov;
    msg.msg_iovlen = 1;
    msg.msg_control = cbuf.as_mut_ptr() as *mut libc::c_void;
    msg.msg_controllen = space as _;
    msg
}

/// Send `fd` over the connected unix stream socket `conn_fd` (one data byte + SCM_RIGHTS).
pub fn send_fd(conn_fd: i32, fd: i32) -> Result<(), String> {
    unsafe {
        let (mut byte, mut iov, mut cbuf) = ([0u8; 1], std::mem::zeroed::<libc::iovec>(), Vec::new());
        let msg = one_fd_msghdr(&mut byte, &mut iov, &mut cbuf);
        let cmsg = libc::CMSG_FIRSTHDR(&msg);
        if cmsg.is_null() {
            return Err("no room for the control message".into());
        }
        (*cmsg).cmsg_level = libc::SOL_SOCKET;
        (*cmsg).cmsg_type = libc::SCM_RIGHTS;
        (*cmsg).cmsg_len = libc::CMSG_LEN(std::mem::size_of::<i32>() as u32) as _;
        std::ptr::copy_nonoverlapping(&fd as *const i32 as *const u8, libc::CMSG_DATA(cmsg), std::mem::size_of::<i32>());
        // The socket is Node's and non-blocking; one byte plus ancillary data fits in any
        // empty socket buffer, so retry only on EINTR/EAGAIN briefly.
        for _ in 0..100 {
            let n = libc::sendmsg(conn_fd, &msg, libc::MSG_NOSIGNAL);
            if n == 1 {
                return Ok(());
            }
            let e = std::io::Error::last_os_error();
            match e.raw_os_error() {
                Some(libc::EINTR) | Some(libc::EAGAIN) => std::thread::sleep(Duration::from_millis(1)),
                _ => return Err(format!("sendmsg: {e}")),
            }
        }
        Err("sendmsg: socket stayed busy".into())
    }
}

/// Connect to `path`, send the framed `request`, and receive one file descriptor.
pub fn request_fd(path: &str, request: &str, timeout_ms: u32) -> Result<i32, String> {
    let timeout = Some(Duration::from_millis(timeout_ms.max(1) as u64));
    let mut stream = UnixStream::connect(path).map_err(|e| format!("connect {path}: {e}"))?;
    stream.set_read_timeout(timeout).map_err(|e| e.to_string())?;
    stream.set_write_timeout(timeout).map_err(|e| e.to_string())?;
    let mut frame = (request.len() as u32).to_le_bytes().to_vec();
    frame.extend_from_slice(request.as_bytes());
    stream.write_all(&frame).map_err(|e| format!("send {request}: {e}"))?;
    let _ = stream.shutdown(std::net::Shutdown::Write);
    unsafe {
        let (mut byte, mut iov, mut cbuf) = ([0u8; 1], std::mem::zeroed::<libc::iovec>(), Vec::new());
        let mut msg = one_fd_msghdr(&mut byte, &mut iov, &mut cbuf);
        let n = libc::recvmsg(stream.as_raw_fd(), &mut msg, libc::MSG_CMSG_CLOEXEC);
        if n < 0 {
            return Err(os_err("recvmsg"));
        }
        let cmsg = libc::CMSG_FIRSTHDR(&msg);
        if n == 0 || cmsg.is_null() || (*cmsg).cmsg_level != libc::SOL_SOCKET || (*cmsg).cmsg_type != libc::SCM_RIGHTS {
            // No descriptor: the peer answered with text (an error) — return it.
            let mut rest = Vec::new();
            let _ = stream.read_to_end(&mut rest);
            let mut all = byte[..n.max(0) as usize].to_vec();
            all.extend(rest);
            let text = if all.len() > 4 { String::from_utf8_lossy(&all[4..]).into_owned() } else { String::from_utf8_lossy(&all).into_owned() };
            return Err(format!("no descriptor in the reply to {request}: {text}"));
        }
        let mut fd: i32 = -1;
        std::ptr::copy_nonoverlapping(libc::CMSG_DATA(cmsg), &mut fd as *mut i32 as *mut u8, std::mem::size_of::<i32>());
        Ok(fd)
    }
}

/// A second descriptor for the same open socket (close-on-exec), so a socket accepted on
/// the main thread can be handed to a worker thread: the main thread then closes its own
/// descriptor and the connection lives on under the copy.
pub fn dup_fd(fd: i32) -> Result<i32, String> {
    let r = unsafe { libc::fcntl(fd, libc::F_DUPFD_CLOEXEC, 0) };
    if r < 0 {
        return Err(os_err("fcntl(F_DUPFD_CLOEXEC)"));
    }
    Ok(r)
}

/// Close a descriptor that never reached a Node handle (a handed-off connection whose
/// worker went away before adopting it).
pub fn close_fd(fd: i32) -> Result<(), String> {
    if unsafe { libc::close(fd) } < 0 {
        return Err(os_err("close"));
    }
    Ok(())
}

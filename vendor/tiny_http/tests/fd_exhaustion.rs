//! Patched (see PATCHES.md): running out of file descriptors must not end the accept loop.
//! Upstream's accept thread stopped (and closed the listener) on the first `EMFILE`, or
//! panicked in `try_clone`; the process lived on without listening. Its own test binary: it
//! lowers this process's descriptor limit. Linux only (it counts descriptors in `/proc`).
#![cfg(target_os = "linux")]

extern crate tiny_http;

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::thread;
use std::time::Duration;

use tiny_http::{Limits, Response, Server};

fn open_fds() -> u64 {
    std::fs::read_dir("/proc/self/fd").map_or(0, |d| d.count() as u64)
}

fn set_soft_limit(n: u64) -> u64 {
    let mut lim = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: plain syscalls on a stack value.
    unsafe {
        assert_eq!(libc::getrlimit(libc::RLIMIT_NOFILE, &mut lim), 0);
        let old = lim.rlim_cur;
        lim.rlim_cur = n;
        assert_eq!(libc::setrlimit(libc::RLIMIT_NOFILE, &lim), 0);
        old
    }
}

fn unconnected_socket() -> i32 {
    // SAFETY: a plain syscall.
    let fd = unsafe { libc::socket(libc::AF_INET, libc::SOCK_STREAM, 0) };
    assert!(fd >= 0);
    fd
}

fn connect(fd: i32, addr: std::net::SocketAddr) {
    let port = addr.port().to_be();
    let sin = libc::sockaddr_in {
        sin_family: libc::AF_INET as libc::sa_family_t,
        sin_port: port,
        sin_addr: libc::in_addr {
            s_addr: u32::from_ne_bytes([127, 0, 0, 1]),
        },
        sin_zero: [0; 8],
    };
    // SAFETY: `sin` is a valid sockaddr_in for the length given.
    let rc = unsafe {
        libc::connect(
            fd,
            &sin as *const libc::sockaddr_in as *const libc::sockaddr,
            std::mem::size_of::<libc::sockaddr_in>() as libc::socklen_t,
        )
    };
    assert_eq!(rc, 0, "connect: {}", std::io::Error::last_os_error());
}

fn get(addr: std::net::SocketAddr) -> std::io::Result<String> {
    let mut c = TcpStream::connect(addr)?;
    c.set_read_timeout(Some(Duration::from_secs(20)))?;
    c.write_all(b"GET / HTTP/1.1\r\nConnection: close\r\n\r\n")?;
    let mut out = String::new();
    c.read_to_string(&mut out)?;
    Ok(out)
}

#[test]
fn the_server_accepts_again_once_descriptors_are_free() {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let server = Server::from_listener_with_limits(listener, Limits::default()).unwrap();
    thread::spawn(move || {
        for rq in server.incoming_requests() {
            rq.respond(Response::from_string("ok")).unwrap();
        }
    });
    assert!(get(addr).unwrap().ends_with("ok"));

    // Client sockets made while descriptors are free, connected once none are: the server
    // must then fail to accept them.
    let clients: Vec<i32> = (0..4).map(|_| unconnected_socket()).collect();
    let old = set_soft_limit(open_fds() - 1);
    while std::fs::File::open("/dev/null").map(std::mem::forget).is_ok() {}
    for &fd in &clients {
        connect(fd, addr);
    }
    // The accept thread meets EMFILE for a while.
    thread::sleep(Duration::from_millis(300));
    for fd in clients {
        // SAFETY: our own descriptor, closed once.
        unsafe { libc::close(fd) };
    }
    set_soft_limit(old);

    let answer = get(addr).expect("the server stopped accepting");
    assert!(answer.starts_with("HTTP/1.1 200"), "{}", answer);
}

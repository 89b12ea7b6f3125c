//! Black-box tests of the patches listed in PATCHES.md: a real listener, a raw client, and the
//! answers and closes a hostile or broken client gets.

extern crate tiny_http;

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::mpsc::channel;
use std::thread;
use std::time::Duration;

use tiny_http::{Limits, Response, Server};

/// Long enough that no test depends on the machine being fast; failures show as a timeout error
/// instead of a hang.
const PATIENCE: Duration = Duration::from_secs(20);

fn server(limits: Limits) -> (Server, TcpStream) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let server = Server::from_listener_with_limits(listener, limits).unwrap();
    let client = TcpStream::connect(addr).unwrap();
    client.set_read_timeout(Some(PATIENCE)).unwrap();
    (server, client)
}

/// Everything the server sends until it closes the connection.
fn read_all(client: &mut TcpStream) -> String {
    let mut out = Vec::new();
    client
        .read_to_end(&mut out)
        .expect("the server did not close the connection");
    String::from_utf8_lossy(&out).into_owned()
}

/// Answers every request with "ok" without reading its body.
fn answer_all(server: Server) {
    thread::spawn(move || {
        for rq in server.incoming_requests() {
            rq.respond(Response::from_string("ok")).unwrap();
        }
    });
}

#[test]
fn a_huge_unread_body_closes_the_connection_after_the_answer() {
    let (server, mut client) = server(Limits::default());
    answer_all(server);
    write!(
        client,
        "POST / HTTP/1.1\r\nContent-Length: 30000000000\r\n\r\nabc"
    )
    .unwrap();
    let answer = read_all(&mut client);
    assert!(answer.starts_with("HTTP/1.1 200"), "{}", answer);
    assert!(answer.ends_with("ok"), "{}", answer);
}

#[test]
fn a_small_unread_body_is_drained_and_the_connection_kept() {
    let (server, mut client) = server(Limits::default());
    answer_all(server);
    let body = "x".repeat(5000);
    write!(
        client,
        "POST /1 HTTP/1.1\r\nContent-Length: {}\r\n\r\n{}GET /2 HTTP/1.1\r\nConnection: close\r\n\r\n",
        body.len(),
        body
    )
    .unwrap();
    let answer = read_all(&mut client);
    assert_eq!(answer.matches("HTTP/1.1 200").count(), 2, "{}", answer);
}

/// A client still uploading when it is answered (say, refused before its body was read) can
/// finish its upload: the connection reads the rest before it closes instead of resetting it.
#[test]
fn a_last_request_still_uploading_when_answered_can_finish() {
    let (server, mut client) = server(Limits::default());
    answer_all(server);
    let mut writer = client.try_clone().unwrap();
    let uploader = thread::spawn(move || -> std::io::Result<()> {
        write!(
            writer,
            "POST / HTTP/1.1\r\nConnection: close\r\nContent-Length: 500000\r\n\r\n"
        )?;
        for _ in 0..10 {
            thread::sleep(Duration::from_millis(50));
            writer.write_all(&[b'x'; 50_000])?;
        }
        Ok(())
    });
    let answer = read_all(&mut client);
    assert!(answer.starts_with("HTTP/1.1 200"), "{}", answer);
    uploader
        .join()
        .unwrap()
        .expect("the upload was cut off by a reset");
}

/// A body too large to drain closes the connection, but only after the client had time to
/// finish sending (up to 2 s or 64 MiB more), so it reads its answer rather than a reset.
#[test]
fn an_upload_too_large_to_drain_still_finishes_before_the_close() {
    let (server, mut client) = server(Limits::default());
    answer_all(server);
    let mut writer = client.try_clone().unwrap();
    let uploader = thread::spawn(move || -> std::io::Result<()> {
        write!(
            writer,
            "POST / HTTP/1.1\r\nContent-Length: 3000000\r\n\r\n"
        )?;
        for _ in 0..10 {
            thread::sleep(Duration::from_millis(20));
            writer.write_all(&[b'x'; 300_000])?;
        }
        Ok(())
    });
    let answer = read_all(&mut client);
    assert!(answer.starts_with("HTTP/1.1 200"), "{}", answer);
    uploader
        .join()
        .unwrap()
        .expect("the upload was cut off by a reset");
}

#[test]
fn an_unfinished_chunked_body_closes_the_connection() {
    let (server, mut client) = server(Limits::default());
    answer_all(server);
    write!(
        client,
        "POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\nGET /smuggled HTTP/1.1\r\n\r\n"
    )
    .unwrap();
    let answer = read_all(&mut client);
    assert_eq!(answer.matches("HTTP/1.1").count(), 1, "{}", answer);
}

#[test]
fn http_2_gets_505_and_a_close() {
    let (server, mut client) = server(Limits::default());
    let (tx, rx) = channel();
    thread::spawn(move || {
        for rq in server.incoming_requests() {
            tx.send(rq.url().to_owned()).unwrap();
        }
    });
    write!(client, "GET /health HTTP/2.0\r\nHost: x\r\n\r\n").unwrap();
    let answer = read_all(&mut client);
    assert!(answer.starts_with("HTTP/1.1 505"), "{}", answer);
    assert!(answer.contains("Connection: close"), "{}", answer);
    assert!(rx.try_recv().is_err(), "the application saw the request");
}

fn refused(request: &[u8]) -> String {
    let (server, mut client) = server(Limits::default());
    answer_all(server);
    client.write_all(request).unwrap();
    read_all(&mut client)
}

#[test]
fn a_head_over_64_kib_gets_431() {
    let mut request = b"GET / HTTP/1.1\r\nX-Big: ".to_vec();
    request.extend(std::iter::repeat(b'a').take(70_000));
    request.extend(b"\r\n\r\n");
    let answer = refused(&request);
    assert!(answer.starts_with("HTTP/1.1 431"), "{}", answer);
}

#[test]
fn an_endless_header_line_gets_431_without_waiting_for_its_end() {
    let (server, mut client) = server(Limits::default());
    answer_all(server);
    client.write_all(b"GET / HTTP/1.1\r\nX-Big: ").unwrap();
    // 1 MiB of one line with no end: the answer comes after 64 KiB.
    let chunk = vec![b'a'; 64 * 1024];
    let mut writer = client.try_clone().unwrap();
    thread::spawn(move || {
        for _ in 0..16 {
            if writer.write_all(&chunk).is_err() {
                break;
            }
        }
    });
    let answer = read_all(&mut client);
    assert!(answer.starts_with("HTTP/1.1 431"), "{}", answer);
}

#[test]
fn a_long_request_line_gets_414() {
    let mut request = b"GET /".to_vec();
    request.extend(std::iter::repeat(b'a').take(70_000));
    request.extend(b" HTTP/1.1\r\n\r\n");
    let answer = refused(&request);
    assert!(answer.starts_with("HTTP/1.1 414"), "{}", answer);
}

#[test]
fn more_than_100_headers_get_431() {
    let mut request = String::from("GET / HTTP/1.1\r\n");
    for i in 0..101 {
        request += &format!("X-H{}: v\r\n", i);
    }
    request += "\r\n";
    let answer = refused(request.as_bytes());
    assert!(answer.starts_with("HTTP/1.1 431"), "{}", answer);
    // 100 is fine.
    let mut request = String::from("GET / HTTP/1.1\r\nConnection: close\r\n");
    for i in 0..99 {
        request += &format!("X-H{}: v\r\n", i);
    }
    request += "\r\n";
    let answer = refused(request.as_bytes());
    assert!(answer.starts_with("HTTP/1.1 200"), "{}", answer);
}

#[test]
fn ambiguous_framing_gets_400_and_a_close() {
    for head in [
        "Content-Length: 5\r\nTransfer-Encoding: chunked",
        "Content-Length: 5\r\nContent-Length: 5",
        "Content-Length: 5\r\nContent-Length: 6",
        "Content-Length: -1",
        "Content-Length: +5",
        "Content-Length: 5, 5",
        "Content-Length: 0x10",
        "Content-Length: 99999999999999999999999",
        "Transfer-Encoding: gzip",
        "Transfer-Encoding: gzip, chunked",
        "Transfer-Encoding: chunked\r\nTransfer-Encoding: chunked",
    ] {
        let request = format!("POST / HTTP/1.1\r\n{}\r\n\r\nhello", head);
        let answer = refused(request.as_bytes());
        assert!(answer.starts_with("HTTP/1.1 400"), "{}: {}", head, answer);
        assert!(answer.contains("ambiguous request framing"), "{}", answer);
    }
    let answer = refused(b"POST / HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n");
    assert!(answer.starts_with("HTTP/1.0 400"), "{}", answer);
}

#[test]
fn the_error_page_renders_the_servers_own_refusals() {
    fn page(status: tiny_http::StatusCode, why: &str) -> Response<std::io::Cursor<Vec<u8>>> {
        Response::from_string(format!("{{\"status\":{},\"why\":\"{}\"}}", status.0, why))
            .with_status_code(status)
    }
    let (server, mut client) = server(Limits {
        error_page: Some(page),
        ..Limits::default()
    });
    answer_all(server);
    write!(client, "POST / HTTP/1.1\r\nContent-Length: -1\r\n\r\n").unwrap();
    let answer = read_all(&mut client);
    assert!(answer.starts_with("HTTP/1.1 400"), "{}", answer);
    assert!(
        answer.ends_with("{\"status\":400,\"why\":\"ambiguous request framing: an invalid Content-Length\"}"),
        "{}",
        answer
    );
}

fn short_timeouts() -> Limits {
    let t = Some(Duration::from_millis(300));
    Limits {
        idle_timeout: t,
        head_timeout: t,
        body_timeout: t,
        write_timeout: t,
        ..Limits::default()
    }
}

#[test]
fn an_idle_connection_is_closed_without_an_answer() {
    let (server, mut client) = server(short_timeouts());
    answer_all(server);
    write!(client, "GET / HTTP/1.1\r\n\r\n").unwrap();
    let answer = read_all(&mut client);
    assert_eq!(answer.matches("HTTP/1.1").count(), 1, "{}", answer);
    assert!(answer.starts_with("HTTP/1.1 200"), "{}", answer);
}

#[test]
fn a_trickled_head_gets_408() {
    let (server, mut client) = server(short_timeouts());
    answer_all(server);
    let mut writer = client.try_clone().unwrap();
    thread::spawn(move || {
        // One byte every 100 ms: never idle for a whole timeout, never done.
        for b in b"GET / HTTP/1.1\r\nX-Slow: aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa".iter() {
            if writer.write_all(&[*b]).is_err() {
                break;
            }
            thread::sleep(Duration::from_millis(100));
        }
    });
    let answer = read_all(&mut client);
    assert!(answer.starts_with("HTTP/1.1 408"), "{}", answer);
}

#[test]
fn a_stalled_body_fails_the_applications_read() {
    let (server, mut client) = server(short_timeouts());
    write!(
        client,
        "POST / HTTP/1.1\r\nContent-Length: 5000\r\n\r\n{}",
        "x".repeat(2000)
    )
    .unwrap();
    let mut rq = server.recv().unwrap();
    let mut body = Vec::new();
    let err = rq.as_reader().read_to_end(&mut body).unwrap_err();
    assert_eq!(err.kind(), std::io::ErrorKind::TimedOut);
    rq.respond(Response::from_string("too slow").with_status_code(408))
        .unwrap();
    // The body's end is unknown, so the connection is closed after the answer.
    let answer = read_all(&mut client);
    assert!(answer.starts_with("HTTP/1.1 408"), "{}", answer);
}

#[test]
fn a_client_that_stops_reading_fails_the_applications_write() {
    let (server, mut client) = server(short_timeouts());
    write!(client, "GET / HTTP/1.1\r\n\r\n").unwrap();
    let rq = server.recv().unwrap();
    let mut writer = rq.into_writer();
    let chunk = vec![b'x'; 64 * 1024];
    // The client never reads: once the socket buffers are full, a write fails.
    let err = loop {
        if let Err(e) = writer.write_all(&chunk).and_then(|_| writer.flush()) {
            break e;
        }
    };
    assert_eq!(err.kind(), std::io::ErrorKind::TimedOut);
    drop(client);
}

#[test]
fn a_body_at_a_steady_rate_may_take_longer_than_the_timeout() {
    let (server, mut client) = server(Limits {
        body_timeout: Some(Duration::from_secs(1)),
        body_min_rate: 1000,
        ..Limits::default()
    });
    let mut writer = client.try_clone().unwrap();
    thread::spawn(move || {
        write!(writer, "POST / HTTP/1.1\r\nContent-Length: 3000\r\n\r\n").unwrap();
        // 250 bytes every 150 ms (each adds 250 ms to the deadline): 1.8 s in all.
        for _ in 0..12 {
            writer.write_all(&[b'x'; 250]).unwrap();
            thread::sleep(Duration::from_millis(150));
        }
    });
    let mut rq = server.recv().unwrap();
    let mut body = Vec::new();
    rq.as_reader().read_to_end(&mut body).unwrap();
    assert_eq!(body.len(), 3000);
    rq.respond(Response::from_string("ok")).unwrap();
    let mut head = [0u8; 12];
    client.read_exact(&mut head).unwrap();
    assert_eq!(&head, b"HTTP/1.1 200");
}

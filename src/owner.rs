//! Who owns the socket listening on a local port: before the launcher or `status` trusts a
//! proxy found on the configured port (and hands it the API key and the user's prompts), it
//! checks that the listener belongs to this user (or root, who can read the token file anyway),
//! not to another user of the machine who took the port first.
//!
//! Linux only (`/proc/net/tcp`, `/proc/net/tcp6`); elsewhere, or when the socket is not in
//! this network namespace, the owner is unknown and only the `/health` answer is checked.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};

/// Whether the listener on `addr` belongs to someone else: `Some(uid)` of that owner, `None`
/// when it is ours, root's, or unknown.
pub fn foreign_listener(addr: SocketAddr) -> Option<u32> {
    let me = crate::private::euid()?;
    let tables = ["/proc/net/tcp", "/proc/net/tcp6"]
        .iter()
        .filter_map(|p| std::fs::read_to_string(p).ok())
        .collect::<Vec<_>>()
        .join("\n");
    let uid = listener_uid(&tables, addr)?;
    (uid != me && uid != 0).then_some(uid)
}

/// The uid owning the listening socket that accepts connections to `addr`, from the text of
/// `/proc/net/tcp` and `/proc/net/tcp6`: a socket bound to exactly that address wins over a
/// wildcard one on the same port, as in the kernel's own lookup.
fn listener_uid(tables: &str, addr: SocketAddr) -> Option<u32> {
    let mut wildcard = None;
    for line in tables.lines() {
        let f: Vec<&str> = line.split_whitespace().collect();
        // sl local rem st tx:rx tr:when retrnsmt uid ...
        if f.len() < 8 || f[3] != "0A" {
            continue; // not a listener (or the header line)
        }
        let Some((ip, port)) = parse_addr(f[1]) else {
            continue;
        };
        let Ok(uid) = f[7].parse::<u32>() else {
            continue;
        };
        if port != addr.port() {
            continue;
        }
        if same_ip(ip, addr.ip()) {
            return Some(uid);
        }
        if ip.is_unspecified() {
            wildcard = wildcard.or(Some(uid));
        }
    }
    wildcard
}

fn same_ip(a: IpAddr, b: IpAddr) -> bool {
    a.to_canonical() == b.to_canonical()
}

/// `0100007F:1F92` (IPv4) or 32 hex digits `:PORT` (IPv6): the kernel prints each 32-bit word
/// of the address as a native-endian number, and the port in host order.
fn parse_addr(field: &str) -> Option<(IpAddr, u16)> {
    let (ip, port) = field.split_once(':')?;
    let port = u16::from_str_radix(port, 16).ok()?;
    let word = |i: usize| -> Option<[u8; 4]> {
        let hex = ip.get(i * 8..i * 8 + 8)?;
        Some(u32::from_str_radix(hex, 16).ok()?.to_ne_bytes())
    };
    let ip = match ip.len() {
        8 => IpAddr::V4(Ipv4Addr::from(word(0)?)),
        32 => {
            let mut bytes = [0u8; 16];
            for i in 0..4 {
                bytes[i * 4..i * 4 + 4].copy_from_slice(&word(i)?);
            }
            IpAddr::V6(Ipv6Addr::from(bytes))
        }
        _ => return None,
    };
    Some((ip, port))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `ip` as the kernel prints it on this machine.
    fn hex4(ip: Ipv4Addr) -> String {
        format!("{:08X}", u32::from_ne_bytes(ip.octets()))
    }

    fn hex6(ip: Ipv6Addr) -> String {
        ip.octets()
            .chunks(4)
            .map(|c| format!("{:08X}", u32::from_ne_bytes([c[0], c[1], c[2], c[3]])))
            .collect()
    }

    #[test]
    fn finds_the_most_specific_listener() {
        let lo = hex4(Ipv4Addr::LOCALHOST);
        let any = hex4(Ipv4Addr::UNSPECIFIED);
        let table = format!(
            "  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode\n\
             0: {lo}:1F92 00000000:0000 0A 00000000:00000000 00:00000000 00000000  1001        0 1 1\n\
             1: {any}:1F93 00000000:0000 0A 00000000:00000000 00:00000000 00000000  1002        0 2 1\n\
             2: {lo}:1F94 {lo}:9999 01 00000000:00000000 00:00000000 00000000  1003        0 3 1\n\
             0: {}:1F95 {}:0000 0A 00000000:00000000 00:00000000 00000000  1004        0 4 1\n",
            hex6(Ipv6Addr::UNSPECIFIED),
            hex6(Ipv6Addr::UNSPECIFIED),
        );
        let at = |port| SocketAddr::new(IpAddr::V4(Ipv4Addr::LOCALHOST), port);
        assert_eq!(listener_uid(&table, at(8082)), Some(1001));
        assert_eq!(listener_uid(&table, at(8083)), Some(1002), "wildcard bind");
        assert_eq!(listener_uid(&table, at(8084)), None, "not listening");
        assert_eq!(listener_uid(&table, at(8085)), Some(1004), "dual-stack ::");
        assert_eq!(listener_uid(&table, at(9)), None);
        let v6 = SocketAddr::new(IpAddr::V6(Ipv6Addr::LOCALHOST), 8085);
        assert_eq!(listener_uid(&table, v6), Some(1004));
    }

    #[cfg(target_os = "linux")]
    #[test]
    fn our_own_listener_is_not_foreign() {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = l.local_addr().unwrap();
        let tables = std::fs::read_to_string("/proc/net/tcp").unwrap();
        assert_eq!(listener_uid(&tables, addr), crate::private::euid());
        assert_eq!(foreign_listener(addr), None);
    }
}

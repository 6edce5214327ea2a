//! SSRF protection. Addresses are checked after DNS resolution, by the resolver the client
//! connects with, so a name that re-resolves to an internal address between check and connect
//! (DNS rebinding) cannot slip through; IP-literal URLs and redirect targets are checked first.

use reqwest::dns::{Addrs, Name, Resolve, Resolving};
use reqwest::Url;
use std::collections::HashSet;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::sync::Arc;

/// Which hosts may be reached although they are, or resolve to, internal addresses.
#[derive(Debug, Default)]
pub struct AddressGuard {
    allow_all: bool,
    allowed: HashSet<String>,
}

/// Why a URL is refused before or during connecting.
#[derive(Debug, Clone, thiserror::Error)]
pub enum Rejected {
    #[error("blocked request to {host} ({addr}): {reason} address; a deployment can open the host with AOS_HTTP_ALLOW_HOSTS")]
    Blocked { host: String, addr: IpAddr, reason: &'static str },
    #[error("invalid URL {url}: {reason}")]
    InvalidUrl { url: String, reason: String },
}

/// The resolver could not turn a host name into addresses.
#[derive(Debug, thiserror::Error)]
#[error("cannot resolve host {host}: {source}")]
pub struct DnsFailure {
    pub host: String,
    pub source: std::io::Error,
}

impl AddressGuard {
    /// `hosts` are host names or IP literals as they appear in URLs; `*` allows everything.
    pub fn new(hosts: &[String]) -> Self {
        let normalized: HashSet<String> = hosts
            .iter()
            .map(|h| h.trim().trim_start_matches('[').trim_end_matches(']').to_ascii_lowercase())
            .filter(|h| !h.is_empty())
            .collect();
        Self { allow_all: normalized.contains("*"), allowed: normalized }
    }

    pub fn host_allowed(&self, host: &str) -> bool {
        self.allow_all || self.allowed.contains(&host.to_ascii_lowercase())
    }

    /// Checks scheme and host before any connection. Host names are checked again, after
    /// resolution, by [`GuardedResolver`].
    pub fn check_url(&self, url: &Url) -> Result<(), Rejected> {
        let invalid = |reason: &str| Rejected::InvalidUrl { url: redact(url), reason: reason.to_string() };
        if !matches!(url.scheme(), "http" | "https") {
            return Err(invalid("only http and https are supported"));
        }
        let Some(host) = url.host_str().filter(|h| !h.is_empty()) else {
            return Err(invalid("the URL has no host"));
        };
        // The URL parser has already normalized IP literals (`0x7f.1`, `2130706433`, `[::FFFF:...]`).
        let literal = host.trim_start_matches('[').trim_end_matches(']');
        match literal.parse::<IpAddr>() {
            Ok(addr) => self.check_addr(literal, addr),
            Err(_) => Ok(()),
        }
    }

    pub fn check_addr(&self, host: &str, addr: IpAddr) -> Result<(), Rejected> {
        if self.host_allowed(host) {
            return Ok(());
        }
        match blocked_reason(addr) {
            Some(reason) => Err(Rejected::Blocked { host: host.to_string(), addr, reason }),
            None => Ok(()),
        }
    }
}

/// The URL without credentials, query or fragment, which may carry secrets into traces.
pub fn redact(url: &Url) -> String {
    let mut shown = url.clone();
    let _ = shown.set_username("");
    let _ = shown.set_password(None);
    shown.set_query(None);
    shown.set_fragment(None);
    shown.to_string()
}

/// Why `addr` must not be reached from a skill, or `None` for a public unicast address.
pub fn blocked_reason(addr: IpAddr) -> Option<&'static str> {
    match addr {
        IpAddr::V4(v4) => v4_reason(v4),
        IpAddr::V6(v6) => v6_reason(v6),
    }
}

fn v4_reason(ip: Ipv4Addr) -> Option<&'static str> {
    let [a, b, c, _] = ip.octets();
    Some(match (a, b, c) {
        (0, _, _) => "an unspecified (this-network)",
        (127, _, _) => "a loopback",
        (10, _, _) | (192, 168, _) => "a private",
        (172, 16..=31, _) => "a private",
        (169, 254, _) => "a link-local (cloud metadata)",
        (100, 64..=127, _) => "a shared (carrier-grade NAT)",
        (192, 0, 0) | (192, 0, 2) | (198, 51, 100) | (203, 0, 113) => "a reserved",
        (198, 18..=19, _) => "a reserved (benchmarking)",
        (224..=239, _, _) => "a multicast",
        (240..=255, _, _) => "a reserved (or broadcast)",
        _ => return None,
    })
}

fn v6_reason(ip: Ipv6Addr) -> Option<&'static str> {
    if let Some(v4) = embedded_v4(ip) {
        return v4_reason(v4);
    }
    let s = ip.segments();
    Some(match s {
        [0, 0, 0, 0, 0, 0, 0, 0] => "an unspecified",
        [0, 0, 0, 0, 0, 0, 0, 1] => "a loopback",
        [x, ..] if x & 0xfe00 == 0xfc00 => "a unique-local (private)",
        [x, ..] if x & 0xffc0 == 0xfe80 => "a link-local",
        [x, ..] if x & 0xffc0 == 0xfec0 => "a site-local",
        [x, ..] if x & 0xff00 == 0xff00 => "a multicast",
        [0x100, 0, 0, 0, ..] => "a discard-only",
        [0x2001, 0xdb8, ..] => "a documentation",
        [0x2001, 0, ..] => "a Teredo tunnel",
        [0x64, 0xff9b, 1, ..] => "a local NAT64",
        _ => return None,
    })
}

/// The IPv4 address an IPv6 address stands for: mapped (`::ffff:a.b.c.d`), translated
/// (`::ffff:0:a.b.c.d`), compatible (`::a.b.c.d`), NAT64 (`64:ff9b::a.b.c.d`) and 6to4
/// (`2002:aabb:ccdd::`) forms all reach IPv4.
fn embedded_v4(ip: Ipv6Addr) -> Option<Ipv4Addr> {
    let s = ip.segments();
    let v4 = |hi: u16, lo: u16| Ipv4Addr::new((hi >> 8) as u8, hi as u8, (lo >> 8) as u8, lo as u8);
    match s {
        [0, 0, 0, 0, 0, 0xffff, hi, lo] | [0, 0, 0, 0, 0xffff, 0, hi, lo] => Some(v4(hi, lo)),
        // `::` and `::1` are IPv6's own unspecified and loopback addresses.
        [0, 0, 0, 0, 0, 0, hi, lo] if hi != 0 || lo > 1 => Some(v4(hi, lo)),
        [0x64, 0xff9b, 0, 0, 0, 0, hi, lo] => Some(v4(hi, lo)),
        [0x2002, hi, lo, ..] => Some(v4(hi, lo)),
        _ => None,
    }
}

/// Resolves with the system resolver and refuses the host when any address is blocked, so the
/// connector only ever sees checked addresses.
pub struct GuardedResolver {
    guard: Arc<AddressGuard>,
}

impl GuardedResolver {
    pub fn new(guard: Arc<AddressGuard>) -> Self {
        Self { guard }
    }
}

impl Resolve for GuardedResolver {
    fn resolve(&self, name: Name) -> Resolving {
        let guard = self.guard.clone();
        let host = name.as_str().to_string();
        Box::pin(async move {
            let resolved = tokio::net::lookup_host((host.as_str(), 0)).await;
            let addrs: Vec<SocketAddr> = resolved
                .map_err(|source| Box::new(DnsFailure { host: host.clone(), source }) as Box<dyn std::error::Error + Send + Sync>)?
                .collect();
            if addrs.is_empty() {
                let source = std::io::Error::new(std::io::ErrorKind::NotFound, "no addresses");
                return Err(Box::new(DnsFailure { host, source }) as Box<dyn std::error::Error + Send + Sync>);
            }
            for a in &addrs {
                guard.check_addr(&host, a.ip())?;
            }
            Ok(Box::new(addrs.into_iter()) as Addrs)
        })
    }
}

//! Which source URLs a `method=url` upload may name.
//!
//! TwelveLabs fetches a `method=url` source itself, so a URL naming an internal address would
//! make it fetch from inside someone's network (SSRF). The decision is made on the host as the
//! URL standard parses it ([`url::Url`], the parser browsers, `fetch` and TwelveLabs' own HTTP
//! stacks implement), never with string rules: `0x7f.1`, `0177.0.0.1`, `2130706433`,
//! `127.0.0.1.` and `%31%32%37.0.0.1` are all `Host::Ipv4(127.0.0.1)` once parsed, whatever
//! they look like as text. The URL sent upstream is the parser's serialisation, so TwelveLabs
//! reads exactly the host that was checked.
//!
//! What this cannot see: where a DNS name resolves. A public name pointing at a private address
//! is TwelveLabs' fetcher's to refuse; the Worker has no resolver.

use std::net::{Ipv4Addr, Ipv6Addr};

use url::{Host, Url};

use crate::core::error::Error;

/// Longest source URL accepted, in bytes.
pub const MAX_SOURCE_URL_BYTES: usize = 2048;

/// Name suffixes that never name a public host, besides single-label names: the special-use
/// names (RFC 6761, RFC 6762, RFC 8375, RFC 7686, RFC 9476 `.alt`, ICANN's `.internal`), the
/// top-level names RFC 6762 (Appendix G) lists as used on private networks, and Kubernetes'
/// cluster-internal `.svc`. None of them is delegated in the public DNS root, so a name under one
/// can only resolve inside someone's network.
const NON_PUBLIC_SUFFIXES: &[&str] = &[
    "localhost",
    "local",
    "localdomain",
    "internal",
    "home.arpa",
    "arpa",
    "invalid",
    "test",
    "example",
    "onion",
    "alt",
    "intranet",
    "private",
    "corp",
    "home",
    "lan",
    "svc",
];

/// Checks a `method=url` source and returns it as the URL parser serialises it (the form to
/// send upstream). Refused: anything but `https`, userinfo, hosts that are IP addresses outside
/// public unicast space, single-label names and the reserved local suffixes.
pub fn check_source_url(raw: &str) -> Result<Url, Error> {
    let refuse = |why: &str| Err(Error::invalid(format!("The `url` parameter {why}.")));
    // The parser silently drops tabs and newlines and trims spaces; refuse them before it does.
    if raw.len() > MAX_SOURCE_URL_BYTES || raw.chars().any(|c| c.is_control() || c == ' ') {
        return refuse(&format!(
            "must be at most {MAX_SOURCE_URL_BYTES} bytes, without spaces or control characters"
        ));
    }
    let Ok(url) = Url::parse(raw) else {
        return refuse("is not a URL");
    };
    if url.scheme() != "https" {
        return refuse("must be an https:// URL");
    }
    if !url.username().is_empty() || url.password().is_some() {
        return refuse("must not carry credentials");
    }
    match url.host() {
        None => refuse("has no host"),
        Some(Host::Ipv4(address)) if !is_public_ipv4(address) => {
            refuse("names a loopback, private, link-local or otherwise non-public address")
        }
        Some(Host::Ipv6(address)) if !is_public_ipv6(address) => {
            refuse("names a loopback, private, link-local or otherwise non-public address")
        }
        Some(Host::Domain(name)) if !is_public_name(name) => {
            refuse("must name a public host (not a single-label or local name)")
        }
        Some(_) => Ok(url),
    }
}

/// Whether an IPv4 address is public unicast: not in any special-purpose block of RFC 6890
/// that a fetch must not reach.
pub fn is_public_ipv4(address: Ipv4Addr) -> bool {
    let [a, b, c, _] = address.octets();
    let special = a == 0 // "this network", unspecified
        || a == 10 // private
        || (a == 100 && (64..128).contains(&b)) // CGNAT 100.64/10
        || a == 127 // loopback
        || (a == 169 && b == 254) // link-local (cloud metadata lives here)
        || (a == 172 && (16..32).contains(&b)) // private
        || (a == 192 && b == 0 && c == 0) // IETF protocol assignments
        || (a == 192 && b == 0 && c == 2) // documentation
        || (a == 192 && b == 88 && c == 99) // 6to4 relay anycast
        || (a == 192 && b == 168) // private
        || (a == 198 && (18..20).contains(&b)) // benchmarking
        || (a == 198 && b == 51 && c == 100) // documentation
        || (a == 203 && b == 0 && c == 113) // documentation
        || a >= 224; // multicast, reserved, broadcast
    !special
}

/// Whether an IPv6 address is public unicast: inside global unicast `2000::/3`, and not one of
/// the blocks in it that embed an IPv4 address or are reserved (Teredo, 6to4, documentation).
/// Everything else — unspecified, loopback, IPv4-mapped and -compatible, NAT64, unique local,
/// link-local, site-local, multicast — is refused.
pub fn is_public_ipv6(address: Ipv6Addr) -> bool {
    let s = address.segments();
    let global_unicast = (s[0] & 0xe000) == 0x2000;
    let teredo = s[0] == 0x2001 && s[1] == 0;
    let benchmarking = s[0] == 0x2001 && s[1] == 0x0002 && s[2] == 0;
    let orchid = s[0] == 0x2001 && (0x0010..0x0040).contains(&s[1]);
    let documentation = s[0] == 0x2001 && s[1] == 0x0db8;
    let six_to_four = s[0] == 0x2002;
    global_unicast && !(teredo || benchmarking || orchid || documentation || six_to_four)
}

/// Whether a (parsed, lower-case) domain name can name a public host: at least two labels, and
/// not under a reserved local suffix.
pub fn is_public_name(name: &str) -> bool {
    let name = name.strip_suffix('.').unwrap_or(name);
    if name.is_empty() || !name.contains('.') || name.split('.').any(str::is_empty) {
        return false;
    }
    !NON_PUBLIC_SUFFIXES
        .iter()
        .any(|suffix| name == *suffix || name.ends_with(&format!(".{suffix}")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn public_https_urls_pass_normalised() {
        for (raw, sent) in [
            (
                "https://example.com/video.mp4",
                "https://example.com/video.mp4",
            ),
            (
                "https://CDN.Example.com:8443/a/b.mp4?sig=1#x",
                "https://cdn.example.com:8443/a/b.mp4?sig=1#x",
            ),
            ("https://8.8.8.8/v.mp4", "https://8.8.8.8/v.mp4"),
            (
                "https://[2606:4700::1111]/v.mp4",
                "https://[2606:4700::1111]/v.mp4",
            ),
            ("https://example.com./v.mp4", "https://example.com./v.mp4"),
            // Those private suffixes are labels like any other below a public one.
            (
                "https://lan.svc.home.example.com/v.mp4",
                "https://lan.svc.home.example.com/v.mp4",
            ),
        ] {
            assert_eq!(check_source_url(raw).unwrap().as_str(), sent, "{raw}");
        }
    }

    #[test]
    fn every_spelling_of_a_refused_address_is_refused() {
        for bad in [
            // Loopback, every form the URL standard reads as 127.0.0.1 or 127.x.
            "https://127.0.0.1/v.mp4",
            "https://127.0.0.0x1/v.mp4",
            "https://0x7f.0.0.1/v.mp4",
            "https://0x7f000001/v.mp4",
            "https://0177.0.0.1/v.mp4",
            "https://017700000001/v.mp4",
            "https://2130706433/v.mp4",
            "https://127.1/v.mp4",
            "https://127.0.1/v.mp4",
            "https://127.0.0.1./v.mp4",
            "https://%31%32%37.0.0.1/v.mp4",
            "https://0x7F.0x0.0x0.0x1/v.mp4",
            "https://127.000.000.001/v.mp4",
            // Link-local (cloud metadata), private, CGNAT, unspecified, multicast, broadcast.
            "https://169.254.169.254/latest/meta-data",
            "https://169.254.169.0xfe/v.mp4",
            "https://0xa9fea9fe/v.mp4",
            "https://10.0.0.1/v.mp4",
            "https://012.1/v.mp4",
            "https://172.16.0.1/v.mp4",
            "https://172.31.255.255/v.mp4",
            "https://192.168.1.1/v.mp4",
            "https://0xc0a80101/v.mp4",
            "https://100.64.0.1/v.mp4",
            "https://100.127.255.254/v.mp4",
            "https://0.0.0.0/v.mp4",
            "https://0/v.mp4",
            "https://224.0.0.1/v.mp4",
            "https://255.255.255.255/v.mp4",
            "https://4294967295/v.mp4",
            // IPv6: loopback, unspecified, mapped and compatible IPv4, NAT64, ULA, link-local.
            "https://[::1]/v.mp4",
            "https://[0:0:0:0:0:0:0:1]/v.mp4",
            "https://[::]/v.mp4",
            "https://[::ffff:127.0.0.1]/v.mp4",
            "https://[::ffff:7f00:1]/v.mp4",
            "https://[::ffff:169.254.169.254]/v.mp4",
            "https://[::127.0.0.1]/v.mp4",
            "https://[64:ff9b::a9fe:a9fe]/v.mp4",
            "https://[fc00::1]/v.mp4",
            "https://[fd12:3456::1]/v.mp4",
            "https://[fe80::1]/v.mp4",
            "https://[fec0::1]/v.mp4",
            "https://[ff02::1]/v.mp4",
            "https://[2002:7f00:1::]/v.mp4",
            "https://[2001:0:4136:e378::1]/v.mp4",
            "https://[2001:db8::1]/v.mp4",
            // Names.
            "https://localhost/v.mp4",
            "https://LOCALHOST./v.mp4",
            "https://a.localhost/v.mp4",
            "https://intranet/v.mp4",
            "https://intranet./v.mp4",
            "https://metadata.google.internal/v.mp4",
            "https://printer.local/v.mp4",
            "https://%6c%6f%63%61%6c%68%6f%73%74/v.mp4",
            // Names only a private network resolves (RFC 6762 Appendix G, RFC 9476, Kubernetes).
            "https://kubernetes.default.svc/v.mp4",
            "https://nas.lan/v.mp4",
            "https://NAS.LAN./v.mp4",
            "https://intranet.corp/v.mp4",
            "https://router.home/v.mp4",
            "https://db.private/v.mp4",
            "https://files.intranet/v.mp4",
            "https://x.alt/v.mp4",
            // Scheme, credentials, shape.
            "http://example.com/v.mp4",
            "ftp://example.com/v.mp4",
            "file:///etc/passwd",
            "https://user:pw@example.com/v.mp4",
            "https://user@example.com/v.mp4",
            "https://:pw@example.com/v.mp4",
            "https://example.com:x/v.mp4",
            "https://exa mple.com/v.mp4",
            "https://example.com/a\tb",
            "https://exam\nple.com/v.mp4",
            "not a url",
        ] {
            assert!(check_source_url(bad).is_err(), "{bad}");
        }
        let long = format!("https://example.com/{}", "a".repeat(MAX_SOURCE_URL_BYTES));
        assert!(check_source_url(&long).is_err());
    }

    #[test]
    fn the_address_rules_cover_the_special_blocks() {
        for public in [
            "1.1.1.1",
            "100.63.255.255",
            "100.128.0.0",
            "172.32.0.1",
            "223.255.255.255",
        ] {
            assert!(is_public_ipv4(public.parse().unwrap()), "{public}");
        }
        for special in [
            "100.64.0.0",
            "198.18.0.1",
            "192.0.0.8",
            "240.0.0.1",
            "203.0.113.9",
        ] {
            assert!(!is_public_ipv4(special.parse().unwrap()), "{special}");
        }
        assert!(is_public_ipv6("2a00:1450::1".parse().unwrap()));
        assert!(!is_public_ipv6("::ffff:8.8.8.8".parse().unwrap()));
        assert!(is_public_name("cdn.example.co.uk"));
        assert!(!is_public_name("a..b"));
    }
}

//! ACL checks of a ZooKeeper 3.8 server with its two built-in authentication providers,
//! `digest` and `ip` (`ProviderRegistry` loads no others by default).
//!
//! * `world:anyone` grants to everyone; an authenticated `super` id bypasses every check.
//! * `digest` ids are `user:base64(sha1("user:password"))` and match by equality.
//! * `ip` ids are IPv4 addresses with an optional `/bits` mask (3.8 has no IPv6 support either).
//! * `auth` in a create/setACL expands to every id the requester authenticated with.

use base64::Engine as _;
use sha1::{Digest as _, Sha1};

use super::AuthId;
use crate::zk::types::{Acl, ErrorCode, perms};

/// The digest id of `user:password` (`DigestAuthenticationProvider.generateDigest`):
/// `user:base64(sha1("user:password"))`.
pub fn digest_id(user_password: &str) -> String {
    let user = user_password.split(':').next().unwrap_or("");
    let hash = Sha1::digest(user_password.as_bytes());
    format!(
        "{user}:{}",
        base64::engine::general_purpose::STANDARD.encode(hash)
    )
}

/// What an `addAuth(scheme, auth)` request adds to a connection
/// (`ServerAuthenticationProvider.handleAuthentication`). `digest` always succeeds (the
/// password is checked only when an ACL is matched); an unknown scheme fails with `AuthFailed`.
/// `ip` is not handled here: its id is the connection's remote address, which only the server
/// knows (it builds `AuthId { scheme: "ip", id: "a.b.c.d" }` itself).
pub fn authenticate(scheme: &str, auth: &[u8]) -> Result<AuthId, ErrorCode> {
    match scheme {
        "digest" => Ok(AuthId {
            scheme: "digest".into(),
            id: digest_id(&String::from_utf8_lossy(auth)),
        }),
        _ => Err(ErrorCode::AuthFailed),
    }
}

/// Checks an ACL list of a create or setACL and expands `auth` entries
/// (`PrepRequestProcessor.fixupACL`): duplicates dropped, empty → `InvalidAcl`, unknown schemes
/// or malformed ids → `InvalidAcl`, `auth` with no authenticated id → `InvalidAcl`.
pub fn fixup_acl(auth: &[AuthId], acl: &[Acl]) -> Result<Vec<Acl>, ErrorCode> {
    let mut unique: Vec<&Acl> = Vec::with_capacity(acl.len());
    for entry in acl {
        if !unique.contains(&entry) {
            unique.push(entry);
        }
    }
    if unique.is_empty() {
        return Err(ErrorCode::InvalidAcl);
    }
    let mut fixed = Vec::with_capacity(unique.len());
    for entry in unique {
        match entry.scheme.as_str() {
            "world" if entry.id == "anyone" => fixed.push(entry.clone()),
            "auth" => {
                // Only providers that call themselves "authenticated" expand: digest does, ip
                // does not, `super` has no provider at all.
                let ids: Vec<&AuthId> = auth.iter().filter(|a| a.scheme == "digest").collect();
                if ids.is_empty() {
                    return Err(ErrorCode::InvalidAcl);
                }
                fixed.extend(ids.into_iter().map(|a| Acl {
                    perms: entry.perms,
                    scheme: a.scheme.clone(),
                    id: a.id.clone(),
                }));
            }
            "digest" if is_valid_digest_id(&entry.id) => fixed.push(entry.clone()),
            "ip" if parse_ip_acl(&entry.id).is_some() => fixed.push(entry.clone()),
            _ => return Err(ErrorCode::InvalidAcl),
        }
    }
    Ok(fixed)
}

/// Whether `auth` holds permission `perm` on a node with `acl` (`ZooKeeperServer.checkACL`).
pub fn check_acl(acl: &[Acl], perm: u32, auth: &[AuthId]) -> Result<(), ErrorCode> {
    if acl.is_empty() || auth.iter().any(|a| a.scheme == "super") {
        return Ok(());
    }
    let granted = acl.iter().filter(|a| a.perms & perm != 0).any(|a| {
        (a.scheme == "world" && a.id == "anyone")
            || auth
                .iter()
                .any(|id| id.scheme == a.scheme && provider_matches(&a.scheme, &id.id, &a.id))
    });
    if granted {
        Ok(())
    } else {
        Err(ErrorCode::NoAuth)
    }
}

/// What getACL shows a reader without ADMIN: digest hashes replaced by `x`.
pub fn mask_digests(acl: &[Acl]) -> Vec<Acl> {
    acl.iter()
        .map(|a| match a.id.split_once(':') {
            Some((user, _)) if a.scheme == "digest" => Acl {
                perms: a.perms,
                scheme: a.scheme.clone(),
                id: format!("{user}:x"),
            },
            _ => a.clone(),
        })
        .collect()
}

/// `perms::READ | perms::ADMIN`: getACL needs either.
pub const READ_OR_ADMIN: u32 = perms::READ | perms::ADMIN;

fn provider_matches(scheme: &str, id: &str, acl_id: &str) -> bool {
    match scheme {
        "digest" => id == acl_id,
        "ip" => match (parse_ip_acl(id), parse_ip_acl(acl_id)) {
            (Some((addr, _)), Some((net, bits))) => mask(addr, bits) == mask(net, bits),
            _ => false,
        },
        _ => false,
    }
}

/// Java's `id.split(":").length == 2`: trailing empty parts do not count.
fn is_valid_digest_id(id: &str) -> bool {
    let mut parts: Vec<&str> = id.split(':').collect();
    while parts.len() > 1 && parts.last() == Some(&"") {
        parts.pop();
    }
    parts.len() == 2
}

/// `a.b.c.d` or `a.b.c.d/bits` → (address, bits), parsed as `IPAuthenticationProvider` does
/// (IPv4 only, decimal parts 0..=255).
fn parse_ip_acl(id: &str) -> Option<(u32, u32)> {
    let (addr, bits) = match id.split_once('/') {
        Some((addr, bits)) => (addr, bits.parse::<u32>().ok().filter(|b| *b <= 32)?),
        None => (id, 32),
    };
    let parts: Vec<&str> = addr.split('.').collect();
    if parts.len() != 4 {
        return None;
    }
    let mut value = 0u32;
    for part in parts {
        let byte = part.parse::<i32>().ok().filter(|b| (0..=255).contains(b))?;
        value = (value << 8) | byte as u32;
    }
    Some((value, bits))
}

fn mask(addr: u32, bits: u32) -> u32 {
    if bits == 0 {
        0
    } else {
        addr & (u32::MAX << (32 - bits))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn acl(perms: u32, scheme: &str, id: &str) -> Acl {
        Acl {
            perms,
            scheme: scheme.into(),
            id: id.into(),
        }
    }

    fn id(scheme: &str, id: &str) -> AuthId {
        AuthId {
            scheme: scheme.into(),
            id: id.into(),
        }
    }

    #[test]
    fn digest_matches_zookeeper() {
        // Known values from ZooKeeper's documentation and DigestAuthenticationProvider.main.
        assert_eq!(
            digest_id("super:test"),
            "super:D/InIHSb7yEEbrWz8b9l71RjZJU="
        );
        assert_eq!(digest_id("bob:secret").len(), "bob:".len() + 28);
        assert_eq!(
            authenticate("digest", b"super:test").unwrap(),
            id("digest", "super:D/InIHSb7yEEbrWz8b9l71RjZJU=")
        );
        assert_eq!(authenticate("kerberos", b"x"), Err(ErrorCode::AuthFailed));
    }

    #[test]
    fn fixup_expands_auth_and_rejects_bad_entries() {
        let bob = id("digest", &digest_id("bob:pw"));
        assert_eq!(fixup_acl(&[], &[]), Err(ErrorCode::InvalidAcl));
        assert_eq!(
            fixup_acl(&[], &[acl(perms::ALL, "auth", "")]),
            Err(ErrorCode::InvalidAcl)
        );
        assert_eq!(
            fixup_acl(std::slice::from_ref(&bob), &[acl(perms::ALL, "auth", "")]),
            Ok(vec![acl(perms::ALL, "digest", &bob.id)])
        );
        let open = Acl::open_unsafe();
        assert_eq!(
            fixup_acl(&[], &[open[0].clone(), open[0].clone()]),
            Ok(open.clone())
        );
        for bad in [
            acl(1, "world", "someone"),
            acl(1, "digest", "nocolon"),
            acl(1, "digest", "a:b:c"),
            acl(1, "ip", "300.1.1.1"),
            acl(1, "x509", "cn"),
        ] {
            assert_eq!(
                fixup_acl(&[], std::slice::from_ref(&bad)),
                Err(ErrorCode::InvalidAcl),
                "{bad:?}"
            );
        }
        assert!(fixup_acl(&[], &[acl(1, "ip", "10.0.0.0/8")]).is_ok());
        assert!(fixup_acl(&[], &[acl(1, "digest", "a:b:")]).is_ok());
    }

    #[test]
    fn check_acl_per_scheme() {
        let bob = digest_id("bob:pw");
        let node = vec![
            acl(perms::READ, "digest", &bob),
            acl(perms::WRITE, "ip", "10.1.0.0/16"),
        ];
        assert_eq!(check_acl(&node, perms::READ, &[]), Err(ErrorCode::NoAuth));
        assert_eq!(check_acl(&node, perms::READ, &[id("digest", &bob)]), Ok(()));
        assert_eq!(
            check_acl(&node, perms::WRITE, &[id("digest", &bob)]),
            Err(ErrorCode::NoAuth)
        );
        assert_eq!(
            check_acl(&node, perms::WRITE, &[id("ip", "10.1.2.3")]),
            Ok(())
        );
        assert_eq!(
            check_acl(&node, perms::WRITE, &[id("ip", "10.2.2.3")]),
            Err(ErrorCode::NoAuth)
        );
        assert_eq!(check_acl(&node, perms::ADMIN, &[id("super", "")]), Ok(()));
        assert_eq!(check_acl(&Acl::read_unsafe(), perms::READ, &[]), Ok(()));
        assert_eq!(
            check_acl(&Acl::read_unsafe(), perms::WRITE, &[]),
            Err(ErrorCode::NoAuth)
        );
        assert_eq!(
            check_acl(&node, READ_OR_ADMIN, &[id("digest", &bob)]),
            Ok(())
        );
    }

    #[test]
    fn masks_digest_hashes() {
        let masked = mask_digests(&[acl(1, "digest", "bob:abc="), acl(1, "world", "anyone")]);
        assert_eq!(masked[0].id, "bob:x");
        assert_eq!(masked[1].id, "anyone");
    }
}

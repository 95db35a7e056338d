//! Bearer tokens. Tokens are kept as SHA-256 digests and a presented token's
//! digest is compared with every stored one in constant time (`subtle`), so
//! neither the time taken nor an early exit tells how much of a guess was
//! right, or which token it was close to.

use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

/// Why a request was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Denied {
    /// No `Authorization: Bearer ...` header (401).
    Missing,
    /// A token that is not one of ours (403).
    Wrong,
}

/// The accepted tokens.
#[derive(Clone, Default)]
pub struct Tokens {
    digests: Vec<[u8; 32]>,
}

impl std::fmt::Debug for Tokens {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Tokens({} configured)", self.digests.len())
    }
}

fn digest(t: &[u8]) -> [u8; 32] {
    Sha256::digest(t).into()
}

impl Tokens {
    pub fn new(tokens: &[String]) -> Tokens {
        Tokens { digests: tokens.iter().map(|t| digest(t.as_bytes())).collect() }
    }

    pub fn is_empty(&self) -> bool {
        self.digests.is_empty()
    }

    /// Check an `Authorization` header value.
    ///
    /// # Errors
    /// [`Denied::Missing`] without a bearer token, [`Denied::Wrong`] for one that is not accepted.
    pub fn check(&self, header: Option<&[u8]>) -> Result<(), Denied> {
        let token = header.and_then(|h| {
            let h = std::str::from_utf8(h).ok()?.trim();
            let (scheme, rest) = h.split_once(' ')?;
            scheme.eq_ignore_ascii_case("bearer").then(|| rest.trim())
        });
        let Some(token) = token.filter(|t| !t.is_empty()) else {
            return Err(Denied::Missing);
        };
        let d = digest(token.as_bytes());
        // every stored digest is compared, whatever matched first
        let mut ok = subtle::Choice::from(0);
        for s in &self.digests {
            ok |= s.ct_eq(&d);
        }
        if bool::from(ok) {
            Ok(())
        } else {
            Err(Denied::Wrong)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bearer_tokens_are_checked() {
        let t = Tokens::new(&["0123456789abcdef-one".into(), "0123456789abcdef-two".into()]);
        assert_eq!(t.check(None), Err(Denied::Missing));
        assert_eq!(t.check(Some(b"Basic abc")), Err(Denied::Missing));
        assert_eq!(t.check(Some(b"Bearer ")), Err(Denied::Missing));
        assert_eq!(t.check(Some(b"Bearer 0123456789abcdef-one")), Ok(()));
        assert_eq!(t.check(Some(b"bearer 0123456789abcdef-two")), Ok(()));
        assert_eq!(t.check(Some(b"Bearer 0123456789abcdef-on")), Err(Denied::Wrong));
        assert_eq!(t.check(Some(b"Bearer 0123456789abcdef-onee")), Err(Denied::Wrong));
        assert_eq!(t.check(Some(&[0xff, 0xfe])), Err(Denied::Missing));
        assert_eq!(Tokens::default().check(Some(b"Bearer x")), Err(Denied::Wrong));
    }
}

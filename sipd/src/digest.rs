//! HTTP digest authentication as used by SIP (RFC 3261 §22.4, RFC 7616, RFC 8760): parsing a
//! `WWW-Authenticate`/`Proxy-Authenticate` challenge (rsip's typed header rejects
//! `algorithm=SHA-256`) and computing the `Authorization`/`Proxy-Authorization` answer with MD5
//! or SHA-256, `qop=auth` with `nc` and `cnonce`, and the `-sess` variants.

use md5::Md5;
use sha2::{Digest as _, Sha256};
use std::fmt::Write as _;

/// Digest hash algorithm (RFC 7616 §3.3, RFC 8760 §2).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Algorithm {
    /// `MD5` (the default when the challenge names none).
    Md5,
    /// `MD5-sess`.
    Md5Sess,
    /// `SHA-256`.
    Sha256,
    /// `SHA-256-sess`.
    Sha256Sess,
}

impl Algorithm {
    fn parse(s: &str) -> Option<Self> {
        [Self::Md5, Self::Md5Sess, Self::Sha256, Self::Sha256Sess]
            .into_iter()
            .find(|a| a.name().eq_ignore_ascii_case(s))
    }

    /// The token as written in the header.
    pub fn name(self) -> &'static str {
        match self {
            Self::Md5 => "MD5",
            Self::Md5Sess => "MD5-sess",
            Self::Sha256 => "SHA-256",
            Self::Sha256Sess => "SHA-256-sess",
        }
    }

    fn hash(self, data: &str) -> String {
        let bytes: Vec<u8> = match self {
            Self::Md5 | Self::Md5Sess => Md5::digest(data.as_bytes()).to_vec(),
            Self::Sha256 | Self::Sha256Sess => Sha256::digest(data.as_bytes()).to_vec(),
        };
        bytes.iter().fold(String::with_capacity(64), |mut s, b| {
            let _ = write!(s, "{b:02x}");
            s
        })
    }

    fn is_sess(self) -> bool {
        matches!(self, Self::Md5Sess | Self::Sha256Sess)
    }
}

/// A parsed digest challenge.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Challenge {
    /// `realm`.
    pub realm: String,
    /// `nonce`.
    pub nonce: String,
    /// `opaque`, echoed back.
    pub opaque: Option<String>,
    /// `algorithm`.
    pub algorithm: Algorithm,
    /// Whether `qop` offers `auth` (RFC 7616 §3.3); `auth-int` alone is not supported.
    pub qop_auth: bool,
    /// `stale=true`: the nonce expired but the credentials were right (retry with the new nonce).
    pub stale: bool,
}

/// Why a challenge cannot be answered.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ChallengeError {
    /// The scheme is not `Digest`.
    NotDigest,
    /// No `realm` or `nonce`.
    Missing(&'static str),
    /// An algorithm this client does not implement.
    UnsupportedAlgorithm(String),
    /// `qop` offered without `auth` (only `auth-int`).
    UnsupportedQop,
    /// Unbalanced quotes or a parameter without `=`.
    Syntax,
}

impl std::fmt::Display for ChallengeError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::NotDigest => f.write_str("challenge scheme is not Digest"),
            Self::Missing(p) => write!(f, "challenge without {p}"),
            Self::UnsupportedAlgorithm(a) => write!(f, "unsupported digest algorithm {a}"),
            Self::UnsupportedQop => f.write_str("challenge offers only qop=auth-int"),
            Self::Syntax => f.write_str("malformed challenge"),
        }
    }
}

impl std::error::Error for ChallengeError {}

/// Split `k=v, k="v, with comma"` into pairs, unquoting values (RFC 7616 §3.3 `auth-param`).
fn auth_params(s: &str) -> Result<Vec<(String, String)>, ChallengeError> {
    let mut out = Vec::new();
    let mut chars = s.chars().peekable();
    loop {
        while chars.peek().is_some_and(|c| c.is_whitespace() || *c == ',') {
            chars.next();
        }
        if chars.peek().is_none() {
            return Ok(out);
        }
        let mut key = String::new();
        while let Some(&c) = chars.peek() {
            if c == '=' || c == ',' {
                break;
            }
            key.push(c);
            chars.next();
        }
        if chars.next() != Some('=') {
            return Err(ChallengeError::Syntax);
        }
        while chars.peek().is_some_and(|c| c.is_whitespace()) {
            chars.next();
        }
        let mut value = String::new();
        if chars.peek() == Some(&'"') {
            chars.next();
            loop {
                match chars.next() {
                    None => return Err(ChallengeError::Syntax),
                    Some('"') => break,
                    Some('\\') => value.push(chars.next().ok_or(ChallengeError::Syntax)?),
                    Some(c) => value.push(c),
                }
            }
        } else {
            while let Some(&c) = chars.peek() {
                if c == ',' {
                    break;
                }
                value.push(c);
                chars.next();
            }
        }
        out.push((key.trim().to_ascii_lowercase(), value.trim().to_owned()));
    }
}

impl Challenge {
    /// Parse a `WWW-Authenticate` or `Proxy-Authenticate` value. Errors: [`ChallengeError`].
    pub fn parse(value: &str) -> Result<Self, ChallengeError> {
        let value = value.trim_start();
        let (scheme, rest) = value.split_once(char::is_whitespace).unwrap_or((value, ""));
        if !scheme.eq_ignore_ascii_case("Digest") {
            return Err(ChallengeError::NotDigest);
        }
        let params = auth_params(rest)?;
        let get = |k: &str| params.iter().find(|(n, _)| n == k).map(|(_, v)| v.clone());
        let algorithm = match get("algorithm") {
            None => Algorithm::Md5,
            Some(a) => Algorithm::parse(&a).ok_or(ChallengeError::UnsupportedAlgorithm(a))?,
        };
        let qop_auth = match get("qop") {
            None => false,
            Some(q) if q.split(',').any(|t| t.trim().eq_ignore_ascii_case("auth")) => true,
            Some(_) => return Err(ChallengeError::UnsupportedQop),
        };
        Ok(Self {
            realm: get("realm").ok_or(ChallengeError::Missing("realm"))?,
            nonce: get("nonce").ok_or(ChallengeError::Missing("nonce"))?,
            opaque: get("opaque"),
            algorithm,
            qop_auth,
            stale: get("stale").is_some_and(|s| s.eq_ignore_ascii_case("true")),
        })
    }

    /// The `Authorization` value answering this challenge for `method` and `uri`.
    /// `nc` is the nonce count (1 for the first use of this nonce), `cnonce` a fresh client
    /// nonce (used with qop and -sess).
    pub fn answer(
        &self,
        username: &str,
        password: &str,
        method: &str,
        uri: &str,
        nc: u32,
        cnonce: &str,
    ) -> String {
        let alg = self.algorithm;
        let mut ha1 = alg.hash(&format!("{username}:{}:{password}", self.realm));
        if alg.is_sess() {
            ha1 = alg.hash(&format!("{ha1}:{}:{cnonce}", self.nonce));
        }
        let ha2 = alg.hash(&format!("{method}:{uri}"));
        let nc = format!("{nc:08x}");
        let response = if self.qop_auth {
            alg.hash(&format!("{ha1}:{}:{nc}:{cnonce}:auth:{ha2}", self.nonce))
        } else {
            alg.hash(&format!("{ha1}:{}:{ha2}", self.nonce))
        };
        let mut out = format!(
            "Digest username=\"{}\", realm=\"{}\", nonce=\"{}\", uri=\"{uri}\", \
             response=\"{response}\", algorithm={}",
            quote(username),
            quote(&self.realm),
            quote(&self.nonce),
            alg.name()
        );
        if self.qop_auth || alg.is_sess() {
            let _ = write!(out, ", cnonce=\"{}\"", quote(cnonce));
        }
        if self.qop_auth {
            let _ = write!(out, ", qop=auth, nc={nc}");
        }
        if let Some(o) = &self.opaque {
            let _ = write!(out, ", opaque=\"{}\"", quote(o));
        }
        out
    }
}

fn quote(s: &str) -> String {
    s.replace('\\', "\\\\").replace('"', "\\\"")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn response_of(header: &str) -> String {
        let params = auth_params(header.trim_start_matches("Digest ")).unwrap();
        params.into_iter().find(|(k, _)| k == "response").unwrap().1
    }

    #[test]
    fn rfc2617_md5_vector() {
        let c = Challenge::parse(
            "Digest realm=\"testrealm@host.com\", qop=\"auth,auth-int\", \
             nonce=\"dcd98b7102dd2f0e8b11d0f600bfb0c093\", \
             opaque=\"5ccc069c403ebaf9f0171e9517f40e41\"",
        )
        .unwrap();
        assert_eq!(c.algorithm, Algorithm::Md5);
        let a = c.answer(
            "Mufasa",
            "Circle Of Life",
            "GET",
            "/dir/index.html",
            1,
            "0a4f113b",
        );
        assert_eq!(response_of(&a), "6629fae49393a05397450978507c4ef1");
        assert!(a.contains("nc=00000001") && a.contains("qop=auth"));
        assert!(a.contains("opaque=\"5ccc069c403ebaf9f0171e9517f40e41\""));
    }

    #[test]
    fn rfc7616_sha256_and_md5_vectors() {
        let text = |alg: &str| {
            format!(
                "Digest realm=\"http-auth@example.org\", qop=\"auth, auth-int\", \
                 algorithm={alg}, nonce=\"7ypf/xlj9XXwfDPEoM4URrv/xwf94BcCAzFZH4GiTo0v\", \
                 opaque=\"FQhe/qaU925kfnzjCev0ciny7QMkPqMAFRtzCUYo5tdS\""
            )
        };
        let cnonce = "f2/wE4q74E6zIJEtWaHKaf5wv/H5QzzpXusqGemxURZJ";
        let sha = Challenge::parse(&text("SHA-256")).unwrap();
        assert_eq!(sha.algorithm, Algorithm::Sha256);
        let a = sha.answer(
            "Mufasa",
            "Circle of Life",
            "GET",
            "/dir/index.html",
            1,
            cnonce,
        );
        assert_eq!(
            response_of(&a),
            "753927fa0e85d155564e2e272a28d1802ca10daf4496794697cf8db5856cb6c1"
        );
        let md5 = Challenge::parse(&text("MD5")).unwrap();
        let a = md5.answer(
            "Mufasa",
            "Circle of Life",
            "GET",
            "/dir/index.html",
            1,
            cnonce,
        );
        assert_eq!(response_of(&a), "8ca523f5e9506fed4657c9700eebdbec");
    }

    #[test]
    fn stale_and_errors() {
        let c = Challenge::parse("digest realm=r,nonce=n,stale=TRUE,algorithm=sha-256").unwrap();
        assert!(c.stale && !c.qop_auth);
        assert_eq!(c.algorithm, Algorithm::Sha256);
        assert_eq!(
            Challenge::parse("Basic realm=x"),
            Err(ChallengeError::NotDigest)
        );
        assert_eq!(
            Challenge::parse("Digest realm=\"r\""),
            Err(ChallengeError::Missing("nonce"))
        );
        assert!(matches!(
            Challenge::parse("Digest realm=r, nonce=n, algorithm=SHA-512-256"),
            Err(ChallengeError::UnsupportedAlgorithm(_))
        ));
        assert_eq!(
            Challenge::parse("Digest realm=r, nonce=n, qop=auth-int"),
            Err(ChallengeError::UnsupportedQop)
        );
        assert_eq!(
            Challenge::parse("Digest realm=\"r"),
            Err(ChallengeError::Syntax)
        );
    }
}

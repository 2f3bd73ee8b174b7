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
    /// The algorithm a header names (case-insensitive), `None` for one not implemented.
    pub fn parse(s: &str) -> Option<Self> {
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
        let response = self.digest(username, password, method, uri, nc, cnonce);
        let nc = format!("{nc:08x}");
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

impl Challenge {
    /// The request-digest of RFC 2617 §3.2.2.1 (RFC 7616 §3.4.1) for `method` (empty: the
    /// `rspauth` of §3.2.3, whose A2 has no method).
    fn digest(
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
        if self.qop_auth {
            alg.hash(&format!(
                "{ha1}:{}:{nc:08x}:{cnonce}:auth:{ha2}",
                self.nonce
            ))
        } else {
            alg.hash(&format!("{ha1}:{}:{ha2}", self.nonce))
        }
    }

    /// The `rspauth` a server that knows the password sends in Authentication-Info for our
    /// answer with `nc` and `cnonce` to `uri` (RFC 2617 §3.2.3, RFC 7616 §3.5: the
    /// request-digest with A2 = `":" uri`).
    pub fn rspauth(
        &self,
        username: &str,
        password: &str,
        uri: &str,
        nc: u32,
        cnonce: &str,
    ) -> String {
        self.digest(username, password, "", uri, nc, cnonce)
    }
}

/// An `Authentication-Info` header (RFC 2617 §3.2.3, RFC 3261 §20.6): the server's proof that
/// it knows the password (`rspauth`, with the `cnonce` and `nc` it answers) and the nonce to
/// use next.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct AuthInfo {
    /// `nextnonce`: the nonce for the next request.
    pub nextnonce: Option<String>,
    /// `rspauth`, lowercase hex.
    pub rspauth: Option<String>,
    /// `cnonce` echoed.
    pub cnonce: Option<String>,
    /// `nc` echoed.
    pub nc: Option<u32>,
}

impl AuthInfo {
    /// Parse the header's value. Errors: [`ChallengeError::Syntax`] for unbalanced quotes, a
    /// parameter without `=` or an `nc` that is not 8 hex digits.
    pub fn parse(value: &str) -> Result<Self, ChallengeError> {
        let mut info = Self::default();
        for (k, v) in auth_params(value)? {
            match k.as_str() {
                "nextnonce" => info.nextnonce = Some(v),
                "rspauth" => info.rspauth = Some(v.to_ascii_lowercase()),
                "cnonce" => info.cnonce = Some(v),
                "nc" if v.len() == 8 => {
                    info.nc = Some(u32::from_str_radix(&v, 16).map_err(|_| ChallengeError::Syntax)?)
                }
                "nc" => return Err(ChallengeError::Syntax),
                _ => {}
            }
        }
        Ok(info)
    }
}

/// Why an `Authorization` does not pass a challenge (RFC 3261 §22.4, the server side).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum VerifyError {
    /// Not a `Digest` answer, or malformed.
    Syntax,
    /// A parameter is missing or differs from the challenge (`username`, `realm`, `nonce`,
    /// `algorithm`, `qop`, `nc`, `cnonce`, `uri`).
    Mismatch(&'static str),
    /// `response` is wrong: wrong password (or a forgery).
    WrongResponse,
}

impl std::fmt::Display for VerifyError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Syntax => f.write_str("malformed Authorization"),
            Self::Mismatch(p) => write!(f, "Authorization with a wrong or missing {p}"),
            Self::WrongResponse => f.write_str("wrong digest response"),
        }
    }
}

impl std::error::Error for VerifyError {}

/// The parameters of an `Authorization`/`Proxy-Authorization` value (RFC 7616 §3.4).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Credentials {
    params: Vec<(String, String)>,
}

impl Credentials {
    /// Parse an `Authorization`/`Proxy-Authorization` value. Errors: not `Digest`, or
    /// malformed ([`VerifyError::Syntax`]).
    pub fn parse(value: &str) -> Result<Self, VerifyError> {
        let value = value.trim_start();
        let (scheme, rest) = value.split_once(char::is_whitespace).unwrap_or((value, ""));
        if !scheme.eq_ignore_ascii_case("Digest") {
            return Err(VerifyError::Syntax);
        }
        let params = auth_params(rest).map_err(|_| VerifyError::Syntax)?;
        Ok(Self { params })
    }

    /// The value of parameter `name` (lower case), unquoted.
    pub fn get(&self, name: &str) -> Option<&str> {
        self.params
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }
}

impl Challenge {
    /// A challenge sipd issues (RFC 7616 §3.3): `qop=auth`, not stale.
    pub fn issue(realm: &str, nonce: &str, algorithm: Algorithm) -> Self {
        Self {
            realm: realm.to_owned(),
            nonce: nonce.to_owned(),
            opaque: None,
            algorithm,
            qop_auth: true,
            stale: false,
        }
    }

    /// The `WWW-Authenticate` value of this challenge.
    pub fn header(&self) -> String {
        let mut out = format!(
            "Digest realm=\"{}\", nonce=\"{}\", algorithm={}",
            quote(&self.realm),
            quote(&self.nonce),
            self.algorithm.name()
        );
        if self.qop_auth {
            out.push_str(", qop=\"auth\"");
        }
        if let Some(o) = &self.opaque {
            let _ = write!(out, ", opaque=\"{}\"", quote(o));
        }
        if self.stale {
            out.push_str(", stale=true");
        }
        out
    }

    /// Check `cred` against this challenge for `method` with the expected `username` and
    /// `password` (RFC 3261 §22.4, RFC 7616 §3.4): same realm, nonce and algorithm, `qop=auth`
    /// when offered, and the right `response`. Returns the nonce count (`nc`, 0 without qop).
    /// Errors: [`VerifyError`].
    pub fn verify(
        &self,
        cred: &Credentials,
        username: &str,
        password: &str,
        method: &str,
    ) -> Result<u32, VerifyError> {
        let need = |name: &'static str| cred.get(name).ok_or(VerifyError::Mismatch(name));
        if need("username")? != username {
            return Err(VerifyError::Mismatch("username"));
        }
        if need("realm")? != self.realm {
            return Err(VerifyError::Mismatch("realm"));
        }
        if need("nonce")? != self.nonce {
            return Err(VerifyError::Mismatch("nonce"));
        }
        let algorithm = cred
            .get("algorithm")
            .map_or(Some(Algorithm::Md5), Algorithm::parse);
        if algorithm != Some(self.algorithm) {
            return Err(VerifyError::Mismatch("algorithm"));
        }
        let uri = need("uri")?;
        let (nc, cnonce) = match cred.get("qop") {
            Some(q) if q.eq_ignore_ascii_case("auth") => (
                u32::from_str_radix(need("nc")?, 16).map_err(|_| VerifyError::Mismatch("nc"))?,
                need("cnonce")?,
            ),
            Some(_) => return Err(VerifyError::Mismatch("qop")),
            None if self.qop_auth => return Err(VerifyError::Mismatch("qop")),
            None => (0, cred.get("cnonce").unwrap_or("")),
        };
        let want = self.digest(username, password, method, uri, nc, cnonce);
        let got = need("response")?;
        if same_hex(&want, got) {
            Ok(nc)
        } else {
            Err(VerifyError::WrongResponse)
        }
    }
}

/// Whether hex digest `got` (any case) is `want` (lowercase), comparing every byte whatever
/// the first difference, so timing tells nothing.
pub fn same_hex(want: &str, got: &str) -> bool {
    want.len() == got.len()
        && want
            .bytes()
            .zip(got.bytes())
            .fold(0u8, |acc, (a, b)| acc | (a ^ b.to_ascii_lowercase()))
            == 0
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

    /// The RFC 2617 §3.5 exchange; its rspauth (the RFC gives none) and a SIP SHA-256 one were
    /// computed independently with Python's hashlib.
    #[test]
    fn rspauth_vectors() {
        let c = Challenge::parse(
            "Digest realm=\"testrealm@host.com\", qop=\"auth\", \
             nonce=\"dcd98b7102dd2f0e8b11d0f600bfb0c093\"",
        )
        .unwrap();
        let r = c.rspauth("Mufasa", "Circle Of Life", "/dir/index.html", 1, "0a4f113b");
        assert_eq!(r, "376602cfd2f4e8e5e78b948a85263e85");
        let c =
            Challenge::parse("Digest realm=\"vm\", nonce=\"n1\", qop=\"auth\", algorithm=SHA-256")
                .unwrap();
        assert_eq!(
            c.rspauth("user1", "password1", "sip:127.0.0.1:5060", 2, "c0ffee"),
            "223a88eabfd25b3b446f2a624402624d6cc5b32a700ba5f003c1793bbc388ffe"
        );
        let info = AuthInfo::parse(
            "nextnonce=\"n2\", qop=auth, rspauth=\"376602CFD2F4E8E5E78B948A85263E85\", \
             cnonce=\"0a4f113b\", nc=00000001",
        )
        .unwrap();
        assert_eq!(info.nextnonce.as_deref(), Some("n2"));
        assert_eq!(
            info.rspauth.as_deref(),
            Some("376602cfd2f4e8e5e78b948a85263e85")
        );
        assert_eq!(
            (info.cnonce.as_deref(), info.nc),
            (Some("0a4f113b"), Some(1))
        );
        assert_eq!(AuthInfo::parse("nc=1"), Err(ChallengeError::Syntax));
        assert_eq!(AuthInfo::parse("rspauth=\"x"), Err(ChallengeError::Syntax));
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
    fn issued_challenge_verifies_its_own_answer() {
        for alg in [Algorithm::Md5, Algorithm::Sha256] {
            let c = Challenge::issue("sipd", "n0nce", alg);
            assert_eq!(Challenge::parse(&c.header()), Ok(c.clone()));
            let answer = c.answer("user1", "pw", "NOTIFY", "sip:8000@h", 3, "cn");
            let cred = Credentials::parse(&answer).unwrap();
            assert_eq!(c.verify(&cred, "user1", "pw", "NOTIFY"), Ok(3));
            assert_eq!(
                c.verify(&cred, "user1", "other", "NOTIFY"),
                Err(VerifyError::WrongResponse)
            );
            assert_eq!(
                c.verify(&cred, "user2", "pw", "NOTIFY"),
                Err(VerifyError::Mismatch("username"))
            );
            assert_eq!(
                c.verify(&cred, "user1", "pw", "SUBSCRIBE"),
                Err(VerifyError::WrongResponse)
            );
            let other = Challenge::issue("sipd", "other", alg);
            assert_eq!(
                other.verify(&cred, "user1", "pw", "NOTIFY"),
                Err(VerifyError::Mismatch("nonce"))
            );
        }
        // qop was offered: an answer without it (RFC 2069 style) is refused.
        let mut old = Challenge::issue("sipd", "n", Algorithm::Md5);
        old.qop_auth = false;
        let cred = Credentials::parse(&old.answer("u", "p", "NOTIFY", "sip:x", 1, "c")).unwrap();
        let c = Challenge::issue("sipd", "n", Algorithm::Md5);
        assert_eq!(
            c.verify(&cred, "u", "p", "NOTIFY"),
            Err(VerifyError::Mismatch("qop"))
        );
        assert_eq!(
            Credentials::parse("Basic dXNlcg=="),
            Err(VerifyError::Syntax)
        );
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

//! `password_file` of `[sip.auth]`, `[fxs.auth]` and `[[notifier.account]]`: the password read from its own file, by
//! sipd only (chand reads the configuration too and must never need the password). A relative
//! name is looked up in `$CREDENTIALS_DIRECTORY`, where systemd puts what `LoadCredential=`
//! names (systemd.exec(5) "Credentials").

use mwi_config::Config;
use std::io::Read;
use std::path::{Path, PathBuf};

/// The environment variable systemd sets to the directory of the unit's credentials.
pub const CREDENTIALS_DIRECTORY: &str = "CREDENTIALS_DIRECTORY";

/// The longest password file read, octets.
pub const MAX_PASSWORD_FILE: usize = 4096;

/// Fill `password` of every credential set of `cfg` that names a `password_file`, from that
/// file (see [`read_password`]), with `credentials` as `$CREDENTIALS_DIRECTORY`.
///
/// Errors: the section, the file's path and why it cannot be used, e.g.
/// `[sip.auth] password_file /run/credentials/x/sip-password: No such file or directory`.
pub fn read_passwords(cfg: &mut Config, credentials: Option<&Path>) -> Result<(), String> {
    let ports = cfg.fxs.iter_mut().filter_map(|f| {
        f.auth
            .as_mut()
            .map(|a| (format!("[fxs.auth] of {}", f.number), a))
    });
    let accounts = cfg
        .notifier
        .account
        .iter_mut()
        .map(|a| (format!("[[notifier.account]] {}", a.username), a));
    for (section, auth) in cfg
        .sip
        .auth
        .as_mut()
        .map(|a| ("[sip.auth]".to_owned(), a))
        .into_iter()
        .chain(ports)
        .chain(accounts)
    {
        if let Some(name) = &auth.password_file {
            auth.password = read_password(name, credentials)
                .map_err(|e| format!("{section} password_file {e}"))?;
        }
    }
    Ok(())
}

/// The password in file `name` (relative: in `credentials`), without one trailing newline.
///
/// Errors: `PATH: REASON` when the file cannot be opened or read, is longer than
/// [`MAX_PASSWORD_FILE`], is not UTF-8 or holds no password; `NAME: ...` for a relative name
/// without a credentials directory.
pub fn read_password(name: &Path, credentials: Option<&Path>) -> Result<String, String> {
    let path: PathBuf = match credentials {
        _ if name.is_absolute() => name.to_owned(),
        Some(dir) => dir.join(name),
        None => {
            return Err(format!(
                "{}: a relative name needs ${CREDENTIALS_DIRECTORY} (systemd LoadCredential=)",
                name.display()
            ))
        }
    };
    let fail = |why: String| format!("{}: {why}", path.display());
    let file = std::fs::File::open(&path).map_err(|e| fail(e.to_string()))?;
    let mut bytes = Vec::new();
    file.take(MAX_PASSWORD_FILE as u64 + 1)
        .read_to_end(&mut bytes)
        .map_err(|e| fail(e.to_string()))?;
    if bytes.len() > MAX_PASSWORD_FILE {
        return Err(fail(format!("longer than {MAX_PASSWORD_FILE} octets")));
    }
    let text = String::from_utf8(bytes).map_err(|_| fail("not UTF-8 text".into()))?;
    let password = text
        .strip_suffix('\n')
        .map(|t| t.strip_suffix('\r').unwrap_or(t))
        .unwrap_or(&text);
    if password.is_empty() {
        return Err(fail("empty: no password in it".into()));
    }
    Ok(password.to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn relative_names_are_credentials_and_errors_name_the_path() {
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path();
        std::fs::write(d.join("sip-password"), "s3cret\r\n").unwrap();
        std::fs::write(d.join("two-lines"), "a\n\n").unwrap();
        std::fs::write(d.join("empty"), "\n").unwrap();
        std::fs::write(d.join("big"), vec![b'x'; MAX_PASSWORD_FILE + 1]).unwrap();
        std::fs::write(d.join("latin1"), [0xe9]).unwrap();
        let name = Path::new("sip-password");
        assert_eq!(read_password(name, Some(d)).unwrap(), "s3cret");
        assert_eq!(read_password(&d.join(name), None).unwrap(), "s3cret");
        assert_eq!(
            read_password(Path::new("two-lines"), Some(d)).unwrap(),
            "a\n"
        );
        let e = read_password(name, None).unwrap_err();
        assert!(e.contains("$CREDENTIALS_DIRECTORY"), "{e}");
        let missing = d.join("missing");
        let e = read_password(&missing, None).unwrap_err();
        assert!(
            e.starts_with(&format!("{}: No such file", missing.display())),
            "{e}"
        );
        for (file, why) in [
            ("empty", "empty"),
            ("big", "longer than"),
            ("latin1", "UTF-8"),
        ] {
            let e = read_password(Path::new(file), Some(d)).unwrap_err();
            assert!(e.contains(why), "{file}: {e}");
        }
    }
}

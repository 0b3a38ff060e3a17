//! The queue's address (`--queue URL` / `SHARDTEST_QUEUE`): `redis://`, `rediss://` (TLS)
//! or `redis+unix://`, with an optional user and password. It is only ever shown with the
//! password masked.

use std::fmt;
use std::str::FromStr;

/// A Redis URL whose `Display` masks the password.
///
/// ```
/// use shardtest::queue::QueueUrl;
/// let u: QueueUrl = "redis://ci:s3cret@redis.internal:6379/0".parse().unwrap();
/// assert_eq!(u.to_string(), "redis://ci:***@redis.internal:6379/0");
/// assert_eq!(u.secret(), "redis://ci:s3cret@redis.internal:6379/0");
/// assert!("http://x".parse::<QueueUrl>().is_err());
/// ```
#[derive(Clone, PartialEq, Eq)]
pub struct QueueUrl {
    raw: String,
    masked: String,
}

impl QueueUrl {
    /// The full URL, password included: for the client only, never for a message.
    pub fn secret(&self) -> &str {
        &self.raw
    }

    /// The password, when the URL has one (to mask it in any text).
    pub fn password(&self) -> Option<&str> {
        let rest = self.raw.split_once("://")?.1;
        let userinfo = rest.rsplit_once('@')?.0;
        userinfo
            .split_once(':')
            .map(|(_, p)| p)
            .filter(|p| !p.is_empty())
    }
}

impl fmt::Display for QueueUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.masked)
    }
}

impl fmt::Debug for QueueUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "QueueUrl({})", self.masked)
    }
}

impl FromStr for QueueUrl {
    type Err = super::QueueError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let s = s.trim();
        let Some((scheme, rest)) = s.split_once("://") else {
            return Err(super::QueueError::BadUrl(format!(
                "`{}` is not a queue URL: write redis://[[USER]:PASSWORD@]HOST[:PORT][/DB] (or rediss:// for TLS)",
                mask(s)
            )));
        };
        if !matches!(scheme, "redis" | "rediss" | "redis+unix" | "unix") {
            return Err(super::QueueError::BadUrl(format!(
                "`{}`: the queue needs a Redis URL (redis://, rediss:// or redis+unix://), not {scheme}://",
                mask(s)
            )));
        }
        if rest.is_empty() {
            return Err(super::QueueError::BadUrl(format!(
                "`{s}` names no host: write e.g. redis://127.0.0.1:6379/0"
            )));
        }
        Ok(QueueUrl {
            raw: s.to_string(),
            masked: mask(s),
        })
    }
}

/// The URL with the password (if any) replaced by `***`.
fn mask(s: &str) -> String {
    let Some((scheme, rest)) = s.split_once("://") else {
        return s.to_string();
    };
    let Some((userinfo, host)) = rest.rsplit_once('@') else {
        return s.to_string();
    };
    let user = match userinfo.split_once(':') {
        Some((u, _)) => format!("{u}:***"),
        None => "***".to_string(),
    };
    format!("{scheme}://{user}@{host}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn passwords_never_show() {
        for (raw, shown) in [
            ("redis://:pw@h:1/0", "redis://:***@h:1/0"),
            ("rediss://user:p%40ss@h/2", "rediss://user:***@h/2"),
            ("redis://h:6379", "redis://h:6379"),
            ("redis://onlypass@h", "redis://***@h"),
        ] {
            let u: QueueUrl = raw.parse().unwrap();
            assert_eq!(u.to_string(), shown);
            assert_eq!(format!("{u:?}"), format!("QueueUrl({shown})"));
        }
        let e = "ftp://:pw@h".parse::<QueueUrl>().unwrap_err().to_string();
        assert!(!e.contains("pw@"), "{e}");
    }
}

//! The server: where it is (`DATABASE_URL`), whether one is configured ([`available`]),
//! connecting to one of its databases, and connection strings for a given database.

use std::time::Duration;

use postgres::{Client, Config, NoTls};

use super::PgError;

/// The environment variable with the server's connection string.
pub const DATABASE_URL_ENV: &str = "DATABASE_URL";

/// Whether `DATABASE_URL` is set, for tests that skip without a server.
///
/// ```
/// if !shard::pg::available() {
///     eprintln!("SKIPPED: DATABASE_URL is not set");
/// }
/// ```
pub fn available() -> bool {
    std::env::var_os(DATABASE_URL_ENV).is_some_and(|v| !v.is_empty())
}

/// The server's connection string and parsed config.
#[derive(Clone)]
pub(super) struct Server {
    pub(super) url: String,
    pub(super) config: Config,
    target: String,
}

impl Server {
    pub(super) fn from_env() -> Result<Server, PgError> {
        let url = std::env::var(DATABASE_URL_ENV)
            .ok()
            .filter(|v| !v.trim().is_empty())
            .ok_or(PgError::NoUrl)?;
        let config: Config = url.parse().map_err(|source| PgError::BadUrl { source })?;
        let target = target_of(&config);
        Ok(Server {
            url,
            config,
            target,
        })
    }

    /// The role connections log in as (for error messages).
    pub(super) fn role(&self) -> String {
        self.config
            .get_user()
            .map(str::to_string)
            .or_else(|| std::env::var("USER").ok())
            .unwrap_or_else(|| "?".to_string())
    }

    /// A new connection to `dbname` (default: the URL's database), with `options`.
    pub(super) fn connect_to(
        &self,
        dbname: Option<&str>,
        options: Option<&str>,
    ) -> Result<Client, PgError> {
        let mut cfg = self.config.clone();
        if let Some(db) = dbname {
            cfg.dbname(db);
        }
        if let Some(o) = options {
            cfg.options(o);
        }
        if cfg.get_connect_timeout().is_none() {
            cfg.connect_timeout(Duration::from_secs(10));
        }
        cfg.connect(NoTls).map_err(|source| {
            if source.as_db_error().is_some() {
                PgError::Refused {
                    target: self.target.clone(),
                    source,
                }
            } else {
                PgError::Unreachable {
                    target: self.target.clone(),
                    source,
                }
            }
        })
    }
}

/// Hosts and ports of `config`, for error messages (never the password).
fn target_of(config: &Config) -> String {
    let hosts: Vec<String> = config
        .get_hosts()
        .iter()
        .map(|h| match h {
            postgres::config::Host::Tcp(s) => s.clone(),
            #[cfg(unix)]
            postgres::config::Host::Unix(p) => p.display().to_string(),
        })
        .collect();
    let ports: Vec<String> = config.get_ports().iter().map(u16::to_string).collect();
    format!(
        "{}{}{}",
        if hosts.is_empty() {
            "localhost".to_string()
        } else {
            hosts.join(",")
        },
        if ports.is_empty() { "" } else { ":" },
        ports.join(",")
    )
}

/// `url` with its database replaced (and `options` added), for URL and key=value forms.
pub(super) fn url_with(url: &str, dbname: &str, options: Option<&str>) -> String {
    let enc = |s: &str| -> String {
        s.bytes()
            .map(|b| {
                if b.is_ascii_alphanumeric() || b"-_.~".contains(&b) {
                    (b as char).to_string()
                } else {
                    format!("%{b:02X}")
                }
            })
            .collect()
    };
    if let Some(rest) = url
        .strip_prefix("postgresql://")
        .or_else(|| url.strip_prefix("postgres://"))
    {
        let scheme = &url[..url.len() - rest.len()];
        let (before_q, query) = match rest.split_once('?') {
            Some((a, b)) => (a, Some(b)),
            None => (rest, None),
        };
        let authority = before_q.split('/').next().unwrap_or("");
        let mut out = format!("{scheme}{authority}/{dbname}");
        let mut params: Vec<String> = query
            .map(|qs| {
                qs.split('&')
                    .filter(|p| !(p.is_empty() || options.is_some() && p.starts_with("options=")))
                    .map(str::to_string)
                    .collect()
            })
            .unwrap_or_default();
        if let Some(o) = options {
            params.push(format!("options={}", enc(o)));
        }
        if !params.is_empty() {
            out.push('?');
            out.push_str(&params.join("&"));
        }
        out
    } else {
        let mut out = format!("{url} dbname={dbname}");
        if let Some(o) = options {
            out.push_str(&format!(" options='{}'", o.replace('\'', "\\'")));
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_get_the_database_and_options() {
        assert_eq!(
            url_with(
                "postgresql://u@127.0.0.1:5432/postgres?sslmode=disable",
                "d",
                None
            ),
            "postgresql://u@127.0.0.1:5432/d?sslmode=disable"
        );
        assert_eq!(
            url_with("postgres://h", "d", Some("-c search_path=s")),
            "postgres://h/d?options=-c%20search_path%3Ds"
        );
        assert_eq!(url_with("host=h", "d", None), "host=h dbname=d");
    }
}

//! What the command-line examples (`quic-cp`, `http3`) share: running a
//! subcommand in an actix system with logs on stderr, the servers'
//! options (`--listen`, `--dir`, `--cert`/`--key`), and their
//! certificate, from PEM files or generated and written for clients to
//! trust.

use actix_quic::rustls::pki_types::pem::PemObject;
use actix_quic::rustls::pki_types::{CertificateDer, PrivateKeyDer};
use std::net::SocketAddr;
use std::path::PathBuf;

pub type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// Runs `command` on the program's arguments in an actix system, logging
/// to stderr (`RUST_LOG`); an error is printed after `name` and exits
/// with failure.
pub fn run<F>(name: &str, command: impl FnOnce(Vec<String>) -> F) -> std::process::ExitCode
where
    F: std::future::Future<Output = Result<std::process::ExitCode, BoxError>>,
{
    tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::from_default_env())
        .with_writer(std::io::stderr)
        .init();
    let args: Vec<String> = std::env::args().skip(1).collect();
    match actix::System::new().block_on(command(args)) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("{name}: {e}");
            std::process::ExitCode::FAILURE
        }
    }
}

/// The value after `flag`.
pub fn value<'a>(
    args: &mut impl Iterator<Item = &'a String>,
    flag: &str,
    usage: &str,
) -> Result<String, BoxError> {
    args.next()
        .cloned()
        .ok_or_else(|| format!("{flag} needs a value\n{usage}").into())
}

/// A server's options.
pub struct ServeArgs {
    pub listen: SocketAddr,
    pub dir: PathBuf,
    pub cert: Option<(PathBuf, PathBuf)>,
}

impl ServeArgs {
    /// Parses `args`; `listen` when none is given.
    pub fn parse(args: &[String], listen: &str, usage: &str) -> Result<Self, BoxError> {
        let mut listen: SocketAddr = listen.parse()?;
        let mut dir = PathBuf::from(".");
        let (mut cert, mut key) = (None, None);
        let mut it = args.iter();
        while let Some(a) = it.next() {
            match a.as_str() {
                "--listen" => listen = value(&mut it, a, usage)?.parse()?,
                "--dir" => dir = value(&mut it, a, usage)?.into(),
                "--cert" => cert = Some(PathBuf::from(value(&mut it, a, usage)?)),
                "--key" => key = Some(PathBuf::from(value(&mut it, a, usage)?)),
                _ => return Err(format!("unknown argument {a}\n{usage}").into()),
            }
        }
        let cert = match (cert, key) {
            (Some(c), Some(k)) => Some((c, k)),
            (None, None) => None,
            _ => return Err("--cert and --key go together".into()),
        };
        Ok(Self { listen, dir, cert })
    }

    /// The server's certificate chain and key: from `--cert`/`--key`, or
    /// generated for `localhost` and the listening address and written
    /// to `DIR/cert_name` for clients to trust.
    pub fn identity(
        &self,
        cert_name: &str,
    ) -> Result<(Vec<CertificateDer<'static>>, PrivateKeyDer<'static>), BoxError> {
        if let Some((cert, key)) = &self.cert {
            let chain = CertificateDer::pem_file_iter(cert)
                .and_then(|i| i.collect::<Result<Vec<_>, _>>())
                .map_err(|e| format!("{}: {e}", cert.display()))?;
            let key =
                PrivateKeyDer::from_pem_file(key).map_err(|e| format!("{}: {e}", key.display()))?;
            return Ok((chain, key));
        }
        let names = vec!["localhost".to_string(), self.listen.ip().to_string()];
        let generated = rcgen::generate_simple_self_signed(names)?;
        let path = self.dir.join(cert_name);
        std::fs::write(&path, generated.cert.pem())?;
        println!("certificate: {}", path.display());
        let key = PrivateKeyDer::Pkcs8(generated.key_pair.serialize_der().into());
        Ok((vec![generated.cert.der().clone()], key))
    }
}

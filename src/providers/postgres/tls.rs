//! TLS to PostgreSQL through rustls, as libpq's `sslmode` asks: `prefer`
//! and `require` encrypt without checking whom they reach, `verify-ca`
//! checks the certificate's chain, `verify-full` its chain and host name.
//! Roots come from `sslrootcert` (a PEM file), else the system's store.

use std::sync::Arc;

use rustls::client::WebPkiServerVerifier;
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::{CryptoProvider, verify_tls12_signature, verify_tls13_signature};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::{CertificateError, DigitallySignedStruct, Error, RootCertStore, SignatureScheme};
use tokio_postgres_rustls::MakeRustlsConnect;


/// The connector for `mode`, with the roots of `root` (a PEM file) or
/// the system's.
pub fn connector(mode: Tls, root: Option<&str>) -> Result<MakeRustlsConnect, String> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let builder = rustls::ClientConfig::builder_with_provider(provider.clone())
        .with_safe_default_protocol_versions()
        .map_err(|e| format!("TLS: {e}"))?;
    let verifier: Arc<dyn ServerCertVerifier> = match mode {
        Tls::Disable | Tls::Prefer | Tls::Require => Arc::new(Lenient {
            chain: None,
            provider,
        }),
        Tls::VerifyCa | Tls::VerifyFull => {
            let webpki = WebPkiServerVerifier::builder_with_provider(Arc::new(roots(root)?), provider.clone())
                .build()
                .map_err(|e| format!("TLS: {e}"))?;
            if mode == Tls::VerifyCa {
                Arc::new(Lenient {
                    chain: Some(webpki),
                    provider,
                })
            } else {
                webpki
            }
        }
    };
    let config = builder
        .dangerous()
        .with_custom_certificate_verifier(verifier)
        .with_no_client_auth();
    Ok(MakeRustlsConnect::new(config))
}

fn roots(file: Option<&str>) -> Result<RootCertStore, String> {
    let mut store = RootCertStore::empty();
    match file {
        Some(path) if path != "system" => {
            let certs = CertificateDer::pem_file_iter(path)
                .map_err(|e| format!("sslrootcert {path}: {e}"))?;
            for c in certs {
                let c = c.map_err(|e| format!("sslrootcert {path}: {e}"))?;
                store
                    .add(c)
                    .map_err(|e| format!("sslrootcert {path}: {e}"))?;
            }
        }
        _ => {
            let found = rustls_native_certs::load_native_certs();
            store.add_parsable_certificates(found.certs);
        }
    }
    if store.is_empty() {
        return Err("no root certificate to verify the server with (sslrootcert, or the system's store)".to_string());
    }
    Ok(store)
}

/// What `prefer`, `require` and `verify-ca` check of the server's
/// certificate: its chain (to `chain`'s roots) for `verify-ca`, nothing
/// for the others (libpq's meanings); never its name. The handshake's
/// signatures are checked all the same.
#[derive(Debug)]
struct Lenient {
    chain: Option<Arc<WebPkiServerVerifier>>,
    provider: Arc<CryptoProvider>,
}

impl ServerCertVerifier for Lenient {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        server_name: &ServerName<'_>,
        ocsp: &[u8],
        now: UnixTime,
    ) -> Result<ServerCertVerified, Error> {
        let Some(chain) = &self.chain else {
            return Ok(ServerCertVerified::assertion());
        };
        match chain.verify_server_cert(end_entity, intermediates, server_name, ocsp, now) {
            Err(Error::InvalidCertificate(CertificateError::NotValidForName))
            | Err(Error::InvalidCertificate(CertificateError::NotValidForNameContext { .. })) => {
                Ok(ServerCertVerified::assertion())
            }
            other => other,
        }
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, Error> {
        verify_tls12_signature(message, cert, dss, &self.provider.signature_verification_algorithms)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, Error> {
        verify_tls13_signature(message, cert, dss, &self.provider.signature_verification_algorithms)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.provider.signature_verification_algorithms.supported_schemes()
    }
}

/// How the connection is secured, from the URL's `sslmode` (libpq's
/// meanings; default `prefer`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Tls {
    /// `disable`: never.
    Disable,
    /// `prefer`: encrypted when the server offers it, not verified.
    Prefer,
    /// `require`: encrypted, not verified (unless `sslrootcert` is given:
    /// then as `verify-ca`).
    Require,
    /// `verify-ca`: encrypted, the certificate chain verified.
    VerifyCa,
    /// `verify-full`: encrypted, chain and host name verified.
    VerifyFull,
}

/// The URL without the TLS parameters gitgrant handles itself, and those:
/// `sslmode` and `sslrootcert`.
pub fn split_url(url: &str) -> Result<(String, Tls, Option<String>), String> {
    if !(url.starts_with("postgres://") || url.starts_with("postgresql://")) {
        return Err("the connection URL must start with postgres:// or postgresql://".to_string());
    }
    let (base, query) = url.split_once('?').unwrap_or((url, ""));
    let (mut kept, mut mode, mut root) = (Vec::new(), None, None);
    for pair in query.split('&').filter(|p| !p.is_empty()) {
        let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
        let v = percent_encoding::percent_decode_str(v).decode_utf8_lossy().to_string();
        match k {
            "sslmode" => {
                mode = Some(match v.as_str() {
                    "disable" => Tls::Disable,
                    "allow" | "prefer" => Tls::Prefer,
                    "require" => Tls::Require,
                    "verify-ca" => Tls::VerifyCa,
                    "verify-full" => Tls::VerifyFull,
                    other => return Err(format!("sslmode `{other}` is not one of disable, allow, prefer, require, verify-ca, verify-full")),
                })
            }
            "sslrootcert" => root = Some(v),
            _ => kept.push(pair),
        }
    }
    let mut mode = mode.unwrap_or(Tls::Prefer);
    if mode == Tls::Require && root.is_some() {
        mode = Tls::VerifyCa;
    }
    let url = if kept.is_empty() {
        base.to_string()
    } else {
        format!("{base}?{}", kept.join("&"))
    };
    Ok((url, mode, root))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sslmode_and_sslrootcert_are_taken_from_the_url_and_the_rest_kept() {
        let (url, tls, root) =
            split_url("postgres://u:p@db:5432/app?sslmode=verify-full&sslrootcert=%2Fetc%2Fca.pem&application_name=x")
                .unwrap();
        assert_eq!(url, "postgres://u:p@db:5432/app?application_name=x");
        assert_eq!(tls, Tls::VerifyFull);
        assert_eq!(root.as_deref(), Some("/etc/ca.pem"));
        assert_eq!(split_url("postgres://db/app").unwrap().1, Tls::Prefer);
        assert_eq!(
            split_url("postgres://db/app?sslmode=require&sslrootcert=/ca").unwrap().1,
            Tls::VerifyCa
        );
        assert!(split_url("postgres://db/app?sslmode=maybe").is_err());
        assert!(split_url("host=db dbname=app").is_err());
    }
}

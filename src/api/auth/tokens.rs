//! Service-account tokens: JWTs signed with the cluster's ES256 key, with upstream's claims
//! (`iss`, `sub = system:serviceaccount:<ns>:<name>`, `aud`, `exp`, `iat`, `nbf`, `jti` and
//! the private `kubernetes.io` claim naming the service account and any bound pod, secret
//! or node). Issued by the TokenRequest API and accepted as bearer tokens.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
use ring::rand::SystemRandom;
use ring::signature::{
    ECDSA_P256_SHA256_FIXED, ECDSA_P256_SHA256_FIXED_SIGNING, EcdsaKeyPair, KeyPair,
    UnparsedPublicKey,
};
use serde::{Deserialize, Serialize};

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum TokenError {
    #[error("the service account signing key is unusable: {0}")]
    Key(String),
    #[error("cannot sign the token")]
    Sign,
    #[error("not a JWT")]
    Malformed,
    #[error("token signature is invalid")]
    Signature,
    #[error("token has expired")]
    Expired,
    #[error("token is not valid yet")]
    NotYetValid,
    #[error("token audiences {0:?} are not accepted")]
    Audience(Vec<String>),
    #[error("token issuer {0:?} is not accepted")]
    Issuer(String),
}

/// A reference to an object a token is bound to.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ObjectRef {
    pub name: String,
    pub uid: String,
}

/// The `kubernetes.io` claim.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct KubernetesClaim {
    pub namespace: String,
    pub serviceaccount: ObjectRef,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pod: Option<ObjectRef>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub secret: Option<ObjectRef>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub node: Option<ObjectRef>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Claims {
    pub iss: String,
    pub sub: String,
    pub aud: Vec<String>,
    pub exp: i64,
    pub iat: i64,
    pub nbf: i64,
    pub jti: String,
    #[serde(rename = "kubernetes.io")]
    pub kubernetes: KubernetesClaim,
}

/// Signs and verifies service-account tokens.
pub struct TokenIssuer {
    key: EcdsaKeyPair,
    key_id: String,
    issuer: String,
    audiences: Vec<String>,
    rng: SystemRandom,
}

#[derive(Serialize, Deserialize)]
struct Header {
    alg: String,
    #[serde(default)]
    kid: String,
}

impl TokenIssuer {
    /// `pkcs8_pem` is the ECDSA P-256 key; `issuer` also is the default audience.
    ///
    /// # Errors
    /// When the key is not a P-256 PKCS#8 key.
    pub fn new(pkcs8_pem: &str, issuer: &str) -> Result<Self, TokenError> {
        use rustls::pki_types::PrivateKeyDer;
        use rustls::pki_types::pem::PemObject;
        let der = PrivateKeyDer::from_pem_slice(pkcs8_pem.as_bytes())
            .map_err(|e| TokenError::Key(e.to_string()))?;
        let rng = SystemRandom::new();
        let key =
            EcdsaKeyPair::from_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, der.secret_der(), &rng)
                .map_err(|e| TokenError::Key(e.to_string()))?;
        let digest = ring::digest::digest(&ring::digest::SHA256, key.public_key().as_ref());
        Ok(TokenIssuer {
            key_id: B64.encode(digest.as_ref()),
            key,
            issuer: issuer.to_string(),
            audiences: vec![issuer.to_string()],
            rng,
        })
    }

    pub fn issuer(&self) -> &str {
        &self.issuer
    }

    /// The audiences a token without explicit ones gets, and that the API server accepts.
    pub fn default_audiences(&self) -> &[String] {
        &self.audiences
    }

    /// Signs `claims` into a compact JWT.
    ///
    /// # Errors
    /// When signing fails.
    pub fn issue(&self, claims: &Claims) -> Result<String, TokenError> {
        let header = Header {
            alg: "ES256".into(),
            kid: self.key_id.clone(),
        };
        let header = serde_json::to_vec(&header).map_err(|_| TokenError::Sign)?;
        let payload = serde_json::to_vec(claims).map_err(|_| TokenError::Sign)?;
        let signing_input = format!("{}.{}", B64.encode(header), B64.encode(payload));
        let signature = self
            .key
            .sign(&self.rng, signing_input.as_bytes())
            .map_err(|_| TokenError::Sign)?;
        Ok(format!(
            "{signing_input}.{}",
            B64.encode(signature.as_ref())
        ))
    }

    /// Checks a token's signature, times, issuer and audience (any of `audiences`, or the
    /// default ones when empty).
    ///
    /// # Errors
    /// Whatever makes the token unacceptable.
    pub fn verify(
        &self,
        token: &str,
        now: i64,
        audiences: &[String],
    ) -> Result<Claims, TokenError> {
        let mut parts = token.split('.');
        let (Some(header), Some(payload), Some(signature), None) =
            (parts.next(), parts.next(), parts.next(), parts.next())
        else {
            return Err(TokenError::Malformed);
        };
        let header: Header = B64
            .decode(header)
            .ok()
            .and_then(|h| serde_json::from_slice(&h).ok())
            .ok_or(TokenError::Malformed)?;
        if header.alg != "ES256" {
            return Err(TokenError::Signature);
        }
        let signature = B64.decode(signature).map_err(|_| TokenError::Malformed)?;
        let public =
            UnparsedPublicKey::new(&ECDSA_P256_SHA256_FIXED, self.key.public_key().as_ref());
        let signed = &token[..header_len(token)];
        public
            .verify(signed.as_bytes(), &signature)
            .map_err(|_| TokenError::Signature)?;
        let claims: Claims = B64
            .decode(payload)
            .ok()
            .and_then(|p| serde_json::from_slice(&p).ok())
            .ok_or(TokenError::Malformed)?;
        if claims.iss != self.issuer {
            return Err(TokenError::Issuer(claims.iss));
        }
        // Upstream allows a minute of clock skew.
        if claims.exp + 60 < now {
            return Err(TokenError::Expired);
        }
        if claims.nbf - 60 > now {
            return Err(TokenError::NotYetValid);
        }
        let accepted = if audiences.is_empty() {
            &self.audiences[..]
        } else {
            audiences
        };
        if !claims.aud.iter().any(|a| accepted.contains(a)) {
            return Err(TokenError::Audience(claims.aud));
        }
        Ok(claims)
    }
}

/// The length of `header.payload`, the signed part of a JWT.
fn header_len(token: &str) -> usize {
    token.rfind('.').unwrap_or(token.len())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn issuer() -> TokenIssuer {
        let key = rcgen::KeyPair::generate().unwrap().serialize_pem();
        TokenIssuer::new(&key, "https://kubernetes.default.svc.cluster.local").unwrap()
    }

    fn claims(exp: i64, aud: &str) -> Claims {
        Claims {
            iss: "https://kubernetes.default.svc.cluster.local".into(),
            sub: "system:serviceaccount:default:builder".into(),
            aud: vec![aud.into()],
            exp,
            iat: 1000,
            nbf: 1000,
            jti: "j".into(),
            kubernetes: KubernetesClaim {
                namespace: "default".into(),
                serviceaccount: ObjectRef {
                    name: "builder".into(),
                    uid: "u1".into(),
                },
                pod: None,
                secret: None,
                node: None,
            },
        }
    }

    #[test]
    fn round_trip_and_rejections() {
        let issuer = issuer();
        let audience = issuer.issuer().to_string();
        let token = issuer.issue(&claims(5000, &audience)).unwrap();
        assert_eq!(
            issuer
                .verify(&token, 2000, &[])
                .unwrap()
                .kubernetes
                .serviceaccount
                .name,
            "builder"
        );
        assert_eq!(issuer.verify(&token, 9000, &[]), Err(TokenError::Expired));
        assert_eq!(
            issuer.verify(&token, 500, &[]),
            Err(TokenError::NotYetValid)
        );
        let other = issuer.issue(&claims(5000, "vault")).unwrap();
        assert!(matches!(
            issuer.verify(&other, 2000, &[]),
            Err(TokenError::Audience(_))
        ));
        assert!(issuer.verify(&other, 2000, &["vault".into()]).is_ok());
        let mut forged = token.clone();
        forged.insert(token.find('.').unwrap() + 2, 'x');
        assert!(issuer.verify(&forged, 2000, &[]).is_err());
        let stranger = self::issuer().issue(&claims(5000, &audience)).unwrap();
        assert_eq!(
            issuer.verify(&stranger, 2000, &[]),
            Err(TokenError::Signature)
        );
    }
}

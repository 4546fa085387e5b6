//! Who is asking: x509 client certificates (CN is the user, each O a group), bearer tokens
//! (service-account JWTs issued by [`tokens`]), or nobody. Authorization (RBAC) comes later;
//! today every authenticated user may do everything.

pub mod tokens;

use serde_json::{Value, json};

/// An authenticated user, as upstream's `user.Info`.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct UserInfo {
    pub name: String,
    pub uid: String,
    pub groups: Vec<String>,
    pub extra: Vec<(String, Vec<String>)>,
}

impl UserInfo {
    /// A user with `system:authenticated` added to its groups.
    pub fn new(name: impl Into<String>, groups: Vec<String>) -> Self {
        let mut groups = groups;
        if !groups.iter().any(|g| g == "system:authenticated") {
            groups.push("system:authenticated".into());
        }
        UserInfo {
            name: name.into(),
            uid: String::new(),
            groups,
            extra: Vec::new(),
        }
    }

    /// The identity of the control plane's own components inside `kedge server`.
    pub fn system(component: &str) -> Self {
        UserInfo::new(format!("system:{component}"), vec!["system:masters".into()])
    }

    /// The `userInfo` object of reviews (`SelfSubjectReview`, `TokenReview`).
    pub fn to_json(&self) -> Value {
        let mut info = json!({"username": self.name, "groups": self.groups});
        if !self.uid.is_empty() {
            info["uid"] = json!(self.uid);
        }
        if !self.extra.is_empty() {
            let extra: serde_json::Map<String, Value> = self
                .extra
                .iter()
                .map(|(k, v)| (k.clone(), json!(v)))
                .collect();
            info["extra"] = Value::Object(extra);
        }
        info
    }
}

/// The user a verified client certificate names: CN is the user, every O a group.
pub fn user_from_certificate(der: &[u8]) -> Option<UserInfo> {
    use x509_parser::prelude::{FromDer, X509Certificate};
    let (_, cert) = X509Certificate::from_der(der).ok()?;
    let subject = cert.subject();
    let name = subject
        .iter_common_name()
        .next()?
        .as_str()
        .ok()?
        .to_string();
    let groups = subject
        .iter_organization()
        .filter_map(|o| o.as_str().ok().map(str::to_string))
        .collect();
    Some(UserInfo::new(name, groups))
}

/// The bearer token of an `Authorization` header.
pub fn bearer_token(headers: &http::HeaderMap) -> Option<&str> {
    let value = headers.get(http::header::AUTHORIZATION)?.to_str().ok()?;
    let (scheme, token) = value.split_once(' ')?;
    scheme
        .eq_ignore_ascii_case("bearer")
        .then(|| token.trim())
        .filter(|t| !t.is_empty())
}

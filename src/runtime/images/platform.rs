//! The node's platform in OCI terms (`linux/arm64/v8`) and picking an index's manifest for it.

use std::fmt;

use serde::{Deserialize, Serialize};

/// An OS, architecture and optional variant, as in OCI image indexes.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, Default)]
pub struct Platform {
    pub os: String,
    pub architecture: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub variant: Option<String>,
}

impl Platform {
    /// The platform this binary runs on (GOARCH names: `amd64`, `arm64` (v8), `arm` (v7)).
    pub fn host() -> Self {
        let (architecture, variant) = match std::env::consts::ARCH {
            "x86_64" => ("amd64", None),
            "aarch64" => ("arm64", Some("v8")),
            "arm" => ("arm", Some("v7")),
            "x86" => ("386", None),
            "powerpc64" => ("ppc64le", None),
            "s390x" => ("s390x", None),
            "riscv64" => ("riscv64", None),
            other => (other, None),
        };
        Platform {
            os: "linux".to_string(),
            architecture: architecture.to_string(),
            variant: variant.map(str::to_string),
        }
    }

    /// How well a manifest's platform suits this one: `None` if it cannot run here, higher is
    /// better (an exact variant beats an absent one; `arm64` without variant means v8).
    pub fn score(&self, os: &str, architecture: &str, variant: Option<&str>) -> Option<u8> {
        if os != self.os || architecture != self.architecture {
            return None;
        }
        match (self.variant.as_deref(), variant) {
            (_, None) => Some(1),
            (Some(ours), Some(theirs)) if ours == theirs => Some(2),
            // An armv7 node runs armv6 and armv5 images.
            (Some(ours), Some(theirs)) if self.architecture == "arm" && theirs < ours => Some(0),
            _ => None,
        }
    }
}

impl fmt::Display for Platform {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.os, self.architecture)?;
        if let Some(v) = &self.variant {
            write!(f, "/{v}")?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scores() {
        let arm64 = Platform {
            os: "linux".into(),
            architecture: "arm64".into(),
            variant: Some("v8".into()),
        };
        assert_eq!(arm64.score("linux", "arm64", None), Some(1));
        assert_eq!(arm64.score("linux", "arm64", Some("v8")), Some(2));
        assert_eq!(arm64.score("linux", "amd64", None), None);
        assert_eq!(arm64.score("unknown", "unknown", None), None);
        let arm = Platform {
            os: "linux".into(),
            architecture: "arm".into(),
            variant: Some("v7".into()),
        };
        assert_eq!(arm.score("linux", "arm", Some("v6")), Some(0));
        assert_eq!(arm.score("linux", "arm", Some("v8")), None);
        assert!(!Platform::host().architecture.is_empty());
    }
}

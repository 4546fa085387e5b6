//! OpenAPI documents of the API server. kubectl refuses `apply` without them, and `explain`
//! reads its schemas from them: kubectl 1.29+ use v3 (an index at `/openapi/v3`, then one
//! document per group-version), 1.27/1.28 the v2 document as gnostic protobuf (`/openapi/v2`).
//!
//! - [`v3_index`], [`v3_document`], [`v2_protobuf`], [`hash`]: the entry points;
//! - `schemas`: `components.schemas`: built-in kinds from k8s-openapi's schemars impls
//!   (`builtin`), custom resources from their CRD, lists; plus upstream's list and patch
//!   extensions (`extensions`, from `field_extensions.txt`);
//! - `operations`: the paths and operations of each kind, whatever the OpenAPI version, with
//!   `subresources` and `parameters`;
//! - `v3`: rendering as OpenAPI 3.0 JSON; `v2` and `gnostic`: as swagger 2.0 in gnostic's
//!   protobuf messages.
//!
//! Documents depend only on the kinds served: build them when the kinds change and cache them.

mod builtin;
mod extensions;
mod gnostic;
mod operations;
mod parameters;
mod schemas;
mod subresources;
mod v2;
mod v3;

use prost::Message;
use serde_json::Value;

/// The Content-Type of [`v2_protobuf`]'s answer. kubectl asks for
/// `application/com.github.proto-openapi.spec.v2@v1.0+protobuf` but rejects an answer whose
/// Content-Type holds the `@`.
pub const V2_PROTOBUF_CONTENT_TYPE: &str =
    "application/com.github.proto-openapi.spec.v2.v1.0+protobuf";

/// One kind as the API server serves it.
#[derive(Clone, Copy, Debug)]
pub struct KindDoc<'a> {
    pub group: &'a str,
    pub version: &'a str,
    pub kind: &'a str,
    pub plural: &'a str,
    pub namespaced: bool,
    /// Of get, list, watch, create, update, patch, delete, deletecollection.
    pub verbs: &'a [&'a str],
    /// "status", "scale", "log", "exec", "attach", "portforward", "proxy", "eviction",
    /// "binding", "token", "finalize", …
    pub subresources: &'a [&'a str],
    /// For custom resources: the CRD version's openAPIV3Schema. Built-in kinds take theirs from
    /// k8s-openapi.
    pub schema: Option<&'a Value>,
}

/// `GET /openapi/v3`: `{"paths":{"api/v1":{"serverRelativeURL":"/openapi/v3/api/v1?hash=<HASH>"},…}}`,
/// from `(document name, hash)` pairs such as `("apis/apps/v1", hash(&document))`.
pub fn v3_index(documents: &[(String, String)]) -> Value {
    v3::index(documents)
}

/// The OpenAPI v3 document of one group-version (`""` for the core group), describing those of
/// `kinds` that belong to it: the paths of every kind (collection and item, the list across
/// namespaces for namespaced kinds, subresources), each operation carrying
/// `x-kubernetes-group-version-kind` and `x-kubernetes-action`, PATCH declaring
/// `fieldValidation` and its content types; and `components.schemas` with every schema those
/// reference, under upstream's definition names, each kind's carrying
/// `x-kubernetes-group-version-kind`.
pub fn v3_document(group: &str, version: &str, kinds: &[KindDoc]) -> Value {
    v3::document(group, version, kinds)
}

/// `GET /openapi/v2` as a gnostic `openapi.v2.Document` protobuf (serve it with
/// [`V2_PROTOBUF_CONTENT_TYPE`]): every kind's paths, PATCH carrying the
/// `x-kubernetes-group-version-kind` vendor extension and the `fieldValidation` parameter, and
/// the definitions.
pub fn v2_protobuf(kinds: &[KindDoc]) -> Vec<u8> {
    v2::document(kinds).encode_to_vec()
}

/// A content hash of `document` for [`v3_index`]: 32 upper-case hex digits (128-bit FNV-1a of
/// the document's JSON text, whose object keys serde_json keeps sorted). It changes whenever
/// the document does; it is not meant to resist forgery.
pub fn hash(document: &Value) -> String {
    const OFFSET: u128 = 0x6c62272e07bb014262b821756295c58d;
    const PRIME: u128 = 0x0000000001000000000000000000013b;
    let text = document.to_string();
    let hash = text.bytes().fold(OFFSET, |hash, byte| {
        (hash ^ u128::from(byte)).wrapping_mul(PRIME)
    });
    format!("{hash:032X}")
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn hash_is_stable_and_follows_content() {
        let a = json!({"paths": {"b": 1, "a": 2}});
        let same = json!({"paths": {"a": 2, "b": 1}});
        let other = json!({"paths": {"a": 2, "b": 3}});
        assert_eq!(hash(&a), hash(&same));
        assert_ne!(hash(&a), hash(&other));
        assert_eq!(hash(&a).len(), 32);
        assert!(
            hash(&a)
                .chars()
                .all(|c| c.is_ascii_hexdigit() && !c.is_ascii_lowercase())
        );
    }

    #[test]
    fn v2_protobuf_decodes() {
        let kinds = [KindDoc {
            group: "",
            version: "v1",
            kind: "ConfigMap",
            plural: "configmaps",
            namespaced: true,
            verbs: &["get", "list", "create", "patch"],
            subresources: &[],
            schema: None,
        }];
        let bytes = v2_protobuf(&kinds);
        let document = gnostic::Document::decode(bytes.as_slice());
        assert_eq!(document.map(|d| d.swagger), Ok("2.0".to_owned()));
    }

    #[test]
    fn index_and_document_fit_together() {
        let kinds = [KindDoc {
            group: "apps",
            version: "v1",
            kind: "Deployment",
            plural: "deployments",
            namespaced: true,
            verbs: &["get", "patch"],
            subresources: &[],
            schema: None,
        }];
        let document = v3_document("apps", "v1", &kinds);
        let index = v3_index(&[("apis/apps/v1".into(), hash(&document))]);
        let url = index["paths"]["apis/apps/v1"]["serverRelativeURL"]
            .as_str()
            .unwrap_or_default();
        assert_eq!(
            url,
            format!("/openapi/v3/apis/apps/v1?hash={}", hash(&document))
        );
    }
}

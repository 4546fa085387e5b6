//! `/openapi/v2` (gnostic protobuf, for kubectl 1.27/1.28) and `/openapi/v3` (an index, then
//! one document per group-version), built from the registry on first use and rebuilt when
//! the registry changes (a CRD is established or removed).

use std::collections::BTreeMap;
use std::sync::Mutex;

use bytes::Bytes;
use http::Response;

use crate::api::ApiState;
use crate::api::http::{self as h, Body};
use crate::api::openapi::{self, KindDoc};
use crate::api::registry::ResourceInfo;
use crate::api::status::ApiError;

/// The built documents, for one registry generation.
#[derive(Default)]
pub struct OpenApiCache {
    state: Mutex<Built>,
}

#[derive(Default)]
struct Built {
    generation: Option<u64>,
    /// `api/v1` → (document, hash).
    v3: BTreeMap<String, (Bytes, String)>,
    v2: Option<Bytes>,
}

fn document_name(info: &ResourceInfo) -> String {
    if info.group.is_empty() {
        format!("api/{}", info.version)
    } else {
        format!("apis/{}/{}", info.group, info.version)
    }
}

struct Owned {
    info: std::sync::Arc<ResourceInfo>,
    verbs: Vec<String>,
    subresources: Vec<String>,
}

fn kinds(state: &ApiState) -> Vec<Owned> {
    state
        .registry
        .all()
        .into_iter()
        .map(|info| Owned {
            verbs: info.verbs.clone(),
            subresources: info.subresources.iter().map(|s| s.name.clone()).collect(),
            info,
        })
        .collect()
}

fn docs<'a>(
    owned: &'a [Owned],
    verbs: &'a [Vec<&'a str>],
    subs: &'a [Vec<&'a str>],
) -> Vec<KindDoc<'a>> {
    owned
        .iter()
        .zip(verbs.iter().zip(subs))
        .map(|(o, (v, s))| KindDoc {
            group: &o.info.group,
            version: &o.info.version,
            kind: &o.info.kind,
            plural: &o.info.plural,
            namespaced: o.info.namespaced,
            verbs: v,
            subresources: s,
            schema: o.info.custom.as_ref().and_then(|c| c.schema.as_ref()),
        })
        .collect()
}

impl OpenApiCache {
    /// Runs `f` on documents current with the registry.
    fn with<T>(&self, state: &ApiState, f: impl FnOnce(&mut Built, &[KindDoc<'_>]) -> T) -> T {
        let generation = state.registry.generation();
        let owned = kinds(state);
        let verbs: Vec<Vec<&str>> = owned
            .iter()
            .map(|o| o.verbs.iter().map(String::as_str).collect())
            .collect();
        let subs: Vec<Vec<&str>> = owned
            .iter()
            .map(|o| o.subresources.iter().map(String::as_str).collect())
            .collect();
        let kind_docs = docs(&owned, &verbs, &subs);
        let mut built = self.state.lock().unwrap_or_else(|e| e.into_inner());
        if built.generation != Some(generation) {
            *built = Built {
                generation: Some(generation),
                ..Default::default()
            };
            let mut names: Vec<(String, String, String)> = owned
                .iter()
                .map(|o| {
                    (
                        document_name(&o.info),
                        o.info.group.clone(),
                        o.info.version.clone(),
                    )
                })
                .collect();
            names.sort();
            names.dedup();
            for (name, group, version) in names {
                let document = openapi::v3_document(&group, &version, &kind_docs);
                let hash = openapi::hash(&document);
                let bytes = Bytes::from(serde_json::to_vec(&document).unwrap_or_default());
                built.v3.insert(name, (bytes, hash));
            }
        }
        f(&mut built, &kind_docs)
    }

    pub fn v3_index(&self, state: &ApiState) -> Response<Body> {
        self.with(state, |built, _| {
            let documents: Vec<(String, String)> = built
                .v3
                .iter()
                .map(|(name, (_, hash))| (name.clone(), hash.clone()))
                .collect();
            h::json(200, &openapi::v3_index(&documents))
        })
    }

    pub fn v3_document(&self, state: &ApiState, name: &str) -> Result<Response<Body>, ApiError> {
        self.with(state, |built, _| {
            let (bytes, hash) = built.v3.get(name).ok_or_else(ApiError::path_not_found)?;
            let mut response = h::json_bytes(200, bytes.clone());
            let etag = format!("\"{hash}\"");
            if let Ok(value) = http::HeaderValue::from_str(&etag) {
                response.headers_mut().insert(http::header::ETAG, value);
            }
            Ok(response)
        })
    }

    pub fn v2(&self, state: &ApiState) -> Response<Body> {
        self.with(state, |built, kind_docs| {
            let bytes = built
                .v2
                .get_or_insert_with(|| Bytes::from(openapi::v2_protobuf(kind_docs)))
                .clone();
            h::bytes(200, openapi::V2_PROTOBUF_CONTENT_TYPE, bytes)
        })
    }
}

//! OpenAPI v3 schema machinery for custom resources, as kube-apiserver's apiextensions runs it:
//! pruning of unknown fields, defaulting, value validation, and validation and defaulting of the
//! `CustomResourceDefinition` object itself.
//!
//! Everything here is a pure function over `serde_json::Value`s: a schema is the JSON of a
//! `JSONSchemaProps` (`spec.versions[*].schema.openAPIV3Schema`), or a built-in kind's schema
//! from the OpenAPI document, whose `$ref`s a [`Resolver`] follows.
//!
//! The order upstream applies them to a request body, and that callers should keep:
//! [`prune()`] (whose paths feed `fieldValidation=Strict|Warn`), [`apply_defaults`], then
//! [`validate()`]. For a CRD: the strategy clears `status` on create, then [`default_crd`],
//! then [`validate_crd`].
//!
//! - [`walk`]: reading a schema node (structure, `$ref`s, extensions);
//! - [`prune`](mod@prune), [`defaults`]: the decoding steps;
//! - [`validate`](mod@validate) with [`keywords`], [`formats`], [`pattern`] and [`lists`]: value
//!   validation, worded as kube-openapi words it;
//! - [`structural`]: the structural-schema rules; [`crd`], [`crd_parts`], [`crd_schema`],
//!   [`crd_lists`], [`schema_defaults`], [`crd_defaults`], [`names`]: the CRD object; [`messages`]: Go-style value printing in
//!   field errors.
//!
//! Not evaluated: `x-kubernetes-validations` (CEL rules). They are accepted in schemas and their
//! static shape is checked by [`validate_crd`], but no rule is ever run, since kedge has no CEL
//! engine; an object that breaks a rule is accepted.

pub mod crd;
pub mod crd_defaults;
pub mod crd_lists;
pub mod crd_parts;
pub mod crd_schema;
pub mod defaults;
pub mod formats;
pub mod keywords;
pub mod lists;
pub mod messages;
pub mod names;
pub mod pattern;
pub mod prune;
pub mod schema_defaults;
pub mod structural;
pub mod validate;
pub mod walk;

/// Resolves `$ref` targets (`#/components/schemas/<name>` or `#/definitions/<name>`) for
/// built-in schemas; CRD schemas have none.
pub type Resolver<'a> = &'a dyn Fn(&str) -> Option<&'a serde_json::Value>;

pub use crd::validate_crd;
pub use crd_defaults::default_crd;
pub use defaults::apply_defaults;
pub use prune::prune;
pub use validate::validate;

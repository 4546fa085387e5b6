//! The built-in kinds whose schemas come from k8s-openapi (feature `schemars`): a lookup from
//! group, version and kind to the type, which adds the type's schema, and every schema it
//! references, to a schemars generator.

use k8s_openapi::Resource;
use k8s_openapi::api;
use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions;
use k8s_openapi::apimachinery::pkg::apis::meta;
use k8s_openapi::kube_aggregator::pkg::apis::apiregistration;
use schemars::{JsonSchema, SchemaGenerator};

/// Adds `T`'s schema and its dependencies to `generator`; returns `T`'s definition name
/// (upstream's, e.g. `io.k8s.api.apps.v1.Deployment`).
pub(super) fn add<T: JsonSchema>(generator: &mut SchemaGenerator) -> String {
    generator.subschema_for::<T>();
    T::schema_name().into_owned()
}

macro_rules! builtin_kinds {
    ($($kind:ty),* $(,)?) => {
        /// Adds the schema of the built-in kind `group`/`version`, `kind` to `generator` and
        /// returns its definition name; `None` when k8s-openapi has no such kind.
        pub(super) fn add_kind(
            generator: &mut SchemaGenerator,
            group: &str,
            version: &str,
            kind: &str,
        ) -> Option<String> {
            $(
                if <$kind as Resource>::KIND == kind
                    && <$kind as Resource>::GROUP == group
                    && <$kind as Resource>::VERSION == version
                {
                    return Some(add::<$kind>(generator));
                }
            )*
            None
        }

        /// How many kinds [`add_kind`] knows.
        #[cfg(test)]
        pub(super) const KIND_COUNT: usize = [$(stringify!($kind)),*].len();
    };
}

builtin_kinds![
    api::admissionregistration::v1::MutatingWebhookConfiguration,
    api::admissionregistration::v1::ValidatingAdmissionPolicy,
    api::admissionregistration::v1::ValidatingAdmissionPolicyBinding,
    api::admissionregistration::v1::ValidatingWebhookConfiguration,
    api::admissionregistration::v1alpha1::MutatingAdmissionPolicy,
    api::admissionregistration::v1alpha1::MutatingAdmissionPolicyBinding,
    api::admissionregistration::v1beta1::MutatingAdmissionPolicy,
    api::admissionregistration::v1beta1::MutatingAdmissionPolicyBinding,
    api::apiserverinternal::v1alpha1::StorageVersion,
    api::apps::v1::ControllerRevision,
    api::apps::v1::DaemonSet,
    api::apps::v1::Deployment,
    api::apps::v1::ReplicaSet,
    api::apps::v1::StatefulSet,
    api::authentication::v1::SelfSubjectReview,
    api::authentication::v1::TokenRequest,
    api::authentication::v1::TokenReview,
    api::authorization::v1::LocalSubjectAccessReview,
    api::authorization::v1::SelfSubjectAccessReview,
    api::authorization::v1::SelfSubjectRulesReview,
    api::authorization::v1::SubjectAccessReview,
    api::autoscaling::v1::HorizontalPodAutoscaler,
    api::autoscaling::v1::Scale,
    api::autoscaling::v2::HorizontalPodAutoscaler,
    api::batch::v1::CronJob,
    api::batch::v1::Job,
    api::certificates::v1::CertificateSigningRequest,
    api::certificates::v1alpha1::ClusterTrustBundle,
    api::certificates::v1beta1::ClusterTrustBundle,
    api::certificates::v1beta1::PodCertificateRequest,
    api::coordination::v1::Lease,
    api::coordination::v1alpha2::LeaseCandidate,
    api::coordination::v1beta1::LeaseCandidate,
    api::core::v1::Binding,
    api::core::v1::ComponentStatus,
    api::core::v1::ConfigMap,
    api::core::v1::Endpoints,
    api::core::v1::Event,
    api::core::v1::LimitRange,
    api::core::v1::Namespace,
    api::core::v1::Node,
    api::core::v1::PersistentVolume,
    api::core::v1::PersistentVolumeClaim,
    api::core::v1::Pod,
    api::core::v1::PodTemplate,
    api::core::v1::ReplicationController,
    api::core::v1::ResourceQuota,
    api::core::v1::Secret,
    api::core::v1::Service,
    api::core::v1::ServiceAccount,
    api::discovery::v1::EndpointSlice,
    api::events::v1::Event,
    api::flowcontrol::v1::FlowSchema,
    api::flowcontrol::v1::PriorityLevelConfiguration,
    api::networking::v1::IPAddress,
    api::networking::v1::Ingress,
    api::networking::v1::IngressClass,
    api::networking::v1::NetworkPolicy,
    api::networking::v1::ServiceCIDR,
    api::networking::v1beta1::IPAddress,
    api::networking::v1beta1::ServiceCIDR,
    api::node::v1::RuntimeClass,
    api::policy::v1::Eviction,
    api::policy::v1::PodDisruptionBudget,
    api::rbac::v1::ClusterRole,
    api::rbac::v1::ClusterRoleBinding,
    api::rbac::v1::Role,
    api::rbac::v1::RoleBinding,
    api::resource::v1::DeviceClass,
    api::resource::v1::ResourceClaim,
    api::resource::v1::ResourceClaimTemplate,
    api::resource::v1::ResourceSlice,
    api::resource::v1alpha3::DeviceTaintRule,
    api::resource::v1beta1::DeviceClass,
    api::resource::v1beta1::ResourceClaim,
    api::resource::v1beta1::ResourceClaimTemplate,
    api::resource::v1beta1::ResourceSlice,
    api::resource::v1beta2::DeviceClass,
    api::resource::v1beta2::ResourceClaim,
    api::resource::v1beta2::ResourceClaimTemplate,
    api::resource::v1beta2::ResourceSlice,
    api::scheduling::v1::PriorityClass,
    api::scheduling::v1alpha1::Workload,
    api::storage::v1::CSIDriver,
    api::storage::v1::CSINode,
    api::storage::v1::CSIStorageCapacity,
    api::storage::v1::StorageClass,
    api::storage::v1::VolumeAttachment,
    api::storage::v1::VolumeAttributesClass,
    api::storage::v1beta1::VolumeAttributesClass,
    api::storagemigration::v1beta1::StorageVersionMigration,
    apiextensions::v1::CustomResourceDefinition,
    apiregistration::v1::APIService,
    meta::v1::Status,
];

/// `ObjectMeta`, which every custom resource's `metadata` refers to.
pub(super) fn add_object_meta(generator: &mut SchemaGenerator) -> String {
    add::<meta::v1::ObjectMeta>(generator)
}

/// `ListMeta`, the `metadata` of every list.
pub(super) fn add_list_meta(generator: &mut SchemaGenerator) -> String {
    add::<meta::v1::ListMeta>(generator)
}

/// `DeleteOptions`, the body of DELETE requests.
pub(super) fn add_delete_options(generator: &mut SchemaGenerator) -> String {
    add::<meta::v1::DeleteOptions>(generator)
}

#[cfg(test)]
mod tests {
    use super::*;
    use schemars::generate::SchemaSettings;

    const _: () = assert!(KIND_COUNT > 90);

    #[test]
    fn finds_kinds_by_group_version_kind() {
        let mut generator = SchemaSettings::openapi3().into_generator();
        assert_eq!(
            add_kind(&mut generator, "apps", "v1", "Deployment").as_deref(),
            Some("io.k8s.api.apps.v1.Deployment")
        );
        assert_eq!(
            add_kind(&mut generator, "", "v1", "ConfigMap").as_deref(),
            Some("io.k8s.api.core.v1.ConfigMap")
        );
        assert_eq!(
            add_kind(&mut generator, "apps", "v1beta1", "Deployment"),
            None
        );
        assert_eq!(
            add_kind(&mut generator, "stable.example.com", "v1", "CronTab"),
            None
        );
        let definitions = generator.definitions();
        assert!(definitions.contains_key("io.k8s.api.apps.v1.DeploymentSpec"));
        assert!(definitions.contains_key("io.k8s.apimachinery.pkg.apis.meta.v1.ObjectMeta"));
    }

    #[test]
    fn every_listed_kind_has_a_schema_named_by_its_group() {
        let mut generator = SchemaSettings::openapi3().into_generator();
        let name = add_kind(
            &mut generator,
            "rbac.authorization.k8s.io",
            "v1",
            "ClusterRole",
        );
        assert_eq!(name.as_deref(), Some("io.k8s.api.rbac.v1.ClusterRole"));
    }
}

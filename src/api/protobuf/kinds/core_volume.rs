//! Field tables for core/v1, storage: volumes and their sources, PersistentVolume, PersistentVolumeClaim
//! and the references they share with pods.

use super::meta;
use crate::api::protobuf::schema::Presence::{Always, Inline, Nullable, OmitEmpty, Optional};
use crate::api::protobuf::schema::{
    BOOL, Fields, INT32, INT64, QUANTITY, STRING, TIME, f, list, map, msg,
};

pub(super) static AWS_ELASTIC_BLOCK_STORE_VOLUME_SOURCE: Fields = &[
    f(1, "volumeID", STRING, Always),
    f(2, "fsType", STRING, OmitEmpty),
    f(3, "partition", INT32, OmitEmpty),
    f(4, "readOnly", BOOL, OmitEmpty),
];

pub(super) static AZURE_DISK_VOLUME_SOURCE: Fields = &[
    f(1, "diskName", STRING, Always),
    f(2, "diskURI", STRING, Always),
    f(3, "cachingMode", STRING, Optional),
    f(4, "fsType", STRING, Optional),
    f(5, "readOnly", BOOL, Optional),
    f(6, "kind", STRING, Optional),
];

pub(super) static AZURE_FILE_PERSISTENT_VOLUME_SOURCE: Fields = &[
    f(1, "secretName", STRING, Always),
    f(2, "shareName", STRING, Always),
    f(3, "readOnly", BOOL, OmitEmpty),
    f(4, "secretNamespace", STRING, Nullable),
];

pub(super) static AZURE_FILE_VOLUME_SOURCE: Fields = &[
    f(1, "secretName", STRING, Always),
    f(2, "shareName", STRING, Always),
    f(3, "readOnly", BOOL, OmitEmpty),
];

pub(super) static CSI_PERSISTENT_VOLUME_SOURCE: Fields = &[
    f(1, "driver", STRING, Always),
    f(2, "volumeHandle", STRING, Always),
    f(3, "readOnly", BOOL, OmitEmpty),
    f(4, "fsType", STRING, OmitEmpty),
    f(5, "volumeAttributes", map(STRING), OmitEmpty),
    f(
        6,
        "controllerPublishSecretRef",
        msg(&SECRET_REFERENCE),
        Optional,
    ),
    f(7, "nodeStageSecretRef", msg(&SECRET_REFERENCE), Optional),
    f(8, "nodePublishSecretRef", msg(&SECRET_REFERENCE), Optional),
    f(
        9,
        "controllerExpandSecretRef",
        msg(&SECRET_REFERENCE),
        Optional,
    ),
    f(10, "nodeExpandSecretRef", msg(&SECRET_REFERENCE), Optional),
];

pub(super) static CSI_VOLUME_SOURCE: Fields = &[
    f(1, "driver", STRING, Always),
    f(2, "readOnly", BOOL, Optional),
    f(3, "fsType", STRING, Optional),
    f(4, "volumeAttributes", map(STRING), OmitEmpty),
    f(
        5,
        "nodePublishSecretRef",
        msg(&LOCAL_OBJECT_REFERENCE),
        Optional,
    ),
];

pub(super) static CEPH_FS_PERSISTENT_VOLUME_SOURCE: Fields = &[
    f(1, "monitors", list(STRING), Always),
    f(2, "path", STRING, OmitEmpty),
    f(3, "user", STRING, OmitEmpty),
    f(4, "secretFile", STRING, OmitEmpty),
    f(5, "secretRef", msg(&SECRET_REFERENCE), Optional),
    f(6, "readOnly", BOOL, OmitEmpty),
];

pub(super) static CEPH_FS_VOLUME_SOURCE: Fields = &[
    f(1, "monitors", list(STRING), Always),
    f(2, "path", STRING, OmitEmpty),
    f(3, "user", STRING, OmitEmpty),
    f(4, "secretFile", STRING, OmitEmpty),
    f(5, "secretRef", msg(&LOCAL_OBJECT_REFERENCE), Optional),
    f(6, "readOnly", BOOL, OmitEmpty),
];

pub(super) static CINDER_PERSISTENT_VOLUME_SOURCE: Fields = &[
    f(1, "volumeID", STRING, Always),
    f(2, "fsType", STRING, OmitEmpty),
    f(3, "readOnly", BOOL, OmitEmpty),
    f(4, "secretRef", msg(&SECRET_REFERENCE), Optional),
];

pub(super) static CINDER_VOLUME_SOURCE: Fields = &[
    f(1, "volumeID", STRING, Always),
    f(2, "fsType", STRING, OmitEmpty),
    f(3, "readOnly", BOOL, OmitEmpty),
    f(4, "secretRef", msg(&LOCAL_OBJECT_REFERENCE), Optional),
];

pub(super) static CLUSTER_TRUST_BUNDLE_PROJECTION: Fields = &[
    f(1, "name", STRING, Optional),
    f(2, "signerName", STRING, Optional),
    f(3, "labelSelector", msg(&meta::LABEL_SELECTOR), Optional),
    f(5, "optional", BOOL, Optional),
    f(4, "path", STRING, Always),
];

pub(super) static CONFIG_MAP_PROJECTION: Fields = &[
    f(
        1,
        "localObjectReference",
        msg(&LOCAL_OBJECT_REFERENCE),
        Inline,
    ),
    f(2, "items", list(msg(&KEY_TO_PATH)), OmitEmpty),
    f(4, "optional", BOOL, Optional),
];

pub(super) static CONFIG_MAP_VOLUME_SOURCE: Fields = &[
    f(
        1,
        "localObjectReference",
        msg(&LOCAL_OBJECT_REFERENCE),
        Inline,
    ),
    f(2, "items", list(msg(&KEY_TO_PATH)), OmitEmpty),
    f(3, "defaultMode", INT32, Optional),
    f(4, "optional", BOOL, Optional),
];

pub(super) static DOWNWARD_API_PROJECTION: Fields = &[f(
    1,
    "items",
    list(msg(&DOWNWARD_API_VOLUME_FILE)),
    OmitEmpty,
)];

pub(super) static DOWNWARD_API_VOLUME_FILE: Fields = &[
    f(1, "path", STRING, Always),
    f(2, "fieldRef", msg(&OBJECT_FIELD_SELECTOR), Optional),
    f(
        3,
        "resourceFieldRef",
        msg(&RESOURCE_FIELD_SELECTOR),
        Optional,
    ),
    f(4, "mode", INT32, Optional),
];

pub(super) static DOWNWARD_API_VOLUME_SOURCE: Fields = &[
    f(1, "items", list(msg(&DOWNWARD_API_VOLUME_FILE)), OmitEmpty),
    f(2, "defaultMode", INT32, Optional),
];

pub(super) static EMPTY_DIR_VOLUME_SOURCE: Fields = &[
    f(1, "medium", STRING, OmitEmpty),
    f(2, "sizeLimit", QUANTITY, Optional),
];

pub(super) static EPHEMERAL_VOLUME_SOURCE: Fields = &[f(
    1,
    "volumeClaimTemplate",
    msg(&PERSISTENT_VOLUME_CLAIM_TEMPLATE),
    Optional,
)];

pub(super) static FC_VOLUME_SOURCE: Fields = &[
    f(1, "targetWWNs", list(STRING), OmitEmpty),
    f(2, "lun", INT32, Optional),
    f(3, "fsType", STRING, OmitEmpty),
    f(4, "readOnly", BOOL, OmitEmpty),
    f(5, "wwids", list(STRING), OmitEmpty),
];

pub(super) static FLEX_PERSISTENT_VOLUME_SOURCE: Fields = &[
    f(1, "driver", STRING, Always),
    f(2, "fsType", STRING, OmitEmpty),
    f(3, "secretRef", msg(&SECRET_REFERENCE), Optional),
    f(4, "readOnly", BOOL, OmitEmpty),
    f(5, "options", map(STRING), OmitEmpty),
];

pub(super) static FLEX_VOLUME_SOURCE: Fields = &[
    f(1, "driver", STRING, Always),
    f(2, "fsType", STRING, OmitEmpty),
    f(3, "secretRef", msg(&LOCAL_OBJECT_REFERENCE), Optional),
    f(4, "readOnly", BOOL, OmitEmpty),
    f(5, "options", map(STRING), OmitEmpty),
];

pub(super) static FLOCKER_VOLUME_SOURCE: Fields = &[
    f(1, "datasetName", STRING, OmitEmpty),
    f(2, "datasetUUID", STRING, OmitEmpty),
];

pub(super) static GCE_PERSISTENT_DISK_VOLUME_SOURCE: Fields = &[
    f(1, "pdName", STRING, Always),
    f(2, "fsType", STRING, OmitEmpty),
    f(3, "partition", INT32, OmitEmpty),
    f(4, "readOnly", BOOL, OmitEmpty),
];

pub(super) static GIT_REPO_VOLUME_SOURCE: Fields = &[
    f(1, "repository", STRING, Always),
    f(2, "revision", STRING, OmitEmpty),
    f(3, "directory", STRING, OmitEmpty),
];

pub(super) static GLUSTERFS_PERSISTENT_VOLUME_SOURCE: Fields = &[
    f(1, "endpoints", STRING, Always),
    f(2, "path", STRING, Always),
    f(3, "readOnly", BOOL, OmitEmpty),
    f(4, "endpointsNamespace", STRING, Optional),
];

pub(super) static GLUSTERFS_VOLUME_SOURCE: Fields = &[
    f(1, "endpoints", STRING, Always),
    f(2, "path", STRING, Always),
    f(3, "readOnly", BOOL, OmitEmpty),
];

pub(super) static HOST_PATH_VOLUME_SOURCE: Fields =
    &[f(1, "path", STRING, Always), f(2, "type", STRING, Optional)];

pub(super) static ISCSI_PERSISTENT_VOLUME_SOURCE: Fields = &[
    f(1, "targetPortal", STRING, Always),
    f(2, "iqn", STRING, Always),
    f(3, "lun", INT32, Always),
    f(4, "iscsiInterface", STRING, OmitEmpty),
    f(5, "fsType", STRING, OmitEmpty),
    f(6, "readOnly", BOOL, OmitEmpty),
    f(7, "portals", list(STRING), OmitEmpty),
    f(8, "chapAuthDiscovery", BOOL, OmitEmpty),
    f(11, "chapAuthSession", BOOL, OmitEmpty),
    f(10, "secretRef", msg(&SECRET_REFERENCE), Optional),
    f(12, "initiatorName", STRING, Optional),
];

pub(super) static ISCSI_VOLUME_SOURCE: Fields = &[
    f(1, "targetPortal", STRING, Always),
    f(2, "iqn", STRING, Always),
    f(3, "lun", INT32, Always),
    f(4, "iscsiInterface", STRING, OmitEmpty),
    f(5, "fsType", STRING, OmitEmpty),
    f(6, "readOnly", BOOL, OmitEmpty),
    f(7, "portals", list(STRING), OmitEmpty),
    f(8, "chapAuthDiscovery", BOOL, OmitEmpty),
    f(11, "chapAuthSession", BOOL, OmitEmpty),
    f(10, "secretRef", msg(&LOCAL_OBJECT_REFERENCE), Optional),
    f(12, "initiatorName", STRING, Optional),
];

pub(super) static IMAGE_VOLUME_SOURCE: Fields = &[
    f(1, "reference", STRING, OmitEmpty),
    f(2, "pullPolicy", STRING, OmitEmpty),
];

pub(super) static KEY_TO_PATH: Fields = &[
    f(1, "key", STRING, Always),
    f(2, "path", STRING, Always),
    f(3, "mode", INT32, Optional),
];

pub(super) static LOCAL_OBJECT_REFERENCE: Fields = &[f(1, "name", STRING, OmitEmpty)];

pub(super) static LOCAL_VOLUME_SOURCE: Fields = &[
    f(1, "path", STRING, Always),
    f(2, "fsType", STRING, Optional),
];

pub(super) static MODIFY_VOLUME_STATUS: Fields = &[
    f(1, "targetVolumeAttributesClassName", STRING, OmitEmpty),
    f(2, "status", STRING, Always),
];

pub(super) static NFS_VOLUME_SOURCE: Fields = &[
    f(1, "server", STRING, Always),
    f(2, "path", STRING, Always),
    f(3, "readOnly", BOOL, OmitEmpty),
];

pub(super) static NODE_SELECTOR: Fields = &[f(
    1,
    "nodeSelectorTerms",
    list(msg(&NODE_SELECTOR_TERM)),
    Always,
)];

pub(super) static NODE_SELECTOR_REQUIREMENT: Fields = &[
    f(1, "key", STRING, Always),
    f(2, "operator", STRING, Always),
    f(3, "values", list(STRING), OmitEmpty),
];

pub(super) static NODE_SELECTOR_TERM: Fields = &[
    f(
        1,
        "matchExpressions",
        list(msg(&NODE_SELECTOR_REQUIREMENT)),
        OmitEmpty,
    ),
    f(
        2,
        "matchFields",
        list(msg(&NODE_SELECTOR_REQUIREMENT)),
        OmitEmpty,
    ),
];

pub(super) static OBJECT_FIELD_SELECTOR: Fields = &[
    f(1, "apiVersion", STRING, OmitEmpty),
    f(2, "fieldPath", STRING, Always),
];

pub(super) static OBJECT_REFERENCE: Fields = &[
    f(1, "kind", STRING, OmitEmpty),
    f(2, "namespace", STRING, OmitEmpty),
    f(3, "name", STRING, OmitEmpty),
    f(4, "uid", STRING, OmitEmpty),
    f(5, "apiVersion", STRING, OmitEmpty),
    f(6, "resourceVersion", STRING, OmitEmpty),
    f(7, "fieldPath", STRING, OmitEmpty),
];

pub(super) static PERSISTENT_VOLUME: Fields = &[
    f(1, "metadata", msg(&meta::OBJECT_META), OmitEmpty),
    f(2, "spec", msg(&PERSISTENT_VOLUME_SPEC), OmitEmpty),
    f(3, "status", msg(&PERSISTENT_VOLUME_STATUS), OmitEmpty),
];

pub(super) static PERSISTENT_VOLUME_CLAIM: Fields = &[
    f(1, "metadata", msg(&meta::OBJECT_META), OmitEmpty),
    f(2, "spec", msg(&PERSISTENT_VOLUME_CLAIM_SPEC), OmitEmpty),
    f(3, "status", msg(&PERSISTENT_VOLUME_CLAIM_STATUS), OmitEmpty),
];

pub(super) static PERSISTENT_VOLUME_CLAIM_CONDITION: Fields = &[
    f(1, "type", STRING, Always),
    f(2, "status", STRING, Always),
    f(3, "lastProbeTime", TIME, OmitEmpty),
    f(4, "lastTransitionTime", TIME, OmitEmpty),
    f(5, "reason", STRING, OmitEmpty),
    f(6, "message", STRING, OmitEmpty),
];

pub(super) static PERSISTENT_VOLUME_CLAIM_SPEC: Fields = &[
    f(1, "accessModes", list(STRING), OmitEmpty),
    f(4, "selector", msg(&meta::LABEL_SELECTOR), Optional),
    f(
        2,
        "resources",
        msg(&VOLUME_RESOURCE_REQUIREMENTS),
        OmitEmpty,
    ),
    f(3, "volumeName", STRING, OmitEmpty),
    f(5, "storageClassName", STRING, Optional),
    f(6, "volumeMode", STRING, Optional),
    f(
        7,
        "dataSource",
        msg(&TYPED_LOCAL_OBJECT_REFERENCE),
        Optional,
    ),
    f(8, "dataSourceRef", msg(&TYPED_OBJECT_REFERENCE), Optional),
    f(9, "volumeAttributesClassName", STRING, Optional),
];

pub(super) static PERSISTENT_VOLUME_CLAIM_STATUS: Fields = &[
    f(1, "phase", STRING, OmitEmpty),
    f(2, "accessModes", list(STRING), OmitEmpty),
    f(3, "capacity", map(QUANTITY), OmitEmpty),
    f(
        4,
        "conditions",
        list(msg(&PERSISTENT_VOLUME_CLAIM_CONDITION)),
        OmitEmpty,
    ),
    f(5, "allocatedResources", map(QUANTITY), OmitEmpty),
    f(7, "allocatedResourceStatuses", map(STRING), OmitEmpty),
    f(8, "currentVolumeAttributesClassName", STRING, Optional),
    f(
        9,
        "modifyVolumeStatus",
        msg(&MODIFY_VOLUME_STATUS),
        Optional,
    ),
];

pub(super) static PERSISTENT_VOLUME_CLAIM_TEMPLATE: Fields = &[
    f(1, "metadata", msg(&meta::OBJECT_META), OmitEmpty),
    f(2, "spec", msg(&PERSISTENT_VOLUME_CLAIM_SPEC), Always),
];

pub(super) static PERSISTENT_VOLUME_CLAIM_VOLUME_SOURCE: Fields = &[
    f(1, "claimName", STRING, Always),
    f(2, "readOnly", BOOL, OmitEmpty),
];

pub(super) static PERSISTENT_VOLUME_SOURCE: Fields = &[
    f(
        1,
        "gcePersistentDisk",
        msg(&GCE_PERSISTENT_DISK_VOLUME_SOURCE),
        Optional,
    ),
    f(
        2,
        "awsElasticBlockStore",
        msg(&AWS_ELASTIC_BLOCK_STORE_VOLUME_SOURCE),
        Optional,
    ),
    f(3, "hostPath", msg(&HOST_PATH_VOLUME_SOURCE), Optional),
    f(
        4,
        "glusterfs",
        msg(&GLUSTERFS_PERSISTENT_VOLUME_SOURCE),
        Optional,
    ),
    f(5, "nfs", msg(&NFS_VOLUME_SOURCE), Optional),
    f(6, "rbd", msg(&RBD_PERSISTENT_VOLUME_SOURCE), Optional),
    f(7, "iscsi", msg(&ISCSI_PERSISTENT_VOLUME_SOURCE), Optional),
    f(8, "cinder", msg(&CINDER_PERSISTENT_VOLUME_SOURCE), Optional),
    f(
        9,
        "cephfs",
        msg(&CEPH_FS_PERSISTENT_VOLUME_SOURCE),
        Optional,
    ),
    f(10, "fc", msg(&FC_VOLUME_SOURCE), Optional),
    f(11, "flocker", msg(&FLOCKER_VOLUME_SOURCE), Optional),
    f(
        12,
        "flexVolume",
        msg(&FLEX_PERSISTENT_VOLUME_SOURCE),
        Optional,
    ),
    f(
        13,
        "azureFile",
        msg(&AZURE_FILE_PERSISTENT_VOLUME_SOURCE),
        Optional,
    ),
    f(
        14,
        "vsphereVolume",
        msg(&VSPHERE_VIRTUAL_DISK_VOLUME_SOURCE),
        Optional,
    ),
    f(15, "quobyte", msg(&QUOBYTE_VOLUME_SOURCE), Optional),
    f(16, "azureDisk", msg(&AZURE_DISK_VOLUME_SOURCE), Optional),
    f(
        17,
        "photonPersistentDisk",
        msg(&PHOTON_PERSISTENT_DISK_VOLUME_SOURCE),
        Optional,
    ),
    f(18, "portworxVolume", msg(&PORTWORX_VOLUME_SOURCE), Optional),
    f(
        19,
        "scaleIO",
        msg(&SCALE_IO_PERSISTENT_VOLUME_SOURCE),
        Optional,
    ),
    f(20, "local", msg(&LOCAL_VOLUME_SOURCE), Optional),
    f(
        21,
        "storageos",
        msg(&STORAGE_OS_PERSISTENT_VOLUME_SOURCE),
        Optional,
    ),
    f(22, "csi", msg(&CSI_PERSISTENT_VOLUME_SOURCE), Optional),
];

pub(super) static PERSISTENT_VOLUME_SPEC: Fields = &[
    f(1, "capacity", map(QUANTITY), OmitEmpty),
    f(
        2,
        "persistentVolumeSource",
        msg(&PERSISTENT_VOLUME_SOURCE),
        Inline,
    ),
    f(3, "accessModes", list(STRING), OmitEmpty),
    f(4, "claimRef", msg(&OBJECT_REFERENCE), Optional),
    f(5, "persistentVolumeReclaimPolicy", STRING, OmitEmpty),
    f(6, "storageClassName", STRING, OmitEmpty),
    f(7, "mountOptions", list(STRING), OmitEmpty),
    f(8, "volumeMode", STRING, Optional),
    f(9, "nodeAffinity", msg(&VOLUME_NODE_AFFINITY), Optional),
    f(10, "volumeAttributesClassName", STRING, Optional),
];

pub(super) static PERSISTENT_VOLUME_STATUS: Fields = &[
    f(1, "phase", STRING, OmitEmpty),
    f(2, "message", STRING, OmitEmpty),
    f(3, "reason", STRING, OmitEmpty),
    f(4, "lastPhaseTransitionTime", TIME, Optional),
];

pub(super) static PHOTON_PERSISTENT_DISK_VOLUME_SOURCE: Fields = &[
    f(1, "pdID", STRING, Always),
    f(2, "fsType", STRING, OmitEmpty),
];

pub(super) static POD_CERTIFICATE_PROJECTION: Fields = &[
    f(1, "signerName", STRING, OmitEmpty),
    f(2, "keyType", STRING, OmitEmpty),
    f(3, "maxExpirationSeconds", INT32, Optional),
    f(4, "credentialBundlePath", STRING, OmitEmpty),
    f(5, "keyPath", STRING, OmitEmpty),
    f(6, "certificateChainPath", STRING, OmitEmpty),
    f(7, "userAnnotations", map(STRING), OmitEmpty),
];

pub(super) static PORTWORX_VOLUME_SOURCE: Fields = &[
    f(1, "volumeID", STRING, Always),
    f(2, "fsType", STRING, OmitEmpty),
    f(3, "readOnly", BOOL, OmitEmpty),
];

pub(super) static PROJECTED_VOLUME_SOURCE: Fields = &[
    f(1, "sources", list(msg(&VOLUME_PROJECTION)), Always),
    f(2, "defaultMode", INT32, Optional),
];

pub(super) static QUOBYTE_VOLUME_SOURCE: Fields = &[
    f(1, "registry", STRING, Always),
    f(2, "volume", STRING, Always),
    f(3, "readOnly", BOOL, OmitEmpty),
    f(4, "user", STRING, OmitEmpty),
    f(5, "group", STRING, OmitEmpty),
    f(6, "tenant", STRING, OmitEmpty),
];

pub(super) static RBD_PERSISTENT_VOLUME_SOURCE: Fields = &[
    f(1, "monitors", list(STRING), Always),
    f(2, "image", STRING, Always),
    f(3, "fsType", STRING, OmitEmpty),
    f(4, "pool", STRING, OmitEmpty),
    f(5, "user", STRING, OmitEmpty),
    f(6, "keyring", STRING, OmitEmpty),
    f(7, "secretRef", msg(&SECRET_REFERENCE), Optional),
    f(8, "readOnly", BOOL, OmitEmpty),
];

pub(super) static RBD_VOLUME_SOURCE: Fields = &[
    f(1, "monitors", list(STRING), Always),
    f(2, "image", STRING, Always),
    f(3, "fsType", STRING, OmitEmpty),
    f(4, "pool", STRING, OmitEmpty),
    f(5, "user", STRING, OmitEmpty),
    f(6, "keyring", STRING, OmitEmpty),
    f(7, "secretRef", msg(&LOCAL_OBJECT_REFERENCE), Optional),
    f(8, "readOnly", BOOL, OmitEmpty),
];

pub(super) static RESOURCE_FIELD_SELECTOR: Fields = &[
    f(1, "containerName", STRING, OmitEmpty),
    f(2, "resource", STRING, Always),
    f(3, "divisor", QUANTITY, OmitEmpty),
];

pub(super) static SCALE_IO_PERSISTENT_VOLUME_SOURCE: Fields = &[
    f(1, "gateway", STRING, Always),
    f(2, "system", STRING, Always),
    f(3, "secretRef", msg(&SECRET_REFERENCE), Nullable),
    f(4, "sslEnabled", BOOL, OmitEmpty),
    f(5, "protectionDomain", STRING, OmitEmpty),
    f(6, "storagePool", STRING, OmitEmpty),
    f(7, "storageMode", STRING, OmitEmpty),
    f(8, "volumeName", STRING, OmitEmpty),
    f(9, "fsType", STRING, OmitEmpty),
    f(10, "readOnly", BOOL, OmitEmpty),
];

pub(super) static SCALE_IO_VOLUME_SOURCE: Fields = &[
    f(1, "gateway", STRING, Always),
    f(2, "system", STRING, Always),
    f(3, "secretRef", msg(&LOCAL_OBJECT_REFERENCE), Nullable),
    f(4, "sslEnabled", BOOL, OmitEmpty),
    f(5, "protectionDomain", STRING, OmitEmpty),
    f(6, "storagePool", STRING, OmitEmpty),
    f(7, "storageMode", STRING, OmitEmpty),
    f(8, "volumeName", STRING, OmitEmpty),
    f(9, "fsType", STRING, OmitEmpty),
    f(10, "readOnly", BOOL, OmitEmpty),
];

pub(super) static SECRET_PROJECTION: Fields = &[
    f(
        1,
        "localObjectReference",
        msg(&LOCAL_OBJECT_REFERENCE),
        Inline,
    ),
    f(2, "items", list(msg(&KEY_TO_PATH)), OmitEmpty),
    f(4, "optional", BOOL, Optional),
];

pub(super) static SECRET_REFERENCE: Fields = &[
    f(1, "name", STRING, OmitEmpty),
    f(2, "namespace", STRING, OmitEmpty),
];

pub(super) static SECRET_VOLUME_SOURCE: Fields = &[
    f(1, "secretName", STRING, OmitEmpty),
    f(2, "items", list(msg(&KEY_TO_PATH)), OmitEmpty),
    f(3, "defaultMode", INT32, Optional),
    f(4, "optional", BOOL, Optional),
];

pub(super) static SERVICE_ACCOUNT_TOKEN_PROJECTION: Fields = &[
    f(1, "audience", STRING, OmitEmpty),
    f(2, "expirationSeconds", INT64, Optional),
    f(3, "path", STRING, Always),
];

pub(super) static STORAGE_OS_PERSISTENT_VOLUME_SOURCE: Fields = &[
    f(1, "volumeName", STRING, OmitEmpty),
    f(2, "volumeNamespace", STRING, OmitEmpty),
    f(3, "fsType", STRING, OmitEmpty),
    f(4, "readOnly", BOOL, OmitEmpty),
    f(5, "secretRef", msg(&OBJECT_REFERENCE), Optional),
];

pub(super) static STORAGE_OS_VOLUME_SOURCE: Fields = &[
    f(1, "volumeName", STRING, OmitEmpty),
    f(2, "volumeNamespace", STRING, OmitEmpty),
    f(3, "fsType", STRING, OmitEmpty),
    f(4, "readOnly", BOOL, OmitEmpty),
    f(5, "secretRef", msg(&LOCAL_OBJECT_REFERENCE), Optional),
];

pub(super) static TYPED_LOCAL_OBJECT_REFERENCE: Fields = &[
    f(1, "apiGroup", STRING, Nullable),
    f(2, "kind", STRING, Always),
    f(3, "name", STRING, Always),
];

pub(super) static TYPED_OBJECT_REFERENCE: Fields = &[
    f(1, "apiGroup", STRING, Nullable),
    f(2, "kind", STRING, Always),
    f(3, "name", STRING, Always),
    f(4, "namespace", STRING, Optional),
];

pub(super) static VOLUME: Fields = &[
    f(1, "name", STRING, Always),
    f(2, "volumeSource", msg(&VOLUME_SOURCE), Inline),
];

pub(super) static VOLUME_NODE_AFFINITY: Fields = &[f(1, "required", msg(&NODE_SELECTOR), Optional)];

pub(super) static VOLUME_PROJECTION: Fields = &[
    f(1, "secret", msg(&SECRET_PROJECTION), Optional),
    f(2, "downwardAPI", msg(&DOWNWARD_API_PROJECTION), Optional),
    f(3, "configMap", msg(&CONFIG_MAP_PROJECTION), Optional),
    f(
        4,
        "serviceAccountToken",
        msg(&SERVICE_ACCOUNT_TOKEN_PROJECTION),
        Optional,
    ),
    f(
        5,
        "clusterTrustBundle",
        msg(&CLUSTER_TRUST_BUNDLE_PROJECTION),
        Optional,
    ),
    f(
        6,
        "podCertificate",
        msg(&POD_CERTIFICATE_PROJECTION),
        Optional,
    ),
];

pub(super) static VOLUME_RESOURCE_REQUIREMENTS: Fields = &[
    f(1, "limits", map(QUANTITY), OmitEmpty),
    f(2, "requests", map(QUANTITY), OmitEmpty),
];

pub(super) static VOLUME_SOURCE: Fields = &[
    f(1, "hostPath", msg(&HOST_PATH_VOLUME_SOURCE), Optional),
    f(2, "emptyDir", msg(&EMPTY_DIR_VOLUME_SOURCE), Optional),
    f(
        3,
        "gcePersistentDisk",
        msg(&GCE_PERSISTENT_DISK_VOLUME_SOURCE),
        Optional,
    ),
    f(
        4,
        "awsElasticBlockStore",
        msg(&AWS_ELASTIC_BLOCK_STORE_VOLUME_SOURCE),
        Optional,
    ),
    f(5, "gitRepo", msg(&GIT_REPO_VOLUME_SOURCE), Optional),
    f(6, "secret", msg(&SECRET_VOLUME_SOURCE), Optional),
    f(7, "nfs", msg(&NFS_VOLUME_SOURCE), Optional),
    f(8, "iscsi", msg(&ISCSI_VOLUME_SOURCE), Optional),
    f(9, "glusterfs", msg(&GLUSTERFS_VOLUME_SOURCE), Optional),
    f(
        10,
        "persistentVolumeClaim",
        msg(&PERSISTENT_VOLUME_CLAIM_VOLUME_SOURCE),
        Optional,
    ),
    f(11, "rbd", msg(&RBD_VOLUME_SOURCE), Optional),
    f(12, "flexVolume", msg(&FLEX_VOLUME_SOURCE), Optional),
    f(13, "cinder", msg(&CINDER_VOLUME_SOURCE), Optional),
    f(14, "cephfs", msg(&CEPH_FS_VOLUME_SOURCE), Optional),
    f(15, "flocker", msg(&FLOCKER_VOLUME_SOURCE), Optional),
    f(
        16,
        "downwardAPI",
        msg(&DOWNWARD_API_VOLUME_SOURCE),
        Optional,
    ),
    f(17, "fc", msg(&FC_VOLUME_SOURCE), Optional),
    f(18, "azureFile", msg(&AZURE_FILE_VOLUME_SOURCE), Optional),
    f(19, "configMap", msg(&CONFIG_MAP_VOLUME_SOURCE), Optional),
    f(
        20,
        "vsphereVolume",
        msg(&VSPHERE_VIRTUAL_DISK_VOLUME_SOURCE),
        Optional,
    ),
    f(21, "quobyte", msg(&QUOBYTE_VOLUME_SOURCE), Optional),
    f(22, "azureDisk", msg(&AZURE_DISK_VOLUME_SOURCE), Optional),
    f(
        23,
        "photonPersistentDisk",
        msg(&PHOTON_PERSISTENT_DISK_VOLUME_SOURCE),
        Optional,
    ),
    f(26, "projected", msg(&PROJECTED_VOLUME_SOURCE), Optional),
    f(24, "portworxVolume", msg(&PORTWORX_VOLUME_SOURCE), Optional),
    f(25, "scaleIO", msg(&SCALE_IO_VOLUME_SOURCE), Optional),
    f(27, "storageos", msg(&STORAGE_OS_VOLUME_SOURCE), Optional),
    f(28, "csi", msg(&CSI_VOLUME_SOURCE), Optional),
    f(29, "ephemeral", msg(&EPHEMERAL_VOLUME_SOURCE), Optional),
    f(30, "image", msg(&IMAGE_VOLUME_SOURCE), Optional),
];

pub(super) static VSPHERE_VIRTUAL_DISK_VOLUME_SOURCE: Fields = &[
    f(1, "volumePath", STRING, Always),
    f(2, "fsType", STRING, OmitEmpty),
    f(3, "storagePolicyName", STRING, OmitEmpty),
    f(4, "storagePolicyID", STRING, OmitEmpty),
];

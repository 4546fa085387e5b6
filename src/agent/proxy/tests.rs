//! Unit tests of the proxy loop's pieces that need no API server.

use super::nft::{RecordingApplier, RuleApplier};

#[tokio::test]
async fn an_unavailable_applier_says_what_is_missing() {
    let applier = RecordingApplier {
        unavailable: Some("no nft".into()),
        ..Default::default()
    };
    let error = applier.available().await.unwrap_err();
    let error = super::ProxyError::KernelUnavailable(error);
    assert_eq!(
        error.to_string(),
        "the service proxy cannot start, so Services are not reachable on this node: no nft"
    );
}

//! `kedge check-config` flags.

use std::path::PathBuf;

use clap::Args;

#[derive(Debug, Clone, Args)]
#[command(
    about = "Check that this machine's kernel and host have what kedge needs",
    long_about = "Check that this machine's kernel and host have what kedge needs: namespaces, cgroups (v1 or v2) with the memory controller, overlayfs, bridge, veth, vxlan, netfilter/nftables, br_netfilter, IP forwarding and free ports. Prints each as ok or missing with the fix, and exits with 1 when something required is missing."
)]
pub struct CheckConfigArgs {
    /// Inspect the host whose /proc, /sys, /boot and /lib/modules are under DIR
    #[arg(long, default_value = "/", value_name = "DIR")]
    pub root: PathBuf,
}

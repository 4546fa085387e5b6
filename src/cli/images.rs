//! `kedge images` flags: list, import, pull and remove images in the node's image store
//! (what `k3s ctr images` and `crictl images` do for k3s).

use std::path::PathBuf;

use clap::{Args, Subcommand};

#[derive(Debug, Clone, Args)]
#[command(
    about = "List, import, pull and remove the images in this node's image store",
    long_about = "List, import, pull and remove the images in this node's image store (<data-dir>/agent). While kedge runs on this data dir, drop archives into <data-dir>/agent/images/ instead of importing them here: the running node imports them itself."
)]
pub struct ImagesArgs {
    /// Directory holding all state
    #[arg(short = 'd', long, env = "KEDGE_DATA_DIR", default_value = crate::paths::DEFAULT_DATA_DIR, value_name = "DIR", global = true)]
    pub data_dir: PathBuf,

    /// Registry mirrors and credentials, in k3s's registries.yaml format (used by pull)
    #[arg(
        long,
        env = "KEDGE_REGISTRIES",
        default_value = "/etc/kedge/registries.yaml",
        value_name = "FILE",
        global = true
    )]
    pub registries: PathBuf,

    #[command(subcommand)]
    pub command: ImagesCommand,
}

#[derive(Debug, Clone, Subcommand)]
pub enum ImagesCommand {
    /// List the images: name, id, size
    #[command(visible_alias = "ls")]
    List,
    /// Import docker-save or OCI archives (.tar, .tar.gz, .tgz, .tar.zst, .tzst)
    Import {
        #[arg(required = true, value_name = "ARCHIVE")]
        archives: Vec<PathBuf>,
    },
    /// Pull images from their registries (or the mirrors in registries.yaml)
    Pull {
        #[arg(required = true, value_name = "IMAGE")]
        images: Vec<String>,
    },
    /// Remove images by name or id; their layers go once no image uses them
    #[command(visible_alias = "rm")]
    Remove {
        #[arg(required = true, value_name = "IMAGE")]
        images: Vec<String>,
    },
}

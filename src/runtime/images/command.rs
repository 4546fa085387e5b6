//! `kedge images`: the image store from the command line — list, import, pull, remove.

use std::io::Write;

use anyhow::Context as _;

use super::{Image, ImageStore, registries::Registries};
use crate::cli::{ImagesArgs, ImagesCommand};
use crate::paths::DataDir;

/// Runs one `kedge images` command, printing to `out`.
///
/// # Errors
/// The store cannot be opened, or an archive, pull or removal fails (the message names it).
pub async fn run(args: &ImagesArgs, out: &mut impl Write) -> anyhow::Result<()> {
    let root = DataDir::new(&args.data_dir).agent();
    // Listing only reads: it is safe while a node imports or pulls into the same store.
    if let ImagesCommand::List = &args.command {
        let images = ImageStore::list_at(&root)
            .with_context(|| format!("cannot read the image store at {}", root.display()))?;
        return list(images, out);
    }
    let store = {
        let root = root.clone();
        tokio::task::spawn_blocking(move || ImageStore::open(&root)).await?
    }
    .with_context(|| format!("cannot open the image store at {}", root.display()))?;
    match &args.command {
        // Answered above, without opening the store.
        ImagesCommand::List => {}
        ImagesCommand::Import { archives } => {
            for archive in archives {
                let (store, path) = (store.clone(), archive.clone());
                let imported = tokio::task::spawn_blocking(move || store.import_archive(&path))
                    .await?
                    .with_context(|| format!("cannot import {}", archive.display()))?;
                for image in imported {
                    let names = image.names.join(", ");
                    writeln!(out, "imported {} {names}", short_id(&image.id.to_string()))?;
                }
            }
        }
        ImagesCommand::Pull { images } => {
            if args.registries.exists() {
                let registries = Registries::load(&args.registries)
                    .with_context(|| format!("cannot read {}", args.registries.display()))?;
                store.set_registries(registries);
            }
            for name in images {
                // The pull error already names the image and each endpoint's failure.
                let image = store.pull(name, None).await?;
                writeln!(out, "pulled {} {name}", short_id(&image.id.to_string()))?;
            }
        }
        ImagesCommand::Remove { images } => {
            for name in images {
                let removed = store
                    .remove(name)
                    .with_context(|| format!("cannot remove {name}"))?;
                writeln!(out, "removed {} {name}", short_id(&removed.id.to_string()))?;
            }
            let store = store.clone();
            tokio::task::spawn_blocking(move || store.sweep())
                .await?
                .context("cannot free the removed images' layers")?;
        }
    }
    Ok(())
}

/// One line per image name (an image without names shows its id), as `crictl images` does.
fn list(images: Vec<Image>, out: &mut impl Write) -> anyhow::Result<()> {
    let mut rows: Vec<(String, String, String)> = Vec::new();
    for image in images {
        let id = short_id(&image.id.to_string());
        let size = human_size(image.size);
        if image.names.is_empty() {
            rows.push(("<none>".into(), id, size));
        } else {
            for name in &image.names {
                rows.push((name.clone(), id.clone(), size.clone()));
            }
        }
    }
    rows.sort();
    let width = rows.iter().map(|r| r.0.len()).max().unwrap_or(0).max(5);
    writeln!(out, "{:width$}  {:13}  SIZE", "IMAGE", "IMAGE ID")?;
    for (name, id, size) in rows {
        writeln!(out, "{name:width$}  {id:13}  {size}")?;
    }
    Ok(())
}

/// The first 13 hex digits of an id, as crictl shows them.
fn short_id(id: &str) -> String {
    id.trim_start_matches("sha256:").chars().take(13).collect()
}

fn human_size(bytes: u64) -> String {
    const UNITS: [&str; 4] = ["B", "kB", "MB", "GB"];
    let mut value = bytes as f64;
    let mut unit = 0;
    while value >= 1000.0 && unit < UNITS.len() - 1 {
        value /= 1000.0;
        unit += 1;
    }
    if unit == 0 {
        format!("{bytes}B")
    } else {
        format!("{value:.1}{}", UNITS[unit])
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_and_ids_read_like_crictl() {
        assert_eq!(human_size(512), "512B");
        assert_eq!(human_size(4_400_000), "4.4MB");
        assert_eq!(human_size(1_250_000_000), "1.2GB");
        assert_eq!(short_id("sha256:0123456789abcdef0123"), "0123456789abc");
    }
}

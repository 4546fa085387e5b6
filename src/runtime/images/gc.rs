//! Image garbage collection as the kubelet does it: when the filesystem holding the store is
//! more than `high`% used, unused images are removed, least recently used first, until usage
//! is below `low`% (kubelet defaults: 85 and 80). Images the air-gap directory produced are
//! pinned and never removed ([`ImageStore::pinned`]). Usage counts blocks reserved for root
//! as free, as node-pressure eviction does (see `agent::kubelet::pressure`): kedge writes as
//! root, and a file system that keeps much back would otherwise look full.

use std::collections::HashSet;

use super::error::{ImageError, Result};
use super::metadata::ImageId;
use super::store::ImageStore;

/// The kubelet's `--image-gc-high-threshold` default.
pub const DEFAULT_HIGH_THRESHOLD: u8 = 85;
/// The kubelet's `--image-gc-low-threshold` default.
pub const DEFAULT_LOW_THRESHOLD: u8 = 80;

/// What a collection did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct GcReport {
    /// Usage of the filesystem before, in percent.
    pub usage_before: u8,
    /// Usage after, in percent.
    pub usage_after: u8,
    pub removed: Vec<ImageId>,
    /// Bytes the filesystem gained.
    pub freed: u64,
}

/// Capacity and free bytes of a filesystem (blocks reserved for root count as free).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DiskUsage {
    pub capacity: u64,
    pub available: u64,
}

impl DiskUsage {
    /// Used percentage, as the kubelet computes it: `(capacity - available) / capacity`.
    pub fn percent(&self) -> u8 {
        if self.capacity == 0 {
            return 0;
        }
        let used = self.capacity.saturating_sub(self.available);
        u8::try_from(used.saturating_mul(100) / self.capacity).unwrap_or(100)
    }
}

impl ImageStore {
    /// The disk usage of the filesystem holding the store.
    ///
    /// # Errors
    /// `statvfs` failed.
    pub fn disk_usage(&self) -> Result<DiskUsage> {
        let stat = rustix::fs::statvfs(self.root())
            .map_err(|e| ImageError::io("statvfs", self.root())(e.into()))?;
        Ok(DiskUsage {
            capacity: stat.f_blocks.saturating_mul(stat.f_frsize),
            available: stat.f_bfree.saturating_mul(stat.f_frsize),
        })
    }

    /// Removes unused images (not in `in_use`, not pinned) while usage is above `high`%,
    /// least recently used first, until it is below `low`%. Blocking: call it from a blocking thread.
    ///
    /// # Errors
    /// `statvfs` or a removal failed.
    pub fn collect(&self, high: u8, low: u8, in_use: &HashSet<ImageId>) -> Result<GcReport> {
        self.collect_with(high, low, in_use, &mut || self.disk_usage())
    }

    /// [`ImageStore::collect`] with a disk-usage probe (tests feed it numbers).
    ///
    /// # Errors
    /// The probe or a removal failed.
    pub fn collect_with(
        &self,
        high: u8,
        low: u8,
        in_use: &HashSet<ImageId>,
        usage: &mut dyn FnMut() -> Result<DiskUsage>,
    ) -> Result<GcReport> {
        let before = usage()?;
        let mut report = GcReport {
            usage_before: before.percent(),
            usage_after: before.percent(),
            ..GcReport::default()
        };
        if before.percent() < high {
            return Ok(report);
        }
        let target_available = before
            .capacity
            .saturating_mul(100 - u64::from(low.min(100)))
            / 100;
        let pinned = self.pinned();
        let mut candidates: Vec<_> = self
            .list()
            .into_iter()
            .filter(|i| !in_use.contains(&i.id) && !pinned.contains(&i.id.to_string()))
            .collect();
        candidates.sort_by_key(|i| (i.last_used, i.created_at));
        let mut now = before;
        for image in candidates {
            if now.available >= target_available {
                break;
            }
            self.remove(image.id.0.as_str())?;
            tracing::info!(image = %image.id, names = ?image.names, "image garbage collected");
            report.removed.push(image.id);
            now = usage()?;
        }
        report.usage_after = now.percent();
        report.freed = now.available.saturating_sub(before.available);
        Ok(report)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percent_is_used_over_capacity() {
        let u = DiskUsage {
            capacity: 1000,
            available: 140,
        };
        assert_eq!(u.percent(), 86);
        assert_eq!(
            DiskUsage {
                capacity: 0,
                available: 0
            }
            .percent(),
            0
        );
    }
}

//! `--kubelet-arg`: the upstream kubelet flags kedge's kubelet honours, given as k3s takes
//! them (`--kubelet-arg=max-pods=250`, repeatable, a leading `--` allowed). k3s hands them to
//! the kubelet it runs, which refuses a flag it does not know; kedge refuses them the same
//! way, at start-up, naming the flags it takes ([`KubeletArgs::parse`]).
//!
//! - `max-pods`: the node's pod capacity (default 110);
//! - `eviction-hard`: the hard eviction thresholds, `signal<quantity|percent` joined by
//!   commas (`memory.available<100Mi,nodefs.available<10%`). As upstream (unless
//!   `mergeDefaultEvictionSettings`), giving the flag replaces all of the defaults: a signal
//!   left out has no threshold;
//! - `system-reserved`, `kube-reserved`: `cpu=500m,memory=1Gi,ephemeral-storage=1Gi,pid=100`,
//!   held back from the node's allocatable resources (with the hard thresholds of memory and
//!   of the node's file system);
//! - `image-gc-high-threshold`, `image-gc-low-threshold`: the disk usage (percent) above
//!   which unused images are removed, and the usage that removal aims for (85 and 80);
//! - `minimum-image-ttl-duration`: how long an unused image is kept after it entered the
//!   store or last served a container (`2m`; a Go duration such as `90s` or `1h30m`).

use std::time::Duration;

use crate::api::admission::validation::parse_quantity;

/// The kubelet's settings from `--kubelet-arg`, defaults where a flag is not given.
#[derive(Clone, Debug, PartialEq)]
pub struct KubeletArgs {
    pub max_pods: u32,
    pub eviction_hard: Thresholds,
    pub system_reserved: Reserved,
    pub kube_reserved: Reserved,
    pub image_gc_high: u8,
    pub image_gc_low: u8,
    pub image_minimum_age: Duration,
}

/// The flags `--kubelet-arg` takes, for the error naming them.
const FLAGS: &str = "max-pods, eviction-hard, system-reserved, kube-reserved, image-gc-high-threshold, image-gc-low-threshold, minimum-image-ttl-duration";

impl Default for KubeletArgs {
    fn default() -> Self {
        KubeletArgs {
            max_pods: 110,
            eviction_hard: Thresholds::default(),
            system_reserved: Reserved::default(),
            kube_reserved: Reserved::default(),
            image_gc_high: 85,
            image_gc_low: 80,
            image_minimum_age: Duration::from_secs(120),
        }
    }
}

/// A hard eviction threshold: the signal is under pressure below this.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Threshold {
    /// An amount: bytes, inodes or process ids.
    Quantity(u64),
    /// A share of the signal's capacity, in percent.
    Percent(f64),
}

impl Threshold {
    /// The threshold as an amount of a resource whose capacity is `capacity`.
    pub fn amount(self, capacity: u64) -> u64 {
        match self {
            Threshold::Quantity(amount) => amount,
            Threshold::Percent(percent) => (capacity as f64 * percent / 100.0).ceil() as u64,
        }
    }

    /// Whether `available` of `capacity` is below the threshold.
    pub fn crossed(self, available: u64, capacity: u64) -> bool {
        capacity > 0 && available < self.amount(capacity)
    }
}

/// The hard eviction thresholds by signal; `None` is no threshold.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Thresholds {
    pub memory_available: Option<Threshold>,
    pub nodefs_available: Option<Threshold>,
    pub nodefs_inodes_free: Option<Threshold>,
    pub imagefs_available: Option<Threshold>,
    pub imagefs_inodes_free: Option<Threshold>,
    pub pid_available: Option<Threshold>,
}

impl Default for Thresholds {
    /// Upstream's defaults on Linux.
    fn default() -> Self {
        Thresholds {
            memory_available: Some(Threshold::Quantity(100 * 1024 * 1024)),
            nodefs_available: Some(Threshold::Percent(10.0)),
            nodefs_inodes_free: Some(Threshold::Percent(5.0)),
            imagefs_available: Some(Threshold::Percent(15.0)),
            imagefs_inodes_free: Some(Threshold::Percent(5.0)),
            pid_available: None,
        }
    }
}

impl Thresholds {
    fn parse(value: &str) -> Result<Thresholds, String> {
        let mut thresholds = Thresholds {
            memory_available: None,
            nodefs_available: None,
            nodefs_inodes_free: None,
            imagefs_available: None,
            imagefs_inodes_free: None,
            pid_available: None,
        };
        for item in value.split(',').map(str::trim).filter(|i| !i.is_empty()) {
            let (signal, amount) = item.split_once('<').ok_or_else(|| {
                format!("{item:?} is not signal<amount (e.g. memory.available<100Mi)")
            })?;
            let slot = match signal {
                "memory.available" => &mut thresholds.memory_available,
                "nodefs.available" => &mut thresholds.nodefs_available,
                "nodefs.inodesFree" => &mut thresholds.nodefs_inodes_free,
                "imagefs.available" => &mut thresholds.imagefs_available,
                "imagefs.inodesFree" => &mut thresholds.imagefs_inodes_free,
                "pid.available" => &mut thresholds.pid_available,
                other => {
                    return Err(format!(
                        "unknown signal {other:?}; the signals are memory.available, nodefs.available, nodefs.inodesFree, imagefs.available, imagefs.inodesFree and pid.available"
                    ));
                }
            };
            *slot = Some(parse_threshold(amount).ok_or_else(|| {
                format!("{amount:?} is not a quantity (100Mi) or a percentage (10%)")
            })?);
        }
        Ok(thresholds)
    }
}

fn parse_threshold(text: &str) -> Option<Threshold> {
    if let Some(percent) = text.strip_suffix('%') {
        let percent: f64 = percent.parse().ok()?;
        return (percent > 0.0 && percent <= 100.0).then_some(Threshold::Percent(percent));
    }
    let quantity = parse_quantity(text)?;
    (quantity.sign() >= 0).then(|| Threshold::Quantity(quantity.value() as u64))
}

/// A Go duration (`2m0s`, `90s`, `1h30m`, `500ms`, `0`), as the kubelet's flags take them.
fn parse_duration(text: &str) -> Option<Duration> {
    if text == "0" {
        return Some(Duration::ZERO);
    }
    let mut total = Duration::ZERO;
    let mut rest = text;
    while !rest.is_empty() {
        let digits = rest
            .find(|c: char| !c.is_ascii_digit() && c != '.')
            .filter(|i| *i > 0)?;
        let value: f64 = rest[..digits].parse().ok()?;
        rest = &rest[digits..];
        let unit_len = rest
            .find(|c: char| c.is_ascii_digit() || c == '.')
            .unwrap_or(rest.len());
        let seconds = match &rest[..unit_len] {
            "h" => 3600.0,
            "m" => 60.0,
            "s" => 1.0,
            "ms" => 0.001,
            "us" | "µs" => 0.000_001,
            "ns" => 0.000_000_001,
            _ => return None,
        };
        total += Duration::try_from_secs_f64(value * seconds).ok()?;
        rest = &rest[unit_len..];
    }
    (!text.is_empty()).then_some(total)
}

/// Resources held back for the system or for Kubernetes' own daemons.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Reserved {
    pub cpu_millis: u64,
    pub memory: u64,
    pub ephemeral_storage: u64,
    pub pid: u64,
}

impl Reserved {
    fn parse(value: &str) -> Result<Reserved, String> {
        let mut reserved = Reserved::default();
        for item in value.split(',').map(str::trim).filter(|i| !i.is_empty()) {
            let (resource, amount) = item
                .split_once('=')
                .ok_or_else(|| format!("{item:?} is not resource=quantity (e.g. cpu=500m)"))?;
            let quantity = parse_quantity(amount)
                .filter(|q| q.sign() >= 0)
                .ok_or_else(|| format!("{amount:?} is not a quantity"))?;
            match resource {
                "cpu" => reserved.cpu_millis = quantity.milli_value() as u64,
                "memory" => reserved.memory = quantity.value() as u64,
                "ephemeral-storage" => reserved.ephemeral_storage = quantity.value() as u64,
                "pid" => reserved.pid = quantity.value() as u64,
                other => {
                    return Err(format!(
                        "unknown resource {other:?}; the resources are cpu, memory, ephemeral-storage and pid"
                    ));
                }
            }
        }
        Ok(reserved)
    }

    /// Both reservations together.
    pub fn plus(self, other: Reserved) -> Reserved {
        Reserved {
            cpu_millis: self.cpu_millis + other.cpu_millis,
            memory: self.memory + other.memory,
            ephemeral_storage: self.ephemeral_storage + other.ephemeral_storage,
            pid: self.pid + other.pid,
        }
    }
}

impl KubeletArgs {
    /// The settings from the `--kubelet-arg` values (`flag=value`), the last of a flag
    /// winning as on a command line.
    ///
    /// # Errors
    /// The value that is wrong and why, naming the fix.
    pub fn parse(values: &[String]) -> Result<KubeletArgs, (String, String)> {
        let mut args = KubeletArgs::default();
        for value in values {
            let fail = |why: String| (value.clone(), why);
            let (flag, setting) = value
                .trim_start_matches('-')
                .split_once('=')
                .ok_or_else(|| fail("expected flag=value, such as max-pods=250".into()))?;
            let percent = |setting: &str| {
                setting
                    .parse::<u8>()
                    .ok()
                    .filter(|p| *p <= 100)
                    .ok_or_else(|| fail(format!("{setting:?} is not a percentage from 0 to 100")))
            };
            match flag {
                "max-pods" => {
                    args.max_pods = setting
                        .parse()
                        .ok()
                        .filter(|n| *n > 0)
                        .ok_or_else(|| fail(format!("{setting:?} is not a positive number")))?;
                }
                "eviction-hard" => args.eviction_hard = Thresholds::parse(setting).map_err(fail)?,
                "system-reserved" => {
                    args.system_reserved = Reserved::parse(setting).map_err(fail)?
                }
                "kube-reserved" => args.kube_reserved = Reserved::parse(setting).map_err(fail)?,
                "image-gc-high-threshold" => args.image_gc_high = percent(setting)?,
                "image-gc-low-threshold" => args.image_gc_low = percent(setting)?,
                "minimum-image-ttl-duration" => {
                    args.image_minimum_age = parse_duration(setting).ok_or_else(|| {
                        fail(format!("{setting:?} is not a duration such as 2m or 90s"))
                    })?;
                }
                other => {
                    return Err(fail(format!(
                        "kedge's kubelet does not take {other:?}; it takes {FLAGS}"
                    )));
                }
            }
        }
        if args.image_gc_low > args.image_gc_high {
            return Err((
                format!("image-gc-low-threshold={}", args.image_gc_low),
                format!(
                    "must not be above image-gc-high-threshold ({})",
                    args.image_gc_high
                ),
            ));
        }
        Ok(args)
    }

    /// Everything held back from allocatable.
    pub fn reserved(&self) -> Reserved {
        self.system_reserved.plus(self.kube_reserved)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(values: &[&str]) -> Result<KubeletArgs, (String, String)> {
        KubeletArgs::parse(&values.iter().map(|v| v.to_string()).collect::<Vec<_>>())
    }

    #[test]
    fn no_flags_are_upstreams_defaults() {
        let args = parse(&[]).unwrap();
        assert_eq!(args, KubeletArgs::default());
        assert_eq!(args.max_pods, 110);
        let hard = args.eviction_hard;
        assert_eq!(
            hard.memory_available,
            Some(Threshold::Quantity(104_857_600))
        );
        assert_eq!(hard.imagefs_available, Some(Threshold::Percent(15.0)));
        assert_eq!(hard.pid_available, None);
    }

    #[test]
    fn flags_are_read_as_k3s_passes_them() {
        let args = parse(&[
            "max-pods=250",
            "--eviction-hard=memory.available<500Mi, nodefs.available<5%,pid.available<2.5%",
            "system-reserved=cpu=500m,memory=1Gi",
            "kube-reserved=memory=256Mi,ephemeral-storage=1Gi,pid=1k",
            "image-gc-high-threshold=90",
            "image-gc-low-threshold=70",
            "minimum-image-ttl-duration=1h2m3.5s",
            "max-pods=20",
        ])
        .unwrap();
        assert_eq!(args.max_pods, 20, "the last one wins");
        let hard = args.eviction_hard;
        assert_eq!(
            hard.memory_available,
            Some(Threshold::Quantity(524_288_000))
        );
        assert_eq!(hard.nodefs_available, Some(Threshold::Percent(5.0)));
        assert_eq!(hard.pid_available, Some(Threshold::Percent(2.5)));
        // Given, the flag replaces every default.
        assert_eq!(hard.imagefs_available, None);
        assert_eq!(hard.nodefs_inodes_free, None);
        let reserved = args.reserved();
        assert_eq!(reserved.cpu_millis, 500);
        assert_eq!(reserved.memory, (1024 + 256) * 1024 * 1024);
        assert_eq!(reserved.ephemeral_storage, 1 << 30);
        assert_eq!(reserved.pid, 1000);
        assert_eq!((args.image_gc_high, args.image_gc_low), (90, 70));
        assert_eq!(args.image_minimum_age, Duration::from_millis(3_723_500));
        for (text, seconds) in [("0", 0.0), ("0s", 0.0), ("2m0s", 120.0), ("500ms", 0.5)] {
            assert_eq!(
                parse_duration(text),
                Some(Duration::from_secs_f64(seconds)),
                "{text}"
            );
        }
    }

    #[test]
    fn thresholds_are_amounts_or_shares() {
        assert_eq!(Threshold::Quantity(100).amount(1_000_000), 100);
        assert_eq!(Threshold::Percent(10.0).amount(1_000), 100);
        assert_eq!(Threshold::Percent(2.5).amount(1_001), 26);
        assert!(Threshold::Percent(10.0).crossed(99, 1_000));
        assert!(!Threshold::Percent(10.0).crossed(100, 1_000));
        assert!(!Threshold::Quantity(100).crossed(0, 0), "unknown capacity");
    }

    #[test]
    fn bad_values_name_the_fix() {
        for (values, expected) in [
            (
                &["cgroup-driver=systemd"][..],
                "does not take \"cgroup-driver\"; it takes max-pods, eviction-hard",
            ),
            (&["max-pods"], "expected flag=value"),
            (&["max-pods=0"], "is not a positive number"),
            (
                &["eviction-hard=memory.available>1Gi"],
                "is not signal<amount",
            ),
            (
                &["eviction-hard=swap.available<1Gi"],
                "unknown signal \"swap.available\"",
            ),
            (
                &["eviction-hard=memory.available<lots"],
                "is not a quantity (100Mi) or a percentage",
            ),
            (
                &["eviction-hard=nodefs.available<150%"],
                "is not a quantity",
            ),
            (&["system-reserved=gpu=1"], "unknown resource \"gpu\""),
            (&["kube-reserved=cpu"], "is not resource=quantity"),
            (&["kube-reserved=memory=-1Gi"], "is not a quantity"),
            (&["image-gc-high-threshold=101"], "is not a percentage"),
            (
                &["image-gc-high-threshold=50"],
                "must not be above image-gc-high-threshold (50)",
            ),
        ] {
            let (_, why) = parse(values).unwrap_err();
            assert!(why.contains(expected), "{values:?}: {why}");
        }
    }
}

//! Cache blocking chosen at run time from the machine's cache sizes.
//!
//! The driver keeps one packed `mr x kc` panel of `op(A)` in L1 while the packed `kc x nc` block of
//! `op(B)` streams through it from L2 (see `driver.rs`), so `nc` is what fills L2: the B block takes
//! the whole L2 (`kc * nc * 4` bytes), which on a Sapphire Rapids class Xeon (2 MiB of L2 per
//! core) gives the `nc = 2048` this code was first tuned with, and 1024 on Zen 5 (1 MiB). The
//! packed A block (`mc x kc`) is written once and read back one panel at a time; a tenth of L2
//! keeps it close (196 rows of 14 on the Xeon, as tuned).
//!
//! `kc` is not chosen here: it decides where partial sums are rounded into `C`, so it is the same
//! on every machine (see `kernel.rs`). `mc` and `nc` only decide which tiles are computed when, never
//! how an element is computed, so results do not depend on them (tested): a product gives the same
//! bits on every CPU whatever its caches.

use std::path::Path;
use std::sync::OnceLock;

use super::Kernel;

/// The cache sizes the blocking is derived from, in bytes (per core for L1 and L2).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct CacheSizes {
    /// Level-1 data cache.
    pub l1d: usize,
    /// Level-2 cache.
    pub l2: usize,
}

impl CacheSizes {
    /// What is assumed where the machine does not say: the Sapphire Rapids class Xeon the kernels
    /// were first tuned on (48 KiB L1d, 2 MiB L2).
    pub const FALLBACK: CacheSizes = CacheSizes {
        l1d: 48 << 10,
        l2: 2 << 20,
    };

    /// This machine's caches as Linux describes CPU 0's in sysfs (read once per process), or
    /// [`CacheSizes::FALLBACK`] where that is not available.
    pub fn detect() -> CacheSizes {
        static DETECTED: OnceLock<CacheSizes> = OnceLock::new();
        *DETECTED.get_or_init(|| {
            Self::from_sysfs(Path::new("/sys/devices/system/cpu/cpu0/cache"))
                .unwrap_or(Self::FALLBACK)
        })
    }

    /// Reads `index*/level`, `index*/type` and `index*/size` under `dir` (sysfs's
    /// `/sys/devices/system/cpu/cpuN/cache`); `None` when the L1 data or L2 cache is missing.
    pub fn from_sysfs(dir: &Path) -> Option<CacheSizes> {
        let (mut l1d, mut l2) = (None, None);
        for entry in std::fs::read_dir(dir).ok()?.flatten() {
            let path = entry.path();
            let read = |name: &str| std::fs::read_to_string(path.join(name)).ok();
            let (Some(level), Some(kind), Some(size)) = (read("level"), read("type"), read("size"))
            else {
                continue;
            };
            let Some(size) = parse_size(size.trim()) else {
                continue;
            };
            match (level.trim(), kind.trim()) {
                ("1", "Data" | "Unified") => l1d = Some(size),
                ("2", "Data" | "Unified") => l2 = Some(size),
                _ => {}
            }
        }
        Some(CacheSizes { l1d: l1d?, l2: l2? })
    }
}

/// `"48K"`, `"2048K"`, `"1M"` or a plain byte count.
fn parse_size(text: &str) -> Option<usize> {
    let (digits, unit) = match text.char_indices().find(|(_, c)| !c.is_ascii_digit()) {
        Some((i, _)) => text.split_at(i),
        None => (text, ""),
    };
    let value: usize = digits.parse().ok()?;
    let scale = match unit.trim() {
        "" | "B" => 1,
        "K" | "KB" | "KiB" => 1 << 10,
        "M" | "MB" | "MiB" => 1 << 20,
        "G" | "GB" | "GiB" => 1 << 30,
        _ => return None,
    };
    value.checked_mul(scale).filter(|&bytes| bytes > 0)
}

/// Rows of `op(A)` (`mc`) and columns of `op(B)` (`nc`) per cache block.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Blocking {
    /// Rows of `op(A)` packed per block (rounded down to the kernel's tile height, at least one
    /// tile).
    pub mc: usize,
    /// Columns of `op(B)` packed per block (rounded down to the kernel's tile width, at least one
    /// tile).
    pub nc: usize,
}

impl Blocking {
    /// The blocking for `kernel` on a machine with `caches` (see the module documentation).
    pub fn for_caches(kernel: Kernel, caches: CacheSizes) -> Blocking {
        let g = kernel.geometry();
        let panel_bytes = g.kc * std::mem::size_of::<f32>();
        let nc = (caches.l2 / panel_bytes).clamp(4 * g.nr, 8192) / g.nr * g.nr;
        let mc = (caches.l2 / 10 / panel_bytes).clamp(2 * g.mr, 1024) / g.mr * g.mr;
        Blocking { mc, nc }
    }

    /// The blocking for `kernel` on this machine ([`CacheSizes::detect`]).
    pub fn detect(kernel: Kernel) -> Blocking {
        Self::for_caches(kernel, CacheSizes::detect())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_parse_as_sysfs_writes_them() {
        assert_eq!(parse_size("48K"), Some(48 << 10));
        assert_eq!(parse_size("2048K"), Some(2 << 20));
        assert_eq!(parse_size("1M"), Some(1 << 20));
        assert_eq!(parse_size("32768"), Some(32768));
        assert_eq!(parse_size(""), None);
        assert_eq!(parse_size("0K"), None);
        assert_eq!(parse_size("12X"), None);
    }

    /// A sysfs tree as Linux writes it for a Zen 5 core, read back; a tree without L2 is `None`.
    #[test]
    fn sysfs_tree_is_read() {
        let dir = std::env::temp_dir().join(format!("npfl_cache_{}", std::process::id()));
        let write = |index: usize, level: &str, kind: &str, size: &str| {
            let d = dir.join(format!("index{index}"));
            std::fs::create_dir_all(&d).unwrap();
            std::fs::write(d.join("level"), format!("{level}\n")).unwrap();
            std::fs::write(d.join("type"), format!("{kind}\n")).unwrap();
            std::fs::write(d.join("size"), format!("{size}\n")).unwrap();
        };
        write(0, "1", "Data", "48K");
        write(1, "1", "Instruction", "32K");
        assert_eq!(CacheSizes::from_sysfs(&dir), None);
        write(2, "2", "Unified", "1024K");
        write(3, "3", "Unified", "32768K");
        assert_eq!(
            CacheSizes::from_sysfs(&dir),
            Some(CacheSizes {
                l1d: 48 << 10,
                l2: 1 << 20
            })
        );
        std::fs::remove_dir_all(&dir).unwrap();
        assert_eq!(CacheSizes::from_sysfs(&dir), None);
    }

    /// The Xeon the kernels were tuned on gets the tuned constants back; smaller and larger L2s
    /// scale `nc`, and every blocking holds whole tiles.
    #[test]
    fn blocking_follows_l2() {
        let xeon = Blocking::for_caches(Kernel::Avx512, CacheSizes::FALLBACK);
        assert_eq!(xeon, Blocking { mc: 196, nc: 2048 });
        let zen5 = Blocking::for_caches(
            Kernel::Avx512,
            CacheSizes {
                l1d: 48 << 10,
                l2: 1 << 20,
            },
        );
        assert_eq!(zen5.nc, 1024);
        for kernel in [
            Kernel::Scalar,
            Kernel::Avx2Fma,
            Kernel::Avx512,
            Kernel::Neon,
        ] {
            let g = kernel.geometry();
            for l2 in [0, 1 << 10, 256 << 10, 512 << 10, 1 << 20, 2 << 20, 1 << 30] {
                let b = Blocking::for_caches(kernel, CacheSizes { l1d: 32 << 10, l2 });
                assert!(
                    b.mc >= g.mr && b.mc.is_multiple_of(g.mr),
                    "{kernel} {l2}: {b:?}"
                );
                assert!(
                    b.nc >= g.nr && b.nc.is_multiple_of(g.nr),
                    "{kernel} {l2}: {b:?}"
                );
            }
        }
    }
}

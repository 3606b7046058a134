//! Large, page-aligned buffers backed by anonymous mappings, with transparent huge pages requested
//! through `madvise` and the outcome reported (embedding tables live here).

use crate::error::{KernelError, Result};
use std::ops::{Deref, DerefMut};
use std::ptr::NonNull;

const HUGE_PAGE: usize = 2 << 20;

/// Element types for which the all-zero bit pattern is a valid value (so a fresh mapping is
/// a valid, zero-filled buffer). Sealed: implemented only for plain numbers.
pub trait Zeroable: Copy + Send + Sync + 'static + sealed::Sealed {}
mod sealed {
    pub trait Sealed {}
}
macro_rules! zeroable {
    ($($t:ty),*) => { $(impl sealed::Sealed for $t {} impl Zeroable for $t {})* };
}
zeroable!(u8, i8, u16, i16, u32, i32, u64, i64, f32, f64, half::f16, half::bf16);

/// Whether huge pages back a buffer, as far as the kernel tells us.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum HugePages {
    /// `AnonHugePages` of the mapping covers at least half of it.
    Yes,
    /// Requested but (mostly) not granted, e.g. THP disabled or memory fragmented.
    No,
    /// Not requested (small buffer) or not measurable on this OS.
    Unknown,
}

/// A zero-initialised buffer of `len` elements in its own anonymous mapping.
pub struct HugeBuf<T: Zeroable> {
    ptr: NonNull<T>,
    len: usize,
    /// The whole mapping (it may start below `ptr`, which is huge-page aligned inside it).
    map_base: *mut libc::c_void,
    map_len: usize,
    huge: HugePages,
}

// SAFETY: HugeBuf owns its mapping exclusively, like a Vec<T>; T is Send + Sync.
unsafe impl<T: Zeroable> Send for HugeBuf<T> {}
// SAFETY: shared access only hands out &[T]; T is Sync.
unsafe impl<T: Zeroable> Sync for HugeBuf<T> {}

/// Bytes of memory the OS says are available (MemAvailable), if it says.
pub fn available_memory() -> Option<usize> {
    let text = std::fs::read_to_string("/proc/meminfo").ok()?;
    text.lines()
        .find(|l| l.starts_with("MemAvailable:"))
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|kb| kb.parse::<usize>().ok())
        .map(|kb| kb * 1024)
}

/// Fails with `OutOfMemory` when `bytes` exceeds what the OS reports as available.
pub fn check_fits(what: &str, bytes: usize) -> Result<()> {
    if let Some(available) = available_memory() {
        if bytes > available {
            return Err(KernelError::OutOfMemory { what: what.to_string(), requested: bytes, available });
        }
    }
    Ok(())
}

impl<T: Zeroable> HugeBuf<T> {
    /// Maps `len` zeroed elements; asks for huge pages when the buffer is at least one huge page,
    /// and touches every page so the cost of faulting is paid here, not in a benchmark.
    pub fn zeroed(what: &str, len: usize) -> Result<Self> {
        let bytes = len
            .checked_mul(std::mem::size_of::<T>())
            .ok_or_else(|| KernelError::InvalidShape(format!("{what}: {len} elements overflow")))?;
        check_fits(what, bytes)?;
        if bytes == 0 {
            return Ok(Self {
                ptr: NonNull::dangling(),
                len: 0,
                map_base: std::ptr::null_mut(),
                map_len: 0,
                huge: HugePages::Unknown,
            });
        }
        let want_huge = bytes >= HUGE_PAGE;
        // Round up and over-map by one huge page so an aligned run of whole huge pages fits inside.
        let use_bytes = if want_huge { bytes.div_ceil(HUGE_PAGE) * HUGE_PAGE } else { bytes };
        let map_bytes = if want_huge { use_bytes + HUGE_PAGE } else { bytes };
        // SAFETY: anonymous private mapping with no fixed address; the result is checked.
        let raw = unsafe {
            libc::mmap(
                std::ptr::null_mut(),
                map_bytes,
                libc::PROT_READ | libc::PROT_WRITE,
                libc::MAP_PRIVATE | libc::MAP_ANONYMOUS | libc::MAP_NORESERVE,
                -1,
                0,
            )
        };
        if raw == libc::MAP_FAILED {
            return Err(KernelError::Mmap {
                bytes: map_bytes,
                err: std::io::Error::last_os_error().to_string(),
            });
        }
        let skip = if want_huge { (HUGE_PAGE - raw as usize % HUGE_PAGE) % HUGE_PAGE } else { 0 };
        // SAFETY: skip < HUGE_PAGE and skip + use_bytes <= map_bytes, so this stays in the mapping.
        let base = unsafe { (raw as *mut u8).add(skip) };
        if want_huge {
            // SAFETY: base..base+use_bytes lies in the mapping just created. Failure only means no THP.
            unsafe { libc::madvise(base as *mut libc::c_void, use_bytes, libc::MADV_HUGEPAGE) };
        }
        // Touch one byte per 4 KiB page so the pages (huge where granted) exist before timing.
        let mut off = 0;
        while off < use_bytes {
            // SAFETY: off < use_bytes, inside the writable mapping.
            unsafe { base.add(off).write_volatile(0) };
            off += 4096;
        }
        let huge = if want_huge { anon_huge_fraction(base as usize, use_bytes) } else { HugePages::Unknown };
        Ok(Self {
            // SAFETY: mmap succeeded, so base is non-null; page alignment satisfies any T's alignment.
            ptr: unsafe { NonNull::new_unchecked(base as *mut T) },
            len,
            map_base: raw,
            map_len: map_bytes,
            huge,
        })
    }

    /// A buffer holding a copy of `src`.
    pub fn from_slice(what: &str, src: &[T]) -> Result<Self> {
        let mut b = Self::zeroed(what, src.len())?;
        b.copy_from_slice(src);
        Ok(b)
    }

    /// Whether huge pages back this buffer.
    pub fn huge_pages(&self) -> HugePages {
        self.huge
    }

    /// Bytes of this buffer's mapping backed by huge pages now (they can be split or collapsed after
    /// allocation), or None where the OS does not say.
    pub fn huge_bytes_now(&self) -> Option<usize> {
        if self.map_len == 0 {
            return None;
        }
        anon_huge_bytes_at(self.ptr.as_ptr() as usize)
    }

    /// Bytes mapped (rounded up to whole huge pages, plus alignment slack, when they were requested).
    pub fn mapped_bytes(&self) -> usize {
        self.map_len
    }
}

/// Reads `/proc/self/smaps` for the mapping starting at `start` and compares AnonHugePages to its size.
fn anon_huge_fraction(start: usize, bytes: usize) -> HugePages {
    match anon_huge_bytes_at(start) {
        Some(b) if b * 2 >= bytes => HugePages::Yes,
        Some(_) => HugePages::No,
        None => HugePages::Unknown,
    }
}

/// AnonHugePages (bytes) of the mapping holding `start`, from `/proc/self/smaps`.
fn anon_huge_bytes_at(start: usize) -> Option<usize> {
    let smaps = std::fs::read_to_string("/proc/self/smaps").ok()?;
    let mut in_map = false;
    for line in smaps.lines() {
        let first = line.split_whitespace().next().unwrap_or("");
        if let Some(kb) = first.strip_suffix(':').and(line.strip_prefix("AnonHugePages:")) {
            if in_map {
                let kb: usize = kb.split_whitespace().next().and_then(|v| v.parse().ok()).unwrap_or(0);
                return Some(kb * 1024);
            }
        } else if !first.ends_with(':') {
            // A mapping header: "start-end perms offset dev inode [path]".
            in_map = first.split_once('-').is_some_and(|(a, b)| {
                let a = usize::from_str_radix(a, 16).unwrap_or(usize::MAX);
                let b = usize::from_str_radix(b, 16).unwrap_or(0);
                a <= start && start < b
            });
        }
    }
    None
}

impl<T: Zeroable> Deref for HugeBuf<T> {
    type Target = [T];
    fn deref(&self) -> &[T] {
        // SAFETY: ptr points to len initialised (zeroed or written) elements owned by self.
        unsafe { std::slice::from_raw_parts(self.ptr.as_ptr(), self.len) }
    }
}

impl<T: Zeroable> DerefMut for HugeBuf<T> {
    fn deref_mut(&mut self) -> &mut [T] {
        // SAFETY: as in deref, and &mut self gives exclusive access.
        unsafe { std::slice::from_raw_parts_mut(self.ptr.as_ptr(), self.len) }
    }
}

impl<T: Zeroable> Drop for HugeBuf<T> {
    fn drop(&mut self) {
        if self.map_len > 0 {
            // SAFETY: unmapping exactly the mapping created in `zeroed`.
            unsafe { libc::munmap(self.map_base, self.map_len) };
        }
    }
}

impl<T: Zeroable + std::fmt::Debug> std::fmt::Debug for HugeBuf<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("HugeBuf").field("len", &self.len).field("huge", &self.huge).finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn zeroed_is_zero_and_writable() {
        let mut b = HugeBuf::<f32>::zeroed("test", 3 << 20).unwrap();
        assert!(b.iter().all(|&x| x == 0.0));
        b[12345] = 1.5;
        assert_eq!(b[12345], 1.5);
        assert_eq!(b.len(), 3 << 20);
        assert!(b.mapped_bytes() >= 12 << 20);
    }

    #[test]
    fn empty_and_small_buffers() {
        let b = HugeBuf::<u8>::zeroed("empty", 0).unwrap();
        assert!(b.is_empty());
        let s = HugeBuf::<u64>::from_slice("small", &[1, 2, 3]).unwrap();
        assert_eq!(&s[..], &[1, 2, 3]);
        assert_eq!(s.huge_pages(), HugePages::Unknown);
    }

    #[test]
    fn larger_than_memory_is_a_clear_error() {
        let err = HugeBuf::<f32>::zeroed("table t0", usize::MAX / 8).unwrap_err();
        let msg = err.to_string();
        assert!(msg.contains("table t0"), "{msg}");
    }
}

//! The shim program's allocator: a bump allocator over one static arena.
//!
//! The shim lives for well under a millisecond and allocates a few dozen
//! kilobytes (the configuration's strings and paths, the command line), then
//! execs ssh, which takes the whole address space away. A general allocator
//! spends most of its work on keeping freed memory for later, which the shim
//! never needs: with musl's, `malloc`, `realloc` and `free` were about a
//! quarter of the shim's instructions (docs/benchmarks.md). Here an
//! allocation is an aligned bump of one offset. Freeing gives memory back only
//! when it is the last block handed out (a temporary string), and growing the
//! last block happens in place. What does not fit, or asks for an alignment
//! over a page, goes to the system's allocator, so nothing fails that would
//! not fail without the arena.
//!
//! Only `src/bin/certsh-ssh.rs` installs it; certsh itself, which can run
//! for hours (`certsh agent`), keeps the system's allocator.

#![allow(unsafe_code)]

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::UnsafeCell;
use std::sync::atomic::{AtomicUsize, Ordering::Relaxed};

/// The arena's size. Untouched pages of a static cost nothing: they are
/// mapped on first write, as a heap's are.
const SIZE: usize = 1 << 20;

#[repr(C, align(4096))]
struct Space(UnsafeCell<[u8; SIZE]>);

/// A bump allocator over a static arena of [`SIZE`] bytes, falling back to
/// [`System`] beyond it.
pub struct Arena {
    space: Space,
    /// The offset of the first free byte.
    next: AtomicUsize,
}

// SAFETY: the arena's bytes are handed out in disjoint blocks, each claimed
// by one compare-and-swap of `next`, so no two threads get the same byte.
unsafe impl Sync for Arena {}

impl Arena {
    /// An empty arena, for a `#[global_allocator]` static.
    pub const fn new() -> Self {
        Arena {
            space: Space(UnsafeCell::new([0; SIZE])),
            next: AtomicUsize::new(0),
        }
    }

    fn base(&self) -> *mut u8 {
        self.space.0.get().cast()
    }

    /// The block's offset when `ptr` is in the arena.
    fn offset(&self, ptr: *mut u8) -> Option<usize> {
        let off = (ptr as usize).wrapping_sub(self.base() as usize);
        (off < SIZE).then_some(off)
    }

    /// Claims `size` bytes aligned to `align` (a power of two up to the
    /// arena's own alignment), or None when they do not fit.
    fn claim(&self, size: usize, align: usize) -> Option<usize> {
        let mut cur = self.next.load(Relaxed);
        loop {
            let start = cur.checked_next_multiple_of(align)?;
            let end = start.checked_add(size).filter(|&e| e <= SIZE)?;
            match self.next.compare_exchange_weak(cur, end, Relaxed, Relaxed) {
                Ok(_) => return Some(start),
                Err(now) => cur = now,
            }
        }
    }
}

impl Default for Arena {
    fn default() -> Self {
        Self::new()
    }
}

// SAFETY: every block returned is `layout.size()` bytes at an address
// aligned to `layout.align()`, inside the arena and disjoint from every other
// live block (`claim`), or comes from `System`, to which exactly its own
// blocks go back.
unsafe impl GlobalAlloc for Arena {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        let fits = (layout.align() <= align_of::<Space>())
            .then(|| self.claim(layout.size(), layout.align()))
            .flatten();
        match fits {
            // SAFETY: start + size <= SIZE (claim).
            Some(start) => unsafe { self.base().add(start) },
            // SAFETY: the caller's layout is passed on unchanged.
            None => unsafe { System.alloc(layout) },
        }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        match self.offset(ptr) {
            // The last block only: the offset goes back to its start.
            Some(start) => {
                let end = start + layout.size();
                let _ = self.next.compare_exchange(end, start, Relaxed, Relaxed);
            }
            // SAFETY: a block outside the arena came from System.
            None => unsafe { System.dealloc(ptr, layout) },
        }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        if let Some(start) = self.offset(ptr) {
            let end = start + layout.size();
            let new_end = start.checked_add(new_size).filter(|&e| e <= SIZE);
            // The last block grows or shrinks where it is; another shrinks
            // where it is and keeps its bytes.
            let in_place = match new_end {
                Some(e) => self.next.compare_exchange(end, e, Relaxed, Relaxed).is_ok(),
                None => false,
            };
            if in_place || new_size <= layout.size() {
                return ptr;
            }
        }
        // SAFETY: new_size with the old alignment is a valid layout (the
        // caller's contract), and the copy stays within both blocks.
        unsafe {
            let new_layout = Layout::from_size_align_unchecked(new_size, layout.align());
            let new = self.alloc(new_layout);
            if !new.is_null() {
                std::ptr::copy_nonoverlapping(ptr, new, layout.size().min(new_size));
                self.dealloc(ptr, layout);
            }
            new
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn blocks_are_aligned_disjoint_and_reused_only_when_last() {
        static A: Arena = Arena::new();
        let a = &A;
        let l8 = Layout::from_size_align(24, 8).unwrap();
        let l64 = Layout::from_size_align(10, 64).unwrap();
        unsafe {
            let p = a.alloc(l8);
            let q = a.alloc(l64);
            assert_eq!(q as usize % 64, 0);
            assert!(q as usize >= p as usize + 24);
            // Not the last block: freeing it gives nothing back.
            a.dealloc(p, l8);
            let r = a.alloc(l8);
            assert!(r as usize >= q as usize + 10);
            // The last block: its bytes are handed out again.
            a.dealloc(r, l8);
            assert_eq!(a.alloc(l8), r);
        }
    }

    #[test]
    fn the_last_block_grows_in_place_and_others_move_with_their_bytes() {
        static A: Arena = Arena::new();
        let a = &A;
        let l = Layout::from_size_align(4, 1).unwrap();
        unsafe {
            let p = a.alloc(l);
            p.copy_from(b"abcd".as_ptr(), 4);
            let grown = a.realloc(p, l, 4000);
            assert_eq!(grown, p, "the last block grows where it is");
            let q = a.alloc(l);
            let moved = a.realloc(p, Layout::from_size_align(4000, 1).unwrap(), 8000);
            assert!(moved != p && moved as usize > q as usize);
            assert_eq!(std::slice::from_raw_parts(moved, 4), b"abcd");
        }
    }

    #[test]
    fn what_does_not_fit_comes_from_the_system() {
        static A: Arena = Arena::new();
        let a = &A;
        let big = Layout::from_size_align(SIZE + 1, 8).unwrap();
        let page2 = Layout::from_size_align(16, 8192).unwrap();
        unsafe {
            for l in [big, page2] {
                let p = a.alloc(l);
                assert!(!p.is_null());
                assert_eq!(a.offset(p), None);
                assert_eq!(p as usize % l.align(), 0);
                p.write_bytes(1, l.size());
                a.dealloc(p, l);
            }
            // A full arena hands the rest to the system too.
            let l = Layout::from_size_align(SIZE / 2 + 1, 8).unwrap();
            let first = a.alloc(l);
            let second = a.alloc(l);
            assert!(a.offset(first).is_some());
            assert_eq!(a.offset(second), None);
            a.dealloc(second, l);
        }
    }
}

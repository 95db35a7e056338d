//! A global allocator wrapper that counts the bytes in use and their peak,
//! for the peak memory `autoglm compare` reports (the heap as the program
//! sees it: tensors, graphs, buffers; not the allocator's own overhead).

use std::alloc::{GlobalAlloc, Layout};
use std::sync::atomic::{AtomicU64, Ordering};

pub struct Counting<A> {
    inner: A,
    current: AtomicU64,
    peak: AtomicU64,
}

impl<A> Counting<A> {
    pub const fn new(inner: A) -> Self {
        Counting { inner, current: AtomicU64::new(0), peak: AtomicU64::new(0) }
    }
    fn add(&self, n: usize) {
        let now = self.current.fetch_add(n as u64, Ordering::Relaxed) + n as u64;
        self.peak.fetch_max(now, Ordering::Relaxed);
    }
    fn sub(&self, n: usize) {
        self.current.fetch_sub(n as u64, Ordering::Relaxed);
    }
}

// SAFETY: every call is forwarded to `inner` unchanged; the counters only observe sizes.
unsafe impl<A: GlobalAlloc> GlobalAlloc for Counting<A> {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        // SAFETY: the caller's contract is passed on.
        let p = unsafe { self.inner.alloc(layout) };
        if !p.is_null() {
            self.add(layout.size());
        }
        p
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: the caller's contract is passed on.
        unsafe { self.inner.dealloc(ptr, layout) };
        self.sub(layout.size());
    }
    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        // SAFETY: the caller's contract is passed on.
        let p = unsafe { self.inner.alloc_zeroed(layout) };
        if !p.is_null() {
            self.add(layout.size());
        }
        p
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        // SAFETY: the caller's contract is passed on.
        let p = unsafe { self.inner.realloc(ptr, layout, new_size) };
        if !p.is_null() {
            self.sub(layout.size());
            self.add(new_size);
        }
        p
    }
}

impl<A: Sync> autoglm::run::compare::MemoryProbe for Counting<A> {
    fn reset(&self) {
        self.peak.store(self.current.load(Ordering::Relaxed), Ordering::Relaxed);
    }
    fn peak_bytes(&self) -> u64 {
        self.peak.load(Ordering::Relaxed)
    }
}

//! A global allocator that counts the bytes live per thread, so a test
//! (which runs the whole sans-IO pair on its own thread) can measure
//! what a connection holds. Bytes freed on another thread count there.

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;

thread_local! {
    static LIVE: Cell<isize> = const { Cell::new(0) };
}

fn add(n: isize) {
    // During thread teardown the counter may be gone: nothing to count.
    let _ = LIVE.try_with(|c| c.set(c.get() + n));
}

/// Counts live heap bytes per thread; allocates through `System`.
pub struct Counting;

unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        let p = unsafe { System.alloc(layout) };
        if !p.is_null() {
            add(layout.size() as isize);
        }
        p
    }

    unsafe fn dealloc(&self, p: *mut u8, layout: Layout) {
        unsafe { System.dealloc(p, layout) };
        add(-(layout.size() as isize));
    }

    unsafe fn realloc(&self, p: *mut u8, layout: Layout, new: usize) -> *mut u8 {
        let q = unsafe { System.realloc(p, layout, new) };
        if !q.is_null() {
            add(new as isize - layout.size() as isize);
        }
        q
    }
}

/// Heap bytes allocated and not freed by this thread so far.
pub fn live() -> isize {
    LIVE.with(|c| c.get())
}
